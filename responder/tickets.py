"""Tickets: one generic JSON webhook for Jira, ServiceNow or any tracker (an automation rule, a
scripted REST endpoint, a small relay), posted by Notify and NotifyFailure.

The secret (``responder:ticketWebhookSecretArn``) holds the URL, or JSON ``{"url", "authorization"}``
whose ``authorization`` is the Authorization header's value (``Basic ...``, ``Bearer ...``). Both are
credentials: they are never logged, reported or put in the payload. The payload is plain JSON values;
every string in it may have been written by the attacker (a finding's title, a user name), so each is
one line of printable text, cut to a bound, and no field is markup for the tracker to render.
"""

from __future__ import annotations

from typing import Any

from responder.encode import plain
from responder.messages import HttpPost, http_post, post_json
from responder.models import Action
from responder.permissions import Permission
from responder.state import WorkflowState

ACTION = "open_ticket"
PAYLOAD_VERSION = 1
SHORT = 128  # ids, names, statuses
LONG = 1000  # reasons and error messages

PERMISSIONS_TICKET: tuple[Permission, ...] = (
    Permission(("secretsmanager:GetSecretValue",), ("@ticket_secret",)),
)


def _s(value: Any, limit: int = SHORT) -> str | None:
    """One line of printable text, at most ``limit`` characters; None stays None."""
    if value is None:
        return None
    flat = " ".join(plain(str(value)).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _status_of(state: WorkflowState, names: tuple[str, ...]) -> str:
    """One word for what the run did about ``names``: done, partial, failed, skipped, none."""
    statuses = [a.status for a in state.actions() if a.action in names]
    if not statuses:
        return "none"
    if "failed" in statuses:
        return "failed"
    if all(s in ("done", "already_done") for s in statuses):
        return "done"
    if any(s in ("done", "already_done") for s in statuses):
        return "partial"
    return "skipped" if all(s == "skipped" for s in statuses) else "pending"


REMEDIATION = (
    "remove_policy_statements",
    "restore_bucket_policy",
    "block_public_access",
    "contain_principal",
    "remove_trust_statements",
    "delete_resource",
)


def ticket_payload(
    state: WorkflowState, *, execution_id: str, workflow_status: str, report: str
) -> dict[str, Any]:
    """What the tracker gets: the incident, its outcome and the report link, as plain JSON values."""
    inc = state.incident
    decision, reason = state.decision()
    finding = inc.finding if inc else None
    severity = finding.severity if finding else None
    error = state.error
    return {
        "version": PAYLOAD_VERSION,
        "source": "aws-incident-responder",
        "incident_id": _s(inc.incident_id if inc else None),
        "title": _s(
            f"{finding.type if finding else (inc.source if inc else 'input')} "
            f"{(inc.access_key_id or '') if inc else ''}".strip(),
            200,
        ),
        "severity": severity,
        "finding_type": _s(finding.type if finding else None),
        "finding_id": _s(finding.id if finding else None),
        "account_id": _s(inc.account_id if inc else None),
        "region": _s(inc.region if inc else None),
        "access_key_id": _s(inc.access_key_id if inc else None),
        "user_name": _s(inc.principal.user_name if inc else None),
        "outcome": {
            "workflow_status": _s(workflow_status),
            "decision": _s(decision),
            "decision_reason": _s(reason, LONG),
            "containment": _status_of(state, ("disable_access_key", "revoke_sessions")),
            "remediation": _status_of(state, REMEDIATION),
            "error": {"name": _s(error.Error), "message": _s(error.message, LONG)} if error else None,
        },
        "report": _s(report, 2048),
        "execution_id": _s(execution_id, 2048),
    }


def open_ticket(
    secrets: Any, secret_id: str, payload: dict[str, Any], *, http: HttpPost = http_post
) -> Action:
    """POST the payload to the ticket webhook; a failure is a ``failed`` action, never an exception."""
    why = post_json(secrets, secret_id, lambda _url: payload, http=http, what="ticket webhook")
    incident = payload.get("incident_id") or "incident"
    if why is None:
        return Action.now(ACTION, "ticket webhook", "done", f"ticket for {incident} posted")
    return Action.now(ACTION, "ticket webhook", "failed", _s(why, 300))
