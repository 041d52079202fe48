"""StartQuery's handler: a task the Map hands it starts one saved query; bad input reaches no engine."""

from __future__ import annotations

import pytest

from lambdas.start_query import handler as query_start
from responder.errors import InvalidQueryParameter, UnknownQuery
from tests.lambdas.conftest import EXPOSED, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import plan, query_values


def test_start_rejects_a_malformed_key_before_any_engine_sees_it(queries: Account) -> None:
    [task] = [t for t in plan(0)["batch"] if t["name"] == "key_activity"]
    with pytest.raises(InvalidQueryParameter):
        query_start.handler({**task, "access_key_id": "AKIA' OR 1=1 --"}, context())


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_starts_its_query_on_the_configured_engine(queries: Account) -> None:
    handle = query_start.handler(saved_input("start_query", **query_values()), context())
    assert (handle["engine"], handle["name"], handle["access_key_id"]) == ("duckdb", "key_activity", EXPOSED)
    assert handle["query_id"] and handle["state"] in ("QUEUED", "RUNNING", "FINISHED")


def test_broken_twin_is_a_named_error_and_changes_nothing(queries: Account) -> None:
    values = query_values()
    before = account_state(queries)
    with pytest.raises(UnknownQuery, match="DROP TABLE"):
        query_start.handler(saved_input("start_query", broken=True, **values), context())
    assert account_state(queries) == before
