"""RevokeSessions' and RevokeAssumedRoles' handler: older sessions denied, the principal tagged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from lambdas.revoke_sessions import handler as revoke
from lambdas.revoke_sessions import handler as revoke_step
from responder.evidence import put_evidence, put_json_evidence, query_prefix
from responder.models import Action, iso, utc_now
from responder.policy_doc import decode_policy
from responder.policy_eval import evaluate
from responder.steps.revoke_sessions import ROLE_POLICY_NAME, user_policy_name
from tests.lambdas.conftest import ACCOUNT, EXECUTION, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import incident_for, owner

MINTED = "ASIAMINTEDSESSION001"  # the session the exposed key got from AssumeRole (it pivots)


ROLE_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _assumed(role: str, when: str, *, account: str = ACCOUNT, key: str = MINTED) -> dict[str, Any]:
    return {
        "event_time": when,
        "event_name": "AssumeRole",
        "minted_access_key_id": key,
        "minted_for": f"arn:aws:sts::{account}:assumed-role/{role}/attacker-session",
        "event_id": f"evt-{role}-{account}",
    }


def _save(account: Account, key: str, rows: list[dict[str, Any]]) -> None:
    base = f"{query_prefix('inc-test-0001', EXECUTION)}{key}/minted_credentials"
    ref = put_evidence(
        account.s3,
        account.evidence_bucket,
        f"{base}.jsonl",
        "".join(json.dumps(r) + "\n" for r in rows).encode(),
        content_type="application/x-ndjson",
    )
    meta = {"query": {"access_key_id": key, "name": "minted_credentials"}, "rows": ref.uri}
    put_json_evidence(account.s3, account.evidence_bucket, f"{base}.meta.json", meta)


def _state(account: Account, **extra: Any) -> dict[str, Any]:
    disabled = Action.now("disable_access_key", account.exposed_key, "done", "Active -> Inactive")
    return {
        "incident": incident_for(account.exposed_key),
        "owner": {"access_key_id": account.exposed_key, "account_id": ACCOUNT, "user_name": account.user},
        "containment": {"actions": [disabled.model_dump(mode="json")]},
        **extra,
    }


ENTERED = "2026-12-07T03:00:00.123Z"  # $$.State.EnteredTime: the same for every retry of the state


def _run(account: Account, state: dict[str, Any]) -> list[tuple[str, str, str]]:
    event = {"mode": "assumed_roles", "state": state, "execution_id": EXECUTION, "entered_at": ENTERED}
    out = revoke_step.handler(event, context("responder-revoke-sessions"))
    return [(a["target"], a["status"], a["detail"]) for a in out["actions"]]


@pytest.fixture
def roles(account: Account) -> dict[str, str]:
    iam = account.iam
    for name, tags in (
        ("etl-admin", []),
        ("billing-reader", []),
        ("break-glass", [("responder:protected", "true")]),
    ):
        iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=ROLE_TRUST, Tags=[{"Key": k, "Value": v} for k, v in tags]
        )
    after = iso(utc_now() + timedelta(minutes=1))  # the roles exist before the attacker assumed them
    _save(
        account,
        account.exposed_key,
        [
            _assumed("etl-admin", after),
            _assumed("etl-admin", iso(utc_now() + timedelta(minutes=5)), key="ASIAMINTEDSESSION002"),
            _assumed("partner-admin", after, account="999988887777"),  # another account's role
            _assumed("deleted-or-forged", after),
            _assumed("break-glass", after),
            {
                "event_name": "GetSessionToken",
                "minted_access_key_id": "ASIAGETSESSIONTOKEN1",
                "minted_for": "x",
            },
        ],
    )
    # The minted session assumed a second role: a chain the pivot follows.
    _save(account, MINTED, [_assumed("billing-reader", after, key="ASIACHAINEDSESSION01")])
    return {"after": after}


def test_roles_the_key_assumed_are_revoked_after_the_live_account_confirms_them(
    account: Account, roles: dict[str, str]
) -> None:
    before = {r["RoleName"] for r in account.iam.list_roles()["Roles"]}
    got = {target: (status, detail) for target, status, detail in _run(account, _state(account))}
    assert {t: s for t, (s, _) in got.items()} == {
        "role/billing-reader": "done",
        "role/etl-admin": "done",
        "role/break-glass": "skipped",
        "role/deleted-or-forged": "skipped",
    }
    assert "protected (tagged responder:protected=true)" in got["role/break-glass"][1]
    assert "inconsistent with the account" in got["role/deleted-or-forged"][1]
    assert f"assumed by the key at {roles['after']}" in got["role/etl-admin"][1]  # the first AssumeRole
    for role in ("etl-admin", "billing-reader"):
        document = decode_policy(
            account.iam.get_role_policy(RoleName=role, PolicyName=ROLE_POLICY_NAME)["PolicyDocument"]
        )
        old = evaluate(
            [document], action="s3:GetObject", context={"aws:TokenIssueTime": "2000-01-01T00:00:00Z"}
        )
        assert old == "explicit_deny"
    for role in ("break-glass",):
        assert account.iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    assert {r["RoleName"] for r in account.iam.list_roles()["Roles"]} == before  # no role made or lost

    # A retry changes nothing more.
    again = {t: s for t, s, _ in _run(account, _state(account))}
    assert again["role/etl-admin"] == "already_done" and again["role/billing-reader"] == "already_done"


def test_a_role_created_after_the_logged_assume_is_not_the_one_assumed(account: Account) -> None:
    account.iam.create_role(RoleName="etl-admin", AssumeRolePolicyDocument=ROLE_TRUST)
    _save(account, account.exposed_key, [_assumed("etl-admin", "2020-01-01T00:00:00Z")])
    [(target, status, detail)] = _run(account, _state(account))
    assert (target, status) == ("role/etl-admin", "skipped") and "created later" in detail
    assert account.iam.list_role_policies(RoleName="etl-admin")["PolicyNames"] == []


def test_without_containment_or_approval_the_roles_are_reported_not_revoked(
    account: Account, roles: dict[str, str]
) -> None:
    state = _state(account)
    state["containment"] = {"actions": []}
    state["incident"]["decision"] = {"action": "notify_only", "reason": "root"}
    got = {t: s for t, s, _ in _run(account, state)}
    assert got["role/etl-admin"] == "skipped"
    assert account.iam.list_role_policies(RoleName="etl-admin")["PolicyNames"] == []


def test_no_assumed_role_means_no_action(account: Account) -> None:
    _save(account, account.exposed_key, [])
    assert _run(account, _state(account)) == []


TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def disabled(account: Account, status: str = "done") -> dict[str, Any]:
    return {"actions": [{"action": "disable_access_key", "target": account.exposed_key, "status": status}]}


def pairs(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(a["action"], a["target"], a["status"]) for a in result["actions"]]


def user_policies(account: Account) -> dict[str, Any]:
    names = account.iam.list_user_policies(UserName=account.user)["PolicyNames"]
    return {
        n: decode_policy(account.iam.get_user_policy(UserName=account.user, PolicyName=n)["PolicyDocument"])
        for n in names
    }


def incident_actions(account: Account) -> list[tuple[str, str]]:
    items = account.ddb.query(
        TableName=account.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "INCIDENT#inc-test-0001"}},
    )["Items"]
    return sorted((i["action"]["S"], i["status"]["S"]) for i in items)


def test_revoke_user_denies_older_sessions_only_and_tags_the_user(account: Account) -> None:
    minted = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "incident": incident_for(account.exposed_key),
        "owner": owner(account),
        "containment": disabled(account),
        "execution_id": EXECUTION,
    }
    result = revoke.handler(event, context())
    target = f"user/{account.user}"
    assert pairs(result) == [("revoke_sessions", target, "done"), ("tag_principal", target, "done")]
    policies = user_policies(account)
    assert list(policies) == [user_policy_name("inc-test-0001")]
    # Policy simulation (moto does not evaluate conditions): older sessions denied, newer and
    # long-term-key requests (no aws:TokenIssueTime) not.
    docs = list(policies.values())
    later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert evaluate(docs, action="s3:GetObject", context={"aws:TokenIssueTime": minted}) == "explicit_deny"
    assert evaluate(docs, action="s3:GetObject", context={"aws:TokenIssueTime": later}) == "implicit_deny"
    assert evaluate(docs, action="s3:GetObject", context={}) == "implicit_deny"
    tags = {t["Key"]: t["Value"] for t in account.iam.list_user_tags(UserName=account.user)["Tags"]}
    assert tags["responder:incident"] == "inc-test-0001" and tags["owner"] == "data-platform@example.com"
    assert incident_actions(account) == [("revoke_sessions", "done"), ("tag_principal", "done")]
    # A retry (the ASL's, or a duplicate delivery) adds no second policy and keeps the first tag.
    again = revoke.handler(event, context())
    assert ("tag_principal", target, "already_done") in pairs(again)
    assert list(user_policies(account)) == [user_policy_name("inc-test-0001")]


def test_revoke_leaves_the_principal_to_the_run_that_contained_the_key(account: Account) -> None:
    event = {
        "incident": incident_for(account.exposed_key),
        "owner": owner(account),
        "containment": disabled(account, "already_done"),
        "execution_id": EXECUTION,
    }
    result = revoke.handler(event, context())
    assert pairs(result) == [("revoke_sessions", account.exposed_key, "already_done")]
    assert user_policies(account) == {}
    assert incident_actions(account) == []


def test_revoke_role_session_puts_the_consoles_policy_and_the_role_stays_assumable(account: Account) -> None:
    account.iam.create_role(RoleName="app-deploy", AssumeRolePolicyDocument=TRUST)
    key = "ASIAEXAMPLESESSION01"
    inc = incident_for(key, principal={"type": "AssumedRole", "user_name": "app-deploy"})
    event = {
        "incident": inc,
        "owner": {
            "access_key_id": key,
            "account_id": ACCOUNT,
            "user_name": "app-deploy",
            "principal_type": "AssumedRole",
        },
        "containment": {"actions": [{"action": "disable_access_key", "target": key, "status": "skipped"}]},
        "execution_id": EXECUTION,
    }
    result = revoke.handler(event, context())
    assert pairs(result) == [
        ("revoke_sessions", "role/app-deploy", "done"),
        ("tag_principal", "role/app-deploy", "done"),
    ]
    assert account.iam.list_role_policies(RoleName="app-deploy")["PolicyNames"] == [ROLE_POLICY_NAME]
    assert user_policies(account) == {}


@pytest.mark.parametrize(
    ("principal", "owner_name", "reason"),
    [
        ({"type": "Root", "user_name": "Root"}, "Root", "Root sessions cannot be revoked by policy"),
        ({"type": "IAMUser"}, None, "the principal's name is not known"),
    ],
)
def test_revoke_skips_what_no_policy_can_revoke(
    account: Account, principal: dict[str, Any], owner_name: str | None, reason: str
) -> None:
    inc = incident_for(account.exposed_key, principal=principal)
    own = {"access_key_id": account.exposed_key, "account_id": ACCOUNT, "user_name": owner_name}
    own["principal_type"] = principal["type"]
    result = revoke.handler({"incident": inc, "owner": own, "execution_id": EXECUTION}, context())
    [action] = result["actions"]
    assert (action["action"], action["status"], action["detail"]) == ("revoke_sessions", "skipped", reason)
    assert incident_actions(account) == []


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_revokes_older_sessions_and_tags_the_user(account: Account) -> None:
    out = revoke_step.handler(saved_input("revoke_sessions", account), context("responder-revoke-sessions"))
    assert [(a["action"], a["status"]) for a in out["actions"]] == [
        ("revoke_sessions", "done"),
        ("tag_principal", "done"),
    ]
    assert account.iam.list_user_policies(UserName=account.user)["PolicyNames"] == [
        "responder-revoke-sessions-inc-d27a4be1d0bfd73d"
    ]


def test_broken_twin_is_a_named_error_and_changes_nothing(account: Account) -> None:
    before = account_state(account)
    with pytest.raises(ValidationError, match="execution_id"):
        revoke_step.handler(
            saved_input("revoke_sessions", account, broken=True), context("responder-revoke-sessions")
        )
    assert account_state(account) == before
