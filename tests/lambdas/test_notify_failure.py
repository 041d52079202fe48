"""NotifyFailure's handler: whatever failed, the SOC hears what is known."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from lambdas.notify_failure import handler as notify_failure
from tests.lambdas.conftest import EXECUTION, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import incident_for


def test_failure_notice_carries_what_is_known(account: Account) -> None:
    state = {
        "incident": incident_for(account.exposed_key),
        "error": {
            "Error": "ContainmentFailed",
            "Cause": json.dumps(
                {"errorMessage": "could not set key Inactive (AccessDenied)", "errorType": "X"}
            ),
        },
    }
    out = notify_failure.handler({"state": state, "execution_id": EXECUTION}, context())
    assert out["subject"].startswith("[Responder] FAILED ContainmentFailed")
    [message] = account.soc_messages()
    assert "could not set key Inactive (AccessDenied)" in message["Message"]
    assert "nothing changed" in message["Message"]


def test_failure_notice_for_untriaged_input(account: Account) -> None:
    state = {
        "garbage": True,
        "error": {"Error": "InvalidInput", "Cause": '{"errorMessage": "not a finding"}'},
    }
    out = notify_failure.handler({"state": state, "execution_id": EXECUTION}, context())
    assert "not established" in out["body"]


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_names_the_key_at_stake(account: Account) -> None:
    out = notify_failure.handler(saved_input("notify_failure", account), context())
    assert [(a["action"], a["status"]) for a in out["actions"]] == [("notify_soc", "done")]
    [message] = account.soc_messages()
    assert account.exposed_key in message["Message"] and "ContainmentFailed" in message["Message"]


def test_broken_twin_is_a_named_error_and_sends_nothing(account: Account) -> None:
    before = account_state(account)
    with pytest.raises(ValidationError, match="execution_id"):
        notify_failure.handler(saved_input("notify_failure", account, broken=True), context())
    assert account_state(account) == before
