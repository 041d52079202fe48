"""Remediate's handler: backdoors and rogue IAM contained under the key's approval policy, and the
full plan kept in evidence. (The plans themselves: tests/test_remediate*.py.)"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lambdas.remediate import handler as remediate_step
from lambdas.report import handler as report_step
from tests.lambdas.conftest import ACCOUNT, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import investigated, query_values


def _reported(values: dict[str, str]) -> dict[str, object]:
    return report_step.handler(saved_input("report", **investigated(values), **values), context())


def test_saved_input_contains_under_the_keys_policy_and_keeps_the_plan(queries: Account) -> None:
    # The bucket the logs' attacker backdoored, as the live account has it now (its policy since removed).
    queries.s3.create_bucket(Bucket=f"acme-customer-exports-{ACCOUNT}")
    values = query_values()
    out = remediate_step.handler(saved_input("remediate", REPORT=_reported(values), **values), context())
    assert any(e["kind"] == "persistence-plan" for e in out["evidence"])
    # The key was contained automatically: its policy allows the changes (or there were none to make).
    assert all(
        a["status"] in ("done", "already_done", "skipped", "awaiting_approval") for a in out["actions"]
    )


def test_broken_twin_is_a_named_error_and_changes_nothing(queries: Account) -> None:
    values = query_values()
    report = _reported(values)
    before = account_state(queries)
    with pytest.raises(ValidationError, match="state"):
        remediate_step.handler(saved_input("remediate", broken=True, REPORT=report, **values), context())
    assert account_state(queries) == before
