"""RevokeAssumedRoles under moto: the older sessions of every role of this account the key (or a
credential it minted) assumed are revoked, once the live account confirms the role; nothing else."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from lambdas.revoke_sessions import handler as revoke_step
from responder.evidence import put_evidence, put_json_evidence
from responder.investigation import _query_prefix
from responder.models import Action, iso, utc_now
from responder.policy_eval import evaluate
from responder.revoke import ROLE_POLICY_NAME, decode_policy
from tests.lambdas.conftest import ACCOUNT, EXECUTION, Account, context
from tests.lambdas.test_containment_steps import incident_for

MINTED = "ASIAMINTEDSESSION001"  # the session the exposed key got from AssumeRole (it pivots)
TRUST = json.dumps(
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
    base = f"{_query_prefix('inc-test-0001', EXECUTION)}{key}/minted_credentials"
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
            RoleName=name, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": k, "Value": v} for k, v in tags]
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
    account.iam.create_role(RoleName="etl-admin", AssumeRolePolicyDocument=TRUST)
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
