"""The Athena engine's resources: the Glue table over the S3 trail, the workgroup and its results bucket.

Created only when ``responder:queryEngine`` is ``athena``; CloudTrail Lake needs nothing but the existing
event data store. The table follows AWS's partition-projection DDL for CloudTrail (docs: "Creating the
table for CloudTrail logs in Athena using partition projection"), widened to every account and region
of the trail: ``timestamp`` (``yyyy/MM/dd``, a date projection from ``responder:athenaProjectionStart``
to ``NOW``), ``region`` and ``account`` (enums). Projection needs no crawler and no ``ADD PARTITION``:
a new day, region or account is queryable as soon as CloudTrail writes it (a new region or account
once it is in the enum). ``account`` is an enum, not ``injected``: the saved queries do not filter on
the account, and Athena refuses a query without an equality on an injected column.

Column names and types are those ``responder.query.sql``'s Athena rendering reads (lower case, JSON
documents as strings, ``useridentity`` a struct, ``resources`` an array of structs); a test checks
every column path the rendering uses exists here.

Query results are encrypted with SSE-S3, enforced by the workgroup: they are a transient (expiring)
copy of rows the trail bucket already holds, read only through the query roles; SSE-KMS would add a
key every query role must be granted (and that the steps' declared permissions do not name) without a
reader IAM could not already deny. The same reasoning as the evidence bucket's.
"""

from __future__ import annotations

import re

from aws_cdk import Aws, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from deployment.settings import StackSettings

ATHENA_ENGINE_VERSION = "Athena engine version 3"
TABLE_NAME = "cloudtrail"
RESULTS_PREFIX = "results/"


def struct(**fields: str) -> str:
    """A Hive ``struct<name:type,...>`` type string (Glue wants no spaces)."""
    return "struct<" + ",".join(f"{name}:{kind}" for name, kind in fields.items()) + ">"


STRING = "string"

# AWS's documented CloudTrail columns, lower-cased (Glue and Athena lower-case names anyway).
CLOUDTRAIL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("eventversion", STRING),
    (
        "useridentity",
        struct(
            type=STRING,
            principalid=STRING,
            arn=STRING,
            accountid=STRING,
            invokedby=STRING,
            accesskeyid=STRING,
            username=STRING,
            sessioncontext=struct(
                attributes=struct(mfaauthenticated=STRING, creationdate=STRING),
                sessionissuer=struct(
                    type=STRING, principalid=STRING, arn=STRING, accountid=STRING, username=STRING
                ),
                ec2roledelivery=STRING,
                webidfederationdata="map<string,string>",
            ),
        ),
    ),
    ("eventtime", STRING),
    ("eventsource", STRING),
    ("eventname", STRING),
    ("awsregion", STRING),
    ("sourceipaddress", STRING),
    ("useragent", STRING),
    ("errorcode", STRING),
    ("errormessage", STRING),
    ("requestparameters", STRING),
    ("responseelements", STRING),
    ("additionaleventdata", STRING),
    ("requestid", STRING),
    ("eventid", STRING),
    ("readonly", STRING),
    ("resources", f"array<{struct(arn=STRING, accountid=STRING, type=STRING)}>"),
    ("eventtype", STRING),
    ("apiversion", STRING),
    ("recipientaccountid", STRING),
    ("serviceeventdetails", STRING),
    ("sharedeventid", STRING),
    ("vpcendpointid", STRING),
    ("tlsdetails", struct(tlsversion=STRING, ciphersuite=STRING, clientprovidedhostheader=STRING)),
)
PARTITION_KEYS: tuple[str, ...] = ("timestamp", "region", "account")


def glue_name(stack_name: str) -> str:
    """A Glue/Athena-safe database name from the stack name (``IncidentResponder`` -> ``incident_responder``)."""
    if Token.is_unresolved(stack_name):
        raise ValueError("the Athena database is named after the stack: give the stack a concrete name")
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", stack_name)
    return re.sub(r"[^a-z0-9_]+", "_", snake.lower()).strip("_")[:128]


def logs_prefix(settings: StackSettings) -> str:
    """The trail's key prefix in its bucket, up to the account level (organization trails add the id)."""
    return f"AWSLogs/{settings.organization_id}/" if settings.organization_id else "AWSLogs/"


class AthenaQueryEngine(Construct):
    """Glue database and partition-projected CloudTrail table, the workgroup, and its results bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.database_name = glue_name(stack.stack_name)
        self.table_name = TABLE_NAME
        self.workgroup_name = stack.stack_name
        trail = settings.cloudtrail_bucket
        prefix = logs_prefix(settings)
        accounts = ",".join(settings.trail_accounts) if settings.trail_accounts else Aws.ACCOUNT_ID
        # Log-file validation reads the trail's digests beside its logs (responder/query/digest.py).
        self.trail_environment = {
            "CLOUDTRAIL_BUCKET": trail,
            "CLOUDTRAIL_PREFIX": prefix,
            "TRAIL_ACCOUNTS": accounts,
        }

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="Incident responder: the CloudTrail table Athena queries",
            ),
        )
        self.table = glue.CfnTable(
            self,
            "CloudTrailTable",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=self.table_name,
                description=f"CloudTrail logs in s3://{trail}/{prefix}, partitions projected",
                table_type="EXTERNAL_TABLE",
                partition_keys=[glue.CfnTable.ColumnProperty(name=k, type=STRING) for k in PARTITION_KEYS],
                parameters={
                    "classification": "cloudtrail",
                    "EXTERNAL": "TRUE",
                    "projection.enabled": "true",
                    "projection.timestamp.type": "date",
                    "projection.timestamp.format": "yyyy/MM/dd",
                    "projection.timestamp.range": f"{settings.athena_projection_start},NOW",
                    "projection.timestamp.interval": "1",
                    "projection.timestamp.interval.unit": "DAYS",
                    "projection.region.type": "enum",
                    "projection.region.values": ",".join(settings.trail_regions),
                    "projection.account.type": "enum",
                    "projection.account.values": accounts,
                    "storage.location.template": (
                        f"s3://{trail}/{prefix}${{account}}/CloudTrail/${{region}}/${{timestamp}}"
                    ),
                },
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in CLOUDTRAIL_COLUMNS],
                    location=f"s3://{trail}/{prefix}",
                    input_format="com.amazon.emr.cloudtrail.CloudTrailInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hive.hcatalog.data.JsonSerDe"
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(self.database)

        self.results_bucket = s3.Bucket(
            self,
            "Results",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(settings.athena_results_retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="athena-results/",
            # The results are CloudTrail extracts: never deleted with the stack, expired by lifecycle.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.workgroup_name,
            description="Incident responder: the saved CloudTrail queries",
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                # Clients cannot redirect results elsewhere, drop their encryption or lift the cutoff.
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=settings.athena_bytes_scanned_cutoff,
                requester_pays_enabled=False,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version=ATHENA_ENGINE_VERSION
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results_bucket.bucket_name}/{RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                    expected_bucket_owner=Aws.ACCOUNT_ID,
                ),
            ),
        )

    @property
    def references(self) -> dict[str, str]:
        """ARNs for the ``@athena_*``, ``@glue_*`` and ``@cloudtrail_bucket`` permission references."""
        glue_arn = f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        return {
            "athena_workgroup": (
                f"arn:{Aws.PARTITION}:athena:{Aws.REGION}:{Aws.ACCOUNT_ID}:workgroup/{self.workgroup.ref}"
            ),
            "athena_results_bucket": self.results_bucket.bucket_arn,
            "glue_catalog": f"{glue_arn}:catalog",
            "glue_database": f"{glue_arn}:database/{self.database_name}",
            "glue_table": f"{glue_arn}:table/{self.database_name}/{self.table_name}",
        }

    @property
    def environment(self) -> dict[str, str]:
        """What ``responder.settings.Settings.from_env`` reads for the Athena engine."""
        return {
            "ATHENA_WORKGROUP": self.workgroup_name,
            "ATHENA_DATABASE": self.database_name,
            "ATHENA_TABLE": self.table_name,
            **self.trail_environment,
        }
