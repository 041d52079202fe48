"""recover: undo an incident's containment exactly, newest first, and only what is still ours."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from responder.errors import (
    ConflictingSelection,
    ContainmentFailed,
    IncidentNotFound,
    SelectionBreaksOrder,
    UnknownSelector,
)
from responder.models import Incident, Owner
from responder.permissions import actions_of
from responder.steps.disable import disable_key
from responder.steps.revoke_sessions import (
    ROLE_POLICY_NAME,
    TAG_INCIDENT,
    revoke_document,
    revoke_role_sessions,
    revoke_user_sessions,
    tag_principal,
    user_policy_name,
)
from tests.iam_env import ACCOUNT, REGION, Env, emulated_iam
from workstation.recover import (
    PERMISSIONS_RECOVER,
    RecoverItem,
    Selection,
    change_ref,
    recover_changes,
    recover_incident,
    recover_lines,
)

INC = "inc-0123456789abcdef"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def iam_env(aws_env: None) -> Iterator[Env]:
    with emulated_iam() as env:
        yield env


def contain(env: Env, incident_id: str = INC, *, now: datetime = NOW) -> None:
    """What the workflow does to one key: disable it, revoke the user's and the role's sessions, tag both."""
    incident = Incident.model_validate(
        {
            "incident_id": incident_id,
            "source": "manual",
            "access_key_id": env.key,
            "principal": {"type": "IAMUser", "user_name": env.user},
            "account_id": ACCOUNT,
            "decision": {"action": "contain", "reason": "test"},
        }
    )
    owner = Owner(access_key_id=env.key, account_id=ACCOUNT, user_name=env.user)
    disable_key(env.iam, env.ddb, env.table, incident, owner, execution_id=f"exec-{incident_id}")
    revoke_user_sessions(env.iam, env.ddb, env.table, incident_id, env.user, now=now)
    revoke_role_sessions(env.iam, env.ddb, env.table, incident_id, env.role, now=now)
    tag_principal(env.iam, env.ddb, env.table, incident_id, user_name=env.user, now=now)
    tag_principal(env.iam, env.ddb, env.table, incident_id, role_name=env.role, now=now)


def prior_state(env: Env) -> None:
    """State the incident finds and recover must restore: an old console revocation, an older incident tag."""
    env.iam.put_role_policy(
        RoleName=env.role,
        PolicyName=ROLE_POLICY_NAME,
        PolicyDocument=json.dumps(revoke_document("2024-03-01T09:00:00.250Z"), indent=2),
    )
    env.iam.tag_role(RoleName=env.role, Tags=[{"Key": TAG_INCIDENT, "Value": "inc-older"}])


def test_round_trip_restores_the_exact_prior_state(iam_env: Env):
    prior_state(iam_env)
    before = iam_env.snapshot()
    contain(iam_env)
    assert iam_env.snapshot() != before

    actions = recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC)

    assert [a.status for a in actions] == ["done"] * 5
    assert sorted(a.action for a in actions) == sorted(
        ["undo_tag_principal"] * 2 + ["undo_revoke_sessions"] * 2 + ["undo_disable_access_key"]
    )
    after = iam_env.snapshot()
    assert after == before  # key status, inline policies (canonical JSON), attached policies, tags
    assert after["keys"][iam_env.key] == "Active"


def test_undo_runs_newest_first(iam_env: Env):
    contain(iam_env)
    records = iam_env.actions(INC)
    actions = recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC)
    # Newest first: by the second of the action, then (one writer for every record) the nanosecond
    # it was recorded, so changes made in one second are undone in exactly the reverse order.
    newest_first = sorted(records, key=lambda r: (r["sk"].split("#")[1], int(r["seq"])), reverse=True)
    assert [a.target for a in actions] == [r["target"] for r in newest_first]


def test_second_recover_is_a_no_op(iam_env: Env):
    contain(iam_env)
    recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC)
    state, items = iam_env.snapshot(), iam_env.items()

    again = recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC)

    assert {a.status for a in again} == {"already_done"}
    assert (iam_env.snapshot(), iam_env.items()) == (state, items)


def test_dry_run_changes_nothing(iam_env: Env):
    prior_state(iam_env)
    contain(iam_env)
    state, items = iam_env.snapshot(), iam_env.items()

    plan = recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC, dry_run=True)

    assert [a.status for a in plan] == ["would_do"] * 5
    assert (iam_env.snapshot(), iam_env.items()) == (state, items)


def test_dry_run_follows_a_chain_on_one_target(iam_env: Env):
    # A retry with a later cutoff stacks two records on one role; both undo in turn.
    revoke_role_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.role, now=NOW)
    revoke_role_sessions(
        iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.role, now=NOW + timedelta(minutes=2)
    )

    assert [
        a.status for a in recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC, dry_run=True)
    ] == [
        "would_do",
        "would_do",
    ]
    assert [a.status for a in recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC)] == [
        "done",
        "done",
    ]
    assert ROLE_POLICY_NAME not in iam_env.role_policies()


def test_a_key_the_owner_changed_since_is_left_alone(iam_env: Env):
    contain(iam_env)
    iam_env.iam.update_access_key(UserName=iam_env.user, AccessKeyId=iam_env.key, Status="Active")

    actions = {a.action: a for a in recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC)}

    undo = actions["undo_disable_access_key"]
    assert undo.status == "skipped" and "changed since" in (undo.detail or "")


def test_a_rotated_and_deleted_key_is_skipped_with_the_reason(iam_env: Env):
    contain(iam_env)
    iam_env.iam.delete_access_key(UserName=iam_env.user, AccessKeyId=iam_env.key)

    actions = {a.action: a for a in recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC)}

    undo = actions["undo_disable_access_key"]
    assert undo.status == "skipped" and "no longer exists" in (undo.detail or "")
    assert actions["undo_revoke_sessions"].status == "done"


def test_two_incidents_on_one_principal_recover_independently(iam_env: Env):
    revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, "inc-a", iam_env.user, now=NOW)
    revoke_role_sessions(iam_env.iam, iam_env.ddb, iam_env.table, "inc-a", iam_env.role, now=NOW)
    later = NOW + timedelta(hours=1)
    revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, "inc-b", iam_env.user, now=later)
    revoke_role_sessions(iam_env.iam, iam_env.ddb, iam_env.table, "inc-b", iam_env.role, now=later)

    first = {a.target: a for a in recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, "inc-a")}

    # The user's policy is inc-a's own: gone. The role's console policy now carries inc-b's cutoff: kept.
    assert first[f"user/{iam_env.user}"].status == "done"
    assert first[f"role/{iam_env.role}"].status == "skipped"
    assert "changed since" in (first[f"role/{iam_env.role}"].detail or "")
    assert set(iam_env.user_policies()) == {"app", user_policy_name("inc-b")}
    assert ROLE_POLICY_NAME in iam_env.role_policies()

    # inc-b's recover puts inc-a's document back; inc-a's recover, run again, can now remove it.
    recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, "inc-b")
    again = {a.target: a for a in recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, "inc-a")}
    assert again[f"role/{iam_env.role}"].status == "done"
    assert again[f"user/{iam_env.user}"].status == "already_done"
    assert set(iam_env.user_policies()) == {"app"}
    assert ROLE_POLICY_NAME not in iam_env.role_policies()


def test_a_failed_change_is_not_undone(iam_env: Env):
    iam = boto3.client("iam", region_name=REGION)
    with Stubber(iam) as stub:
        stub.add_client_error("get_user_policy", service_error_code="NoSuchEntity", http_status_code=404)
        stub.add_client_error("put_user_policy", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ContainmentFailed):
            revoke_user_sessions(iam, iam_env.ddb, iam_env.table, INC, iam_env.user, now=NOW)

    [undo] = recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC)
    assert undo.status == "skipped" and "recorded as failed" in (undo.detail or "")


def test_unknown_incident_is_a_named_error(iam_env: Env):
    with pytest.raises(IncidentNotFound, match="inc-nope"):
        recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, "inc-nope")


def test_a_failed_undo_says_what_was_and_was_not_undone(iam_env: Env):
    contain(iam_env)
    real = iam_env.iam

    class DenyDeleteRolePolicy:
        def __getattr__(self, name):
            return getattr(real, name)

        def delete_role_policy(self, **kwargs):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteRolePolicy")

    with pytest.raises(ContainmentFailed) as caught:
        recover_incident(DenyDeleteRolePolicy(), iam_env.ddb, iam_env.table, INC)

    message = str(caught.value)
    assert f"undoing revoke_sessions on role/{iam_env.role} failed, it is NOT undone" in message
    assert "undone so far: " in message and f"undo_tag_principal role/{iam_env.role}" in message
    assert f"undo_disable_access_key {iam_env.key}" in message and "run recover again" in message
    # Re-running with permission finishes the job.
    statuses = [a.status for a in recover_incident(real, iam_env.ddb, iam_env.table, INC)]
    # Undone before the failure: the key, then both tags (recorded last); the user's revocation was
    # recorded before the role's, so it waits behind it and is undone now.
    assert statuses.count("already_done") == 3 and statuses.count("done") == 2


def test_declared_recover_permissions_cover_the_calls_made(iam_env: Env):
    called: set[str] = set()

    def note(event_name: str, **kwargs) -> None:
        _, service, operation = event_name.split(".")[:3]
        called.add(f"{service}:{operation}")

    prior_state(iam_env)
    contain(iam_env)
    iam_env.iam.tag_user(UserName=iam_env.user, Tags=[{"Key": "x", "Value": "y"}])
    iam_env.iam.meta.events.register("before-call.iam.*", note)
    iam_env.ddb.meta.events.register("before-call.dynamodb.*", note)
    recover_incident(iam_env.iam, iam_env.ddb, iam_env.table, INC)

    assert called <= actions_of(PERMISSIONS_RECOVER)
    # PutUserPolicy (putting back a user's earlier document) is declared though this run did not need it.
    assert actions_of(PERMISSIONS_RECOVER) - called <= {
        "dynamodb:UpdateItem",  # releases the key's containment claim; this env contained without one
        "iam:PutUserPolicy",
        "iam:TagUser",
        "iam:UntagRole",
        "iam:DeleteRolePolicy",
    }


# ------------------------------------------------------------------------------ selective recovery


def changes(env: Env, incident_id: str = INC, **kwargs) -> list[RecoverItem]:
    return recover_changes(env.iam, env.ddb, env.table, incident_id, **kwargs)


def ref_of(items: list[RecoverItem], action: str, target: str) -> str:
    [found] = [i.ref for i in items if (i.action.action, i.action.target) == (action, target)]
    return found


def recover_records(env: Env) -> list[str]:
    return sorted(i["sk"]["S"] for i in env.items() if i["sk"]["S"].startswith("RECOVER#"))


def test_the_owners_key_alone_is_given_back(iam_env: Env):
    prior_state(iam_env)
    contain(iam_env)
    contained = iam_env.snapshot()

    items = changes(iam_env, selection=Selection(targets=(iam_env.key,)))

    assert iam_env.key_status() == "Active"
    # Everything else the containment set is still in place: the revocations and the tags.
    after = iam_env.snapshot()
    assert {k: v for k, v in after.items() if k != "keys"} == {
        k: v for k, v in contained.items() if k != "keys"
    }
    assert {(i.action.action, i.status) for i in items} == {
        ("undo_disable_access_key", "done"),
        ("undo_revoke_sessions", "not_selected"),
        ("undo_tag_principal", "not_selected"),
    }
    assert [i.status for i in items].count("not_selected") == 4
    not_selected = [i.action for i in items if i.status == "not_selected"]
    assert {(a.status, a.detail) for a in not_selected} == {("skipped", "not selected: left as is")}
    [key_record] = [r["sk"] for r in iam_env.actions(INC) if r["action"] == "disable_access_key"]
    assert recover_records(iam_env) == [f"RECOVER#{key_record}"]


def test_the_listing_names_each_change_by_a_stable_id_before_anything_changes(iam_env: Env):
    prior_state(iam_env)
    contain(iam_env)
    state, items = iam_env.snapshot(), iam_env.items()

    plan = changes(iam_env, dry_run=True, selection=Selection(targets=(iam_env.key,)))

    assert (iam_env.snapshot(), iam_env.items()) == (state, items)
    records = {r["sk"]: r for r in iam_env.actions(INC)}
    assert {i.sk for i in plan} == set(records)
    assert all(i.ref == change_ref(i.sk) and len(i.ref) == 8 for i in plan)
    assert [i.ref for i in changes(iam_env, dry_run=True)] == [i.ref for i in plan]  # the same every run
    by_action = {(i.action.action, i.action.target): i for i in plan}
    key = by_action[("undo_disable_access_key", iam_env.key)]
    assert (key.status, key.what) == ("would_do", f"access key {iam_env.key}")
    assert key.action.detail == f"{iam_env.user}'s key {iam_env.key}: Inactive -> Active"
    revoke = by_action[("undo_revoke_sessions", f"user/{iam_env.user}")]
    assert revoke.status == "not_selected"
    assert revoke.what == f"user/{iam_env.user} session revocation {user_policy_name(INC)}"
    lines = recover_lines(plan)
    assert lines[0].split() == ["ID", "STATUS", "UNDO", "CHANGE", "WHAT", "UNDOING", "DOES"]
    assert len(lines) == 1 + len(plan)
    assert lines[1 + plan.index(key)].split()[:3] == [key.ref, "would_do", "undo_disable_access_key"]


@pytest.mark.parametrize(
    "selection",
    [
        Selection(only=("deadbeef",)),
        Selection(only=("3",)),  # a row number is not an id
        Selection(only=("ACTION#2024-05-01T12:00:00Z#disable_access_key#nope",)),
        Selection(targets=("user/nobody",)),
        Selection(targets=("AKIAUNKNOWNKEY000000",)),
        Selection(exclude=("0badc0de",)),
    ],
)
def test_a_selector_that_names_nothing_is_a_named_error_and_changes_nothing(iam_env: Env, selection):
    contain(iam_env)
    state, items = iam_env.snapshot(), iam_env.items()

    for dry_run in (True, False):
        with pytest.raises(UnknownSelector, match=r"nothing changed|not a change id"):
            changes(iam_env, dry_run=dry_run, selection=selection)

    assert (iam_env.snapshot(), iam_env.items()) == (state, items)


def test_targets_are_matched_by_arn_and_by_name(iam_env: Env):
    contain(iam_env)
    arn = f"arn:aws:iam::{ACCOUNT}:role/service/{iam_env.role}"  # a role's path is not in its records

    plan = changes(iam_env, dry_run=True, selection=Selection(targets=(arn,)))

    assert {(i.action.action, i.status) for i in plan if i.action.target == f"role/{iam_env.role}"} == {
        ("undo_revoke_sessions", "would_do"),
        ("undo_tag_principal", "would_do"),
    }
    assert {i.status for i in plan if i.action.target != f"role/{iam_env.role}"} == {"not_selected"}


def chain(env: Env) -> list[RecoverItem]:
    """Two revocations of one role (a retry with a later cutoff): one inline policy, changed twice."""
    revoke_role_sessions(env.iam, env.ddb, env.table, INC, env.role, now=NOW)
    revoke_role_sessions(env.iam, env.ddb, env.table, INC, env.role, now=NOW + timedelta(minutes=2))
    newer, older = changes(env, dry_run=True)
    assert older.needs == (newer.ref,) and newer.needs == ()
    return [newer, older]


def test_undoing_an_older_change_while_a_newer_one_stays_is_refused(iam_env: Env):
    newer, older = chain(iam_env)
    state, items = iam_env.snapshot(), iam_env.items()

    with pytest.raises(SelectionBreaksOrder) as caught:
        changes(iam_env, selection=Selection(only=(older.ref,)))
    assert str(caught.value).startswith(
        f"selection refused, nothing changed: add --only {newer.ref} (or leave {older.ref} out): "
        f"{older.ref} (undo_revoke_sessions) is older than {newer.ref} (undo_revoke_sessions) on "
        f"policy {ROLE_POLICY_NAME} of role/{iam_env.role}"
    )
    with pytest.raises(SelectionBreaksOrder, match=f"drop --except {newer.ref}"):
        changes(iam_env, selection=Selection(exclude=(newer.ref,)))

    assert (iam_env.snapshot(), iam_env.items()) == (state, items)


def test_the_newer_change_alone_may_go_first_and_the_older_one_later(iam_env: Env):
    newer, older = chain(iam_env)

    first = {i.ref: i.status for i in changes(iam_env, selection=Selection(only=(newer.ref,)))}
    assert first == {newer.ref: "done", older.ref: "not_selected"}
    assert ROLE_POLICY_NAME in iam_env.role_policies()  # the first revocation's document is back

    # Undone already, the newer change no longer holds the older one back.
    second = {i.ref: i.status for i in changes(iam_env, selection=Selection(only=(older.ref,)))}
    assert second == {newer.ref: "already_done", older.ref: "done"}
    assert ROLE_POLICY_NAME not in iam_env.role_policies()


def test_a_second_run_undoes_the_rest_and_a_third_is_a_no_op(iam_env: Env):
    prior_state(iam_env)
    before = iam_env.snapshot()
    contain(iam_env)
    changes(iam_env, selection=Selection(targets=(iam_env.key,)))

    rest = changes(iam_env)

    assert sorted(i.status for i in rest) == ["already_done"] + ["done"] * 4
    assert iam_env.snapshot() == before
    state, items = iam_env.snapshot(), iam_env.items()
    assert {i.status for i in changes(iam_env)} == {"already_done"}
    assert (iam_env.snapshot(), iam_env.items()) == (state, items)


def test_except_keeps_the_named_change(iam_env: Env):
    contain(iam_env)
    key = ref_of(changes(iam_env, dry_run=True), "undo_disable_access_key", iam_env.key)

    items = changes(iam_env, selection=Selection(exclude=(key,)))

    assert iam_env.key_status() == "Inactive"
    assert sorted(i.status for i in items) == ["done"] * 4 + ["not_selected"]
    assert user_policy_name(INC) not in iam_env.user_policies()


def test_a_change_both_in_only_and_in_except_is_refused(iam_env: Env):
    contain(iam_env)
    items = iam_env.items()
    key = ref_of(changes(iam_env, dry_run=True), "undo_disable_access_key", iam_env.key)

    with pytest.raises(ConflictingSelection, match=key):
        changes(iam_env, selection=Selection(only=(key,), exclude=(key,)))
    assert iam_env.items() == items and iam_env.key_status() == "Inactive"


def test_except_narrows_a_target(iam_env: Env):
    contain(iam_env)
    plan = changes(iam_env, dry_run=True)
    user = f"user/{iam_env.user}"
    tags = ref_of(plan, "undo_tag_principal", user)

    items = changes(iam_env, selection=Selection(targets=(user,), exclude=(tags,)))

    assert {(i.action.action, i.status) for i in items if i.action.target == user} == {
        ("undo_revoke_sessions", "done"),
        ("undo_tag_principal", "not_selected"),
    }
    assert user_policy_name(INC) not in iam_env.user_policies()
    assert TAG_INCIDENT in {t["Key"] for t in iam_env.iam.list_user_tags(UserName=iam_env.user)["Tags"]}


def test_the_listing_cannot_be_forged_by_a_name_from_the_account():
    from responder.models import Action

    hostile = "bucket x statement(s) removed: Sid a\nffffffff  would_do\x1b[2J"
    item = RecoverItem(
        ref="0123abcd",
        sk="ACTION#x",
        what=hostile,
        status="would_do",
        action=Action(action="undo_remove_policy_statements", target="x", status="would_do", detail="d\r"),
    )
    [_, line] = recover_lines([item])
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "\\x0a" in line and "\\x1b" in line
