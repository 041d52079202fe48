"""The per-deployment key of redaction digests: a generated Secrets Manager secret under its own key.

Reports and saved query results replace a secret-looking value with a digest, so that an analyst can
tell two occurrences of one value apart from two values without seeing either. A plain SHA-256 of a
short secret can be reversed by guessing; a keyed digest (HMAC with this secret) cannot without the
key. The handlers that redact read it (``secretsmanager:GetSecretValue`` on ``@redaction_key_secret``,
and ``kms:Decrypt`` on its key through Secrets Manager only, implied by the stack).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.nag import acknowledge

REDACTION_KEY_SECRET_ENV = "REDACTION_KEY_SECRET_ARN"  # noqa: S105 (a variable name, not a secret)
# Not rotated: a digest is only worth comparing with the digests of other incidents, and of reports
# already sent, while the key stays the same.
NO_ROTATION_REASON = (
    "The redaction key is an HMAC key, not a credential: it authenticates nothing and opens nothing. "
    "Digests in reports and evidence are compared across incidents, which a rotated key would break; "
    "only the redacting step functions can read it."
)


class RedactionKey(Construct):
    """A 64-character generated secret, encrypted with a rotated customer-managed key, kept on delete."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the incident responder's redaction key secret",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="Incident responder: per-deployment key of the digests that stand for redacted "
            "values (HMAC-SHA256)",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
            # Evidence outlives the stack; its digests are only comparable with the same key.
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(self.secret, "AwsSolutions-SMG4", NO_ROTATION_REASON)
        self.secret.node.default_child.add_metadata(  # type: ignore[union-attr]
            "checkov", {"skip": [{"id": "CKV2_AWS_57", "comment": NO_ROTATION_REASON}]}
        )

    @property
    def secret_arn(self) -> str:
        return self.secret.secret_arn

    @property
    def key_arn(self) -> str:
        return self.key.key_arn
