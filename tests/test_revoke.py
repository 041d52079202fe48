"""Session revocation and tagging under moto: what lands in IAM, what is recorded, what fails loudly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from responder.errors import (
    ContainmentFailed,
    ContainmentUnverified,
    InvalidInput,
    RevocationShapeRefused,
    Throttled,
)
from responder.permissions import actions_of
from responder.policy_doc import canonical
from responder.policy_eval import evaluate
from responder.steps.revoke_sessions import (
    PERMISSIONS_REVOKE,
    ROLE_POLICY_NAME,
    TAG_CONTAINED_AT,
    TAG_INCIDENT,
    checked_revocation,
    cutoff,
    revoke_document,
    revoke_role_sessions,
    revoke_user_sessions,
    tag_principal,
    user_policy_name,
)
from tests.iam_actions import iam_action
from tests.iam_env import REGION, Env, emulated_iam

INC = "inc-0123456789abcdef"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def iam_env(aws_env: None) -> Iterator[Env]:
    with emulated_iam() as env:
        yield env


# ------------------------------------------------------------------------------------------ user


def test_user_gets_a_per_incident_deny_on_older_sessions(iam_env: Env):
    action = revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.user, now=NOW)

    assert (action.action, action.target, action.status) == (
        "revoke_sessions",
        f"user/{iam_env.user}",
        "done",
    )
    name = f"responder-revoke-sessions-{INC}"
    policies = iam_env.user_policies()
    assert policies[name] == canonical(revoke_document("2024-05-01T12:00:00Z"))
    assert "app" in policies  # the user's own policy is untouched
    [record] = iam_env.actions(INC)
    assert record["action"] == "revoke_sessions" and record["status"] == "done"
    assert record["before"] == {"policy_name": name, "document": None}
    assert record["after"] == {"policy_name": name, "document": revoke_document("2024-05-01T12:00:00Z")}
    # long-term keys are not touched by a revocation
    assert iam_env.key_status() == "Active" and iam_env.key_status(iam_env.other_key) == "Active"


def test_retry_is_already_done_and_changes_nothing(iam_env: Env):
    revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.user, now=NOW)
    before = (iam_env.user_policies(), iam_env.items())

    again = revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.user, now=NOW)

    assert again.status == "already_done"
    assert (iam_env.user_policies(), iam_env.items()) == before


def test_a_later_retry_moves_the_cutoff_and_records_the_earlier_document(iam_env: Env):
    revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.user, now=NOW)
    later = NOW + timedelta(minutes=5)

    action = revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.user, now=later)

    assert action.status == "done"
    first, second = iam_env.actions(INC)
    assert second["before"]["document"] == first["after"]["document"]
    assert iam_env.user_policies()[user_policy_name(INC)] == canonical(
        revoke_document("2024-05-01T12:05:00Z")
    )


def test_two_incidents_on_one_user_keep_separate_policies(iam_env: Env):
    revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, "inc-a", iam_env.user, now=NOW)
    revoke_user_sessions(
        iam_env.iam, iam_env.ddb, iam_env.table, "inc-b", iam_env.user, now=NOW + timedelta(hours=1)
    )

    policies = iam_env.user_policies()
    assert policies["responder-revoke-sessions-inc-a"] == canonical(revoke_document("2024-05-01T12:00:00Z"))
    assert policies["responder-revoke-sessions-inc-b"] == canonical(revoke_document("2024-05-01T13:00:00Z"))


def test_cutoff_rounds_up_to_the_second():
    assert cutoff(NOW) == "2024-05-01T12:00:00Z"
    assert cutoff(NOW + timedelta(microseconds=1)) == "2024-05-01T12:00:01Z"
    assert cutoff(datetime(2024, 5, 1, 14, 0, 0, tzinfo=UTC).astimezone()) == "2024-05-01T14:00:00Z"


def test_policy_names_stay_valid_for_any_incident_id():
    assert user_policy_name("inc-0123") == "responder-revoke-sessions-inc-0123"
    odd = user_policy_name("inc with spaces/and/slashes" * 10)
    assert odd.startswith("responder-revoke-sessions-h") and len(odd) <= 128


# ------------------------------------------------------------------ sessions: minted vs. evaluated


def _issued_at(credentials: dict, duration: int) -> str:
    """aws:TokenIssueTime of a moto session: its expiration less its duration."""
    return (
        (credentials["Expiration"] - timedelta(seconds=duration))
        .astimezone(UTC)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def _session(iam_env: Env, call: str, duration: int = 900) -> dict:
    sts = boto3.client(
        "sts", region_name=REGION, aws_access_key_id=iam_env.key, aws_secret_access_key=iam_env.key_secret
    )
    if call == "get_session_token":
        return sts.get_session_token(DurationSeconds=duration)["Credentials"]
    return sts.get_federation_token(Name="exfil", DurationSeconds=duration)["Credentials"]


def _user_policy_documents(iam_env: Env) -> list[dict]:
    names = iam_env.iam.list_user_policies(UserName=iam_env.user)["PolicyNames"]
    return [iam_env.iam.get_user_policy(UserName=iam_env.user, PolicyName=n)["PolicyDocument"] for n in names]


@pytest.mark.parametrize("call", ["get_session_token", "get_federation_token"])
def test_a_session_minted_before_revocation_is_denied_one_minted_after_is_allowed(
    iam_env: Env, monkeypatch: pytest.MonkeyPatch, call: str
):
    old = _session(iam_env, call)
    old_issued = _issued_at(old, 900)
    now = datetime.fromisoformat(old_issued.replace("Z", "+00:00")) + timedelta(seconds=1)

    revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.user, now=now)

    # A session minted after the revocation (moto's clock moved on past the cutoff).
    import moto.sts.models

    monkeypatch.setattr(moto.sts.models, "utcnow", lambda: now.replace(tzinfo=None) + timedelta(seconds=5))
    new = _session(iam_env, call)
    new_issued = _issued_at(new, 900)
    assert old_issued < cutoff(now) < new_issued

    policies = _user_policy_documents(iam_env)
    request = {"action": "s3:GetObject", "resource": "arn:aws:s3:::exports/customers.csv"}
    assert evaluate(policies, **request, context={"aws:TokenIssueTime": old_issued}) == "explicit_deny"
    assert evaluate(policies, **request, context={"aws:TokenIssueTime": new_issued}) == "allow"
    # the user's long-term keys (no aws:TokenIssueTime) keep their permissions
    assert evaluate(policies, **request, context={}) == "allow"


# ------------------------------------------------------------------------------------------ role


def test_role_gets_the_console_policy_and_keeps_its_other_policies(iam_env: Env):
    attached = lambda: iam_env.iam.list_attached_role_policies(RoleName=iam_env.role)["AttachedPolicies"]  # noqa: E731
    untouched = (iam_env.role_policies()["app"], attached())

    action = revoke_role_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.role, now=NOW)

    assert (action.target, action.status) == (f"role/{iam_env.role}", "done")
    policies = iam_env.role_policies()
    assert policies[ROLE_POLICY_NAME] == canonical(revoke_document("2024-05-01T12:00:00Z"))
    assert (policies["app"], attached()) == untouched
    [record] = iam_env.actions(INC)
    assert record["before"] == {"policy_name": ROLE_POLICY_NAME, "document": None}


def test_an_existing_console_revocation_is_saved_as_before(iam_env: Env):
    existing = revoke_document("2024-04-01T08:30:00.123Z")  # the console's, weeks ago, with milliseconds
    iam_env.iam.put_role_policy(
        RoleName=iam_env.role, PolicyName=ROLE_POLICY_NAME, PolicyDocument=json.dumps(existing)
    )

    action = revoke_role_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.role, now=NOW)

    assert action.status == "done" and "saved for recover" in (action.detail or "")
    [record] = iam_env.actions(INC)
    assert record["before"]["document"] == existing
    assert iam_env.role_policies()[ROLE_POLICY_NAME] == canonical(revoke_document("2024-05-01T12:00:00Z"))


def test_a_newer_revocation_is_never_replaced_by_an_older_cutoff(iam_env: Env):
    newer = revoke_document("2024-05-01T13:00:00Z")
    iam_env.iam.put_role_policy(
        RoleName=iam_env.role, PolicyName=ROLE_POLICY_NAME, PolicyDocument=json.dumps(newer)
    )

    action = revoke_role_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.role, now=NOW)

    assert action.status == "already_done"
    assert iam_env.role_policies()[ROLE_POLICY_NAME] == canonical(newer)
    assert iam_env.actions(INC) == []


def test_a_foreign_document_under_the_console_name_is_replaced_and_saved(iam_env: Env):
    odd = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    iam_env.iam.put_role_policy(
        RoleName=iam_env.role, PolicyName=ROLE_POLICY_NAME, PolicyDocument=json.dumps(odd)
    )

    assert (
        revoke_role_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.role, now=NOW).status
        == "done"
    )
    assert iam_env.actions(INC)[0]["before"]["document"] == odd


# ------------------------------------------------------------------------------------------ tags


def test_tags_record_previous_values(iam_env: Env):
    iam_env.iam.tag_user(UserName=iam_env.user, Tags=[{"Key": TAG_INCIDENT, "Value": "inc-older"}])

    action = tag_principal(iam_env.iam, iam_env.ddb, iam_env.table, INC, user_name=iam_env.user, now=NOW)

    assert (action.action, action.status) == ("tag_principal", "done")
    tags = {t["Key"]: t["Value"] for t in iam_env.iam.list_user_tags(UserName=iam_env.user)["Tags"]}
    assert tags[TAG_INCIDENT] == INC and tags[TAG_CONTAINED_AT] == "2024-05-01T12:00:00Z"
    assert tags["owner"] == "data-platform@example.com"
    [record] = iam_env.actions(INC)
    assert record["before"] == {TAG_INCIDENT: "inc-older", TAG_CONTAINED_AT: None}
    assert record["after"] == {TAG_INCIDENT: INC, TAG_CONTAINED_AT: "2024-05-01T12:00:00Z"}


def test_tagging_a_role_twice_is_already_done(iam_env: Env):
    tag_principal(iam_env.iam, iam_env.ddb, iam_env.table, INC, role_name=iam_env.role, now=NOW)
    again = tag_principal(
        iam_env.iam, iam_env.ddb, iam_env.table, INC, role_name=iam_env.role, now=NOW + timedelta(hours=1)
    )

    assert again.status == "already_done"
    tags = {t["Key"]: t["Value"] for t in iam_env.iam.list_role_tags(RoleName=iam_env.role)["Tags"]}
    assert tags[TAG_CONTAINED_AT] == "2024-05-01T12:00:00Z"  # the first containment time is kept
    assert len(iam_env.actions(INC)) == 1


def test_tagging_needs_exactly_one_principal(iam_env: Env):
    with pytest.raises(InvalidInput):
        tag_principal(iam_env.iam, iam_env.ddb, iam_env.table, INC)
    with pytest.raises(InvalidInput):
        tag_principal(iam_env.iam, iam_env.ddb, iam_env.table, INC, user_name="a", role_name="b")


# ---------------------------------------------------------------------------------------- failures


def test_access_denied_on_put_user_policy_names_what_was_not_done(iam_env: Env):
    iam = boto3.client("iam", region_name=REGION)
    name = user_policy_name(INC)
    with Stubber(iam) as stub:
        stub.add_client_error(
            "get_user_policy",
            service_error_code="NoSuchEntity",
            service_message=f"The user policy with name {name} cannot be found.",
            http_status_code=404,
            expected_params={"UserName": iam_env.user, "PolicyName": name},
        )
        stub.add_client_error(
            "put_user_policy",
            service_error_code="AccessDenied",
            service_message="User: arn:aws:sts::123456789012:assumed-role/responder/x is not authorized to perform: iam:PutUserPolicy",
            http_status_code=403,
            expected_params={
                "UserName": iam_env.user,
                "PolicyName": name,
                "PolicyDocument": json.dumps(revoke_document("2024-05-01T12:00:00Z")),
            },
        )
        with pytest.raises(ContainmentFailed) as caught:
            revoke_user_sessions(iam, iam_env.ddb, iam_env.table, INC, iam_env.user, now=NOW)
        stub.assert_no_pending_responses()

    message = str(caught.value)
    assert "PutUserPolicy AccessDenied" in message
    assert f"sessions of user/{iam_env.user} issued before 2024-05-01T12:00:00Z are NOT revoked" in message
    assert name in message and "nothing else changed" in message
    [record] = iam_env.actions(INC)
    assert record["status"] == "failed"  # recover will not try to undo it


def test_throttling_is_a_transient_named_error(iam_env: Env):
    iam = boto3.client("iam", region_name=REGION)
    with Stubber(iam) as stub:
        stub.add_client_error("get_role_policy", service_error_code="NoSuchEntity", http_status_code=404)
        stub.add_client_error("put_role_policy", service_error_code="Throttling", http_status_code=400)
        with pytest.raises(Throttled, match=r"PutRolePolicy Throttling: .*NOT revoked"):
            revoke_role_sessions(iam, iam_env.ddb, iam_env.table, INC, iam_env.role, now=NOW)


def test_reading_a_policy_denied_changes_nothing(iam_env: Env):
    iam = boto3.client("iam", region_name=REGION)
    with Stubber(iam) as stub:
        stub.add_client_error("get_role_policy", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(
            ContainmentFailed, match=r"could not read AWSRevokeOlderSessions of role/.*nothing changed"
        ):
            revoke_role_sessions(iam, iam_env.ddb, iam_env.table, INC, iam_env.role, now=NOW)
    assert iam_env.actions(INC) == []


def test_no_incident_table_means_no_change(iam_env: Env):
    with pytest.raises(ContainmentFailed, match=r"could not record the change .* so it was not made"):
        revoke_user_sessions(iam_env.iam, iam_env.ddb, "missing-table", INC, iam_env.user, now=NOW)
    assert user_policy_name(INC) not in iam_env.user_policies()


def test_unknown_user_is_containment_failed(iam_env: Env):
    with pytest.raises(ContainmentFailed, match="NoSuchEntity"):
        revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, "nobody", now=NOW)


# ----------------------------------------------------------------------------------- permissions


def test_declared_permissions_are_exactly_the_calls_made(iam_env: Env):
    called: set[str] = set()

    def note(event_name: str, **kwargs) -> None:
        _, service, operation = event_name.split(".")[:3]
        called.add(iam_action(service, operation))

    iam_env.iam.meta.events.register("before-call.iam.*", note)
    iam_env.ddb.meta.events.register("before-call.dynamodb.*", note)
    revoke_user_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.user, now=NOW)
    revoke_role_sessions(iam_env.iam, iam_env.ddb, iam_env.table, INC, iam_env.role, now=NOW)
    tag_principal(iam_env.iam, iam_env.ddb, iam_env.table, INC, user_name=iam_env.user)
    tag_principal(iam_env.iam, iam_env.ddb, iam_env.table, INC, role_name=iam_env.role)

    assert called == actions_of(PERMISSIONS_REVOKE)
    for permission in PERMISSIONS_REVOKE:
        for action in permission.actions:
            kind = "user" if "User" in action else "role" if "Role" in action else None
            if kind:
                assert permission.resources == (f"arn:{{partition}}:iam::{{account}}:{kind}/*",)
            else:
                assert permission.resources == ("@incident_table",)


# ------------------------------------------------------------ one fixed shape, read back after


@pytest.mark.parametrize(
    "document",
    [
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2024-05-01T12:00:00Z"}},
                },
                {"Effect": "Allow", "Action": ["iam:*"], "Resource": ["*"]},  # a rider on the shape
            ],
        },
        {**revoke_document("2024-05-01T12:00:00Z"), "Extra": True},
        "not a policy",
    ],
    ids=["allow-all", "shape-plus-rider", "extra-key", "text"],
)
def test_anything_but_the_fixed_revocation_shape_is_refused(document: object) -> None:
    with pytest.raises(RevocationShapeRefused, match="nothing was written"):
        checked_revocation(document)
    assert json.loads(checked_revocation(revoke_document("2024-05-01T12:00:00Z"))) == revoke_document(
        "2024-05-01T12:00:00Z"
    )


def test_a_revocation_that_does_not_read_back_is_a_named_error(iam_env: Env):
    """IAM's eventual consistency, which moto does not have: botocore's Stubber, real API shapes."""
    name = user_policy_name(INC)
    iam = boto3.client("iam", region_name=REGION)
    with Stubber(iam) as stub:
        stub.add_client_error("get_user_policy", "NoSuchEntity", http_status_code=404)  # none before
        stub.add_response("put_user_policy", {})
        for _ in range(5):  # the bounded read-back, while IAM propagates: never there
            stub.add_client_error("get_user_policy", "NoSuchEntity", http_status_code=404)
        with pytest.raises(ContainmentUnverified, match="reads back absent"):
            revoke_user_sessions(
                iam, iam_env.ddb, iam_env.table, INC, iam_env.user, now=NOW, sleep=lambda _: None
            )
        stub.assert_no_pending_responses()
    # The change was recorded before it was made: recover knows of it whatever IAM shows later.
    [record] = iam_env.actions(INC)
    assert record["after"] == {"policy_name": name, "document": revoke_document("2024-05-01T12:00:00Z")}
