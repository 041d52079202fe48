"""RequestApproval's and Escalate's handler: the SOC gets the exact commands; nobody answering escalates."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.request_approval import handler as request_approval
from responder.errors import InvalidInput
from tests.lambdas.conftest import EXECUTION, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import incident_for, owner


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
    with pytest.raises(InvalidInput, match="task token"):
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


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_sends_the_commands_for_its_token(account: Account) -> None:
    event = saved_input("request_approval", account)
    out = request_approval.handler(event, context())
    assert out["requested"] is True
    [message] = account.soc_messages()
    assert f"responder approve --token {event['task_token']}" in message["Message"]


def test_broken_twin_is_a_named_error_and_sends_nothing(account: Account) -> None:
    before = account_state(account)
    with pytest.raises(InvalidInput, match="task token"):
        request_approval.handler(saved_input("request_approval", account, broken=True), context())
    assert account_state(account) == before
