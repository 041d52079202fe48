"""Notify: tell the SOC what happened, what was done and where the evidence is."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.models import Action
from responder.notify import publish, success_message
from responder.observability import logger, metrics, tracer
from responder.permissions import Permission
from responder.settings import get_settings
from responder.state import StepResult, WorkflowState

PERMISSIONS: tuple[Permission, ...] = (
    Permission(("sns:Publish",), ("@soc_topic",)),
    Permission(("kms:GenerateDataKey", "kms:Decrypt"), ("@soc_key",)),
    Permission(("secretsmanager:GetSecretValue",), ("@webhook_secret",)),
)


class NotifyInput(BaseModel):
    state: WorkflowState
    execution_id: str


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=NotifyInput)
    message = success_message(request.state, request.execution_id)
    message_id = publish(client("sns"), get_settings().soc_topic_arn, message)
    logger.info("SOC notified", extra={"message_id": message_id, "subject": message.subject})
    action = Action.now("notify_soc", get_settings().soc_topic_arn, "done", f"SNS message {message_id}")
    return {**StepResult(actions=[action]).model_dump(mode="json"), **message.model_dump()}
