"""Disable: the exposed key goes Inactive, once per key; the user's other keys are untouched."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.steps import STEP_BY_NAME
from responder.clients import client, throttling_retried
from responder.models import Incident, Owner
from responder.observability import logger, metrics, record_time_to_contain
from responder.permissions import Permission
from responder.settings import get_settings
from responder.state import StepResult
from responder.steps.disable import disable_key

PERMISSIONS: tuple[Permission, ...] = (
    Permission(("iam:ListAccessKeys", "iam:UpdateAccessKey"), ("arn:{partition}:iam::{account}:user/*",)),
    Permission(("dynamodb:PutItem", "dynamodb:UpdateItem"), ("@incident_table",)),
)


# A claim is stale once older than the longest step that claims keys can run (Triage or Disable).
CLAIM_STALE_SECONDS = max(STEP_BY_NAME[s].timeout_seconds for s in ("triage", "disable"))


class DisableInput(BaseModel):
    incident: Incident
    owner: Owner
    execution_id: str


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=DisableInput)
    logger.append_keys(incident_id=request.incident.incident_id, access_key_id=request.owner.access_key_id)
    actions = disable_key(
        client("iam"),
        client("dynamodb"),
        get_settings().incident_table,
        request.incident,
        request.owner,
        execution_id=request.execution_id,
        stale_after_seconds=CLAIM_STALE_SECONDS,
    )
    for action in actions:
        logger.info("containment", extra={"action": action.action, "status": action.status})
        if action.status == "done":
            metrics.add_metric(name="KeysDisabled", unit=MetricUnit.Count, value=1)
    record_time_to_contain(request.incident, actions)
    return StepResult(actions=actions).model_dump(mode="json")
