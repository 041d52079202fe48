"""Bucket fixes, IAM persistence containment and eradication under moto: what changes, what does not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from responder.errors import ContainmentFailed, EradicationNotApproved, InvalidInput
from responder.evidence import read_evidence, sha256_hex
from responder.live import bucket_state
from responder.models import iso
from responder.permissions import Permission, actions_of
from responder.policy_doc import canonical
from responder.remediate import (
    BLOCK_ALL,
    PERMISSIONS_BUCKET_FIX,
    PERMISSIONS_CONTAIN_PERSISTENCE,
    PERMISSIONS_ERADICATE,
    PERMISSIONS_ERADICATION_PLAN,
    Approval,
    BucketFix,
    PolicySnapshot,
    apply_bucket_fix,
    contain_persistence,
    eradicate,
    eradication_plan,
    plan_bucket_fixes,
    plan_persistence,
    restore_candidate,
)
from responder.remediate.persistence import TAMPERING, Containment
from tests.iam_actions import iam_action
from tests.remediation_env import (
    ACCOUNT,
    ADMIN_ARN,
    ATTACKER_ACCOUNT,
    BACKDOOR,
    BACKDOORED_POLICY,
    BUCKET,
    DENY_ALL_ARN,
    EVIDENCE,
    OPEN_TRUST,
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


def owner_put(policy: str = OWNER_POLICY, key: str = "AKIAOWNERKEY00000001") -> dict[str, Any]:
    """The owner's PutBucketPolicy before the attacker's, in the window: the before-state it shows."""
    return {
        "bucket": BUCKET,
        "event_name": "PutBucketPolicy",
        "event_time": "2024-04-02T09:00:00Z",
        "event_id": "ev-owner",
        "succeeded": True,
        "access_key_id": key,
        "grants_external": False,
        "policy": policy,
    }


def plan(inc: Incident, **kwargs: Any) -> BucketFix:
    """The bucket fix, with the owner's earlier PutBucketPolicy known (a chain the delta reads)."""
    kwargs.setdefault("finding_type", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")
    kwargs.setdefault("attacker_keys", {inc.env.key})
    kwargs.setdefault("changes", [owner_put(key=inc.env.key), *report_of(inc)["bucket_policy_changes"]])
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
    opened = json.dumps({"Version": "2012-10-17", "Statement": [*OWNER_STATEMENTS, public]})
    inc.s3.put_bucket_policy(Bucket=BUCKET, Policy=opened)
    # The key made it public: its PutBucketPolicy added the '*' statement to the owner's policy.
    theirs = {
        **owner_put(opened, key=inc.env.key),
        "event_time": "2024-05-01T10:00:00Z",
        "event_id": "ev-open",
    }
    report = {"account_id": ACCOUNT, "bucket_policy_changes": [], "current_bucket_policies": []}
    [fix] = plan_bucket_fixes(
        report,
        {BUCKET: bucket_state(inc.s3, BUCKET)},
        finding_type=ANONYMOUS,
        finding_buckets=[BUCKET],
        attacker_keys={inc.env.key},
        changes=[owner_put(key=inc.env.key), theirs],
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
    fix = plan(inc, finding_type=ANONYMOUS, finding_buckets=[BUCKET])
    before = inc.state()

    actions = apply(inc, fix, dry_run=True)

    # The attacker added a cross-account grant, not a public one: Block Public Access is asked.
    assert [(a.action, a.status) for a in actions] == [
        ("snapshot_bucket_policy", "would_do"),
        ("remove_policy_statements", "would_do"),
        ("block_public_access", "awaiting_approval"),
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
    assert user.claimed["id"] == inc.rogue_user_id  # from the CreateUser responseElements
    assert inc.env.user not in {r.name for r in rogue}


def test_failed_calls_plan_nothing(inc: Incident):
    rows = attacker_rows(inc)
    for row in rows:
        row["error_code"] = "AccessDenied"
    assert plan_persistence(report_of(inc, rows)) == []


def _contain(inc: Incident, rogue: Any = None, *, dry_run: bool = False, **kwargs: Any) -> Containment:
    kwargs.setdefault("deny_policy_arn", DENY_ALL_ARN)
    return contain_persistence(
        inc.iam,
        inc.ddb,
        inc.table,
        INC,
        plan_persistence(report_of(inc)) if rogue is None else rogue,
        approved_by=APPROVER,
        dry_run=dry_run,
        **kwargs,
    )


def statuses(done: Containment) -> list[tuple[str, str, str]]:
    return [(a.action, a.target, a.status) for a in done.actions]


def test_contain_persistence_contains_the_rogue_and_touches_nothing_else(inc: Incident):
    before = inc.iam_state()

    done = _contain(inc)

    assert statuses(done) == [
        ("contain_principal", f"user/{ROGUE_USER}", "done"),
        ("contain_principal", f"access-key/{inc.rogue_key}", "done"),
        # The trust before the key's call is not in the window: a person decides, nothing guessed.
        ("remove_trust_statements", f"role/{inc.env.role}", "awaiting_approval"),
    ]
    trust = done.actions[2].detail or ""
    assert "not known" in trust and ATTACKER_ACCOUNT in trust and "exactly 1 statement" in trust
    after = inc.iam_state()
    rogue = after["users"].pop(ROGUE_USER)
    assert rogue["keys"] == {inc.rogue_user_key: "Inactive"}
    assert rogue["inline"] == {}  # no policy document written: the stack's managed deny-all attached
    assert rogue["attached"] == sorted([ADMIN_ARN, DENY_ALL_ARN])
    assert rogue["login_profile"] is False
    assert after["users"][OTHER_USER]["keys"] == {inc.other_user_key: "Active", inc.rogue_key: "Inactive"}
    # Everything else exactly as it was: the exposed user, other users' keys, the role's trust.
    expected = {**before, "users": {k: v for k, v in before["users"].items() if k != ROGUE_USER}}
    expected["users"][OTHER_USER] = after["users"][OTHER_USER]
    assert after == expected

    records = {r["target"]: r for r in inc.env.actions(INC)}
    assert set(records) == {f"user/{ROGUE_USER}", f"access-key/{inc.rogue_key}"}
    user = records[f"user/{ROGUE_USER}"]
    assert user["approved_by"] == APPROVER
    assert (
        user["before"]["login_profile"]["exists"] is True and user["before"]["login_profile"]["create_date"]
    )
    assert user["before"]["keys"] == {inc.rogue_user_key: "Active"}
    assert user["after"]["deny_policy"] == {"arn": DENY_ALL_ARN, "attached": True}


def test_contain_persistence_retry_is_already_done(inc: Incident):
    _contain(inc)
    before = inc.state()
    again = _contain(inc)
    assert [s for _, _, s in statuses(again)] == ["already_done", "already_done", "awaiting_approval"]
    assert inc.state() == before


def test_persistence_dry_run_changes_nothing(inc: Incident):
    before = inc.state()
    done = _contain(inc, dry_run=True)
    assert [s for _, _, s in statuses(done)] == ["would_do", "would_do", "awaiting_approval"]
    assert inc.state() == before


def test_a_policy_attached_to_an_existing_principal_is_left_to_eradication(inc: Incident):
    rows = attacker_rows(inc)
    rows.append({**rows[4], "request_parameters": json.dumps({"userName": OTHER_USER, "policyArn": "arn:x"})})
    rogue = plan_persistence(report_of(inc, rows))
    attached = [r for r in rogue if r.kind == "attached_policy"]
    assert [r.name for r in attached] == [f"user/{OTHER_USER}/arn:x"]
    [action] = _contain(inc, attached).actions
    assert action.status == "skipped" and "eradication" in (action.detail or "")


def _forged_create_user(inc: Incident, user: str, at: str, *, response: Any) -> list[dict[str, Any]]:
    rows = attacker_rows(inc)
    forged = {**rows[1], "event_id": f"ev-forged-{user}", "event_time": at}
    forged["request_parameters"] = json.dumps({"userName": user})
    forged["response_elements"] = json.dumps(response) if response is not None else None
    return [*rows, forged]


def test_a_forged_create_user_for_an_existing_user_changes_nothing_and_is_flagged(inc: Incident):
    live = inc.iam.get_user(UserName=OTHER_USER)["User"]
    # The forger copies the real id and ARN (anyone with iam:GetUser can); the dates give it away.
    variants = {
        "copied ids": {
            "user": {"userId": live["UserId"], "arn": live["Arn"], "createDate": "May 1, 2024 10:09:00 AM"}
        },
        "no response": None,
        "other id": {
            "user": {"userId": "AIDAFORGED", "arn": live["Arn"], "createDate": iso(live["CreateDate"])}
        },
    }
    for label, response in variants.items():
        rows = _forged_create_user(inc, OTHER_USER, "2024-05-01T10:09:00Z", response=response)
        rogue = plan_persistence(report_of(inc, rows))
        [forged] = [r for r in rogue if r.kind == "user" and r.name == OTHER_USER]
        before = inc.state()

        done = _contain(inc, [forged])

        assert statuses(done) == [("contain_principal", f"user/{OTHER_USER}", "skipped")], label
        assert TAMPERING in (done.actions[0].detail or ""), label
        assert [i["target"] for i in done.inconsistent] == [f"user/{OTHER_USER}"]
        assert inc.state() == before, label


def test_a_forged_create_user_for_the_exposed_user_spares_the_owners_other_key(inc: Incident):
    live = inc.iam.get_user(UserName=inc.env.user)["User"]
    rows = _forged_create_user(
        inc,
        inc.env.user,
        iso(live["CreateDate"]),
        response={
            "user": {"userId": live["UserId"], "arn": live["Arn"], "createDate": iso(live["CreateDate"])}
        },
    )
    before = inc.state()
    done = _contain(inc, plan_persistence(report_of(inc, rows)))
    flagged = [a for a in done.actions if a.target == f"user/{inc.env.user}"]
    assert [(a.status, TAMPERING in (a.detail or "")) for a in flagged] == [("skipped", True)]
    assert inc.iam_state()["users"][inc.env.user] == before["iam"]["users"][inc.env.user]


def _trust_rows(inc: Incident, *documents: Any) -> list[dict[str, Any]]:
    rows = [r for r in attacker_rows(inc) if r["event_name"] != "UpdateAssumeRolePolicy"]
    for n, document in enumerate(documents):
        rows.append(
            {
                **attacker_rows(inc)[-1],
                "event_id": f"ev-trust-{n}",
                "event_time": f"2024-05-01T10:1{n}:00Z",
                "request_parameters": json.dumps(
                    {"roleName": inc.env.role, "policyDocument": json.dumps(document)}
                ),
            }
        )
    return rows


def _role_trust(inc: Incident, *documents: Any) -> list[Any]:
    rows = _trust_rows(inc, *documents)
    return [r for r in plan_persistence(report_of(inc, rows)) if r.kind == "role_trust"]


def test_a_no_op_trust_change_leaves_the_role_byte_identical(inc: Incident):
    inc.iam.update_assume_role_policy(RoleName=inc.env.role, PolicyDocument=json.dumps(TRUST))
    # Known before-state (the key's own earlier call), then the same document again: a no-op.
    rogue = _role_trust(inc, TRUST, TRUST)
    before = inc.state()
    [action] = _contain(inc, rogue).actions
    assert action.status == "already_done" and "nothing to remove" in (action.detail or "")
    assert inc.state() == before


def test_only_the_statements_the_key_added_are_removed(inc: Incident):
    partner = {
        "Sid": "Vendor",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::777788889999:root"},
        "Action": "sts:AssumeRole",
    }
    first = {**TRUST, "Statement": [*TRUST["Statement"], partner]}
    # The key's first call is known to have set `first`; its second added the attacker's account.
    second = {**first, "Statement": [*first["Statement"], OPEN_TRUST["Statement"][-1]]}
    inc.iam.update_assume_role_policy(RoleName=inc.env.role, PolicyDocument=json.dumps(second))
    [rogue] = _role_trust(inc, first, second)
    rogue = rogue.model_copy(
        update={
            "trust_before_known": True,
            "trust_before": first,
            "trust_added": [OPEN_TRUST["Statement"][-1]],
        }
    )
    [action] = _contain(inc, [rogue]).actions
    assert action.status == "done"
    trust = inc.iam_state()["roles"][inc.env.role]["trust"]
    assert trust == canonical(first)  # the vendor's statement (external, but not the key's) stays


def test_the_key_trust_chain_gives_the_before_state(inc: Incident):
    first = OPEN_TRUST
    second = {
        **OPEN_TRUST,
        "Statement": [*OPEN_TRUST["Statement"], {**OPEN_TRUST["Statement"][-1], "Sid": "Two"}],
    }
    [rogue] = _role_trust(inc, first, second)
    # The first call's before-state is outside the window: unknown, so the whole delta is asked.
    assert rogue.trust_before_known is False and rogue.trust_after == second
    assert len(rogue.trust_added) == len(second["Statement"])


def test_a_protected_users_login_profile_waits_for_a_person(inc: Incident):
    inc.iam.create_user(UserName="break-glass-admin", Tags=[{"Key": "responder:protected", "Value": "true"}])
    inc.iam.create_login_profile(UserName="break-glass-admin", Password="Br3ak-Glass-Passw0rd!")
    inc.iam.create_user(UserName="cfo.lee")
    inc.iam.create_login_profile(UserName="cfo.lee", Password="Cf0-Lee-Passw0rd!!")
    rows = attacker_rows(inc)
    for n, user in enumerate(("break-glass-admin", "cfo.lee")):
        rows.append(
            {
                **rows[3],
                "event_id": f"ev-ulp-{n}",
                "event_name": "UpdateLoginProfile",
                "response_elements": None,
                "request_parameters": json.dumps({"userName": user}),
            }
        )
    rogue = [r for r in plan_persistence(report_of(inc, rows)) if r.kind == "login_profile"]
    before = inc.state()
    done = _contain(inc, rogue, protected=("cfo.lee",))
    assert statuses(done) == [
        ("contain_principal", "login-profile/break-glass-admin", "awaiting_approval"),
        ("contain_principal", "login-profile/cfo.lee", "awaiting_approval"),
    ]
    assert "tagged responder:protected=true" in (done.actions[0].detail or "")
    assert "protectedPrincipals" in (done.actions[1].detail or "")
    assert inc.state() == before
    assert [r.target for r, _ in done.awaiting] == [
        "login-profile/break-glass-admin",
        "login-profile/cfo.lee",
    ]


def test_a_protected_rogue_key_owner_is_not_touched(inc: Incident):
    before = inc.state()
    arn = inc.iam.get_user(UserName=OTHER_USER)["User"]["Arn"]
    done = _contain(
        inc, [r for r in plan_persistence(report_of(inc)) if r.kind == "access_key"], protected=(arn,)
    )
    assert [s for _, _, s in statuses(done)] == ["awaiting_approval"]
    assert inc.state() == before


def _many(inc: Incident, count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        name = f"bulk-{n:04d}"
        live = inc.iam.create_user(UserName=name)["User"]
        at = iso(live["CreateDate"])
        rows.append(
            {
                **attacker_rows(inc)[1],
                "event_id": f"ev-bulk-{n}",
                "event_time": at,
                "request_parameters": json.dumps({"userName": name}),
                "response_elements": json.dumps(
                    {
                        "user": {
                            "userName": name,
                            "userId": live["UserId"],
                            "arn": live["Arn"],
                            "createDate": at,
                        }
                    }
                ),
            }
        )
    return rows


def test_above_the_limit_the_first_by_risk_are_contained_and_the_rest_wait(inc: Incident):
    rows = [*attacker_rows(inc), *_many(inc, 40)]
    rogue = plan_persistence(report_of(inc, rows))
    assert rogue[0].name == ROGUE_USER  # its key, password and policy make it the riskiest

    done = _contain(inc, rogue, max_principals=5)

    assert [s for _, _, s in statuses(done)] == ["done"] * 5 + ["awaiting_approval"]
    summary = done.actions[-1]
    assert summary.target == f"{len(rogue) - 5} more" and "persistence plan" in (summary.detail or "")
    assert len(summary.detail or "") < 600  # the state carries a summary, not the list
    assert len(done.not_verified) == len(rogue) - 5
    saved = done.evidence()
    assert len(saved["awaiting_approval"]) == len(rogue) - 5 and len(saved["contained"]) == 5
    contained = [u for u, v in inc.iam_state()["users"].items() if DENY_ALL_ARN in v["attached"]]
    assert len(contained) == 4 + 1  # the backdoor user and the first four bulk users (one action each)


def test_two_executions_contain_each_principal_once(inc: Incident):
    rogue = plan_persistence(report_of(inc))[:2]
    runs = [
        _contain(inc, rogue, execution_id=execution, once_scope="key/X") for execution in ("exec-1", "exec-2")
    ]
    assert [[s for _, _, s in statuses(r)] for r in runs] == [
        ["done", "done"],
        ["already_done", "already_done"],
    ]
    records = [r for r in inc.env.actions(INC) if r["action"] == "contain_principal"]
    assert sorted(r["target"] for r in records) == sorted(r.target for r in rogue)  # one undo record each


def test_a_claim_held_by_another_execution_is_already_done_and_writes_nothing(inc: Incident):
    from responder.actions import claim_once

    rogue = plan_persistence(report_of(inc))[:1]
    assert claim_once(
        inc.ddb,
        inc.table,
        scope=f"key/X/{rogue[0].target}#{inc.rogue_user_id}",
        incident_id=INC,
        execution_id="exec-1",
        stale_after_seconds=120,
    )
    before = inc.iam_state()
    done = contain_persistence(
        inc.iam,
        inc.ddb,
        inc.table,
        INC,
        rogue,
        approved_by=APPROVER,
        dry_run=False,
        deny_policy_arn=DENY_ALL_ARN,
        execution_id="exec-2",
        once_scope="key/X",
    )
    assert [s for _, _, s in statuses(done)] == ["already_done"]
    assert inc.iam_state() == before
    assert not [r for r in inc.env.actions(INC) if r["action"] == "contain_principal"]


def test_a_role_the_key_created_is_verified_and_gets_the_managed_deny_all(inc: Incident):
    trust = json.dumps(OPEN_TRUST)
    role = inc.iam.create_role(RoleName="ops-break-in", AssumeRolePolicyDocument=trust)["Role"]
    at = iso(role["CreateDate"])
    rows = [
        {
            **attacker_rows(inc)[1],
            "event_id": "ev-create-role",
            "event_name": "CreateRole",
            "event_time": at,
            "request_parameters": json.dumps({"roleName": "ops-break-in", "assumeRolePolicyDocument": trust}),
            "response_elements": json.dumps(
                {
                    "role": {
                        "roleName": "ops-break-in",
                        "roleId": role["RoleId"],
                        "arn": role["Arn"],
                        "createDate": at,
                    }
                }
            ),
        }
    ]
    [rogue] = plan_persistence(report_of(inc, rows))
    assert (rogue.kind, rogue.claimed["id"]) == ("role", role["RoleId"])
    [action] = _contain(inc, [rogue]).actions
    assert (action.target, action.status) == ("role/ops-break-in", "done")
    attached = inc.iam.list_attached_role_policies(RoleName="ops-break-in")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [DENY_ALL_ARN]
    assert inc.iam.list_role_policies(RoleName="ops-break-in")["PolicyNames"] == []


def test_a_key_or_password_given_to_an_existing_user_must_match_the_account(inc: Incident):
    rows = attacker_rows(inc)
    key_row = next(
        r for r in rows if r["event_name"] == "CreateAccessKey" and OTHER_USER in r["request_parameters"]
    )
    response = json.loads(key_row["response_elements"])
    # The same key id, but a creation date that is not the live key's: not that call's key.
    response["accessKey"]["createDate"] = "2024-05-01T09:00:00Z"
    key_row["response_elements"] = json.dumps(response)
    inc.iam.create_login_profile(UserName=OTHER_USER, Password="Rep0rting-Console!")
    live = inc.iam.get_login_profile(UserName=OTHER_USER)["LoginProfile"]["CreateDate"]
    rows.append(
        {
            **rows[3],
            "event_id": "ev-other-login",
            "event_time": iso(live),
            "request_parameters": json.dumps({"userName": OTHER_USER}),
            "response_elements": json.dumps(
                {"loginProfile": {"userName": OTHER_USER, "createDate": iso(live)}}
            ),
        }
    )
    rogue = [r for r in plan_persistence(report_of(inc, rows)) if r.kind in ("access_key", "login_profile")]
    done = _contain(inc, rogue)
    assert statuses(done) == [
        ("contain_principal", f"access-key/{inc.rogue_key}", "skipped"),
        ("contain_principal", f"login-profile/{OTHER_USER}", "done"),
    ]
    assert TAMPERING in (done.actions[0].detail or "")
    state = inc.iam_state()["users"][OTHER_USER]
    assert state["keys"][inc.rogue_key] == "Active" and state["login_profile"] is False


def test_recover_detaches_the_managed_deny_all(inc: Incident):
    from workstation.recover import recover_incident

    before = inc.iam_state()
    _contain(inc)
    actions = recover_incident(inc.iam, inc.ddb, inc.table, INC, s3=inc.s3)
    assert {a.status for a in actions} == {"done"}
    after = inc.iam_state()
    assert after["users"][ROGUE_USER]["attached"] == [ADMIN_ARN]
    after["users"][ROGUE_USER]["login_profile"] = True  # a password cannot be given back (said)
    assert after == before


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
        (f"role/{inc.env.role}", "would_do"),  # the attacker's statement, with the person's yes
    ]
    assert inc.state() == before


def test_approved_eradication_deletes_the_rogue_and_records_what_was_there(inc: Incident):
    _contain(inc)
    rogue = plan_persistence(report_of(inc))
    the_plan = eradication_plan(inc.iam, rogue, incident_id=INC)
    # The trust statement containment could not judge (before-state unknown) is shown exactly here.
    [trust] = [i for i in the_plan.items if i.target == f"role/{inc.env.role}"]
    assert trust.steps == [f"UpdateAssumeRolePolicy {inc.env.role} without the 1 statement(s) the key added"]
    approval = Approval(approved=True, by=APPROVER, reason="owner confirmed", plan_digest=the_plan.digest)

    actions = eradicate(inc.iam, inc.ddb, inc.table, INC, the_plan, approval=approval, dry_run=False)

    assert [(a.action, a.status) for a in actions] == [("delete_resource", "done")] * 3
    state = inc.iam_state()
    assert ROGUE_USER not in state["users"]
    assert state["roles"][inc.env.role]["trust"] == canonical(TRUST)  # the owner's statement kept
    assert state["users"][OTHER_USER]["keys"] == {inc.other_user_key: "Active"}
    record = next(
        r for r in inc.env.actions(INC) if r["action"] == "delete_resource" and "user/" in r["target"]
    )
    assert record["approved_by"] == APPROVER
    assert record["before"]["inline_policies"] == {}
    assert sorted(record["before"]["attached_policies"]) == sorted([ADMIN_ARN, DENY_ALL_ARN])
    # Again: nothing left.
    again = eradicate(inc.iam, inc.ddb, inc.table, INC, the_plan, approval=approval, dry_run=False)
    assert {a.status for a in again} == {"already_done"}


# ------------------------------------------------------------------------------------ permissions


# The IAM action that authorizes an S3 operation, where the two names differ.
def hook(*clients: Any) -> set[str]:
    called: set[str] = set()

    def note(event_name: str, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".")[:3]
        called.add(iam_action(service, operation))

    for c in clients:
        c.meta.events.register("before-call.*", note)
    return called


def exact(called: set[str], declared: tuple[Permission, ...], unused: set[str]) -> None:
    assert called <= actions_of(declared)
    assert actions_of(declared) - called == unused


def test_bucket_fix_permissions_are_exactly_the_calls(inc: Incident):
    fix = plan(inc, finding_type=ANONYMOUS, finding_buckets=[BUCKET]).model_copy(
        update={"block_public_access": True}
    )
    called = hook(inc.s3, inc.ddb)
    apply(inc, fix)
    # GetObject backs the HEAD of a conflicting snapshot; DeleteBucketPolicy when nothing is left.
    exact(called, PERMISSIONS_BUCKET_FIX, {"s3:GetObject", "s3:DeleteBucketPolicy"})


def test_persistence_permissions_are_exactly_the_calls(inc: Incident):
    rogue = plan_persistence(report_of(inc))
    called = hook(inc.iam, inc.ddb)
    _contain(inc, rogue, execution_id=EXEC, once_scope="key/X")
    # GetAccessKeyLastUsed finds a rogue key's user when CloudTrail did not name it; a rogue role's
    # deny-all; a trust change whose before-state is known (here it is not: a person decides).
    exact(
        called,
        PERMISSIONS_CONTAIN_PERSISTENCE,
        {
            "iam:GetAccessKeyLastUsed",
            "iam:ListAttachedRolePolicies",
            "iam:AttachRolePolicy",
            "iam:UpdateAssumeRolePolicy",
        },
    )
    assert not {"iam:PutUserPolicy", "iam:PutRolePolicy"} & actions_of(PERMISSIONS_CONTAIN_PERSISTENCE)
    [attach] = [p for p in PERMISSIONS_CONTAIN_PERSISTENCE if "iam:AttachUserPolicy" in p.actions]
    assert attach.conditions == {
        "ArnEquals": {"iam:PolicyARN": ("@deny_all_policy",)}
    } or attach.conditions == {"ArnEquals": {"iam:PolicyARN": ["@deny_all_policy"]}}


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


def test_an_eradication_plan_is_bounded_and_the_rest_counted(inc: Incident):
    rogue = plan_persistence(report_of(inc, [*attacker_rows(inc), *_many(inc, 12)]))
    the_plan = eradication_plan(inc.iam, rogue, incident_id=INC, max_items=4)
    assert len(the_plan.items) == 4
    assert the_plan.not_deleted[-1].startswith(f"{len(rogue) - 4} more rogue item(s)")


def test_a_protected_tag_the_key_put_on_its_own_user_protects_nothing(inc: Incident):
    tags = [{"Key": "responder:protected", "Value": "true"}]
    inc.iam.tag_user(UserName=ROGUE_USER, Tags=tags)
    # Tagged by someone else (no TagUser by the key in the window): the tag counts, a person decides.
    [user] = [r for r in plan_persistence(report_of(inc)) if r.kind == "user"]
    before = inc.state()
    assert [s for _, _, s in statuses(_contain(inc, [user]))] == ["awaiting_approval"]
    assert inc.state() == before
    rows = attacker_rows(inc)
    rows.append(
        {
            **rows[1],
            "event_id": "ev-tag",
            "event_name": "TagUser",
            "event_time": "2024-05-01T10:07:00Z",
            "request_parameters": json.dumps({"userName": ROGUE_USER, "tags": tags}),
            "response_elements": None,
        }
    )
    [user] = [r for r in plan_persistence(report_of(inc, rows)) if r.kind == "user"]
    assert user.tagged_by_key
    assert [s for _, _, s in statuses(_contain(inc, [user]))] == ["done"]
    # The responder's own list is not the attacker's to write: it still protects.
    assert [s for _, _, s in statuses(_contain(inc, [user], protected=(ROGUE_USER,)))] == [
        "awaiting_approval"
    ]


def test_eradication_deletes_an_inline_policy_only_while_it_is_the_keys_document(inc: Incident):
    keys = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    owners = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    rows = attacker_rows(inc)
    for n, (user, document) in enumerate(((OTHER_USER, keys), (inc.env.user, keys))):
        rows.append(
            {
                **rows[4],
                "event_id": f"ev-put-{n}",
                "event_name": "PutUserPolicy",
                "request_parameters": json.dumps(
                    {"userName": user, "policyName": "extra", "policyDocument": json.dumps(document)}
                ),
            }
        )
    inc.iam.put_user_policy(UserName=OTHER_USER, PolicyName="extra", PolicyDocument=json.dumps(keys))
    # The owner's own policy of that name (a forged record claims the key put it): not the key's document.
    inc.iam.put_user_policy(UserName=inc.env.user, PolicyName="extra", PolicyDocument=json.dumps(owners))
    rogue = [r for r in plan_persistence(report_of(inc, rows)) if r.kind == "inline_policy"]
    the_plan = eradication_plan(inc.iam, rogue, incident_id=INC)
    assert [i.target for i in the_plan.items] == [f"inline-policy/user/{OTHER_USER}/extra"]
    assert any(f"user/{inc.env.user}/extra" in n and "not the document" in n for n in the_plan.not_deleted)
