"""Bucket fixes, IAM persistence containment and eradication under moto: what changes, what does not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from responder.errors import ContainmentFailed, EradicationNotApproved, InvalidInput
from responder.evidence import read_evidence, sha256_hex
from responder.permissions import Permission, actions_of
from responder.remediate import (
    BLOCK_ALL,
    DENY_ALL,
    PERMISSIONS_BUCKET_FIX,
    PERMISSIONS_CONTAIN_PERSISTENCE,
    PERMISSIONS_ERADICATE,
    PERMISSIONS_ERADICATION_PLAN,
    Approval,
    BucketFix,
    PolicySnapshot,
    apply_bucket_fix,
    contain_persistence,
    deny_policy_name,
    eradicate,
    eradication_plan,
    plan_bucket_fixes,
    plan_persistence,
    restore_candidate,
)
from responder.revoke import canonical
from responder.snapshot import bucket_state
from tests.remediation_env import (
    ACCOUNT,
    ADMIN_ARN,
    ATTACKER_ACCOUNT,
    BACKDOOR,
    BACKDOORED_POLICY,
    BUCKET,
    EVIDENCE,
    OTHER_USER,
    OWNER_POLICY,
    OWNER_STATEMENTS,
    ROGUE_USER,
    TRUST,
    Incident,
    attacker_rows,
    emulated_incident,
    report_of,
)

INC = "inc-backdoor-0001"
EXEC = "arn:aws:states:us-east-1:123456789012:execution:responder:run-1"
APPROVER = "arn:aws:iam::123456789012:user/soc-lead"
ANONYMOUS = "Policy:S3/BucketAnonymousAccessGranted"


@pytest.fixture
def inc(aws_env: None) -> Iterator[Incident]:
    with emulated_incident() as incident:
        yield incident


def plan(inc: Incident, **kwargs: Any) -> BucketFix:
    kwargs.setdefault("finding_type", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")
    [fix] = plan_bucket_fixes(report_of(inc), {BUCKET: bucket_state(inc.s3, BUCKET)}, **kwargs)
    return fix


def apply(inc: Incident, fix: BucketFix, *, dry_run: bool = False, s3: Any = None) -> list[Any]:
    return apply_bucket_fix(
        s3 or inc.s3,
        inc.ddb,
        inc.table,
        EVIDENCE,
        INC,
        fix,
        execution_id=EXEC,
        approved_by=APPROVER,
        dry_run=dry_run,
    )


def statements(policy: str | None) -> list[str]:
    return [canonical(s) for s in json.loads(policy or '{"Statement": []}')["Statement"]]


# --------------------------------------------------------------------------------------- buckets


def test_fix_removes_the_attackers_statement_and_keeps_the_owners(inc: Incident):
    fix = plan(inc)
    assert [s.sid for s in fix.remove] == ["Backup"] and fix.restore is None
    assert fix.remove[0].external_principals == [f"arn:aws:iam::{ATTACKER_ACCOUNT}:root"]

    actions = apply(inc, fix)

    assert [(a.action, a.status) for a in actions] == [
        ("snapshot_bucket_policy", "done"),
        ("remove_policy_statements", "done"),
    ]
    assert statements(inc.policy()) == [canonical(s) for s in OWNER_STATEMENTS]
    assert canonical(BACKDOOR) not in statements(inc.policy())


def test_snapshot_lands_in_evidence_with_its_sha256_and_the_change_is_recorded(inc: Incident):
    apply(inc, plan(inc))

    [key] = inc.evidence_keys()
    body = read_evidence(inc.s3, f"s3://{EVIDENCE}/{key}")  # checks the recorded SHA-256
    saved = json.loads(body)
    assert saved["policy"] == BACKDOORED_POLICY  # the text exactly as S3 returned it
    assert saved["policy_sha256"] == sha256_hex(BACKDOORED_POLICY.encode())
    assert {"acl_grants", "public_access_block", "ownership_controls", "versioning"} <= set(saved)
    [record] = inc.env.actions(INC)
    assert record["action"] == "remove_policy_statements" and record["approved_by"] == APPROVER
    assert record["before"]["policy"] == BACKDOORED_POLICY
    assert record["before"]["snapshot"] == f"s3://{EVIDENCE}/{key}"
    assert record["before"]["snapshot_sha256"] == sha256_hex(body)
    assert record["after"]["policy"] == inc.policy()


def test_snapshot_is_written_before_the_policy_changes(inc: Incident):
    calls: list[str] = []
    inc.s3.meta.events.register(
        "before-call.s3.*", lambda event_name, **_: calls.append(event_name.split(".")[2])
    )
    apply(inc, plan(inc))
    assert calls.index("PutObject") < calls.index("PutBucketPolicy")


def test_a_failed_change_leaves_the_snapshot_the_policy_and_a_failed_record(inc: Incident):
    real = inc.s3

    class DenyPut:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def put_bucket_policy(self, **kwargs: Any) -> None:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutBucketPolicy")

    with pytest.raises(ContainmentFailed, match="policy of acme-customer-exports is unchanged"):
        apply(inc, plan(inc), s3=DenyPut())

    assert len(inc.evidence_keys()) == 1  # saved before the attempt
    assert inc.policy() == BACKDOORED_POLICY
    [record] = inc.env.actions(INC)
    assert record["status"] == "failed"


def test_a_retry_is_already_done_and_writes_nothing(inc: Incident):
    fix = plan(inc)
    apply(inc, fix)
    before = inc.state()

    again = apply(inc, fix)

    assert [(a.action, a.status) for a in again] == [("remove_policy_statements", "already_done")]
    assert inc.state() == before


def test_restore_puts_back_the_policy_known_before_the_attackers_change(inc: Incident):
    owner_put = {
        "bucket": BUCKET,
        "event_name": "PutBucketPolicy",
        "event_time": "2024-04-02T09:00:00Z",
        "event_id": "ev-owner",
        "succeeded": True,
        "access_key_id": "AKIAOWNERKEY00000001",
        "grants_external": False,
        "policy": OWNER_POLICY,
    }
    report = report_of(inc)
    changes = [owner_put, *report["bucket_policy_changes"]]
    fix = plan(inc, changes=changes, attacker_keys={inc.env.key})

    assert fix.restore is not None and fix.restore.source == "cloudtrail:ev-owner" and not fix.remove
    actions = apply(inc, fix)

    assert [(a.action, a.status) for a in actions][1] == ("restore_bucket_policy", "done")
    assert inc.policy() == OWNER_POLICY  # the owner's own bytes


def test_restore_from_a_snapshot_in_history(inc: Incident):
    earlier = PolicySnapshot(
        bucket=BUCKET, taken_at="2024-04-30T00:00:00Z", policy=OWNER_POLICY, source="s3://evidence/older.json"
    )
    candidate, why = restore_candidate(
        BUCKET,
        report_of(inc)["bucket_policy_changes"],
        live_policy=BACKDOORED_POLICY,
        attacker_keys={inc.env.key},
        history=[earlier],
        account_id=ACCOUNT,
    )
    assert candidate is not None and candidate.policy == OWNER_POLICY, why
    assert candidate.before_event.startswith("ev-PutBucketPolicy")


@pytest.mark.parametrize(
    ("live", "history", "extra", "reason"),
    [
        ("{}", True, [], "not the one the attacker put"),
        (BACKDOORED_POLICY, False, [], "no policy of this bucket before"),
        (BACKDOORED_POLICY, True, ["later"], "changed by someone else after"),
    ],
)
def test_restore_is_refused_when_it_could_undo_the_owner_or_is_unknown(
    inc: Incident, live: str, history: bool, extra: list[str], reason: str
):
    changes = report_of(inc)["bucket_policy_changes"]
    for change in changes:
        change["policy"] = BACKDOORED_POLICY
    if extra:
        changes.append(
            {
                **changes[0],
                "event_time": "2024-05-02T00:00:00Z",
                "access_key_id": "AKIAOWNER",
                "event_id": "x",
            }
        )
    snaps = [PolicySnapshot(bucket=BUCKET, taken_at="2024-04-01T00:00:00Z", policy=OWNER_POLICY, source="s")]
    candidate, why = restore_candidate(
        BUCKET,
        changes,
        live_policy=live,
        attacker_keys={inc.env.key},
        history=snaps if history else [],
        account_id=ACCOUNT,
    )
    assert candidate is None and reason in why


def test_an_earlier_policy_that_also_lets_outsiders_in_is_not_restored(inc: Incident):
    snaps = [
        PolicySnapshot(bucket=BUCKET, taken_at="2024-04-01T00:00:00Z", policy=BACKDOORED_POLICY, source="s")
    ]
    candidate, why = restore_candidate(
        BUCKET,
        report_of(inc)["bucket_policy_changes"],
        live_policy=BACKDOORED_POLICY,
        attacker_keys={inc.env.key},
        history=snaps,
        account_id=ACCOUNT,
    )
    assert candidate is None and "also lets outsiders in" in why


def test_anonymous_access_finding_turns_block_public_access_on(inc: Incident):
    public = {"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
    inc.s3.put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [*OWNER_STATEMENTS, public]})
    )
    report = {"account_id": ACCOUNT, "bucket_policy_changes": [], "current_bucket_policies": []}
    [fix] = plan_bucket_fixes(
        report, {BUCKET: bucket_state(inc.s3, BUCKET)}, finding_type=ANONYMOUS, finding_buckets=[BUCKET]
    )
    assert fix.block_public_access and [s.sid for s in fix.remove] == ["Anyone"]

    actions = apply(inc, fix)

    assert [a.action for a in actions] == [
        "snapshot_bucket_policy",
        "remove_policy_statements",
        "block_public_access",
    ]
    assert inc.pab() == BLOCK_ALL
    assert statements(inc.policy()) == [canonical(s) for s in OWNER_STATEMENTS]
    bpa = next(r for r in inc.env.actions(INC) if r["action"] == "block_public_access")
    assert bpa["before"]["public_access_block"] is None and bpa["approved_by"] == APPROVER


def test_other_finding_types_do_not_block_public_access(inc: Incident):
    assert not plan(inc).block_public_access


def test_bucket_dry_run_changes_nothing(inc: Incident):
    [fix] = plan_bucket_fixes(
        report_of(inc),
        {BUCKET: bucket_state(inc.s3, BUCKET)},
        finding_type=ANONYMOUS,
        finding_buckets=[BUCKET],
    )
    before = inc.state()

    actions = apply(inc, fix, dry_run=True)

    assert [(a.action, a.status) for a in actions] == [
        ("snapshot_bucket_policy", "would_do"),
        ("remove_policy_statements", "would_do"),
        ("block_public_access", "would_do"),
    ]
    assert inc.state() == before


def test_apply_needs_an_approver(inc: Incident):
    with pytest.raises(InvalidInput):
        apply_bucket_fix(
            inc.s3,
            inc.ddb,
            inc.table,
            EVIDENCE,
            INC,
            plan(inc),
            execution_id=EXEC,
            approved_by=" ",
            dry_run=False,
        )


# ------------------------------------------------------------------------------------ persistence


def test_plan_lists_what_the_key_created_and_never_its_own_user(inc: Incident):
    rogue = plan_persistence(report_of(inc))

    assert [(r.kind, r.name) for r in rogue] == [
        ("user", ROGUE_USER),
        ("access_key", inc.rogue_key),
        ("role_trust", inc.env.role),
    ]
    user = rogue[0]
    assert len(user.events) == 4  # CreateUser, its key, its login profile, the admin policy
    assert inc.env.user not in {r.name for r in rogue}


def test_failed_calls_plan_nothing(inc: Incident):
    rows = attacker_rows(inc)
    for row in rows:
        row["error_code"] = "AccessDenied"
    assert plan_persistence(report_of(inc, rows)) == []


def _contain(inc: Incident, *, dry_run: bool = False) -> list[Any]:
    return contain_persistence(
        inc.iam,
        inc.ddb,
        inc.table,
        INC,
        plan_persistence(report_of(inc)),
        approved_by=APPROVER,
        dry_run=dry_run,
    )


def test_contain_persistence_contains_the_rogue_and_touches_nothing_else(inc: Incident):
    before = inc.iam_state()

    actions = _contain(inc)

    assert [(a.action, a.target, a.status) for a in actions] == [
        ("contain_principal", f"user/{ROGUE_USER}", "done"),
        ("contain_principal", f"access-key/{inc.rogue_key}", "done"),
        ("remove_trust_statements", f"role/{inc.env.role}", "done"),
    ]
    after = inc.iam_state()
    rogue = after["users"].pop(ROGUE_USER)
    assert rogue["keys"] == {inc.rogue_user_key: "Inactive"}
    assert rogue["inline"] == {deny_policy_name(INC): canonical(DENY_ALL)}
    assert rogue["login_profile"] is False
    assert rogue["attached"] == before["users"][ROGUE_USER]["attached"]  # deletion is eradication's
    assert after["users"][OTHER_USER]["keys"] == {inc.other_user_key: "Active", inc.rogue_key: "Inactive"}
    assert after["roles"][inc.env.role]["trust"] == canonical(TRUST)
    # Everything else exactly as it was: the exposed user, other users' keys, roles' policies.
    expected = {**before, "users": {k: v for k, v in before["users"].items() if k != ROGUE_USER}}
    expected["users"][OTHER_USER] = after["users"][OTHER_USER]
    expected["roles"][inc.env.role] = {**before["roles"][inc.env.role], "trust": canonical(TRUST)}
    assert after == expected

    records = {r["target"]: r for r in inc.env.actions(INC)}
    user = records[f"user/{ROGUE_USER}"]
    assert user["approved_by"] == APPROVER
    assert (
        user["before"]["login_profile"]["exists"] is True and user["before"]["login_profile"]["create_date"]
    )
    assert user["before"]["keys"] == {inc.rogue_user_key: "Active"}


def test_contain_persistence_retry_is_already_done(inc: Incident):
    _contain(inc)
    before = inc.state()
    assert {a.status for a in _contain(inc)} == {"already_done"}
    assert inc.state() == before


def test_persistence_dry_run_changes_nothing(inc: Incident):
    before = inc.state()
    actions = _contain(inc, dry_run=True)
    assert {a.status for a in actions} == {"would_do"}
    assert inc.state() == before


def test_a_policy_attached_to_an_existing_principal_is_left_to_eradication(inc: Incident):
    rows = attacker_rows(inc)
    rows.append({**rows[4], "request_parameters": json.dumps({"userName": OTHER_USER, "policyArn": "arn:x"})})
    rogue = plan_persistence(report_of(inc, rows))
    attached = [r for r in rogue if r.kind == "attached_policy"]
    assert [r.name for r in attached] == [f"user/{OTHER_USER}/arn:x"]
    [action] = contain_persistence(
        inc.iam, inc.ddb, inc.table, INC, attached, approved_by=APPROVER, dry_run=False
    )
    assert action.status == "skipped" and "eradication" in (action.detail or "")


# ------------------------------------------------------------------------------------ eradication


def test_eradication_without_approval_refuses_lists_the_plan_and_changes_nothing(inc: Incident):
    rogue = plan_persistence(report_of(inc))
    the_plan = eradication_plan(inc.iam, rogue, incident_id=INC)
    before = inc.state()

    with pytest.raises(EradicationNotApproved) as caught:
        eradicate(inc.iam, inc.ddb, inc.table, INC, the_plan, approval=None, dry_run=False)

    message = str(caught.value)
    assert f"DeleteUser {ROGUE_USER}" in message and f"DeleteAccessKey {inc.rogue_key}" in message
    assert f"DetachUserPolicy {ADMIN_ARN}" in message
    assert caught.value.plan == the_plan
    assert inc.state() == before


def test_a_denial_or_an_approval_of_another_plan_refuses(inc: Incident):
    rogue = plan_persistence(report_of(inc))
    the_plan = eradication_plan(inc.iam, rogue, incident_id=INC)
    before = inc.state()
    for approval in (
        Approval(approved=False, by=APPROVER),
        Approval(approved=True, by=APPROVER, plan_digest="0" * 64),
    ):
        with pytest.raises(EradicationNotApproved):
            eradicate(inc.iam, inc.ddb, inc.table, INC, the_plan, approval=approval, dry_run=False)
    assert inc.state() == before


def test_eradication_dry_run_says_what_it_would_delete_and_changes_nothing(inc: Incident):
    the_plan = eradication_plan(inc.iam, plan_persistence(report_of(inc)), incident_id=INC)
    before = inc.state()
    actions = eradicate(inc.iam, inc.ddb, inc.table, INC, the_plan, approval=None, dry_run=True)
    assert [(a.target, a.status) for a in actions] == [
        (f"user/{ROGUE_USER}", "would_do"),
        (f"access-key/{inc.rogue_key}", "would_do"),
    ]
    assert inc.state() == before


def test_approved_eradication_deletes_the_rogue_and_records_what_was_there(inc: Incident):
    _contain(inc)
    rogue = plan_persistence(report_of(inc))
    the_plan = eradication_plan(inc.iam, rogue, incident_id=INC)
    assert any("role" in n for n in the_plan.not_deleted)  # the trust fix is containment, nothing to delete
    approval = Approval(approved=True, by=APPROVER, reason="owner confirmed", plan_digest=the_plan.digest)

    actions = eradicate(inc.iam, inc.ddb, inc.table, INC, the_plan, approval=approval, dry_run=False)

    assert [(a.action, a.status) for a in actions] == [("delete_resource", "done")] * 2
    state = inc.iam_state()
    assert ROGUE_USER not in state["users"]
    assert state["users"][OTHER_USER]["keys"] == {inc.other_user_key: "Active"}
    record = next(
        r for r in inc.env.actions(INC) if r["action"] == "delete_resource" and "user/" in r["target"]
    )
    assert record["approved_by"] == APPROVER
    assert record["before"]["inline_policies"] == {deny_policy_name(INC): DENY_ALL}
    assert record["before"]["attached_policies"] == [ADMIN_ARN]
    # Again: nothing left.
    again = eradicate(inc.iam, inc.ddb, inc.table, INC, the_plan, approval=approval, dry_run=False)
    assert {a.status for a in again} == {"already_done"}


# ------------------------------------------------------------------------------------ permissions

# The IAM action that authorizes an S3 operation, where the two names differ.
_S3_ACTIONS = {
    "HeadObject": "GetObject",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
}


def hook(*clients: Any) -> set[str]:
    called: set[str] = set()

    def note(event_name: str, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".")[:3]
        if service == "s3":
            operation = _S3_ACTIONS.get(operation, operation)
        called.add(f"{service}:{operation}")

    for c in clients:
        c.meta.events.register("before-call.*", note)
    return called


def exact(called: set[str], declared: tuple[Permission, ...], unused: set[str]) -> None:
    assert called <= actions_of(declared)
    assert actions_of(declared) - called == unused


def test_bucket_fix_permissions_are_exactly_the_calls(inc: Incident):
    [fix] = plan_bucket_fixes(
        report_of(inc),
        {BUCKET: bucket_state(inc.s3, BUCKET)},
        finding_type=ANONYMOUS,
        finding_buckets=[BUCKET],
    )
    called = hook(inc.s3, inc.ddb)
    apply(inc, fix)
    # GetObject backs the HEAD of a conflicting snapshot; DeleteBucketPolicy when nothing is left.
    exact(called, PERMISSIONS_BUCKET_FIX, {"s3:GetObject", "s3:DeleteBucketPolicy"})


def test_persistence_permissions_are_exactly_the_calls(inc: Incident):
    rogue = plan_persistence(report_of(inc))
    called = hook(inc.iam, inc.ddb)
    contain_persistence(inc.iam, inc.ddb, inc.table, INC, rogue, approved_by=APPROVER, dry_run=False)
    # GetAccessKeyLastUsed finds a rogue key's user when CloudTrail did not name it; roles' inline policy.
    exact(
        called,
        PERMISSIONS_CONTAIN_PERSISTENCE,
        {"iam:GetAccessKeyLastUsed", "iam:GetRolePolicy", "iam:PutRolePolicy"},
    )


def test_eradication_permissions_cover_the_calls(inc: Incident):
    rogue = plan_persistence(report_of(inc))
    called = hook(inc.iam, inc.ddb)
    the_plan = eradication_plan(inc.iam, rogue, incident_id=INC)
    assert called <= actions_of(PERMISSIONS_ERADICATION_PLAN)
    eradicate(
        inc.iam,
        inc.ddb,
        inc.table,
        INC,
        the_plan,
        approval=Approval(approved=True, by=APPROVER),
        dry_run=False,
    )
    assert called <= actions_of(PERMISSIONS_ERADICATE)
    # Deleting a rogue role, a managed policy, groups, MFA, SSH keys and certificates: not in this scenario.
    assert {
        "iam:DeleteUser",
        "iam:DeleteAccessKey",
        "iam:DetachUserPolicy",
        "iam:DeleteLoginProfile",
    } <= called
