"""SQL injection through the workflow's query step: refused before any engine sees it, on each engine.

The Map state hands StartQuery a QueryTask (``lambdas/start_query``). Here that handler gets a task
whose access key id (or window, or query name) carries SQL, and each engine proves it was not
reached: CloudTrail Lake under Stubber (no StartQuery call), Athena under moto (no query execution),
DuckDB with ``duckdb.connect`` watched (never called). A well-formed task through the same path
does reach each engine, so the tests cannot pass by never querying at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.start_query.handler import handler as start_query_step
from responder import clients
from responder.errors import InvalidQueryParameter, UnknownQuery
from responder.settings import get_settings
from workstation.local.lambdas import LocalLambdaContext

EDS = "arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/ec7160cc-5b9f-4d2c-9e2a-0123456789ab"
QID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
GOOD_KEY = "AKIAIOSFODNN7EXAMPLE"
WINDOW = {"start": "2025-02-22T12:00:00Z", "end": "2025-03-01T12:00:00Z"}

# (field, value, the error the step raises): SQL in each value a QueryTask carries.
INJECTIONS: list[tuple[str, Any, type[Exception]]] = [
    ("access_key_id", "AKIA' OR '1'='1", InvalidQueryParameter),
    ("access_key_id", f"{GOOD_KEY}' UNION SELECT * FROM secrets --", InvalidQueryParameter),
    ("access_key_id", f"{GOOD_KEY}'; DROP TABLE events; --", InvalidQueryParameter),
    ("access_key_id", f"{GOOD_KEY}\n", InvalidQueryParameter),
    ("access_key_id", "akiaiosfodnn7example", InvalidQueryParameter),
    ("window", {"start": "2025-02-22T12:00:00Z' OR 1=1 --", "end": WINDOW["end"]}, InvalidQueryParameter),
    ("window", {"start": WINDOW["start"], "end": "now(); DROP TABLE x"}, InvalidQueryParameter),
    ("name", "key_activity; DROP TABLE events", UnknownQuery),
]
IDS = [f"{f}:{str(v)[:30]}" for f, v, _ in INJECTIONS]


def task(**overrides: Any) -> dict[str, Any]:
    """A QueryTask as PlanQueries puts it in the Map's items."""
    base: dict[str, Any] = {
        "incident_id": "inc-0123456789abcdef",
        "execution_id": "arn:aws:states:us-east-1:123456789012:execution:responder:hostile",
        "access_key_id": GOOD_KEY,
        "name": "key_activity",
        "window": dict(WINDOW),
        "coverage": False,
    }
    base.update(overrides)
    return base


def context() -> LocalLambdaContext:
    return LocalLambdaContext(
        function_name="responder-start-query",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:responder-start-query",
        aws_request_id=str(uuid.uuid4()),
        memory_limit_in_mb=512,
        timeout_seconds=60,
    )


@pytest.fixture
def engine_env(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("POLL_SECONDS", "0")

    def fresh() -> None:
        get_settings.cache_clear()
        clients.reset()

    fresh()
    yield monkeypatch
    fresh()


# --------------------------------------------------------------------------------- CloudTrail Lake


@pytest.fixture
def lake(engine_env: pytest.MonkeyPatch) -> Iterator[Stubber]:
    engine_env.setenv("QUERY_ENGINE", "lake")
    engine_env.setenv("LAKE_EVENT_DATA_STORE", EDS)
    get_settings.cache_clear()
    # The step's engine takes the cached factory client: stub that very object.
    with Stubber(clients.client("cloudtrail")) as stub:
        yield stub


@pytest.mark.parametrize(("field", "value", "error"), INJECTIONS, ids=IDS)
def test_lake_never_receives_an_injected_task(lake: Stubber, field: str, value: Any, error: type[Exception]):
    # Nothing is queued: a StartQuery call would raise UnStubbedResponseError, not the named error.
    with pytest.raises(error):
        start_query_step(task(**{field: value}), context())
    lake.assert_no_pending_responses()


def test_lake_receives_a_well_formed_task_with_the_key_as_a_quoted_literal(lake: Stubber):
    def sent(statement: str) -> bool:
        return f"access_key_id = '{GOOD_KEY}'" in statement

    lake.add_response("start_query", {"QueryId": QID}, {"QueryStatement": _Matches(sent)})
    lake.add_response("describe_query", {"QueryId": QID, "QueryStatus": "RUNNING"}, {"QueryId": QID})
    handle = start_query_step(task(), context())
    assert handle["query_id"] == QID and handle["engine"] == "lake"
    lake.assert_no_pending_responses()


class _Matches:
    """A Stubber expected parameter that matches by predicate (the statement is long)."""

    def __init__(self, predicate: Any) -> None:
        self.predicate = predicate

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(self.predicate(other))

    def __hash__(self) -> int:  # pragma: no cover - never hashed
        return 0


# ------------------------------------------------------------------------------------------- Athena


@pytest.fixture
def athena(engine_env: pytest.MonkeyPatch) -> Iterator[Any]:
    engine_env.setenv("QUERY_ENGINE", "athena")
    engine_env.setenv("ATHENA_WORKGROUP", "primary")
    engine_env.setenv("ATHENA_DATABASE", "security")
    engine_env.setenv("ATHENA_TABLE", "cloudtrail")
    get_settings.cache_clear()
    with mock_aws():
        clients.reset()
        yield boto3.client("athena", region_name="us-east-1")


@pytest.mark.parametrize(("field", "value", "error"), INJECTIONS, ids=IDS)
def test_athena_never_runs_an_injected_task(athena: Any, field: str, value: Any, error: type[Exception]):
    with pytest.raises(error):
        start_query_step(task(**{field: value}), context())
    assert athena.list_query_executions(WorkGroup="primary")["QueryExecutionIds"] == []


def test_athena_runs_a_well_formed_task_with_bound_parameters(athena: Any):
    handle = start_query_step(task(), context())
    [qid] = athena.list_query_executions(WorkGroup="primary")["QueryExecutionIds"]
    assert handle["query_id"] == qid
    execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    # The key travels as an ExecutionParameter, never inside the statement text.
    assert GOOD_KEY not in execution["Query"]
    assert f"'{GOOD_KEY}'" in execution.get("ExecutionParameters", [])


# ------------------------------------------------------------------------------------------- DuckDB


@pytest.fixture
def connects(engine_env: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """DuckDB over a folder with one log file; every duckdb.connect is recorded."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "trail.json").write_text('{"Records": []}')
    engine_env.setenv("QUERY_ENGINE", "duckdb")
    engine_env.setenv("LOCAL_LOG_PATHS", str(tmp_path / "logs"))
    get_settings.cache_clear()
    calls: list[str] = []
    real = duckdb.connect

    def watched(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[:1]))
        return real(*args, **kwargs)

    engine_env.setattr(duckdb, "connect", watched)
    return calls


@pytest.mark.parametrize(("field", "value", "error"), INJECTIONS, ids=IDS)
def test_duckdb_never_connects_for_an_injected_task(
    connects: list[str], field: str, value: Any, error: type[Exception]
):
    with pytest.raises(error):
        start_query_step(task(**{field: value}), context())
    assert connects == []


def test_duckdb_connects_for_a_well_formed_task(connects: list[str]):
    handle = start_query_step(task(), context())
    assert handle["engine"] == "duckdb" and connects
