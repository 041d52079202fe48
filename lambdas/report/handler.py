"""Report: analysis of the saved rows; report.json and report.md written to evidence."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.investigation import write_report
from responder.observability import logger, metrics, tracer
from responder.permissions import Permission
from responder.settings import get_settings
from responder.state import WorkflowState

PERMISSIONS: tuple[Permission, ...] = (
    Permission(("s3:ListBucket",), ("@evidence_bucket",)),
    Permission(("s3:PutObject", "s3:GetObject"), ("@evidence_bucket/*",)),
    Permission(("s3:GetObject",), ("@threat_list_object",)),
)


class ReportInput(BaseModel):
    state: WorkflowState
    execution_id: str
    started_at: str | None = None


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=ReportInput)
    ref = write_report(
        client("s3"), get_settings().evidence_bucket, request.state, execution_id=request.execution_id
    )
    logger.info("report written", extra={"report": ref.uri, "sha256": ref.sha256})
    return ref.model_dump(mode="json")
