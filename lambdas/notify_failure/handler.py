"""NotifyFailure: whatever failed, the SOC hears what is known and what was and was not done."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import account_of, client, throttling_retried
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.settings import get_settings
from responder.steps.notify_failure import PERMISSIONS_NOTIFY_FAILURE, notify_failure

PERMISSIONS: tuple[Permission, ...] = PERMISSIONS_NOTIFY_FAILURE


class NotifyFailureInput(BaseModel):
    # The state may be a raw, untriaged input: keep what parses, ignore the rest.
    state: dict[str, Any]
    execution_id: str
    # What the execution was started with: when Triage itself failed, it still names the key.
    execution_input: Any = None


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=NotifyFailureInput)
    state, message, result = notify_failure(
        client("sns"),
        client("s3"),
        client("secretsmanager"),
        get_settings(),
        request.state,
        execution_input=request.execution_input,
        execution_id=request.execution_id,
        account=account_of(context),
        securityhub=client("securityhub"),
    )
    logger.warning("SOC told of a failure", extra={"error": state.error and state.error.Error})
    return {**result.model_dump(mode="json"), **message.model_dump()}
