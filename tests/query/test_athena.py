"""Athena engine: moto carries the exact request (partition predicates, ExecutionParameters) and returns
rows seeded from running that very text on DuckDB; Stubber covers pagination and bad ends."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID

from responder.errors import InvalidQueryParameter, QueryCancelled, QueryFailed, QueryTimedOut
from responder.query import AthenaEngine, DuckDBEngine, engine_from_settings
from responder.query.sql import transpile
from responder.settings import Settings
from tests.conftest import shared_fixture_path
from tests.query.shaped import fetch, load_events, shaped_connection

PARAMS = {
    "access_key_id": "AKIAOZUDECYXYM4ONAN4",
    "start": datetime(2024, 7, 29, tzinfo=UTC),
    "end": datetime(2024, 8, 5, tzinfo=UTC),
}
QID = "11111111-2222-3333-4444-555555555555"


def test_partition_predicates_and_parameters():
    engine = AthenaEngine(None, workgroup="wg", database="security", table="cloudtrail_logs_pp")
    sql, parameters = engine.render("s3_data_events", PARAMS)
    assert 'FROM "security"."cloudtrail_logs_pp"' in sql
    assert '"timestamp" >= ?\n    AND "timestamp" <= ?' in sql
    assert parameters[:2] == ["'2024/07/28'", "'2024/08/06'"]  # the window's days, one day of margin
    assert "AKIA" not in sql  # values travel as ExecutionParameters only
    assert sql.count("?") == len(parameters)
    assert parameters.count("'AKIAOZUDECYXYM4ONAN4'") == 1


@pytest.mark.fixtures
def test_moto_round_trip(aws_env):
    events = load_events([shared_fixture_path("cloudtrail", "stratus-red-team")])
    shaped = shaped_connection(events)
    with mock_aws():
        client = boto3.client("athena", region_name="us-east-1")
        client.create_work_group(
            Name="responder",
            Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/athena/"}},
        )
        engine = engine_from_settings(
            Settings(
                query_engine="athena",
                athena_workgroup="responder",
                athena_database="cloudtrail",
                athena_table="cloudtrail_logs",
            ),
            {"athena": client}.__getitem__,
        )
        assert isinstance(engine, AthenaEngine)
        sql, parameters = engine.render("key_activity", PARAMS)
        # What Athena would answer: the same text run on a table shaped like the DDL's.
        answer = fetch(shaped, transpile(sql), [p.strip("'") for p in parameters])
        columns = list(answer[0])
        header = {"Data": [{"VarCharValue": c} for c in columns]}
        data = [
            {"Data": [{"VarCharValue": str(r[c])} if r[c] is not None else {} for c in columns]}
            for r in answer
        ]
        backend = athena_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        backend.query_results_queue.append(
            QueryResults(rows=[header, *data], column_info=[{"Name": c, "Type": "varchar"} for c in columns])
        )
        query_id = engine.start("key_activity", PARAMS)
        execution = backend.executions[query_id]
        assert execution.query == sql
        assert execution.execution_parameters == parameters
        assert execution.context == {"Database": "cloudtrail"}
        engine.sleep = lambda _s: None
        engine.wait(query_id)
        rows = engine.results(query_id)
    native = DuckDBEngine([shared_fixture_path("cloudtrail", "stratus-red-team")]).run("key_activity", PARAMS)
    assert rows == native
    assert [r["event_name"] for r in rows] == ["CreateAccessKey", "CreateUser", "AttachUserPolicy"]


def _execution(state: str, reason: str | None = None) -> dict:
    status: dict = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    return {
        "QueryExecution": {
            "QueryExecutionId": QID,
            "Status": status,
            "Statistics": {"DataScannedInBytes": 4096, "TotalExecutionTimeInMillis": 10},
        }
    }


@pytest.fixture
def stubbed(aws_env):
    client = boto3.client("athena", region_name="us-east-1")
    with Stubber(client) as stub:
        yield AthenaEngine(client, workgroup="wg", database="db", table="t"), stub
        stub.assert_no_pending_responses()


def test_results_paginate_skipping_the_header_once(stubbed):
    engine, stub = stubbed
    meta = {
        "ColumnInfo": [{"Name": "source_ip", "Type": "varchar"}, {"Name": "event_count", "Type": "bigint"}]
    }
    stub.add_response("get_query_execution", _execution("SUCCEEDED"), {"QueryExecutionId": QID})
    stub.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "Rows": [
                    {"Data": [{"VarCharValue": "source_ip"}, {"VarCharValue": "event_count"}]},
                    {"Data": [{"VarCharValue": "075.050.255.67"}, {"VarCharValue": "3"}]},
                ],
                "ResultSetMetadata": meta,
            },
            "NextToken": "t2",
        },
        {"QueryExecutionId": QID, "MaxResults": 1000},
    )
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [{"Data": [{}, {"VarCharValue": "1"}]}], "ResultSetMetadata": meta}},
        {"QueryExecutionId": QID, "MaxResults": 1000, "NextToken": "t2"},
    )
    assert engine.results(QID) == [
        {"source_ip": "075.050.255.67", "event_count": 3},
        {"source_ip": None, "event_count": 1},
    ]


@pytest.mark.parametrize(
    ("state", "reason", "error", "mapped"),
    [
        ("FAILED", "SYNTAX_ERROR: line 1:8", QueryFailed, "FAILED"),
        ("CANCELLED", None, QueryCancelled, "CANCELLED"),
        ("FAILED", "Query exhausted resources / Query timeout", QueryTimedOut, "TIMED_OUT"),
    ],
)
def test_bad_ends(stubbed, state, reason, error, mapped):
    engine, stub = stubbed
    stub.add_response("get_query_execution", _execution(state, reason), {"QueryExecutionId": QID})
    assert engine.status(QID).state == mapped
    stub.add_response("get_query_execution", _execution(state, reason), {"QueryExecutionId": QID})
    with pytest.raises(error):
        engine.results(QID)


def test_injection_rejected_before_athena(stubbed):
    engine, _stub = stubbed  # nothing queued: any call to Athena would fail the test
    with pytest.raises(InvalidQueryParameter, match="access_key_id"):
        engine.start("key_activity", {**PARAMS, "access_key_id": "AKIA'; DROP TABLE x --"})
    with pytest.raises(InvalidQueryParameter):
        AthenaEngine(None, workgroup="wg", database="db", table='t"; DROP TABLE x --')
