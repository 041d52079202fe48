"""RequestApproval: ask the SOC for a yes or no, with the exact commands, and wait (the state
machine holds the task token); Escalate: nobody answered in time."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.approval import approval_commands
from responder.clients import client, throttling_retried
from responder.models import Action
from responder.notify import approval_message, escalation_message, publish
from responder.observability import logger, metrics, tracer
from responder.permissions import Permission
from responder.settings import get_settings
from responder.state import StepResult, WorkflowState

PERMISSIONS: tuple[Permission, ...] = (
    Permission(("sns:Publish",), ("@soc_topic",)),
    Permission(("kms:GenerateDataKey", "kms:Decrypt"), ("@soc_key",)),
)


class ApprovalInput(BaseModel):
    state: WorkflowState
    execution_id: str
    task_token: str | None = None
    escalation: bool = False


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=ApprovalInput)
    topic = get_settings().soc_topic_arn
    if request.escalation:
        message = escalation_message(request.state, request.execution_id)
        message_id = publish(client("sns"), topic, message)
        logger.warning("approval timed out: escalated", extra={"message_id": message_id})
        action = Action.now(
            "notify_soc", topic, "done", f"escalation {message_id}: no answer to the approval request"
        )
        return StepResult(actions=[action]).model_dump(mode="json")
    if not request.task_token:
        raise ValueError("an approval request needs the task token")
    message = approval_message(request.state, request.execution_id, approval_commands(request.task_token))
    message_id = publish(client("sns"), topic, message)
    # Never log the token: it is the capability to approve.
    logger.info("approval requested", extra={"message_id": message_id})
    return {"requested": True, "message_id": message_id}
