"""NotifyFailure: whatever failed, the SOC hears what is known and what was and was not done.

The state a failed step leaves may be half-formed, or (when Triage failed) not even the incident:
this keeps every part that parses and, from the execution input, names the key at stake.
"""

from __future__ import annotations

from typing import Any

from responder.errors import InvalidInput
from responder.messages import Message, failure_message
from responder.permissions import Permission
from responder.settings import Settings
from responder.state import StepResult, WorkflowState
from responder.steps.notify import PERMISSIONS_DELIVER, deliver
from responder.steps.triage import triage

# A failure is delivered as a success is: the same calls.
PERMISSIONS_NOTIFY_FAILURE: tuple[Permission, ...] = PERMISSIONS_DELIVER


def notify_failure(
    sns: Any,
    s3: Any,
    secrets: Any,
    settings: Settings,
    raw_state: dict[str, Any],
    *,
    execution_input: Any,
    execution_id: str,
    account: str | None,
    securityhub: Any = None,
) -> tuple[WorkflowState, Message, StepResult]:
    """Tell the SOC what failed and what is known, as Notify does for a success (the finding goes
    back to NEW in Security Hub, with the failure in its note)."""
    state = known_state(raw_state, execution_input, settings, account)
    message = failure_message(state, execution_id)
    result = deliver(
        sns,
        s3,
        secrets,
        settings,
        state,
        message,
        execution_id=execution_id,
        workflow_status="FAILED",
        securityhub=securityhub,
    )
    return state, message, result


def known_state(
    raw: dict[str, Any], execution_input: Any, settings: Settings, account: str | None
) -> WorkflowState:
    """The workflow state as far as it parses, with the incident re-triaged from the input if missing."""
    if "Error" in raw and "error" not in raw:
        # Triage failed: its Catch replaced the (possibly not even JSON-object) input with the error.
        raw = {"error": {"Error": raw["Error"], "Cause": raw.get("Cause")}}
    known = {k: raw[k] for k in WorkflowState.model_fields if k in raw}
    try:
        state = WorkflowState.model_validate(known)
    except ValueError:
        # A half-formed state must not stop the SOC from hearing about the failure.
        state = WorkflowState.model_validate({"error": known.get("error")} if "error" in known else {})
    if state.incident is None and execution_input is not None:
        state = _with_incident(state, execution_input, settings, account)
    return state


def _with_incident(state: WorkflowState, raw: Any, settings: Settings, account: str | None) -> WorkflowState:
    """Triage again, without AWS calls, so that the SOC hears which key is at stake (if the input says)."""
    try:
        incident = triage(raw, settings, default_account_id=account)
    except InvalidInput:
        return state  # the input itself was the problem: the message says so
    return state.model_copy(update={"incident": incident})
