"""Remediate (playbook step 8): contain the backdoored buckets and the IAM persistence the key created."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from responder.evidence import (
    incident_prefix,
    load_rows,
    read_evidence,
    saved_results,
)
from responder.live import bucket_state
from responder.models import Action
from responder.query.sql import PRIMARY_QUERY
from responder.remediate import apply_bucket_fix, contain_persistence, plan_bucket_fixes, plan_persistence
from responder.remediate.persistence import REMEDIATE_TIMEOUT_SECONDS, events_by_id, save_plan
from responder.settings import get_settings
from responder.state import StepResult, WorkflowState


def _policies_put(results: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]]) -> dict[str, str | None]:
    """event id -> the bucket policy text a PutBucketPolicy put (None for DeleteBucketPolicy)."""
    put: dict[str, str | None] = {}
    for (_, name), rows in results.items():
        if name != PRIMARY_QUERY:
            continue
        for row in rows:
            event = row.get("event_name")
            if event not in ("PutBucketPolicy", "DeleteBucketPolicy") or not row.get("event_id"):
                continue
            policy: Any = None
            if event == "PutBucketPolicy":
                params = json.loads(str(row.get("request_parameters") or "{}"))
                policy = params.get("bucketPolicy")
                policy = policy if isinstance(policy, str) or policy is None else json.dumps(policy)
            put[str(row["event_id"])] = policy
    return put


def _public_access_changed(
    results: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]], attacker_keys: set[str]
) -> set[str]:
    """Buckets whose Block Public Access an attacker key changed by a successful call."""
    names = {"PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock"}
    changed: set[str] = set()
    for rows in results.values():
        for row in rows:
            mine = row.get("access_key_id") in attacker_keys and not row.get("error_code")
            if mine and row.get("event_name") in names:
                params = json.loads(str(row.get("request_parameters") or "{}"))
                if isinstance(params, dict) and params.get("bucketName"):
                    changed.add(str(params["bucketName"]))
    return changed


def remediation_allowed(state: WorkflowState) -> tuple[bool, str]:
    """Rogue resources are contained under the key's approval policy: automatic, approved, or not."""
    inc = state.incident
    if inc is None:
        return False, "no incident"
    if state.approval is not None:
        return True, f"approved by {state.approval.get('by') or 'unknown'}"
    if state.owner is not None and state.owner.protected:
        return False, "the principal is protected and nobody approved: the plan is reported, nothing changes"
    contained = any(
        a.action == "disable_access_key" and a.status in ("done", "already_done", "would_do")
        for a in state.actions()
    )
    if contained:
        # Automatic containment, or the approval timeout's "contain" default: the same policy applies.
        return True, "the policy that contained the key"
    action, reason = state.decision()
    if action == "notify_only":
        return False, f"notify only ({reason}): the plan is reported, nothing changes"
    return False, f"not approved ({action}): the plan is reported, nothing changes"


def remediate(
    s3: Any,
    iam: Any,
    ddb: Any,
    table: str,
    evidence_bucket: str,
    state: WorkflowState,
    *,
    execution_id: str,
    insiders: Any = None,
) -> StepResult:
    """Playbook step 8: contain the backdoored buckets and the IAM persistence the key created.

    ``insiders``: this account's :class:`responder.analysis.buckets.Insiders` as the live account
    shows them (``responder.insiders.read_insiders``); without it only the account id is inside.
    """

    inc = state.incident
    if inc is None or state.report is None or not state.report.uri:
        return StepResult()
    report = json.loads(read_evidence(s3, state.report.uri))
    metas = saved_results(s3, evidence_bucket, inc.incident_id, execution_id)
    results = {k: load_rows(s3, m["rows"]) for k, m in metas.items() if k[1] == PRIMARY_QUERY}
    flagged = {c["bucket"] for c in report.get("bucket_policy_changes", []) if c.get("grants_external")}
    flagged |= {c["bucket"] for c in report.get("current_bucket_policies", []) if c.get("grants_external")}
    buckets = sorted(flagged | set(inc.buckets))
    live = {b: bucket_state(s3, b) for b in buckets}
    attacker_keys = {
        c["access_key_id"] for c in report.get("credentials", []) if c.get("relation") != "same_ip"
    }
    fixes = plan_bucket_fixes(
        report,
        live,
        finding_type=inc.finding.type if inc.finding else None,
        finding_buckets=inc.buckets,
        account_id=insiders or inc.account_id,
        attacker_keys=attacker_keys,
        policies=_policies_put(results),
        public_access_changed=_public_access_changed(results, attacker_keys),
    )
    # Persistence: each event's row (its responseElements) is what the live account is checked against.
    rows = [row for key_rows in results.values() for row in key_rows]
    rogue = plan_persistence(
        report, exposed_user=state.owner.user_name if state.owner else None, events=events_by_id(rows)
    )
    allowed, why = remediation_allowed(state)
    dry_run = inc.dry_run or not allowed
    actions: list[Action] = []
    for fix in fixes:
        actions += apply_bucket_fix(
            s3,
            ddb,
            table,
            evidence_bucket,
            inc.incident_id,
            fix,
            execution_id=execution_id,
            approved_by=why,
            dry_run=dry_run,
        )
    settings = get_settings()
    persistence = contain_persistence(
        iam,
        ddb,
        table,
        inc.incident_id,
        rogue,
        approved_by=why,
        dry_run=dry_run,
        deny_policy_arn=settings.deny_all_policy_arn,
        protected=settings.protected_principals,
        protected_tag=settings.protected_tag,
        max_principals=settings.max_auto_contain,
        execution_id=execution_id,
        once_scope=f"key/{inc.access_key_id}",
        stale_after_seconds=REMEDIATE_TIMEOUT_SECONDS,
        insiders=insiders,
    )
    actions += persistence.actions
    # The full lists (every inconsistent record, everything waiting for a person) go to evidence.
    evidence = [save_plan(s3, evidence_bucket, incident_prefix(inc.incident_id, execution_id), persistence)]
    if not allowed and not inc.dry_run:
        # A plan nobody approved is reported as such, not as something that will happen.
        actions = [
            a.model_copy(update={"status": "skipped", "detail": f"{why}; would: {a.detail or a.action}"})
            if a.status == "would_do"
            else a
            for a in actions
        ]
    return StepResult(actions=actions, evidence=evidence)
