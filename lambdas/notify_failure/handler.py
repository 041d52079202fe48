"""NotifyFailure: whatever failed, the SOC hears what is known and what was and was not done."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.triage.handler import account_of
from responder.clients import client, throttling_retried
from responder.errors import InvalidInput
from responder.investigation import deliver
from responder.notify import failure_message
from responder.observability import logger, metrics, tracer
from responder.permissions import Permission
from responder.settings import Settings, get_settings
from responder.state import WorkflowState
from responder.triage import triage

PERMISSIONS: tuple[Permission, ...] = (
    Permission(("sns:Publish",), ("@soc_topic",)),
    Permission(("kms:GenerateDataKey", "kms:Decrypt"), ("@soc_key",)),
    Permission(("secretsmanager:GetSecretValue",), ("@webhook_secret",)),
    # response.json: the run's final record (GetObject backs the write-once check).
    Permission(("s3:PutObject", "s3:GetObject"), ("@evidence_bucket/*",)),
)


class NotifyFailureInput(BaseModel):
    # The state may be a raw, untriaged input: keep what parses, ignore the rest.
    state: dict[str, Any]
    execution_id: str
    # What the execution was started with: when Triage itself failed, it still names the key.
    execution_input: Any = None


def _with_incident(
    state: WorkflowState, raw: Any, settings: Settings, context: LambdaContext
) -> WorkflowState:
    """Triage again, without AWS calls, so that the SOC hears which key is at stake (if the input says)."""
    try:
        incident = triage(raw, settings, default_account_id=account_of(context))
    except InvalidInput:
        return state  # the input itself was the problem: the message says so
    return state.model_copy(update={"incident": incident})


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=NotifyFailureInput)
    raw = request.state
    if "Error" in raw and "error" not in raw:
        # Triage failed: its Catch replaced the (possibly not even JSON-object) input with the error.
        raw = {"error": {"Error": raw["Error"], "Cause": raw.get("Cause")}}
    known = {k: raw[k] for k in WorkflowState.model_fields if k in raw}
    try:
        state = WorkflowState.model_validate(known)
    except ValueError:
        # A half-formed state must not stop the SOC from hearing about the failure.
        state = WorkflowState.model_validate({"error": known.get("error")} if "error" in known else {})
    settings = get_settings()
    if state.incident is None and request.execution_input is not None:
        state = _with_incident(state, request.execution_input, settings, context)
    message = failure_message(state, request.execution_id)
    result = deliver(
        client("sns"),
        client("s3"),
        client("secretsmanager"),
        settings,
        state,
        message,
        execution_id=request.execution_id,
        workflow_status="FAILED",
    )
    logger.warning("SOC told of a failure", extra={"error": state.error and state.error.Error})
    return {**result.model_dump(mode="json"), **message.model_dump()}
