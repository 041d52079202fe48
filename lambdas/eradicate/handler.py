"""Eradicate: a separate, approval-gated run that deletes the rogue resources an earlier run
contained. ``plan`` says what it would delete; ``execute`` deletes only with the approval of that
plan, else refuses and lists it."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.errors import InvalidInput
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.remediate import PERMISSIONS_ERADICATE, PERMISSIONS_ERADICATION_PLAN
from responder.settings import get_settings
from responder.state import WorkflowState
from responder.steps.eradicate import plan_eradication, run_eradication

PERMISSIONS: tuple[Permission, ...] = (
    *PERMISSIONS_ERADICATION_PLAN,
    *PERMISSIONS_ERADICATE,
    Permission(("s3:ListBucket",), ("@evidence_bucket",)),
    Permission(("s3:GetObject",), ("@evidence_bucket/*",)),
)


class EradicateInput(BaseModel):
    mode: Literal["plan", "execute"]
    state: WorkflowState
    plan: dict[str, Any] | None = None
    execution_id: str


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=EradicateInput)
    settings = get_settings()
    incident = request.state.incident
    if incident is None:
        raise InvalidInput("eradication needs the triaged incident")
    if request.mode == "plan":
        plan = plan_eradication(client("s3"), client("iam"), settings.evidence_bucket, incident.incident_id)
        logger.info(
            "eradication planned", extra={"incident_id": incident.incident_id, "items": len(plan["items"])}
        )
        return plan
    result = run_eradication(
        client("iam"), client("dynamodb"), settings.incident_table, request.state, request.plan or {}
    )
    for action in result.actions:
        logger.info("eradication", extra={"target": action.target, "status": action.status})
    return result.model_dump(mode="json")
