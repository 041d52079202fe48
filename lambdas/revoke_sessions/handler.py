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
from responder.containment import TAKEN_OVER_NOTE, Owner
from responder.models import Action, Incident, utc_now
from responder.observability import logger, metrics, tracer
from responder.permissions import Permission
from responder.revoke import (
    PERMISSIONS_ASSUMED_ROLES,
    PERMISSIONS_REVOKE,
    revoke_assumed_roles,
    revoke_role_sessions,
    revoke_user_sessions,
    tag_principal,
)
from responder.settings import get_settings
from responder.state import StepResult, WorkflowState

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


def _contained_elsewhere(containment: dict[str, Any] | None) -> str | None:
    """The other run's word when this run lost the claim on the key: it revokes, not us."""
    for action in (containment or {}).get("actions", []):
        if action.get("action") == "disable_access_key" and action.get("status") == "already_done":
            if TAKEN_OVER_NOTE in str(action.get("detail") or ""):
                return None  # that run died before revoking: this one revokes
            return str(action.get("detail") or "contained by another run")
    return None


def revoke(
    iam: Any,
    ddb: Any,
    table: str,
    incident: Incident,
    owner: Owner | None,
    containment: dict[str, Any] | None = None,
) -> list[Action]:
    """Revoke what the exposed credential could still use, by principal type (once per key)."""
    now = utc_now()
    if incident.dry_run:
        target = incident.access_key_id or incident.incident_id
        return [
            Action.now("revoke_sessions", target, "would_do", "deny sessions issued before now (dry run)"),
            Action.now("tag_principal", target, "would_do", "tag the principal with the incident (dry run)"),
        ]
    elsewhere = _contained_elsewhere(containment)
    if elsewhere:
        target = incident.access_key_id or incident.incident_id
        return [Action.now("revoke_sessions", target, "already_done", elsewhere)]
    principal_type = (owner.principal_type if owner else None) or incident.principal.type or "IAMUser"
    name = (owner.user_name if owner else None) or incident.principal.user_name
    target = incident.access_key_id or incident.incident_id
    if not name:
        return [Action.now("revoke_sessions", target, "skipped", "the principal's name is not known")]
    if principal_type == "AssumedRole":
        return [
            revoke_role_sessions(iam, ddb, table, incident.incident_id, name, now=now),
            tag_principal(iam, ddb, table, incident.incident_id, role_name=name),
        ]
    if principal_type == "IAMUser":
        return [
            revoke_user_sessions(iam, ddb, table, incident.incident_id, name, now=now),
            tag_principal(iam, ddb, table, incident.incident_id, user_name=name),
        ]
    return [
        Action.now(
            "revoke_sessions", target, "skipped", f"{principal_type} sessions cannot be revoked by policy"
        )
    ]


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
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
