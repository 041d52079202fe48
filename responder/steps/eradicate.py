"""Eradicate (playbook step 13): plan, then with an approval bound to that plan, delete the rogue resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from responder.errors import EradicationNotApproved, InvalidInput
from responder.evidence import (
    latest_evidence,
)
from responder.models import Action
from responder.remediate import Approval, EradicationPlan, eradicate, eradication_plan
from responder.remediate.eradicate import MAX_PLANNED
from responder.remediate.persistence import PLAN_NAME, load_plan
from responder.state import StepResult, WorkflowState


def plan_eradication(s3: Any, iam: Any, bucket: str, incident_id: str) -> dict[str, Any]:
    """What an approved eradication of this incident would delete (reads only)."""

    # What the Remediate step verified against the live account (and what waits for a person):
    # never the report's records alone, which the attacker may have written.
    saved = latest_evidence(s3, bucket, incident_id, f"/{PLAN_NAME}-")
    rogue = load_plan(saved) if saved else []

    # The plan travels in the workflow's state: bounded, the rest left to the next approved run.
    plan = eradication_plan(iam, rogue, incident_id=incident_id, max_items=MAX_PLANNED)
    if saved is None:
        plan.not_deleted.append(
            "no persistence plan of this incident in evidence: nothing verified to delete"
        )
    return {**plan.model_dump(mode="json"), "digest": plan.digest, "lines": plan.describe()}


def run_eradication(
    iam: Any, ddb: Any, table: str, state: WorkflowState, plan_doc: Mapping[str, Any]
) -> StepResult:
    """Delete the planned rogue resources with the approval this run got, or refuse and list them."""

    inc = state.incident
    if inc is None:
        raise InvalidInput("eradication needs the incident")
    plan = EradicationPlan.model_validate(
        {k: v for k, v in plan_doc.items() if k in EradicationPlan.model_fields}
    )
    approval = None
    if state.approval is not None:
        # The approver answered the request that showed this very plan: bind the approval to it.
        approval = Approval(
            approved=True,
            by=str(state.approval.get("by") or "unknown"),
            reason=state.approval.get("reason"),
            plan_digest=plan.digest,
        )
    try:
        actions = eradicate(iam, ddb, table, inc.incident_id, plan, approval=approval, dry_run=inc.dry_run)
    except EradicationNotApproved as exc:
        actions = [
            Action.now(
                "delete_resource",
                item.target,
                "skipped",
                f"refused without an approval: would {'; '.join(item.steps)}",
            )
            for item in plan.items
        ] or [Action.now("delete_resource", inc.incident_id, "skipped", str(exc))]
    return StepResult(actions=actions)
