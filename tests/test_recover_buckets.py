"""recover of bucket fixes and persistence containment: the exact prior state, newest change first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from responder.errors import SelectionBreaksOrder
from responder.live import bucket_state
from responder.models import Incident as Case
from responder.models import Owner
from responder.permissions import actions_of
from responder.remediate import (
    BucketFix,
    RestoreCandidate,
    apply_bucket_fix,
    contain_persistence,
    plan_bucket_fixes,
    plan_persistence,
)
from responder.steps.disable import disable_key
from tests.iam_actions import iam_action
from tests.iam_env import ACCOUNT
from tests.remediation_env import (
    BACKDOORED_POLICY,
    BUCKET,
    DENY_ALL_ARN,
    EVIDENCE,
    OTHER_USER,
    OWNER_POLICY,
    OWNER_STATEMENTS,
    ROGUE_USER,
    Incident,
    emulated_incident,
    report_of,
)
from tests.test_remediate import owner_put
from workstation.recover import (
    PERMISSIONS_RECOVER,
    PERMISSIONS_RECOVER_REMEDIATION,
    RecoverItem,
    Selection,
    recover_changes,
    recover_incident,
)

INC = "inc-backdoor-0001"
EXEC = "exec-1"
APPROVER = "soc-lead"


@pytest.fixture
def inc(aws_env: None) -> Iterator[Incident]:
    with emulated_incident() as incident:
        yield incident


def fix_bucket(inc: Incident, fix: BucketFix | None = None) -> None:
    if fix is None:
        # The owner's earlier policy is known and the key also turned Block Public Access off: both
        # the statement and Block Public Access are the attacker's to undo (and recover's to put back).
        [fix] = plan_bucket_fixes(
            report_of(inc),
            {BUCKET: bucket_state(inc.s3, BUCKET)},
            finding_type="Policy:S3/BucketAnonymousAccessGranted",
            finding_buckets=[BUCKET],
            attacker_keys={inc.env.key},
            changes=[owner_put(key=inc.env.key), *report_of(inc)["bucket_policy_changes"]],
            public_access_changed={BUCKET},
        )
    apply_bucket_fix(
        inc.s3, inc.ddb, inc.table, EVIDENCE, INC, fix, execution_id=EXEC, approved_by=APPROVER, dry_run=False
    )


def contain(inc: Incident) -> None:
    rogue = plan_persistence(report_of(inc))
    contain_persistence(
        inc.iam,
        inc.ddb,
        inc.table,
        INC,
        rogue,
        approved_by=APPROVER,
        dry_run=False,
        deny_policy_arn=DENY_ALL_ARN,
    )


def recover(inc: Incident, **kwargs: Any) -> list[Any]:
    kwargs.setdefault("s3", inc.s3)
    return recover_incident(inc.iam, inc.ddb, inc.table, INC, **kwargs)


def restorable(inc: Incident) -> dict[str, Any]:
    """What recover must give back: the bucket policy text, BPA and IAM (login profiles apart)."""
    iam = inc.iam_state()
    iam["users"][ROGUE_USER].pop("login_profile")
    return {"policy": inc.policy(), "pab": inc.pab(), "iam": iam}


def test_round_trip_restores_the_exact_prior_state(inc: Incident):
    before = restorable(inc)
    fix_bucket(inc)
    contain(inc)
    assert restorable(inc) != before

    actions = recover(inc)

    assert {a.status for a in actions} == {"done"}
    assert restorable(inc) == before
    assert inc.policy() == BACKDOORED_POLICY  # byte for byte, as snapshotted
    user = next(a for a in actions if a.target == f"user/{ROGUE_USER}")
    assert "login profile" in (user.detail or "") and "cannot be read or restored" in (user.detail or "")


def test_block_public_access_is_undone_before_the_policy(inc: Incident):
    # S3 refuses a public policy while BlockPublicPolicy is on: the later change must go first.
    fix_bucket(inc)
    order = [a.action for a in recover(inc)]
    assert order.index("undo_block_public_access") < order.index("undo_remove_policy_statements")


def test_a_restored_policy_is_undone_to_the_snapshot(inc: Incident):
    fix = BucketFix(
        bucket=BUCKET,
        restore=RestoreCandidate(
            policy=OWNER_POLICY, source="test", as_of="2024-04-01T00:00:00Z", before_event="e"
        ),
        planned_on_sha256=bucket_state(inc.s3, BUCKET)["policy_sha256"],
    )
    fix_bucket(inc, fix)
    assert inc.policy() == OWNER_POLICY

    [undo] = recover(inc)

    assert (undo.action, undo.status) == ("undo_restore_bucket_policy", "done")
    assert inc.policy() == BACKDOORED_POLICY


def test_a_bucket_without_a_policy_before_gets_none_again(inc: Incident):
    inc.s3.delete_bucket_policy(Bucket=BUCKET)
    fix = BucketFix(
        bucket=BUCKET,
        restore=RestoreCandidate(
            policy=OWNER_POLICY, source="test", as_of="2024-04-01T00:00:00Z", before_event="e"
        ),
        planned_on_sha256=None,
    )
    fix_bucket(inc, fix)
    assert inc.policy() == OWNER_POLICY

    recover(inc)

    assert inc.policy() is None


def test_a_policy_changed_since_is_left_alone(inc: Incident):
    fix_bucket(inc)
    edited = json.dumps({"Version": "2012-10-17", "Statement": [OWNER_STATEMENTS[0]]})
    inc.s3.put_bucket_policy(Bucket=BUCKET, Policy=edited)

    actions = {a.action: a for a in recover(inc)}

    undo = actions["undo_remove_policy_statements"]
    assert undo.status == "skipped" and "changed since" in (undo.detail or "")
    assert inc.policy() == edited


def test_a_key_the_owner_re_enabled_is_left_alone_and_the_rest_undone(inc: Incident):
    contain(inc)
    inc.iam.update_access_key(UserName=ROGUE_USER, AccessKeyId=inc.rogue_user_key, Status="Active")
    inc.iam.detach_user_policy(UserName=ROGUE_USER, PolicyArn=DENY_ALL_ARN)

    [undo] = [a for a in recover(inc) if a.target == f"user/{ROGUE_USER}"]

    assert undo.status == "skipped" and "nothing of ours" in (undo.detail or "")


def test_without_an_s3_client_bucket_undos_are_skipped_with_the_reason(inc: Incident):
    fix_bucket(inc)
    actions = recover(inc, s3=None)
    assert {a.status for a in actions} == {"skipped"}
    assert all("needs an S3 client" in (a.detail or "") for a in actions)
    assert inc.policy() != BACKDOORED_POLICY


def test_recover_dry_run_changes_nothing_and_a_second_recover_is_a_no_op(inc: Incident):
    fix_bucket(inc)
    contain(inc)
    state = inc.state()

    assert {a.status for a in recover(inc, dry_run=True)} == {"would_do"}
    assert inc.state() == state

    recover(inc)
    after = inc.state()
    assert {a.status for a in recover(inc)} == {"already_done"}
    assert inc.state() == after


def test_declared_recover_permissions_cover_the_calls(inc: Incident):
    fix_bucket(inc)
    contain(inc)
    called: set[str] = set()

    def note(event_name: str, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".")[:3]
        called.add(iam_action(service, operation))

    for client in (inc.iam, inc.s3, inc.ddb):
        client.meta.events.register("before-call.*", note)
    recover(inc)

    declared = actions_of(PERMISSIONS_RECOVER + PERMISSIONS_RECOVER_REMEDIATION)
    assert called <= declared
    # The role's trust is not changed by containment here (its before-state is unknown: a person decides).
    assert {"s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock", "iam:DetachUserPolicy"} <= called


def test_every_record_says_who_approved_it(inc: Incident):
    fix_bucket(inc)
    contain(inc)
    records = inc.env.actions(INC)
    assert {r["action"] for r in records} == {
        "remove_policy_statements",
        "block_public_access",
        "contain_principal",
    }
    assert {r["approved_by"] for r in records} == {APPROVER}


# ------------------------------------------------------------------------------ selective recovery


def disable_owner_key(inc: Incident) -> None:
    """The workflow's first change: the owner's exposed key set Inactive."""
    env = inc.env
    case = Case.model_validate(
        {
            "incident_id": INC,
            "source": "manual",
            "access_key_id": env.key,
            "principal": {"type": "IAMUser", "user_name": env.user},
            "account_id": ACCOUNT,
            "decision": {"action": "contain", "reason": "test"},
        }
    )
    owner = Owner(access_key_id=env.key, account_id=ACCOUNT, user_name=env.user)
    disable_key(env.iam, env.ddb, env.table, case, owner, execution_id=EXEC)


def whole_incident(inc: Incident) -> None:
    disable_owner_key(inc)
    fix_bucket(inc)
    contain(inc)


def changes(inc: Incident, **kwargs: Any) -> list[RecoverItem]:
    kwargs.setdefault("s3", inc.s3)
    return recover_changes(inc.iam, inc.ddb, inc.table, INC, **kwargs)


def item_of(items: list[RecoverItem], action: str) -> RecoverItem:
    [found] = [i for i in items if i.action.action == action]
    return found


def keys(inc: Incident, user: str) -> dict[str, str]:
    return {
        k["AccessKeyId"]: k["Status"] for k in inc.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    }


def test_the_owner_gets_their_key_back_and_the_attacker_stays_out(inc: Incident):
    # The example: all or nothing, the owner's key came back with the attacker's key and
    # the backdoor statement.
    whole_incident(inc)
    fixed_policy, fixed_pab = inc.policy(), inc.pab()
    assert "Backup" not in (fixed_policy or "")

    items = changes(inc, selection=Selection(targets=(inc.env.key,)))

    assert keys(inc, inc.env.user)[inc.env.key] == "Active"
    assert keys(inc, ROGUE_USER)[inc.rogue_user_key] == "Inactive"
    assert keys(inc, OTHER_USER)[inc.rogue_key] == "Inactive"
    assert inc.policy() == fixed_policy and inc.pab() == fixed_pab  # the backdoor stays removed
    attached = inc.iam.list_attached_user_policies(UserName=ROGUE_USER)["AttachedPolicies"]
    assert DENY_ALL_ARN in {p["PolicyArn"] for p in attached}
    assert {(i.action.action, i.status) for i in items} == {
        ("undo_disable_access_key", "done"),
        ("undo_contain_principal", "not_selected"),
        ("undo_block_public_access", "not_selected"),
        ("undo_remove_policy_statements", "not_selected"),
    }


def test_the_listing_names_the_bucket_and_the_statement(inc: Incident):
    whole_incident(inc)
    state = inc.state()

    plan = changes(inc, dry_run=True)

    assert inc.state() == state
    statement = item_of(plan, "undo_remove_policy_statements")
    assert statement.what == f"bucket {BUCKET} statement(s) removed: Sid Backup"
    assert statement.status == "would_do" and "put back exactly as snapshotted" in (
        statement.action.detail or ""
    )
    bpa = item_of(plan, "undo_block_public_access")
    assert bpa.what == f"bucket {BUCKET} Block Public Access turned on"
    assert statement.needs == (bpa.ref,)  # S3 refuses a public policy under Block Public Access
    rogue = next(i for i in plan if i.action.target == f"user/{ROGUE_USER}")
    assert rogue.what == (
        f"user/{ROGUE_USER} key(s) {inc.rogue_user_key} set Inactive; deny-all responder-deny-all; "
        "login profile removed"
    )


def test_putting_the_statement_back_under_block_public_access_is_refused(inc: Incident):
    whole_incident(inc)
    plan = changes(inc, dry_run=True)
    statement = item_of(plan, "undo_remove_policy_statements")
    bpa = item_of(plan, "undo_block_public_access")
    state = inc.state()

    with pytest.raises(SelectionBreaksOrder, match=f"add --only {bpa.ref} "):
        changes(inc, selection=Selection(only=(statement.ref,)))
    assert inc.state() == state

    # The newer change alone is fine: Block Public Access goes back, the backdoor stays removed.
    fixed = inc.policy()
    done = {i.ref: i.status for i in changes(inc, selection=Selection(only=(bpa.ref,)))}
    assert (done[bpa.ref], done[statement.ref]) == ("done", "not_selected")
    assert inc.pab() is None and inc.policy() == fixed

    # A later run for the statement works: its newer change is undone already.
    again = {i.ref: i.status for i in changes(inc, selection=Selection(only=(statement.ref,)))}
    assert (again[bpa.ref], again[statement.ref]) == ("already_done", "done")
    assert inc.policy() == BACKDOORED_POLICY


def test_a_bucket_target_by_arn_takes_its_changes_in_order_and_the_rest_follows(inc: Incident):
    before = restorable(inc)
    whole_incident(inc)

    first = changes(inc, selection=Selection(targets=(f"arn:aws:s3:::{BUCKET}",)))

    order = [i.action.action for i in first if i.status == "done"]
    assert order == ["undo_block_public_access", "undo_remove_policy_statements"]
    assert inc.policy() == BACKDOORED_POLICY
    assert keys(inc, inc.env.user)[inc.env.key] == "Inactive"

    rest = changes(inc)
    assert sorted(i.status for i in rest) == ["already_done"] * 2 + ["done"] * 3
    assert restorable(inc) == before
