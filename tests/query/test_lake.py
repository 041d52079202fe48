"""CloudTrail Lake engine under botocore's Stubber (real API shapes, validated params)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from responder.errors import (
    InvalidQueryParameter,
    QueryCancelled,
    QueryFailed,
    QueryStillRunning,
    QueryTimedOut,
)
from responder.query import LakeEngine
from responder.query.rows import normalize_row, parse_lake_map

EDS = "arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/ec7160cc-5b9f-4d2c-9e2a-0123456789ab"
QID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
PARAMS = {
    "access_key_id": "AKIAOZUDECYXYM4ONAN4",
    "start": datetime(2024, 7, 25, tzinfo=UTC),
    "end": datetime(2024, 8, 1, 23, 59, 59, tzinfo=UTC),
}


@pytest.fixture
def lake(aws_env):
    client = boto3.client("cloudtrail", region_name="us-east-1")
    with Stubber(client) as stub:
        yield LakeEngine(client, EDS), stub
        stub.assert_no_pending_responses()


def _describe(state: str, error: str | None = None) -> dict:
    out = {
        "QueryId": QID,
        "QueryStatus": state,
        "QueryStatistics": {
            "EventsMatched": 3,
            "EventsScanned": 1200,
            "BytesScanned": 65536,
            "ExecutionTimeInMillis": 900,
        },
    }
    if error:
        out["ErrorMessage"] = error
    return out


def test_start_sends_the_rendered_statement(lake):
    engine, stub = lake
    statement = engine.render("key_activity", PARAMS)
    assert "FROM ec7160cc-5b9f-4d2c-9e2a-0123456789ab" in statement
    assert "eventTime >= '2024-07-25 00:00:00' AND eventTime <= '2024-08-01 23:59:59'" in statement
    assert "access_key_id = 'AKIAOZUDECYXYM4ONAN4'" in statement
    stub.add_response("start_query", {"QueryId": QID}, {"QueryStatement": statement})
    assert engine.start("key_activity", PARAMS) == QID


def test_results_paginate_and_normalize(lake):
    engine, stub = lake
    stub.add_response("describe_query", _describe("FINISHED"), {"QueryId": QID})
    row1 = [
        {"event_time": "2024-08-01T13:33:28Z"},
        {"event_name": "CreateAccessKey"},
        {"source_ip": "075.050.255.67"},
        {
            "response_elements": '{"accessKey":{"userName":"malicious-iam-user","accessKeyId":"AKIAXAFZN8JEPF6L682H"}}'
        },
    ]
    row2 = [
        {"event_time": "2024-08-01 13:33:27.000"},  # Lake's own timestamp rendering
        {"event_name": "CreateUser"},
        {"source_ip": "075.050.255.67"},
        {"response_elements": ""},
    ]
    stub.add_response(
        "get_query_results",
        {"QueryResultRows": [row1], "NextToken": "page-2-token", "QueryStatus": "FINISHED"},
        {"QueryId": QID, "MaxQueryResults": 1000},
    )
    stub.add_response(
        "get_query_results",
        {
            "QueryResultRows": [row2],
            "QueryStatus": "FINISHED",
            "QueryStatistics": {"ResultsCount": 1, "TotalResultsCount": 2, "BytesScanned": 65536},
        },
        {"QueryId": QID, "MaxQueryResults": 1000, "NextToken": "page-2-token"},
    )
    rows = engine.results(QID)
    assert rows == [
        {
            "event_time": "2024-08-01T13:33:28Z",
            "event_name": "CreateAccessKey",
            "source_ip": "075.050.255.67",
            "response_elements": '{"accessKey":{"accessKeyId":"AKIAXAFZN8JEPF6L682H","userName":"malicious-iam-user"}}',
        },
        {
            "event_time": "2024-08-01T13:33:27Z",
            "event_name": "CreateUser",
            "source_ip": "075.050.255.67",
            "response_elements": None,
        },
    ]


def test_status_carries_statistics(lake):
    engine, stub = lake
    stub.add_response("describe_query", _describe("RUNNING"), {"QueryId": QID})
    status = engine.status(QID)
    assert (status.state, status.events_scanned, status.bytes_scanned, status.done) == (
        "RUNNING",
        1200,
        65536,
        False,
    )
    stub.add_response("describe_query", _describe("QUEUED"), {"QueryId": QID})
    with pytest.raises(QueryStillRunning):
        engine.results(QID)


@pytest.mark.parametrize(
    ("state", "error"),
    [("FAILED", QueryFailed), ("CANCELLED", QueryCancelled), ("TIMED_OUT", QueryTimedOut)],
)
def test_bad_ends_raise_named_errors(lake, state, error):
    engine, stub = lake
    stub.add_response("describe_query", _describe(state, "it went wrong"), {"QueryId": QID})
    with pytest.raises(error, match="it went wrong" if state == "FAILED" else QID):
        engine.results(QID)


def test_run_polls_until_finished(lake):
    engine, stub = lake
    engine.sleep = lambda _s: None
    stub.add_response("start_query", {"QueryId": QID}, {"QueryStatement": engine.render("coverage", PARAMS)})
    for state in ("QUEUED", "RUNNING", "FINISHED", "FINISHED"):
        stub.add_response("describe_query", _describe(state), {"QueryId": QID})
    stub.add_response(
        "get_query_results",
        {
            "QueryResultRows": [
                [
                    {"events_scanned": "1200"},
                    {"first_event": "2024-07-25 00:01:00.000"},
                    {"last_event": "2024-08-01 23:58:00.000"},
                ]
            ]
        },
        {"QueryId": QID, "MaxQueryResults": 1000},
    )
    assert engine.coverage(PARAMS) == {
        "events_scanned": 1200,
        "first_event": "2024-07-25T00:01:00Z",
        "last_event": "2024-08-01T23:58:00Z",
        "status": "covered",
    }


def test_start_rejected_statement_is_query_failed(lake):
    engine, stub = lake
    stub.add_client_error("start_query", "InvalidQueryStatementException", "bad SQL")
    with pytest.raises(QueryFailed, match="InvalidQueryStatementException"):
        engine.start("key_activity", PARAMS)


def test_injection_rejected_before_lake(lake):
    engine, _stub = lake  # no response queued: any call to Lake would fail the test
    with pytest.raises(InvalidQueryParameter, match="access_key_id"):
        engine.start("key_activity", {**PARAMS, "access_key_id": "AKIA'; DROP TABLE x --"})
    with pytest.raises(InvalidQueryParameter):
        LakeEngine(None, "eds'; DROP TABLE x --")


def test_lake_map_rendering_is_parsed():
    text = '{bucketName=loot, key=a b.csv, policy={"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}}'
    assert parse_lake_map(text) == {
        "bucketName": "loot",
        "key": "a b.csv",
        "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]},
    }
    assert normalize_row({"REQUEST_PARAMETERS": "{bucketName=loot}"}) == {
        "request_parameters": '{"bucketName":"loot"}'
    }
    assert parse_lake_map("{}") == {}
