"""Notify: tell the SOC what happened, what was done and where the evidence is."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.messages import success_message
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.settings import get_settings
from responder.state import WorkflowState
from responder.steps.notify import PERMISSIONS_DELIVER, deliver

PERMISSIONS: tuple[Permission, ...] = PERMISSIONS_DELIVER


class NotifyInput(BaseModel):
    state: WorkflowState
    execution_id: str


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=NotifyInput)
    message = success_message(request.state, request.execution_id)
    settings = get_settings()
    result = deliver(
        client("sns"),
        client("s3"),
        client("secretsmanager"),
        settings,
        request.state,
        message,
        execution_id=request.execution_id,
        workflow_status="SUCCEEDED",
        securityhub=client("securityhub"),
    )
    logger.info("SOC notified", extra={"subject": message.subject, "actions": len(result.actions)})
    return {**result.model_dump(mode="json"), **message.model_dump()}
