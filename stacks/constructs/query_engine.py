"""The query engines' resources: Athena's Glue table over the S3 trail, the workgroup, its results bucket
and the saved queries as named queries; Security Lake's grants on its tables; CloudWatch Logs' log group.

Created only for the engine ``responder:queryEngine`` chooses; CloudTrail Lake needs nothing but the
existing event data store, CloudWatch Logs nothing but the trail's log group. Security Lake shares
Athena's workgroup, results bucket and named queries, over Security Lake's own database and tables
(which Security Lake creates): its query roles get the Glue definitions and Lake Formation's data
access, and, unless ``responder:securityLakeLakeFormationGrants`` is false, Lake Formation grants of
DESCRIBE on the database and SELECT on the tables (the deploying role must be a Lake Formation data
lake administrator for those; otherwise the Security Lake administrator grants them). The table follows AWS's partition-projection DDL for CloudTrail (docs: "Creating the
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
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lakeformation as lakeformation
from aws_cdk import aws_s3 as s3
from constructs import Construct

from deployment.settings import SettingsError, StackSettings
from responder.query import securitylake
from responder.query.sql import ALL_QUERIES, athena_console_query, securitylake_console_query

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


def trail_accounts(settings: StackSettings) -> str:
    """The accounts the queries cover (``TRAIL_ACCOUNTS``): those configured, else the deploying one."""
    return ",".join(settings.trail_accounts) if settings.trail_accounts else Aws.ACCOUNT_ID


def logs_prefix(settings: StackSettings) -> str:
    """The trail's key prefix in its bucket, up to the account level (organization trails add the id)."""
    return f"AWSLogs/{settings.organization_id}/" if settings.organization_id else "AWSLogs/"


def log_group_arn(log_group: str) -> str:
    """The IAM resource of a log group given by name or ARN (``...:log-group:NAME:*``, as StartQuery
    is authorized on it)."""
    if log_group.startswith("arn:"):
        return log_group if log_group.endswith(":*") else f"{log_group}:*"
    return f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{log_group}:*"


def athena_workgroup(
    scope: Construct, *, settings: StackSettings, access_logs: s3.IBucket, name: str
) -> tuple[s3.Bucket, athena.CfnWorkGroup]:
    """The results bucket and the enforced workgroup (ids ``Results`` and ``WorkGroup`` in ``scope``)."""
    results_bucket = s3.Bucket(
        scope,
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
    workgroup = athena.CfnWorkGroup(
        scope,
        "WorkGroup",
        name=name,
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
                output_location=f"s3://{results_bucket.bucket_name}/{RESULTS_PREFIX}",
                encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                    encryption_option="SSE_S3"
                ),
                expected_bucket_owner=Aws.ACCOUNT_ID,
            ),
        ),
    )
    return results_bucket, workgroup


def named_queries(
    scope: Construct, *, workgroup: athena.CfnWorkGroup, database: str, texts: dict[str, str]
) -> None:
    """Each saved query as an Athena named query in the workgroup: an analyst opens it under Saved
    queries and runs it with the key and window as parameters (docs/runbook.md)."""
    for query, text in texts.items():
        named = athena.CfnNamedQuery(
            scope,
            f"Saved{query.title().replace('_', '')}",
            name=f"responder-{query}",
            description=f"Incident responder saved query {query} (parameters listed in its header)",
            database=database,
            work_group=workgroup.ref,
            query_string=text,
        )
        named.node.add_dependency(workgroup)


def workgroup_references(workgroup: athena.CfnWorkGroup, results_bucket: s3.IBucket) -> dict[str, str]:
    """ARNs of the ``@athena_workgroup`` and ``@athena_results_bucket`` references."""
    return {
        "athena_workgroup": (
            f"arn:{Aws.PARTITION}:athena:{Aws.REGION}:{Aws.ACCOUNT_ID}:workgroup/{workgroup.ref}"
        ),
        "athena_results_bucket": results_bucket.bucket_arn,
    }


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
        accounts = trail_accounts(settings)
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

        self.results_bucket, self.workgroup = athena_workgroup(
            self, settings=settings, access_logs=access_logs, name=self.workgroup_name
        )
        named_queries(
            self,
            workgroup=self.workgroup,
            database=self.database_name,
            texts={n: athena_console_query(n, self.table_name, self.database_name) for n in ALL_QUERIES},
        )

    @property
    def references(self) -> dict[str, str]:
        """ARNs for the ``@athena_*``, ``@glue_*`` and ``@cloudtrail_bucket`` permission references."""
        glue_arn = f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        return {
            **workgroup_references(self.workgroup, self.results_bucket),
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


class SecurityLakeQueryEngine(Construct):
    """Security Lake through Athena: the workgroup, its results bucket and the named queries, over
    Security Lake's own database and CloudTrail tables; the roles that query get Lake Formation grants."""

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
        region = settings.security_lake_region
        if not Token.is_unresolved(stack.region) and stack.region != region:
            # Athena reads a Glue catalog in its own region: the workgroup must be where the tables are.
            raise SettingsError(
                f"responder:securityLakeRegion is {region} but the stack deploys to {stack.region}: "
                "deploy the responder in the Security Lake region it queries"
            )
        self.settings = settings
        self.workgroup_name = stack.stack_name
        self.database_name = settings.security_lake_database or securitylake.database_name(region)
        self.management_table = securitylake.table_name(region, securitylake.MANAGEMENT_SOURCE)
        self.s3_data_table = (
            securitylake.table_name(region, securitylake.S3_DATA_SOURCE)
            if settings.security_lake_s3_data
            else ""
        )
        self.tables = tuple(t for t in (self.management_table, self.s3_data_table) if t)
        self.results_bucket, self.workgroup = athena_workgroup(
            self, settings=settings, access_logs=access_logs, name=self.workgroup_name
        )
        named_queries(
            self,
            workgroup=self.workgroup,
            database=self.database_name,
            texts={
                n: securitylake_console_query(
                    n,
                    database=self.database_name,
                    tables=self.tables,
                    accounts=settings.trail_accounts,
                    regions=settings.security_lake_regions,
                )
                for n in ALL_QUERIES
            },
        )

    @property
    def references(self) -> dict[str, str]:
        """ARNs of the ``@athena_*`` and ``@securitylake_*`` permission references."""
        glue_arn = f"arn:{Aws.PARTITION}:glue:{self.settings.security_lake_region}:{Aws.ACCOUNT_ID}"
        tables = {"securitylake_management_table": self.management_table}
        if self.s3_data_table:
            tables["securitylake_s3_data_table"] = self.s3_data_table
        return {
            **workgroup_references(self.workgroup, self.results_bucket),
            "securitylake_catalog": f"{glue_arn}:catalog",
            "securitylake_database": f"{glue_arn}:database/{self.database_name}",
            **{ref: f"{glue_arn}:table/{self.database_name}/{table}" for ref, table in tables.items()},
            "securitylake_data_access": "*",
        }

    @property
    def unconfigured(self) -> frozenset[str]:
        """The S3 data events table, when Security Lake does not collect that source."""
        return frozenset() if self.s3_data_table else frozenset({"securitylake_s3_data_table"})

    @property
    def environment(self) -> dict[str, str]:
        """What ``responder.settings.Settings.from_env`` reads for the Security Lake engine."""
        return {
            "ATHENA_WORKGROUP": self.workgroup_name,
            "SECURITY_LAKE_DATABASE": self.database_name,
            "SECURITY_LAKE_MANAGEMENT_TABLE": self.management_table,
            "SECURITY_LAKE_S3_DATA_TABLE": self.s3_data_table,
            "SECURITY_LAKE_REGIONS": ",".join(self.settings.security_lake_regions),
            "TRAIL_ACCOUNTS": trail_accounts(self.settings),
        }

    def grant_lake_formation(self, roles: dict[str, iam.IRole]) -> None:
        """Lake Formation's own grants to each querying role: DESCRIBE on the database, SELECT on the
        tables (nothing else: no ALTER, no DROP, no grant option)."""
        if not self.settings.security_lake_lake_formation_grants:
            return
        grants = lakeformation.CfnPrincipalPermissions
        resources = {
            "Database": (
                "DESCRIBE",
                grants.ResourceProperty(
                    database=grants.DatabaseResourceProperty(
                        catalog_id=Aws.ACCOUNT_ID, name=self.database_name
                    )
                ),
            ),
            **{
                f"Table{i}": (
                    "SELECT",
                    grants.ResourceProperty(
                        table=grants.TableResourceProperty(
                            catalog_id=Aws.ACCOUNT_ID, database_name=self.database_name, name=table
                        )
                    ),
                )
                for i, table in enumerate(self.tables)
            },
        }
        for step, role in sorted(roles.items()):
            for suffix, (permission, resource) in resources.items():
                grants(
                    self,
                    f"{step.title().replace('_', '')}{suffix}",
                    permissions=[permission],
                    permissions_with_grant_option=[],
                    principal=grants.DataLakePrincipalProperty(data_lake_principal_identifier=role.role_arn),
                    resource=resource,
                )
