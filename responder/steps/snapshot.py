"""Preserve before anything changes: the finding as received and each named bucket's policy.

The policy is kept exactly as S3 returned it (the string), so a later restore can be byte-exact;
ACL, Block Public Access, ownership controls and versioning are saved beside it because a fix
may change them too.
"""

from __future__ import annotations

from typing import Any

from responder.evidence import incident_prefix, put_json_evidence
from responder.live import bucket_state
from responder.models import Action, ActionStatus, Incident
from responder.state import StepResult


def snapshot(
    s3: Any, evidence_bucket: str, incident: Incident, execution_input: Any, *, execution_id: str
) -> StepResult:
    """Write the finding, the incident and each bucket's state to evidence, with SHA-256."""
    prefix = incident_prefix(incident.incident_id, execution_id)
    result = StepResult()
    result.evidence.append(
        put_json_evidence(s3, evidence_bucket, f"{prefix}/finding.json", execution_input, kind="finding")
    )
    result.evidence.append(
        put_json_evidence(
            s3, evidence_bucket, f"{prefix}/incident.json", incident.model_dump(mode="json"), kind="incident"
        )
    )
    for bucket in incident.buckets:
        state = bucket_state(s3, bucket)
        ref = put_json_evidence(s3, evidence_bucket, f"{prefix}/buckets/{bucket}.json", state, kind="bucket")
        result.evidence.append(ref)
        status: ActionStatus = "done"
        if state["errors"].get("policy") not in (None, "absent"):
            status, detail = "failed", f"could not read the policy: {state['errors']['policy']}"
        elif state["policy"] is None:
            status, detail = "done", f"no bucket policy in place; state saved to {ref.uri}"
        else:
            status, detail = "done", f"policy sha256 {state['policy_sha256']} saved to {ref.uri}"
        result.actions.append(Action.now("snapshot_bucket_policy", bucket, status, detail))
    return result
