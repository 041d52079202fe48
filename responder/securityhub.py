"""Security Hub write-back: the GuardDuty finding's workflow status follows the run.

- Triage (after the key is contained, off the fast path): ``NOTIFIED``, the run has started.
- Notify: ``RESOLVED`` when containment and remediation are done (:func:`open_items` is empty), else
  it stays ``NOTIFIED`` with a note saying what a person must still do.
- NotifyFailure: back to ``NEW``, with the failure in the note: nobody is handling it any more.

Every note links the run: the final report's ``s3://`` URI and the execution id. The call is
``BatchUpdateFindings`` with Security Hub's identifiers of the finding (``FindingRef.arn`` and
``product_arn``, read by Triage and checked here). It never fails a run: Security Hub not enabled in the
account (``InvalidAccessException``, ``ResourceNotFoundException``) is ``skipped``; any other error, or
the finding left unprocessed, is ``failed`` with the error code. The SOC already has its message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from responder.bundle import FINAL_FOLDER
from responder.encode import plain
from responder.errors import error_code
from responder.evidence import incident_prefix
from responder.models import Action, Incident
from responder.permissions import Permission
from responder.state import StepResult, WorkflowState

ACTION = "update_securityhub_finding"
UPDATED_BY = "aws-incident-responder"
NOTE_MAX = 512  # BatchUpdateFindings' Note.Text limit
DETAIL_MAX = 600
REASON_MAX = 200  # of a note: what is left or what failed; the report and execution links follow
WorkflowStatus = Literal["NEW", "NOTIFIED", "RESOLVED"]
# What Security Hub answers in an account (or region) where it is not enabled.
NOT_SUBSCRIBED = frozenset({"InvalidAccessException", "ResourceNotFoundException"})

# The identifiers are attacker-adjacent input (a finding can be forged into the console input): only
# these exact shapes are kept. GuardDuty detector and finding ids are hex (32 characters today).
_PARTITION = r"aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
GUARDDUTY_FINDING_ARN_RE = re.compile(
    rf"^arn:(?P<partition>{_PARTITION}):guardduty:(?P<region>{_REGION}):\d{{12}}:"
    r"detector/[A-Za-z0-9]{1,64}/finding/[A-Za-z0-9]{1,64}\Z"
)
GUARDDUTY_PRODUCT_ARN_RE = re.compile(rf"^arn:{_PARTITION}:securityhub:{_REGION}::product/aws/guardduty\Z")

# The hub of the function's own account and region, and only the three statuses a run sets (never
# SUPPRESSED: a run never hides a finding). Security Hub authorizes BatchUpdateFindings on the hub
# resource (the Service Authorization Reference lists ``hub*``), not on the finding itself.
PERMISSIONS_WRITE_BACK: tuple[Permission, ...] = (
    Permission(
        ("securityhub:BatchUpdateFindings",),
        ("@security_hub",),
        conditions={
            "StringEquals": {"securityhub:ASFFSyntaxPath/Workflow.Status": ["NEW", "NOTIFIED", "RESOLVED"]}
        },
    ),
)

# Our own deliveries and records: whether they worked says nothing about the incident.
_DELIVERY = frozenset({ACTION, "notify_soc", "notify_chat", "open_ticket", "write_final_report"})
_CREDENTIAL = frozenset({"disable_access_key", "revoke_sessions"})


# --------------------------------------------------------------------------- reading the identifiers


def guardduty_identifiers(finding: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(Id, ProductArn)`` of a GuardDuty finding (camelCase, as in the EventBridge ``detail``):
    its ``arn`` and GuardDuty's product ARN in that partition and region; ``(None, None)`` when the
    ``arn`` is missing or not a GuardDuty finding ARN."""
    arn = finding.get("arn")
    m = GUARDDUTY_FINDING_ARN_RE.match(arn) if isinstance(arn, str) else None
    if m is None:
        return None, None
    return arn, f"arn:{m['partition']}:securityhub:{m['region']}::product/aws/guardduty"


def asff_identifiers(finding: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(Id, ProductArn)`` of an ASFF finding as given, when both have GuardDuty's shapes."""
    finding_id, product = finding.get("Id"), finding.get("ProductArn")
    if not (isinstance(finding_id, str) and isinstance(product, str)):
        return None, None
    if GUARDDUTY_FINDING_ARN_RE.match(finding_id) and GUARDDUTY_PRODUCT_ARN_RE.match(product):
        return finding_id, product
    return None, None


# --------------------------------------------------------------------------- what the run leaves


def report_uri(bucket: str, incident_id: str, execution_id: str) -> str:
    """Where Notify (or NotifyFailure) writes the run's final report.json."""
    return f"s3://{bucket}/{incident_prefix(incident_id, execution_id)}/{FINAL_FOLDER}/report.json"


def open_items(state: WorkflowState) -> list[str]:
    """What keeps a finished run from ``RESOLVED``: empty when containment and remediation are done.

    Done means all of: the decision was to contain (or a person approved it); the exposed credential
    is contained (its key disabled, or for a role session's key its sessions revoked, now or before);
    and no action of the run failed, waits for a person's approval, was only a dry run or was left
    undone as not approved. Our own deliveries (SOC message, chat, ticket, this write-back, the final
    report) do not count either way.
    """
    inc = state.incident
    if inc is None:
        return ["the input could not be triaged"]
    decision, reason = state.decision()
    actions = [a for a in state.actions() if a.action not in _DELIVERY]
    items: list[str] = []
    if decision != "contain" and not (decision == "await_approval" and state.approval is not None):
        items.append(f"decision {decision}: {reason}")
    if not any(a.action in _CREDENTIAL and a.status in ("done", "already_done") for a in actions):
        items.append("the exposed credential was not contained by this run")
    for status, what in (
        ("failed", "failed"),
        ("awaiting_approval", "wait for a person's approval"),
        ("would_do", "were only planned (dry run)"),
    ):
        names = sorted({a.action for a in actions if a.status == status})
        if names:
            items.append(f"{', '.join(names)} {what}")
    unapproved = sorted(
        {a.action for a in actions if a.status == "skipped" and (a.detail or "").startswith("not approved")}
    )
    if unapproved:
        items.append(f"{', '.join(unapproved)} not approved")
    return items


def final_status(state: WorkflowState, *, report: str, execution_id: str) -> tuple[WorkflowStatus, str]:
    """Notify's status and note: ``RESOLVED``, or ``NOTIFIED`` with what a person must still do."""
    items = open_items(state)
    link = f"Report: {report or 'not written'}; execution {execution_id}."
    if not items:
        return "RESOLVED", f"Contained and remediated by the incident responder. {link}"
    todo = _cut("; ".join(items), REASON_MAX)  # the links after it always fit in the note
    return "NOTIFIED", f"Not resolved: a person must still act ({todo}). {link}"


def failure_note(state: WorkflowState, *, report: str, execution_id: str) -> str:
    """NotifyFailure's note: the run failed, by name, and nobody handles the finding now."""
    err = state.error
    why = _cut(f"{err.Error}: {err.message}" if err else "unknown error", REASON_MAX)
    return (
        f"The incident responder failed ({why}); the finding is back to NEW for a person to take over. "
        f"Report: {report or 'not written'}; execution {execution_id}."
    )


def started_note(incident: Incident, containment: str, *, execution_id: str) -> str:
    """Triage's note: the run has started, with its decision and the fast path's containment."""
    return (
        f"The incident responder is handling this finding: incident {incident.incident_id}, decision "
        f"{incident.decision.action}, containment {containment}. Execution {execution_id}."
    )


# --------------------------------------------------------------------------- the call


def _cut(text: str, limit: int) -> str:
    flat = " ".join(plain(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def update_finding(securityhub: Any, incident: Incident | None, status: WorkflowStatus, note: str) -> Action:
    """Set the incident's finding to ``status`` with ``note``; the action says how it went (never raises)."""
    finding = incident.finding if incident else None
    target = (finding.arn if finding else None) or (incident.incident_id if incident else "finding")
    if incident is None or finding is None:
        return Action.now(ACTION, target, "skipped", "no finding: this input has no Security Hub finding")
    if not (finding.arn and finding.product_arn):
        return Action.now(ACTION, target, "skipped", "the finding carries no Security Hub identifier (arn)")
    text = _cut(note, NOTE_MAX)
    try:
        response = securityhub.batch_update_findings(
            FindingIdentifiers=[{"Id": finding.arn, "ProductArn": finding.product_arn}],
            Workflow={"Status": status},
            Note={"Text": text, "UpdatedBy": UPDATED_BY},
        )
    except ClientError as exc:
        code = error_code(exc) or "ClientError"
        if code in NOT_SUBSCRIBED:
            return Action.now(ACTION, target, "skipped", f"Security Hub is not enabled here ({code})")
        return Action.now(ACTION, target, "failed", f"{code}: workflow status not set to {status}")
    except BotoCoreError as exc:
        return Action.now(
            ACTION, target, "failed", f"{type(exc).__name__}: workflow status not set to {status}"
        )
    unprocessed = response.get("UnprocessedFindings") or []
    if unprocessed:
        code = _cut(str(unprocessed[0].get("ErrorCode") or "Unprocessed"), 64)
        return Action.now(ACTION, target, "failed", f"{code}: workflow status not set to {status}")
    return Action.now(ACTION, target, "done", _cut(f"workflow status {status}: {text}", DETAIL_MAX))


def mark_notified(
    client: Callable[[str], Any], enabled: bool, incident: Incident, containment: str, execution_id: str
) -> dict[str, Any] | None:
    """Triage's write-back, once the fast path is over: ``NOTIFIED`` (``$.securityhub``), or None when
    write-back is off or the incident has no finding (Notify's action then says why). ``client`` is
    the client factory (``responder.clients.client``): no client is made when nothing is written."""
    if not enabled or incident.finding is None:
        return None
    note = started_note(incident, containment, execution_id=execution_id)
    action = update_finding(client("securityhub"), incident, "NOTIFIED", note)
    return StepResult(actions=[action]).model_dump(mode="json")
