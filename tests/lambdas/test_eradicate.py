"""Eradicate's handler: the plan reads only, and names what it cannot verify; deleting needs an
approval of that very plan. (Deletion itself: tests/test_remediate.py.)"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lambdas.eradicate import handler as eradicate_step
from responder.errors import InvalidInput
from tests.lambdas.conftest import Account, context
from tests.lambdas.saved import account_state, saved_input


def test_saved_input_plans_without_changing_anything(account: Account) -> None:
    before = account_state(account)
    plan = eradicate_step.handler(saved_input("eradicate", account), context())
    # No earlier run left a persistence plan for this incident: nothing verified, nothing to delete.
    assert plan["items"] == [] and plan["digest"]
    assert any("no persistence plan" in note for note in plan["not_deleted"])
    assert account_state(account) == before


def test_broken_twin_is_a_named_error_and_changes_nothing(account: Account) -> None:
    before = account_state(account)
    with pytest.raises(ValidationError, match="mode"):
        eradicate_step.handler(saved_input("eradicate", account, broken=True), context())
    assert account_state(account) == before


def test_a_state_without_the_incident_is_a_named_error(account: Account) -> None:
    event = saved_input("eradicate", account)
    with pytest.raises(InvalidInput, match="triaged incident"):
        eradicate_step.handler({**event, "state": {}}, context())
