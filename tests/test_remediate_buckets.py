"""Bucket remediation changes only the attacker's delta, by value, exactly once (issue 12, points 1, 8, 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from responder.analysis.buckets import Insiders
from responder.evidence import read_evidence, sha256_hex
from responder.live import bucket_state
from responder.policy_doc import canonical
from responder.remediate import BucketFix, apply_bucket_fix, plan_bucket_fixes
from responder.remediate.buckets import attacker_delta, statement_scope
from tests.remediation_env import (
    ACCOUNT,
    ATTACKER_ACCOUNT,
    BACKDOOR,
    BACKDOORED_POLICY,
    BUCKET,
    EVIDENCE,
    OWNER_POLICY,
    OWNER_STATEMENTS,
    Incident,
    emulated_incident,
)

INC = "inc-bucket-delta-0001"
EXEC_A = "arn:aws:states:us-east-1:123456789012:execution:responder:run-a"
EXEC_B = "arn:aws:states:us-east-1:123456789012:execution:responder:run-b"
APPROVER = "the policy that contained the key"
SHARE = "acme-partner-share-123456789012"
PARTNER = "444455556666"
ATTACKER_ORG, ATTACKER_VPCE, ATTACKER_USERID = (
    "o-attacker0001",
    "vpce-0attacker00000001",
    "AROAATTACKERROLE0001",
)
OUR_ORG = "o-ourorg00001"


@pytest.fixture
def inc(aws_env: None) -> Iterator[Incident]:
    with emulated_incident() as incident:
        yield incident


def _put(bucket: str, policy: str, *, key: str, at: str, event_id: str, ok: bool = True) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "event_name": "PutBucketPolicy",
        "event_time": at,
        "event_id": event_id,
        "succeeded": ok,
        "access_key_id": key,
        "policy": policy,
    }


def _report(changes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"account_id": ACCOUNT, "bucket_policy_changes": changes or [], "current_bucket_policies": []}


def _plan(inc: Incident, changes: list[dict[str, Any]], bucket: str = BUCKET, **kwargs: Any) -> BucketFix:
    kwargs.setdefault("finding_type", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")
    kwargs.setdefault("attacker_keys", {inc.env.key})
    [fix] = plan_bucket_fixes(
        _report(changes), {bucket: bucket_state(inc.s3, bucket)}, finding_buckets=[bucket], **kwargs
    )
    return fix


def _apply(inc: Incident, fix: BucketFix, execution: str = EXEC_A, **kwargs: Any) -> list[tuple[str, str]]:
    actions = apply_bucket_fix(
        inc.s3,
        inc.ddb,
        inc.table,
        EVIDENCE,
        INC,
        fix,
        execution_id=execution,
        approved_by=APPROVER,
        dry_run=kwargs.pop("dry_run", False),
    )
    return [(a.action, a.status) for a in actions]


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# ------------------------------------------------------------------------- only read: untouched


def _share(inc: Incident) -> str:
    """The partner share: a partner account reads, the ELB log delivery writes (issue 12, point 1)."""
    arn = f"arn:aws:s3:::{SHARE}"
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PartnerRead",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [arn, f"{arn}/*"],
                },
                {
                    "Sid": "ElbLogDelivery",
                    "Effect": "Allow",
                    "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{arn}/elb/*",
                },
            ],
        },
        indent=2,
    )
    inc.s3.create_bucket(Bucket=SHARE)
    inc.s3.put_bucket_policy(Bucket=SHARE, Policy=text)
    return str(inc.s3.get_bucket_policy(Bucket=SHARE)["Policy"])


@pytest.mark.parametrize(
    "finding_type", ["Exfiltration:S3/AnomalousBehavior", "Policy:S3/BucketPublicAccessGranted"]
)
def test_a_bucket_the_attacker_only_read_is_left_byte_identical(inc: Incident, finding_type: str):
    live = _share(inc)
    report = {
        **_report(),
        # The live policy is external (the partner): reported, as it should be, but not the attacker's.
        "current_bucket_policies": [
            {"bucket": SHARE, "grants_external": True, "external_principals": [PARTNER]}
        ],
    }
    [fix] = plan_bucket_fixes(
        report,
        {SHARE: bucket_state(inc.s3, SHARE)},
        finding_type=finding_type,
        finding_buckets=[SHARE],
        attacker_keys={inc.env.key},
    )
    assert not fix.remove and not fix.approve and fix.restore is None and not fix.block_public_access
    assert any("PartnerRead" in r and "reported" in r for r in fix.reasons)

    actions = _apply(inc, fix)

    assert inc.s3.get_bucket_policy(Bucket=SHARE)["Policy"] == live
    assert inc.pab(SHARE) is None
    assert ("remove_policy_statements", "done") not in actions
    assert all(status == "awaiting_approval" for _, status in actions)
    # Nothing recorded as changed; at most the approval request is saved, for a person to read.
    assert inc.env.actions(INC) == []
    assert all("/approval-request-" in k for k in inc.evidence_keys())
    assert len(inc.evidence_keys()) == len(actions)


def test_a_put_of_the_same_document_changes_nothing(inc: Incident):
    # The owner's policy already had the cross-account statement; the key put the very same document.
    inc.s3.put_bucket_policy(Bucket=BUCKET, Policy=BACKDOORED_POLICY)
    before = inc.policy()
    changes = [
        _put(BUCKET, BACKDOORED_POLICY, key="AKIAOWNER", at="2024-04-01T00:00:00Z", event_id="owner"),
        _put(BUCKET, BACKDOORED_POLICY, key=inc.env.key, at="2024-05-01T10:00:00Z", event_id="noop"),
    ]
    fix = _plan(inc, changes)
    assert not fix.remove and not fix.approve and fix.restore is None

    assert _apply(inc, fix) == []
    assert inc.policy() == before


def test_a_failed_put_adds_nothing(inc: Incident):
    changes = [
        _put(BUCKET, OWNER_POLICY, key=inc.env.key, at="2024-04-01T00:00:00Z", event_id="owner"),
        _put(
            BUCKET, BACKDOORED_POLICY, key=inc.env.key, at="2024-05-01T10:00:00Z", event_id="denied", ok=False
        ),
    ]
    # The live policy carries the statement (the owner put it there): the failed call did not.
    assert not _plan(inc, changes).remove


# ------------------------------------------------------------------ unknown before: ask, exactly


def test_an_unknown_before_state_asks_with_the_exact_statements_and_changes_nothing(inc: Incident):
    before = inc.policy()
    changes = [_put(BUCKET, BACKDOORED_POLICY, key=inc.env.key, at="2024-05-01T10:00:00Z", event_id="e1")]
    fix = _plan(inc, changes)
    assert not fix.remove and [s.sid for s in fix.approve] == ["Backup"]

    actions = apply_bucket_fix(
        inc.s3,
        inc.ddb,
        inc.table,
        EVIDENCE,
        INC,
        fix,
        execution_id=EXEC_A,
        approved_by=APPROVER,
        dry_run=False,
    )

    [ask] = actions
    assert (ask.action, ask.status) == ("remove_policy_statements", "awaiting_approval")
    assert canonical(BACKDOOR) in (ask.detail or "")
    assert inc.policy() == before and inc.env.actions(INC) == []
    # The whole request is evidence: the exact statements, and the policy it was planned on.
    [key] = inc.evidence_keys()
    assert key in (ask.detail or "")
    request = json.loads(read_evidence(inc.s3, f"s3://{EVIDENCE}/{key}"))
    assert [s["statement"] for s in request["remove_statements"]] == [canonical(BACKDOOR)]
    assert request["policy_sha256"] == sha256_hex(before.encode())


def test_a_snapshot_before_the_attackers_put_is_the_before_state(inc: Incident):
    from responder.remediate import PolicySnapshot

    changes = [_put(BUCKET, BACKDOORED_POLICY, key=inc.env.key, at="2024-05-01T10:00:00Z", event_id="e1")]
    older = PolicySnapshot(
        bucket=BUCKET, taken_at="2024-04-20T00:00:00Z", policy=OWNER_POLICY, source="s3://x"
    )
    delta = attacker_delta(BUCKET, changes, attacker_keys={inc.env.key}, history=[older])
    assert delta.added == {canonical(BACKDOOR)} and not delta.unknown


# -------------------------------------------------------------------------------- exactly once


def _chain(inc: Incident) -> list[dict[str, Any]]:
    """The key's own earlier put (the owner's policy), then the attacker's: the before-state known."""
    return [
        _put(BUCKET, OWNER_POLICY, key=inc.env.key, at="2024-04-01T00:00:00Z", event_id="owner"),
        _put(BUCKET, BACKDOORED_POLICY, key=inc.env.key, at="2024-05-01T10:00:00Z", event_id="e1"),
    ]


def test_two_executions_remove_the_statement_once(inc: Incident):
    # Both planned on the backdoored policy, as two executions started together do.
    fix_a, fix_b = _plan(inc, _chain(inc)), _plan(inc, _chain(inc))
    assert [s.sid for s in fix_a.remove] == ["Backup"]
    # B claims first in the race window: A finds the statement taken, B makes the change.
    scope = statement_scope(BUCKET, canonical(BACKDOOR))
    from responder.actions import claim_once

    assert claim_once(
        inc.ddb, inc.table, scope=scope, incident_id=INC, execution_id=EXEC_B, stale_after_seconds=120
    )
    assert _apply(inc, fix_a) == [("remove_policy_statements", "already_done")]
    assert canonical(BACKDOOR) in [canonical(s) for s in json.loads(inc.policy() or "{}")["Statement"]]

    assert _apply(inc, fix_b, EXEC_B) == [
        ("snapshot_bucket_policy", "done"),
        ("remove_policy_statements", "done"),
    ]
    assert [canonical(s) for s in json.loads(inc.policy() or "{}")["Statement"]] == [
        canonical(s) for s in OWNER_STATEMENTS
    ]
    records = [r for r in inc.env.actions(INC) if r["action"] == "remove_policy_statements"]
    assert len(records) == 1
    # A third run (say, a later duplicate) finds nothing to do and no claim to take.
    assert _apply(inc, _plan(inc, _chain(inc)), EXEC_A) == [("remove_policy_statements", "already_done")]


def test_a_claim_of_a_dead_attempt_is_taken_over_after_the_step_timeout(inc: Incident):
    from responder.actions import claim_once

    scope = statement_scope(BUCKET, canonical(BACKDOOR))
    # Claimed 10 minutes ago by an attempt that died before changing anything.
    import time

    claim_once(
        inc.ddb,
        inc.table,
        scope=scope,
        incident_id=INC,
        execution_id="dead",
        stale_after_seconds=120,
        now=time.time() - 600,
    )
    assert _apply(inc, _plan(inc, _chain(inc))) == [
        ("snapshot_bucket_policy", "done"),
        ("remove_policy_statements", "done"),
    ]
    assert canonical(BACKDOOR) not in (inc.policy() or "")


# ------------------------------------------------------------------------- external by value


def test_org_vpce_and_userid_backdoors_are_external_and_removed_the_owners_org_grant_stays(inc: Incident):
    arn = f"arn:aws:s3:::{BUCKET}"

    def star(sid: str, key: str, value: str) -> dict[str, Any]:
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"{arn}/*",
            "Condition": {"StringEquals": {key: value}},
        }

    ours = star("OrgRead", "aws:PrincipalOrgID", OUR_ORG)
    owner = _policy(*OWNER_STATEMENTS, ours)
    theirs = [
        star("OrgBackup", "aws:PrincipalOrgID", ATTACKER_ORG),
        star("VpceBackup", "aws:SourceVpce", ATTACKER_VPCE),
        star("UserBackup", "aws:userid", f"{ATTACKER_USERID}:*"),
    ]
    backdoored = _policy(*OWNER_STATEMENTS, ours, *theirs)
    inc.s3.put_bucket_policy(Bucket=BUCKET, Policy=backdoored)
    changes = [
        _put(BUCKET, owner, key="AKIAOWNER", at="2024-04-01T00:00:00Z", event_id="owner"),
        _put(BUCKET, backdoored, key=inc.env.key, at="2024-05-01T10:00:00Z", event_id="e1"),
    ]
    insiders = Insiders(account_id=ACCOUNT, organization_id=OUR_ORG, vpc_endpoints=frozenset({"vpce-0ours"}))
    fix = _plan(inc, changes, account_id=insiders)
    # The restore candidate (the owner's policy) is exactly the live policy minus the delta.
    removed = {s.sid for s in fix.remove} or {"restore"}
    assert removed in ({"OrgBackup", "VpceBackup", "UserBackup"}, {"restore"})

    _apply(inc, fix)

    assert [canonical(s) for s in json.loads(inc.policy() or "{}")["Statement"]] == [
        canonical(s) for s in [*OWNER_STATEMENTS, ours]
    ]


def test_the_attackers_statements_are_removed_when_the_before_state_is_a_chain_of_the_keys_puts(
    inc: Incident,
):
    fix = _plan(inc, _chain(inc))
    assert [s.sid for s in fix.remove] == ["Backup"]
    assert fix.remove[0].external_principals == [f"arn:aws:iam::{ATTACKER_ACCOUNT}:root"]
