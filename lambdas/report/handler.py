"""Report: analysis of the saved rows; report.json and report.md written to evidence."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.classification import PERMISSIONS_CLASSIFICATION
from responder.clients import client, throttling_retried
from responder.insiders import PERMISSIONS_INSIDERS, insiders_here
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.redact import deployment_key, keyed
from responder.settings import get_settings
from responder.state import WorkflowState
from responder.steps.report import write_report

PERMISSIONS: tuple[Permission, ...] = (
    Permission(("s3:ListBucket",), ("@evidence_bucket",)),
    Permission(("s3:PutObject", "s3:GetObject"), ("@evidence_bucket/*",)),
    Permission(("s3:GetObject",), ("@threat_list_object",)),
    # The HMAC key of redaction digests (a short secret's plain SHA-256 could be guessed).
    Permission(("secretsmanager:GetSecretValue",), ("@redaction_key_secret",)),
    # Who is inside this account (read-only): the report judges "external" as Remediate does.
    *PERMISSIONS_INSIDERS,
    # What the touched buckets hold: Macie's sensitivity scores, else their classification tag.
    *PERMISSIONS_CLASSIFICATION,
)


class ReportInput(BaseModel):
    state: WorkflowState
    execution_id: str
    started_at: str | None = None


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=ReportInput)
    settings = get_settings()
    key = deployment_key(settings.redaction_key_secret_arn, lambda: client("secretsmanager"))
    # This account is the one the function runs in, never the one the finding claims.
    insiders = insiders_here(context.invoked_function_arn.split(":")[4], settings, client)
    with keyed(key):  # report.json/.md/.html and the log lines: every digest keyed
        ref = write_report(
            client("s3"),
            settings.evidence_bucket,
            request.state,
            execution_id=request.execution_id,
            insiders=insiders,
            macie=client("macie2"),
        )
    logger.info("report written", extra={"report": ref.uri, "sha256": ref.sha256})
    return ref.model_dump(mode="json")
