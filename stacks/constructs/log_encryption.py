"""The key that encrypts the responder's log groups, and their retention.

Logs carry incident details (key ids, user names, Step Functions execution data), so they are
encrypted with a customer-managed key that only CloudWatch Logs of this account and region may use.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from deployment.settings import LOG_RETENTION_DAYS

# aws_logs.RetentionDays lists the allowed periods in the same order as LOG_RETENTION_DAYS.
_RETENTION = dict(
    zip(LOG_RETENTION_DAYS, [r for r in logs.RetentionDays if r.name != "INFINITE"], strict=True)
)


class LogEncryption(Construct):
    """A rotated key for CloudWatch Logs, and the retention every log group uses."""

    def __init__(self, scope: Construct, construct_id: str, *, retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.retention = _RETENTION[retention_days]
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the incident responder's CloudWatch log groups",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )
