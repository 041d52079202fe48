"""recover: undo an incident's containment exactly, newest first, and only what is still ours."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from responder.errors import ContainmentFailed, IncidentNotFound
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
from workstation.recover import PERMISSIONS_RECOVER, recover_incident

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
