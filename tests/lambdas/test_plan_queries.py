"""PlanQueries' handler: the exposed key's seven queries, then a pivot to what it minted, then done."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from lambdas.plan_queries import handler as query_plan
from tests.lambdas.conftest import EXPOSED, NOW, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import plan, query_values, run_all_rounds
from workstation.demo.cloudtrail import LogSet

FIRST_ROUND = {
    "key_activity",
    "key_provenance",
    "minted_credentials",
    "write_events",
    "s3_data_events",
    "source_ips",
    "same_ip_credentials",
}


def test_plan_first_round_is_the_exposed_keys_seven_queries(queries: Account) -> None:
    out = plan(0)
    assert (out["done"], out["round"], out["queries_run"]) == (False, 1, 0)
    assert {t["access_key_id"] for t in out["batch"]} == {EXPOSED}
    assert {t["name"] for t in out["batch"]} == FIRST_ROUND
    # Coverage is measured once: on the exposed key's activity query.
    assert [t["name"] for t in out["batch"] if t["coverage"]] == ["key_activity"]
    window = out["window"]
    assert window["end"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    start = datetime.fromisoformat(window["start"].replace("Z", "+00:00"))
    assert NOW - start == timedelta(days=7)  # the incident's lookback, from the execution's start


def test_plan_pivots_to_minted_credentials_then_ends(queries: Account, logs: LogSet) -> None:
    results, last = run_all_rounds()
    queried = {(r["rows_uri"].rsplit("/queries/", 1)[1]) for r in results}
    assert f"{logs.session_key_id}/key_activity.jsonl" in queried  # the session the exposed key minted
    assert last["done"] and last["batch"] == []
    assert last["queries_run"] == len(results) > len(FIRST_ROUND)


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_plans_the_exposed_keys_seven_queries(queries: Account) -> None:
    out = query_plan.handler(saved_input("plan_queries", **query_values()), context())
    assert (out["done"], out["round"]) == (False, 1)
    assert {t["name"] for t in out["batch"]} == FIRST_ROUND
    assert {t["access_key_id"] for t in out["batch"]} == {EXPOSED}


def test_broken_twin_is_a_named_error_and_changes_nothing(queries: Account) -> None:
    values = query_values()
    before = account_state(queries)
    with pytest.raises(ValidationError, match="started_at"):
        query_plan.handler(saved_input("plan_queries", broken=True, **values), context())
    assert account_state(queries) == before
