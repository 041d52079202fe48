"""RevokeSessions and RequestApproval as the workflow calls them, under moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lambdas.request_approval import handler as request_approval
from lambdas.revoke_sessions import handler as revoke
from responder.policy_eval import evaluate
from responder.revoke import ROLE_POLICY_NAME, decode_policy, user_policy_name
from tests.lambdas.conftest import ACCOUNT, EXECUTION, Account, context
from tests.lambdas.test_containment_steps import incident_for

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def owner(account: Account, **extra: Any) -> dict[str, Any]:
    return {"access_key_id": account.exposed_key, "account_id": ACCOUNT, "user_name": account.user, **extra}


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


def approval_state(account: Account) -> dict[str, Any]:
    inc = incident_for(
        account.exposed_key,
        decision={"action": "await_approval", "reason": "severity 5.0 < 7.0: a human decides"},
        approval={"timeout_seconds": 3600, "on_timeout": "leave"},
    )
    return {"incident": inc}


def test_request_approval_sends_the_exact_commands_with_the_token(account: Account) -> None:
    token = "AQB4AAAAKgAAAAMAAAAA-test-token"
    result = request_approval.handler(
        {"state": approval_state(account), "execution_id": EXECUTION, "task_token": token}, context()
    )
    assert result["requested"] is True and result["message_id"]
    [message] = account.soc_messages()
    assert message["Subject"] == f"[Responder] APPROVAL NEEDED guardduty {account.exposed_key}"
    body = message["Message"]
    assert f"responder approve --token {token} --reason 'owner confirmed'" in body
    assert f"responder deny --token {token} --reason 'why not'" in body
    assert "Without an answer in 3600 s" in body and "default applies: leave" in body
    assert account.key_status(account.exposed_key) == "Active"  # asking changes nothing


def test_request_approval_without_a_token_is_refused(account: Account) -> None:
    with pytest.raises(ValueError, match="task token"):
        request_approval.handler({"state": approval_state(account), "execution_id": EXECUTION}, context())
    assert account.soc_messages() == []


def test_escalation_tells_the_soc_and_returns_a_notify_action(account: Account) -> None:
    state = approval_state(account)
    state["owner"] = owner(account, protected=True)
    result = request_approval.handler(
        {"state": state, "execution_id": EXECUTION, "escalation": True}, context()
    )
    [action] = result["actions"]
    assert (action["action"], action["status"]) == ("notify_soc", "done")
    assert "escalation" in action["detail"]
    [message] = account.soc_messages()
    assert message["Subject"] == f"[Responder] ESCALATION no approval {account.exposed_key} - left as is"
    assert "The principal is protected" in message["Message"]
