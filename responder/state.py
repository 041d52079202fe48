"""The workflow's state document, as the ASL passes it between states.

Triage puts the incident at ``$.incident``; Validate adds ``$.owner``, Disable ``$.containment``,
the Parallel ``$.investigation`` ([snapshot, query]), Report ``$.report``; a Catch puts
``{Error, Cause}`` at ``$.error`` (or ``$.validation_error``). Every key after the incident may be
missing: a failure notification tells what is known.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from responder.models import Action, EvidenceRef, Incident, Owner
from responder.timing import time_to_contain


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorInfo(_Loose):
    """What a Catch stores: the error name and the Lambda error payload as a JSON string."""

    Error: str = "Unknown"
    Cause: str | None = None

    @property
    def message(self) -> str:
        """The exception's message, without the stack trace."""
        try:
            cause = json.loads(self.Cause or "")
        except (TypeError, ValueError):
            return (self.Cause or "")[:500]
        if isinstance(cause, dict):
            return str(cause.get("errorMessage", ""))[:500]
        return str(cause)[:500]


class StepResult(_Loose):
    """Output of a step that acted or preserved something."""

    actions: list[Action] = Field(default_factory=list)
    evidence: list[EvidenceRef] = Field(default_factory=list)


class QueryResult(StepResult):
    """Output of the query branch: rows saved to evidence, not carried in the state."""

    name: str = "key_activity"
    engine: str = ""
    rows_uri: str | None = None
    rows_sha256: str | None = None
    row_count: int = 0
    window: dict[str, str] = Field(default_factory=dict)
    coverage: dict[str, Any] = Field(default_factory=dict)


class ReportRef(StepResult):
    uri: str | None = None
    html_uri: str | None = None
    manifest_uri: str | None = None  # manifest.final.json: the root to verify every hash from
    coverage_status: str | None = None
    markdown_uri: str | None = None
    sha256: str | None = None
    headline: str | None = None
    top_source_ips: list[str] = Field(default_factory=list)
    findings_by_tactic: dict[str, int] = Field(default_factory=dict)


class WorkflowState(_Loose):
    incident: Incident | None = None
    owner: Owner | None = None
    validation_error: ErrorInfo | None = None
    containment: StepResult | None = None
    # Triage's Security Hub write-back (NOTIFIED), kept apart from $.containment, which Disable replaces.
    securityhub: StepResult | None = None
    revocation: StepResult | None = None
    role_revocation: StepResult | None = None  # RevokeAssumedRoles: roles the key assumed
    approval: dict[str, Any] | None = None  # what `responder approve` sent back
    approval_error: ErrorInfo | None = None  # ApprovalDenied or States.Timeout
    escalation: StepResult | None = None
    remediation: StepResult | None = None
    eradication_plan: dict[str, Any] | None = None
    eradication: StepResult | None = None
    investigation: list[dict[str, Any]] | None = None
    report: ReportRef | None = None
    error: ErrorInfo | None = None

    @property
    def snapshot(self) -> StepResult | None:
        if not self.investigation:
            return None
        return StepResult.model_validate(self.investigation[0])

    @property
    def queries(self) -> dict[str, Any]:
        """The query branch's last plan: rounds run and the window (rows live in evidence)."""
        if not self.investigation or len(self.investigation) < 2:
            return {}
        return dict(self.investigation[1])

    def steps(self) -> list[StepResult]:
        steps = (
            self.containment,
            self.securityhub,
            self.revocation,
            self.escalation,
            self.snapshot,
            self.report,
            self.role_revocation,
            self.remediation,
            self.eradication,
        )
        return [s for s in steps if s is not None]

    def approval_actions(self) -> list[Action]:
        """The approval request's outcome, from what the approver (or the timeout) answered."""
        if self.incident is None or (self.approval is None and self.approval_error is None):
            return []
        target = self.incident.access_key_id or self.incident.incident_id
        if self.approval is not None:
            by = self.approval.get("by") or "unknown"
            return [Action.now("request_approval", target, "done", f"approved by {by}")]
        assert self.approval_error is not None
        if self.approval_error.Error == "States.Timeout":
            on_timeout = (self.incident.model_extra or {}).get("approval", {}).get("on_timeout", "leave")
            return [
                Action.now("request_approval", target, "skipped", f"no answer in time; default: {on_timeout}")
            ]
        return [Action.now("request_approval", target, "skipped", f"denied: {self.approval_error.message}")]

    def not_contained(self) -> list[Action]:
        """Why the credential was left as it is, when it was (foreign, deleted, root, sample...)."""
        inc = self.incident
        # Triage always leaves a containment record (``deferred``, ``not_attempted``) without actions:
        # only a disable_access_key action means the key's fate is already told.
        told = self.containment is not None and any(
            a.action == "disable_access_key" for a in self.containment.actions
        )
        if inc is None or told or self.approval_error is not None:
            return []
        target = inc.access_key_id or inc.incident_id
        if self.validation_error is not None:
            reason = f"{self.validation_error.Error}: {self.validation_error.message}; nothing changed"
            return [Action.now("disable_access_key", target, "skipped", reason)]
        if inc.decision.action == "notify_only":
            return [Action.now("disable_access_key", target, "skipped", inc.decision.reason)]
        return []

    def actions(self) -> list[Action]:
        return self.approval_actions() + self.not_contained() + [a for s in self.steps() for a in s.actions]

    def decision(self) -> tuple[str, str]:
        """The decision the run acted on, with its reason: triage's, unless Validate found the key is
        not this account's to contain (another account's, deleted, a different principal), which turns
        the run into notify-only whatever triage decided."""
        inc = self.incident
        if inc is None:
            return "ignore", "the input could not be triaged"
        if self.validation_error is not None:
            return "notify_only", f"{self.validation_error.Error}: {self.validation_error.message}"
        return inc.decision.action, inc.decision.reason

    def evidence(self) -> list[EvidenceRef]:
        return [e for s in self.steps() for e in s.evidence]


class QueryTask(BaseModel):
    """One query of the plan, as the Map state hands it to StartQuery."""

    incident_id: str
    execution_id: str
    access_key_id: str
    name: str
    window: dict[str, str]
    coverage: bool = False  # measured once, on the exposed key's activity query


class QueryHandle(QueryTask):
    """What the Wait/Choice loop carries between StartQuery, QueryStatus and QueryResults."""

    engine: str
    query_id: str
    state: str
    wait_seconds: int
    polls: int = 0
    stats: dict[str, Any] = Field(default_factory=dict)


def response_of(state: WorkflowState, workflow_status: str) -> dict[str, Any]:
    decision, reason = state.decision()
    actions = state.actions()
    timing = time_to_contain(state.incident, actions)
    response: dict[str, Any] = {
        "workflow_status": workflow_status,
        "decision": decision,
        "decision_reason": reason,
        "actions": [a.model_dump(mode="json") for a in actions],
        "evidence": [{"uri": e.uri, "sha256": e.sha256, "kind": e.kind} for e in state.evidence()],
        # Seconds from the signal's creation to the key contained; None when this run contained nothing.
        "time_to_contain_seconds": timing["seconds"] if timing else None,
        "time_to_contain": timing,
    }
    if state.validation_error is not None:
        # What made the run notify-only, by name: the next steps depend on it (responder/next_steps.py).
        response["validation_error"] = state.validation_error.Error
    if state.error is not None:
        response["error"] = {"name": state.error.Error, "message": state.error.message}
    return response
