"""Where an incident's record and evidence live: a write-once bucket and the incident table."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from deployment.settings import StackSettings
from stacks.nag import acknowledge


def write_once_statements(bucket_arn: str) -> list[iam.PolicyStatement]:
    """The evidence bucket's Deny statements that make every key write-once, for every principal."""
    objects = f"{bucket_arn}/*"
    return [
        # CreateMultipartUpload, UploadPart and UploadPartCopy are authorized as s3:PutObject but take no
        # conditional header; s3:ObjectCreationOperation is false for them, and CompleteMultipartUpload
        # (which creates the object) must carry If-None-Match like PutObject. A request without the
        # operation key is treated as creating an object.
        iam.PolicyStatement(
            sid="DenyWritesThatCouldOverwrite",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject"],
            resources=[objects],
            conditions={
                "Null": {"s3:if-none-match": "true"},
                "BoolIfExists": {"s3:ObjectCreationOperation": "true"},
            },
        ),
        iam.PolicyStatement(
            sid="DenyRemovingEvidence",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"],
            resources=[objects],
        ),
    ]


class EvidenceStore(Construct):
    """Evidence bucket (Object Lock, versioned, TLS-only, access-logged) and the incident table.

    Evidence is encrypted with S3-managed keys: its integrity rests on Object Lock and the SHA-256
    the responder records, its confidentiality on IAM and the bucket policy. A customer-managed key
    would add a way to lose the evidence (a disabled or deleted key) and a key grant to every step
    without adding a reader we could not already deny with IAM.

    Write-once is the bucket's rule, not only the writer's habit (:func:`write_once_statements`): for
    every principal, an object is created only with ``If-None-Match: *`` (S3 then refuses a key that
    exists), and no object or version is deleted, nor its lock bypassed. A delete marker would hide an
    object and free its key for a second write, so "never overwritten" needs both. responder.evidence
    already sends ``If-None-Match``; moto ignores bucket policies, so local runs are unaffected (and the
    demo's evidence bucket carries no such policy: moto's opt-in policy checks would read these
    conditions as true and refuse every write).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        retention = Duration.days(settings.evidence_retention_days)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # S3 server access log delivery supports only SSE-S3 on the target bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            # Who read or wrote evidence is part of its chain of custody: keep it as long as the lock.
            lifecycle_rules=[
                s3.LifecycleRule(expiration=retention, noncurrent_version_expiration=Duration.days(30))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the server access log bucket of the evidence bucket; logging it to itself would "
            "loop and another log bucket would only move the finding.",
        )
        self.access_logs.node.default_child.add_metadata(  # type: ignore[union-attr]
            "checkov",
            {
                "skip": [
                    {
                        "id": "CKV_AWS_18",
                        "comment": "The evidence bucket's server access log bucket: logging it to itself "
                        "would loop, and another log bucket would only move the finding.",
                    }
                ]
            },
        )
        lock = (
            s3.ObjectLockRetention.compliance(retention)
            if settings.evidence_retention_mode == "COMPLIANCE"
            else s3.ObjectLockRetention.governance(retention)
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_lock_enabled=True,
            object_lock_default_retention=lock,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="evidence/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        for statement in write_once_statements(self.bucket.bucket_arn):
            self.bucket.add_to_resource_policy(statement)
        self.table = dynamodb.Table(
            self,
            "Incidents",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.table.node.default_child.add_metadata(  # type: ignore[union-attr]
            "checkov",
            {
                "skip": [
                    {
                        "id": "CKV_AWS_119",
                        "comment": "The incident table holds ids, key ids and action records, never a secret "
                        "or a finding body; the AWS managed key encrypts it, and a customer key would add a "
                        "decrypt dependency to the containment path.",
                    }
                ]
            },
        )
