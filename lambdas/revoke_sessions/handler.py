"""RevokeSessions: credentials minted before now stop working (deny on aws:TokenIssueTime), and the
principal is tagged with the incident. Runs after the key is Inactive.

RevokeAssumedRoles (``mode: assumed_roles``, after the queries): the older sessions of every role
of this account the key assumed in the window are revoked too, from the rows saved in evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.models import Incident, Owner
from responder.observability import logger, metrics, record_time_to_contain
from responder.permissions import Permission
from responder.settings import get_settings
from responder.state import StepResult, WorkflowState
from responder.steps.revoke_sessions import (
    PERMISSIONS_ASSUMED_ROLES,
    PERMISSIONS_REVOKE,
    revoke,
    revoke_assumed_roles,
)

PERMISSIONS: tuple[Permission, ...] = PERMISSIONS_REVOKE + PERMISSIONS_ASSUMED_ROLES


class RevokeInput(BaseModel):
    incident: Incident
    owner: Owner | None = None
    containment: dict[str, Any] | None = None
    execution_id: str


class AssumedRolesInput(BaseModel):
    mode: str
    state: WorkflowState
    execution_id: str
    entered_at: str | None = None  # $$.State.EnteredTime


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("mode") == "assumed_roles":
        return _assumed_roles(parse(event=event, model=AssumedRolesInput))
    request = parse(event=event, model=RevokeInput)
    logger.append_keys(incident_id=request.incident.incident_id, access_key_id=request.incident.access_key_id)
    actions = revoke(
        client("iam"),
        client("dynamodb"),
        get_settings().incident_table,
        request.incident,
        request.owner,
        request.containment,
    )
    for action in actions:
        logger.info(
            "revocation", extra={"action": action.action, "target": action.target, "status": action.status}
        )
    record_time_to_contain(request.incident, actions)  # a session key's containment is its revocation
    return StepResult(actions=actions).model_dump(mode="json")


def _entered(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None  # not a time: the step's own clock


def _assumed_roles(request: AssumedRolesInput) -> dict[str, Any]:
    settings = get_settings()
    incident = request.state.incident
    logger.append_keys(
        incident_id=incident.incident_id if incident else None,
        access_key_id=incident.access_key_id if incident else None,
    )
    actions = revoke_assumed_roles(
        client("iam"),
        client("s3"),
        client("dynamodb"),
        settings.incident_table,
        settings.evidence_bucket,
        request.state,
        execution_id=request.execution_id,
        protected_tag=settings.protected_tag,
        protected_principals=settings.protected_principals,
        # The state's entry time, the same for every retry of it: a retry finds its own cutoff in
        # place (already_done) instead of replacing it with a later one.
        now=_entered(request.entered_at),
    )
    for action in actions:
        logger.info(
            "assumed role revocation",
            extra={"action": action.action, "target": action.target, "status": action.status},
        )
    return StepResult(actions=actions).model_dump(mode="json")
