"""Remediate: the backdoored bucket policies and the IAM persistence the key created, contained
under the same approval policy as the key (playbook step 8); a dry run reports would_do."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.investigation import remediate
from responder.observability import logger, metrics, tracer
from responder.permissions import Permission
from responder.remediate import PERMISSIONS_BUCKET_FIX, PERMISSIONS_CONTAIN_PERSISTENCE
from responder.settings import get_settings
from responder.state import WorkflowState

PERMISSIONS: tuple[Permission, ...] = (
    *PERMISSIONS_BUCKET_FIX,
    *PERMISSIONS_CONTAIN_PERSISTENCE,
    Permission(("s3:ListBucket",), ("@evidence_bucket",)),
    Permission(("s3:GetObject", "s3:PutObject"), ("@evidence_bucket/*",)),
)


class RemediateInput(BaseModel):
    state: WorkflowState
    execution_id: str


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=RemediateInput)
    settings = get_settings()
    result = remediate(
        client("s3"),
        client("iam"),
        client("dynamodb"),
        settings.incident_table,
        settings.evidence_bucket,
        request.state,
        execution_id=request.execution_id,
    )
    for action in result.actions:
        logger.info(
            "remediation", extra={"action": action.action, "target": action.target, "status": action.status}
        )
    return result.model_dump(mode="json")
