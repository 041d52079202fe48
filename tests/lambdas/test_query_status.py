"""QueryStatus' handler: one poll of a running query, counted; a query that never ends times out by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lambdas.query_status import handler as query_status
from lambdas.start_query import handler as query_start
from responder.errors import QueryTimedOut
from responder.steps.query_status import MAX_POLLS
from tests.lambdas.conftest import Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import query_values


def _started(values: dict[str, str]) -> str:
    return str(query_start.handler(saved_input("start_query", **values), context())["query_id"])


def test_saved_input_is_polled_once_and_counted(queries: Account) -> None:
    values = query_values()
    handle = query_status.handler(saved_input("query_status", QUERY_ID=_started(values), **values), context())
    assert (handle["state"], handle["polls"]) == ("FINISHED", 1)
    assert handle["stats"]  # what the engine says about the run travels with the handle


def test_broken_twin_is_a_named_error_and_changes_nothing(queries: Account) -> None:
    values = query_values()
    before = account_state(queries)
    with pytest.raises(ValidationError, match="polls"):
        query_status.handler(
            saved_input("query_status", broken=True, QUERY_ID=_started(values), **values), context()
        )
    assert account_state(queries) == before


def test_a_query_still_running_at_the_last_poll_times_out_by_name(
    queries: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from responder.query.base import QueryStatus
    from responder.query.duckdb_engine import DuckDBEngine

    values = query_values()
    event = saved_input("query_status", QUERY_ID=_started(values), **values)
    monkeypatch.setattr(DuckDBEngine, "status", lambda self, qid: QueryStatus(query_id=qid, state="RUNNING"))
    with pytest.raises(QueryTimedOut, match="still RUNNING"):
        query_status.handler({**event, "polls": MAX_POLLS - 1}, context())
