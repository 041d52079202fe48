"""RequestApproval: ask the SOC for a yes or no, with the exact commands, and wait (the state
machine holds the task token); Escalate: nobody answered in time."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.settings import get_settings
from responder.state import WorkflowState
from responder.steps.request_approval import escalate, request_approval

PERMISSIONS: tuple[Permission, ...] = (
    Permission(("sns:Publish",), ("@soc_topic",)),
    Permission(("kms:GenerateDataKey", "kms:Decrypt"), ("@soc_key",)),
)


class ApprovalInput(BaseModel):
    state: WorkflowState
    execution_id: str
    task_token: str | None = None
    escalation: bool = False


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=ApprovalInput)
    topic = get_settings().soc_topic_arn
    if request.escalation:
        result = escalate(client("sns"), topic, request.state, request.execution_id)
        logger.warning("approval timed out: escalated", extra={"detail": result.actions[0].detail})
        return result.model_dump(mode="json")
    message_id = request_approval(
        client("sns"), topic, request.state, request.execution_id, request.task_token
    )
    # Never log the token: it is the capability to approve.
    logger.info("approval requested", extra={"message_id": message_id})
    return {"requested": True, "message_id": message_id}
