"""NotifyFailure: whatever failed, the SOC hears what is known and what was and was not done."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.investigation import deliver
from responder.notify import failure_message
from responder.observability import logger, metrics, tracer
from responder.permissions import Permission
from responder.settings import get_settings
from responder.state import WorkflowState

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
    message = failure_message(state, request.execution_id)
    settings = get_settings()
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
