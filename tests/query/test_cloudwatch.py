"""CloudWatch Logs Insights engine under botocore's Stubber (real API shapes, validated params).

Logs Insights is played by a small evaluator of the query shapes the engine emits, over CloudTrail
records as the trail delivers them to the log group (one record per log event, ``@timestamp`` its
eventTime). Each StartQuery is expected with its exact queryString, time range, limit and log group,
and answered with what that very text selects; the rows the engine makes of them must equal the native
DuckDB engine's over the same records.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from responder.errors import (
    InvalidInput,
    InvalidQueryParameter,
    QueryCancelled,
    QueryFailed,
    QueryStillRunning,
    QueryTimedOut,
    ResponderError,
    Throttled,
)
from responder.permissions import actions_of
from responder.query import ALL_QUERIES, DuckDBEngine, QueryParams
from responder.query import cloudwatch as cw
from responder.query.cloudwatch import CloudWatchEngine
from tests.conftest import shared_fixture_path
from tests.query.shaped import load_events
from tests.query.test_same_rows import KEYS, WINDOW, s3_events

LOG_GROUP = "arn:aws:logs:us-east-1:111122223333:log-group:org-trail"
KEY = "AKIAOZUDECYXYM4ONAN4"
PARAMS = {
    "access_key_id": KEY,
    "start": datetime(2024, 7, 25, tzinfo=UTC),
    "end": datetime(2024, 8, 1, 23, 59, 59, tzinfo=UTC),
}
STATISTICS = {"recordsMatched": 3.0, "recordsScanned": 1200.0, "bytesScanned": 65536.0}


# --- Logs Insights, as far as the engine's query shapes go ----------------------------------------------


def event_ms(record: dict[str, Any]) -> int:
    when = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
    return int(when.timestamp() * 1000)


def field_value(record: dict[str, Any], path: str) -> Any:
    """A discovered field: the dotted path into the record's JSON (None when absent)."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


_TIME = re.compile(r"toMillis\(@timestamp\) (>=|<) (\d+)")
_PRESENT = re.compile(r"ispresent\(([\w.]+)\)")
_COMPARE = re.compile(r'([\w.]+) (=|!=) "([^"\\]*)"')
_MEMBER = re.compile(r"([\w.]+) in (\[.*\])")
_AGG = re.compile(r"(count|min|max)\((\*|[\w.]+|toMillis\(@timestamp\))\) as (\w+)")


def matches(clause: str, event: dict[str, Any]) -> bool:
    # The engine keeps an `or` in a filter of its own (this fake splits on `and` first).
    if " or " in clause:
        return any(matches(c, event) for c in clause.split(" or "))
    record = event["record"]
    if m := _TIME.fullmatch(clause):
        bound = int(m[2])
        return event["ts"] >= bound if m[1] == ">=" else event["ts"] < bound
    if m := _PRESENT.fullmatch(clause):
        return field_value(record, m[1]) is not None
    if m := _COMPARE.fullmatch(clause):
        value = field_value(record, m[1])
        if value is None:
            return False
        return (shown(value) == m[3]) == (m[2] == "=")
    if m := _MEMBER.fullmatch(clause):
        value = field_value(record, m[1])
        return value is not None and shown(value) in json.loads(m[2])
    raise AssertionError(f"the fake Logs Insights does not know {clause!r}")


def stats(command: str, events: list[dict[str, Any]]) -> list[list[dict[str, str]]]:
    m = re.fullmatch(r"stats (.+?)(?: by (.+))?", command)
    assert m, command
    aggregates = [_AGG.fullmatch(a.strip()) for a in m[1].split(", ")]
    assert all(aggregates), command
    by = [f.strip() for f in m[2].split(",")] if m[2] else []
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for event in events:
        groups.setdefault(tuple(field_value(event["record"], f) for f in by), []).append(event)
    if not by and not groups:
        groups[()] = []  # stats without by: one row, whatever matched
    out = []
    for key, members in groups.items():
        cells = [{"field": f, "value": shown(v)} for f, v in zip(by, key, strict=True) if v is not None]
        for agg in aggregates:
            assert agg
            function, argument, alias = agg[1], agg[2], agg[3]
            if function == "count":
                value: Any = len(members)
            else:
                values = [
                    e["ts"] if argument == "toMillis(@timestamp)" else field_value(e["record"], argument)
                    for e in members
                ]
                present = [v for v in values if v is not None]
                value = (min if function == "min" else max)(present) if present else None
            if value is not None:
                cells.append({"field": alias, "value": str(value)})
        out.append(cells)
    return out


def insights(query: str, records: list[dict[str, Any]], start: int, end: int, limit: int) -> list:
    """What Logs Insights answers to ``query`` over the log group's ``records`` in [start, end] seconds."""
    events: list[dict[str, Any]] = [
        {"ts": event_ms(r), "record": r, "ptr": f"ptr-{i}"}
        for i, r in enumerate(records)
        if start * 1000 <= event_ms(r) <= end * 1000 + 999
    ]
    rows: list | None = None
    for command in query.split("\n| "):
        if command == "fields toMillis(@timestamp) as ts_ms, @message":
            continue  # the row cells below are those fields
        if command.startswith("filter "):
            events = [e for e in events if all(matches(c, e) for c in command[7:].split(" and "))]
        elif command == "sort @timestamp asc":
            events.sort(key=lambda e: e["ts"])
        elif command.startswith("stats "):
            rows = stats(command, events)
        else:
            raise AssertionError(f"the fake Logs Insights does not know {command!r}")
    if rows is None:
        rows = [
            [
                {"field": "ts_ms", "value": str(e["ts"])},
                {"field": "@message", "value": json.dumps(e["record"])},
                {"field": "@ptr", "value": e["ptr"]},
            ]
            for e in events
        ]
    return rows[:limit]


@dataclass
class FakeLogs:
    """Queues on the Stubber what Logs Insights answers, in the order the engine calls."""

    stub: Stubber
    records: list[dict[str, Any]]
    limit: int = 10_000
    page_size: int = 10_000
    answers: dict[str, list] = field(default_factory=dict)
    started: int = 0

    def start(self, query: str, lo_ms: int, hi_ms: int) -> str:
        self.started += 1
        query_id = f"{self.started:08d}-1111-4222-8333-444444444444"
        start, end = lo_ms // 1000, math.ceil(hi_ms / 1000)
        self.stub.add_response(
            "start_query",
            {"queryId": query_id},
            {
                "logGroupIdentifiers": [LOG_GROUP],
                "startTime": start,
                "endTime": end,
                "queryString": query,
                "limit": self.limit,
            },
        )
        self.answers[query_id] = insights(query, self.records, start, end, self.limit)
        return query_id

    def poll(self, query_id: str, status: str = "Complete") -> None:
        self.stub.add_response(
            "get_query_results",
            {"status": status, "results": [], "statistics": STATISTICS},
            {"queryId": query_id, "maxItems": 1},
        )

    def pages(self, query_id: str, status: str = "Complete") -> list:
        rows = self.answers[query_id]
        chunks = [rows[i : i + self.page_size] for i in range(0, len(rows), self.page_size)] or [[]]
        for i, chunk in enumerate(chunks):
            response: dict[str, Any] = {"status": status, "results": chunk, "statistics": STATISTICS}
            params: dict[str, Any] = {"queryId": query_id, "maxItems": self.page_size}
            if i:
                params["nextToken"] = f"token-{i}"
            if i + 1 < len(chunks):
                response["nextToken"] = f"token-{i + 1}"
            self.stub.add_response("get_query_results", response, params)
        return rows

    def run(
        self, query: str, lo_ms: int, hi_ms: int, polls: tuple[str, ...] = ("Running", "Complete")
    ) -> list:
        """A query the engine runs to completion itself: start, polls, every page."""
        query_id = self.start(query, lo_ms, hi_ms)
        for status in polls:
            self.poll(query_id, status)
        return self.pages(query_id)


def window(params: dict[str, Any]) -> tuple[int, int]:
    p = QueryParams.of(params)
    return int(p.window_start.timestamp()) * 1000, (int(p.window_end.timestamp()) + 1) * 1000


def key_addresses(groups: list) -> list[str]:
    found = {c["value"] for g in groups for c in g if c["field"] == "sourceIPAddress"}
    return sorted(a for a in found if a != "AWS Internal" and not a.endswith(".amazonaws.com"))


def cells(rows: list) -> Iterator[dict[str, str]]:
    for row in rows:
        yield {c["field"]: c["value"] for c in row}


@pytest.fixture
def logs(aws_env):
    client = boto3.client("logs", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def make(client: Any, stub: Stubber, records: list[dict[str, Any]], **kwargs: Any):
    engine = CloudWatchEngine(client, LOG_GROUP + ":*", **kwargs)
    engine.sleep = lambda _s: None
    fake = FakeLogs(stub, records, limit=engine.limit, page_size=engine.page_size)
    return engine, fake


def run_saved_query(engine: CloudWatchEngine, fake: FakeLogs, name: str, params: dict[str, Any]) -> list:
    """The workflow's three steps (start, status, results), each call expected with its exact request."""
    lo, hi = window(params)
    query_id = None
    if name == "same_ip_credentials":
        first, *rest = engine.render(name, params)
        assert rest == []
        addresses = key_addresses(fake.run(first, lo, hi))
        if addresses:
            second = engine.render(name, params, source_ips=addresses)[1:]
            assert len(second) == 1  # the fixtures' addresses fit one query
            query_id = fake.start(second[0], lo, hi)
    else:
        query_id = fake.start(engine.render(name, params)[0], lo, hi)
    handle = engine.start(name, params)
    if query_id is None:
        assert engine.status(handle).state == "FINISHED"  # no address: nothing to query
        return engine.results(handle)
    fake.poll(query_id, "Complete")
    assert engine.status(handle).state == "FINISHED"
    fake.pages(query_id)
    return engine.results(handle)


def write_log(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "trail.json"
    path.write_text(json.dumps({"Records": records}))
    return path


# --- Same rows as the native engine ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[dict[str, Any]]]:
    stratus = shared_fixture_path("cloudtrail", "stratus-red-team")
    extra = tmp_path_factory.mktemp("s3") / "s3.json"
    extra.write_text(json.dumps({"Records": s3_events()}))
    paths = [stratus, extra]
    return paths, load_events(paths)


@pytest.mark.fixtures
@pytest.mark.parametrize("name", ALL_QUERIES)
@pytest.mark.parametrize("key", KEYS)
def test_same_rows_as_duckdb(logs, trail, name, key):
    client, stub = logs
    paths, records = trail
    params = {"access_key_id": key, **WINDOW}
    engine, fake = make(client, stub, records)
    rows = run_saved_query(engine, fake, name, params)
    assert rows == DuckDBEngine(paths).run(name, params)


@pytest.mark.fixtures
def test_the_comparison_is_not_vacuous(logs, trail):
    """Every saved query returns rows for some key; same_ip_credentials really pivots."""
    paths, _records = trail
    native = DuckDBEngine(paths)
    counts = {n: sum(len(native.run(n, {"access_key_id": k, **WINDOW})) for k in KEYS) for n in ALL_QUERIES}
    assert all(counts.values()), counts
    pivot = native.run("same_ip_credentials", {"access_key_id": "AKIAMJ2320ZAXACWCPJI", **WINDOW})
    assert [r["access_key_id"] for r in pivot] == ["ASIA4URVX2JM5MT0ZGK8"]


def _event(i: int, **overrides: Any) -> dict[str, Any]:
    record = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/dev",
            "accountId": "111122223333",
            "accessKeyId": KEY,
            "userName": "dev",
        },
        "eventTime": f"2024-07-30T10:00:{i:02d}Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": None,
        "responseElements": None,
        "eventID": f"00000000-0000-4000-8000-{i:012d}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    }
    record.update(overrides)
    return record


def edge_records() -> list[dict[str, Any]]:
    """What the SQL's NULL rules decide: '' versus absent, strings where CloudTrail writes booleans and
    numbers, a document without the key the query extracts, another time zone."""
    s3 = {"eventSource": "s3.amazonaws.com", "requestParameters": {"bucketName": "loot", "key": "a.csv"}}
    return [
        _event(1, errorCode="", userAgent=""),  # '' is not NULL: an error, and a user agent
        _event(2, userAgent=None, sourceIPAddress=None),  # the NULL address is a group of its own
        _event(3, readOnly=False, eventName="CreateUser"),
        _event(4, readOnly="false", eventName="DeleteUser"),
        _event(5, eventTime="2024-07-30T12:00:05+02:00", eventName="TagUser", readOnly=None),
        _event(6, eventName="GetSessionToken", errorCode="", responseElements={"credentials": {}}),
        _event(
            7,
            eventName="CreateAccessKey",
            readOnly=False,
            responseElements={"accessKey": {"accessKeyId": "AKIAXAFZN8JEPF6L682H", "userName": "backdoor"}},
        ),
        _event(
            8,
            eventName="AssumeRole",
            responseElements={
                "credentials": {
                    "accessKeyId": "ASIAEXAMPLE000000001",
                    "expiration": "Jul 30, 2024, 11:00:08 AM",
                },
                "assumedRoleUser": {"arn": "arn:aws:sts::111122223333:assumed-role/admin/x"},
            },
        ),
        _event(9, **s3, eventName="GetObject", additionalEventData={"bytesTransferredOut": "12"}),
        _event(10, **s3, eventName="GetObject", additionalEventData={"bytesTransferredOut": "many"}),
        _event(11, **s3, eventName="PutObject", additionalEventData={"bytesTransferredIn": 7.5}),
        _event(
            12,
            eventSource="s3.amazonaws.com",
            eventName="ListObjects",
            requestParameters={"bucketName": "loot"},  # no key: the NULL object_key group
            errorCode="AccessDenied",
        ),
        _event(13, **s3, eventName="GetBucketPolicy"),  # not an object-level event
        _event(14, userIdentity={"type": "IAMUser", "accessKeyId": "AKIAOTHERKEY00000001"}),
        _event(15, eventTime="2024-07-24T23:59:59Z"),  # a second before the window
        _event(16, eventTime="2024-08-02T00:00:00Z"),  # a second after it
        _event(17, eventTime="2024-08-01T23:59:59Z", eventName="LastSecond"),
        # key_provenance: the key's creation by an administrator's console session (no access key of
        # the key's own); a failed try before it; a session key whose response carries the key (not a
        # credential event: not provenance); the key created again with no status (NULL created_status).
        _event(
            18,
            userIdentity={
                "type": "AssumedRole",
                "arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice",
                "accessKeyId": "ASIAADMINSESSION0001",
            },
            eventName="CreateAccessKey",
            responseElements={"accessKey": {"accessKeyId": KEY, "userName": "dev", "status": "Active"}},
        ),
        _event(
            19,
            userIdentity={"type": "Root", "arn": "arn:aws:iam::111122223333:root"},
            eventName="CreateAccessKey",
            errorCode="LimitExceeded",
            responseElements={"accessKey": {"accessKeyId": KEY}},
        ),
        _event(20, eventName="UpdateAccessKey", responseElements={"accessKey": {"accessKeyId": KEY}}),
        _event(
            21,
            userIdentity={"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
            eventName="CreateAccessKey",
            responseElements={"accessKey": {"accessKeyId": KEY, "userName": 7}},
        ),
    ]


@pytest.mark.parametrize("name", ALL_QUERIES)
def test_sql_null_rules_match_duckdb(logs, tmp_path, name):
    client, stub = logs
    records = edge_records()
    engine, fake = make(client, stub, records)
    rows = run_saved_query(engine, fake, name, PARAMS)
    native = DuckDBEngine([write_log(tmp_path, records)]).run(name, PARAMS)
    assert rows == native
    assert rows or name == "same_ip_credentials"


# --- Exact requests --------------------------------------------------------------------------------------


def test_query_strings_and_time_range():
    engine = CloudWatchEngine(None, LOG_GROUP)
    window = "filter toMillis(@timestamp) >= 1721865600000 and toMillis(@timestamp) < 1722556800000"
    key_filter = f'filter userIdentity.accessKeyId = "{KEY}"'
    head = f"fields toMillis(@timestamp) as ts_ms, @message\n| {key_filter}\n| {window}"
    assert engine.render("key_activity", PARAMS) == [f"{head}\n| sort @timestamp asc"]
    assert engine.render("write_events", PARAMS) == engine.render("key_activity", PARAMS)
    assert engine.render("source_ips", PARAMS) == engine.render("key_activity", PARAMS)
    assert engine.render("minted_credentials", PARAMS) == [
        f"{head}\n| filter eventName in "
        '["GetSessionToken", "GetFederationToken", "AssumeRole", "CreateAccessKey"]\n| sort @timestamp asc'
    ]
    (s3,) = engine.render("s3_data_events", PARAMS)
    assert s3.startswith(f'{head}\n| filter eventSource = "s3.amazonaws.com" and eventName in ["GetObject", ')
    assert s3.count('", "') == 24 and '"ListParts"]\n| sort @timestamp asc' in s3  # the .sql's 25 names
    assert engine.render("coverage", PARAMS) == [
        f"{window}\n| stats count(*) as events_scanned, min(toMillis(@timestamp)) as first_ms,"
        " max(toMillis(@timestamp)) as last_ms"
    ]
    assert engine.render("same_ip_credentials", PARAMS, source_ips=["203.0.113.9", "2001:db8::1"]) == [
        f"{key_filter}\n| {window}\n| stats count(*) as event_count by sourceIPAddress",
        f'{window}\n| filter sourceIPAddress in ["203.0.113.9", "2001:db8::1"]\n'
        f'| filter ispresent(userIdentity.accessKeyId) and userIdentity.accessKeyId != "{KEY}"\n'
        "| stats count(*) as event_count, min(toMillis(@timestamp)) as first_ms,"
        " max(toMillis(@timestamp)) as last_ms, max(userIdentity.arn) as identity_arn,"
        " max(userIdentity.type) as identity_type by userIdentity.accessKeyId, sourceIPAddress",
    ]
    # startTime: the window's first second; endTime (inclusive): the second after its last, which the
    # query's `< end` leaves out.
    assert cw.time_range(*cw.window_ms(QueryParams.of(PARAMS))) == (1721865600, 1722556800)


def test_start_sends_the_exact_request(logs):
    client, stub = logs
    engine = CloudWatchEngine(client, LOG_GROUP)
    stub.add_response(
        "start_query",
        {"queryId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"},
        {
            "logGroupIdentifiers": [LOG_GROUP],
            "startTime": 1721865600,
            "endTime": 1722556800,
            "queryString": engine.render("key_activity", PARAMS)[0],
            "limit": 10_000,
        },
    )
    handle = engine.start("key_activity", PARAMS)
    assert handle == f"cwl:key_activity:{KEY}:1721865600:1722556799:-:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


# --- Every row ---------------------------------------------------------------------------------------------


def test_a_full_answer_continues_and_reads_the_last_millisecond_again(logs, tmp_path):
    client, stub = logs
    records = [_event(i) for i in range(1, 8)]
    records[3] = {**records[2], "eventName": "DeliveredTwice"}  # CloudTrail's duplicate delivery
    records[2]["eventName"] = "DeliveredTwice"
    records[3]["eventTime"] = records[2]["eventTime"]
    records[6]["eventTime"] = records[5]["eventTime"]
    engine, fake = make(client, stub, records, limit=3, page_size=2)
    lo, hi = window(PARAMS)
    query_id = fake.start(engine.render("key_activity", PARAMS)[0], lo, hi)
    handle = engine.start("key_activity", PARAMS)
    answer = fake.pages(query_id)  # 3 rows: the limit, so the engine continues
    seen = []
    while len(answer) == 3:
        boundary = max(int(c["ts_ms"]) for c in cells(answer))
        seen.append(boundary)
        answer = fake.run(cw.row_query("key_activity", KEY, boundary, hi), boundary, hi)
    rows = engine.results(handle)
    assert len(seen) == 3  # three continuations, each from the last millisecond the one before saw
    native = DuckDBEngine([write_log(tmp_path, records)]).run("key_activity", PARAMS)
    assert rows == native
    assert [r["event_name"] for r in rows].count("DeliveredTwice") == 2  # kept, as the SQL engines keep it
    assert len(rows) == 7


def test_one_millisecond_over_the_limit_fails_rather_than_drop_rows(logs):
    client, stub = logs
    records = [_event(1, eventID=f"id-{i}") for i in range(3)]  # three events in one second
    engine, fake = make(client, stub, records, limit=2)
    lo, hi = window(PARAMS)
    query_id = fake.start(engine.render("write_events", PARAMS)[0], lo, hi)
    handle = engine.start("write_events", PARAMS)
    fake.pages(query_id)
    boundary = event_ms(records[0])
    fake.run(cw.row_query("write_events", KEY, boundary, hi), boundary, hi)
    with pytest.raises(QueryFailed, match=r"more than 2 of the key's events at 2024-07-30T10:00:01Z"):
        engine.results(handle)


def test_same_ip_groups_over_the_limit_are_asked_again_by_halves(logs, tmp_path):
    client, stub = logs
    shared = "203.0.113.50"
    records = [_event(1, sourceIPAddress=shared)]
    for i, other in enumerate(("AKIAOTHERKEY00000001", "AKIAOTHERKEY00000002", "AKIAOTHERKEY00000003")):
        identity = {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/u{i}", "accessKeyId": other}
        day = ("2024-07-26", "2024-07-27", "2024-07-31")[i]
        records.append(
            _event(20 + i, userIdentity=identity, sourceIPAddress=shared, eventTime=f"{day}T08:00:00Z")
        )
    engine, fake = make(client, stub, records, limit=3)
    lo, hi = window(PARAMS)
    first = engine.render("same_ip_credentials", PARAMS)[0]
    addresses = key_addresses(fake.run(first, lo, hi))
    assert addresses == [shared]
    second = engine.render("same_ip_credentials", PARAMS, source_ips=addresses)[1]
    query_id = fake.start(second, lo, hi)
    handle = engine.start("same_ip_credentials", PARAMS)
    assert len(fake.pages(query_id)) == 3  # the limit: the answer may be cut short
    fake.run(first, lo, hi)  # results asks the key's addresses again: unchanged
    mid = (lo + hi) // 2
    assert len(fake.run(cw.same_ip_query(KEY, addresses, lo, mid), lo, mid)) == 2
    assert len(fake.run(cw.same_ip_query(KEY, addresses, mid, hi), mid, hi)) == 1
    rows = engine.results(handle)
    assert rows == DuckDBEngine([write_log(tmp_path, records)]).run("same_ip_credentials", PARAMS)
    assert len(rows) == 3


def test_many_addresses_are_split_across_queries(logs, tmp_path):
    client, stub = logs
    addresses = [f"10.{i // 250}.{i % 250}.{7 + i % 3}" for i in range(900)]
    records = [_event(i % 60, sourceIPAddress=a, eventID=f"key-{i}") for i, a in enumerate(addresses)]
    others = {addresses[3]: "AKIAOTHERKEY00000001", addresses[890]: "AKIAOTHERKEY00000002"}
    for n, (address, other) in enumerate(others.items()):
        identity = {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::111122223333:assumed-role/r/{n}",
            "accessKeyId": other,
        }
        records.append(_event(n, userIdentity=identity, sourceIPAddress=address, eventID=f"other-{n}"))
    engine, fake = make(client, stub, records)
    lo, hi = window(PARAMS)
    first, *seconds = engine.render("same_ip_credentials", PARAMS, source_ips=sorted(addresses))
    assert len(seconds) == 2 and all(len(q) <= 10_000 for q in seconds)
    fake.run(first, lo, hi)
    query_id = fake.start(seconds[0], lo, hi)
    handle = engine.start("same_ip_credentials", PARAMS)
    assert handle.split(":")[5].startswith("2.")  # two address runs, the first started
    fake.pages(query_id)
    fake.run(first, lo, hi)  # the addresses again, to run the second part
    fake.run(seconds[1], lo, hi)
    rows = engine.results(handle)
    assert rows == DuckDBEngine([write_log(tmp_path, records)]).run("same_ip_credentials", PARAMS)
    assert [r["access_key_id"] for r in rows] == ["AKIAOTHERKEY00000001", "AKIAOTHERKEY00000002"]


def test_a_key_without_addresses_needs_no_second_query(logs):
    client, stub = logs
    engine, fake = make(client, stub, [_event(1, sourceIPAddress="AWS Internal")])
    lo, hi = window(PARAMS)
    fake.run(engine.render("same_ip_credentials", PARAMS)[0], lo, hi)
    handle = engine.start("same_ip_credentials", PARAMS)
    assert engine.status(handle).state == "FINISHED"  # no call: nothing was queued for one
    assert engine.results(handle) == []


def test_start_stops_a_first_query_past_its_deadline(logs):
    client, stub = logs
    now = {"t": 0.0}
    engine, fake = make(client, stub, [_event(1)], start_seconds=40, clock=lambda: now["t"])
    engine.poll_seconds = 30
    engine.sleep = lambda s: now.__setitem__("t", now["t"] + s)
    called: set[str] = set()
    client.meta.events.register("before-parameter-build.logs.*", lambda model, **_: called.add(model.name))
    lo, hi = window(PARAMS)
    query_id = fake.start(engine.render("same_ip_credentials", PARAMS)[0], lo, hi)
    for _ in range(3):  # t = 0, 30, 60: past 40 at the third poll
        fake.poll(query_id, "Running")
    stub.add_response("stop_query", {"success": True}, {"queryId": query_id})
    with pytest.raises(QueryTimedOut, match="still RUNNING after 40s; stopped"):
        engine.start("same_ip_credentials", PARAMS)
    # What the code calls is what the engine declares (and the stack grants), no more, no less.
    assert {f"logs:{op}" for op in called} == actions_of(cw.PERMISSIONS)


# --- Status and errors ---------------------------------------------------------------------------------------


@pytest.fixture
def started(logs):
    client, stub = logs
    engine, fake = make(client, stub, [_event(1)])
    lo, hi = window(PARAMS)
    query_id = fake.start(engine.render("key_activity", PARAMS)[0], lo, hi)
    return engine, stub, fake, engine.start("key_activity", PARAMS), query_id


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Scheduled", "QUEUED"),
        ("Running", "RUNNING"),
        ("Complete", "FINISHED"),
        ("Failed", "FAILED"),
        ("Cancelled", "CANCELLED"),
        ("Timeout", "TIMED_OUT"),
        ("Unknown", "FAILED"),
    ],
)
def test_status_mapping_and_statistics(started, status, state):
    engine, _stub, fake, handle, query_id = started
    fake.poll(query_id, status)
    got = engine.status(handle)
    assert (got.query_id, got.state, got.events_scanned, got.bytes_scanned) == (handle, state, 1200, 65536)
    assert got.done == (state not in ("QUEUED", "RUNNING"))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("Failed", QueryFailed),
        ("Cancelled", QueryCancelled),
        ("Timeout", QueryTimedOut),
        ("Unknown", QueryFailed),
        ("Running", QueryStillRunning),
        ("Scheduled", QueryStillRunning),
    ],
)
def test_results_only_once_finished(started, status, error):
    engine, stub, _fake, handle, query_id = started
    stub.add_response(
        "get_query_results",
        {"status": status, "results": [], "statistics": STATISTICS},
        {"queryId": query_id, "maxItems": 10_000},
    )
    with pytest.raises(error):
        engine.results(handle)


def test_run_polls_until_finished(logs):
    client, stub = logs
    engine, fake = make(client, stub, [_event(1), _event(2)])
    lo, hi = window(PARAMS)
    query_id = fake.start(engine.render("coverage", PARAMS)[0], lo, hi)
    for status in ("Scheduled", "Running", "Complete"):
        fake.poll(query_id, status)
    fake.pages(query_id)
    assert engine.run("coverage", PARAMS) == [
        {"events_scanned": 2, "first_event": "2024-07-30T10:00:01Z", "last_event": "2024-07-30T10:00:02Z"}
    ]


@pytest.mark.parametrize(
    ("code", "raised"),
    [
        ("MalformedQueryException", QueryFailed),
        ("InvalidParameterException", QueryFailed),
        ("ResourceNotFoundException", QueryFailed),
        ("AccessDeniedException", QueryFailed),
        ("LimitExceededException", Throttled),  # the concurrent-query quota: retried by the ASL
    ],
)
def test_start_errors_become_named_errors(logs, code, raised):
    client, stub = logs
    stub.add_client_error("start_query", code, "it went wrong")
    with pytest.raises(raised, match=code):
        CloudWatchEngine(client, LOG_GROUP).start("key_activity", PARAMS)


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailableException"])
def test_throttling_and_outages_propagate_as_they_are(started, code):
    engine, stub, _fake, handle, _query_id = started
    stub.add_client_error("get_query_results", code, "slow down", http_status_code=400)
    with pytest.raises(ClientError) as caught:  # as is: the handler turns throttling into Throttled
        engine.status(handle)
    assert not isinstance(caught.value, ResponderError)
    assert caught.value.response["Error"]["Code"] == code


def test_an_unknown_query_id_is_query_failed(started):
    engine, stub, _fake, handle, _query_id = started
    stub.add_client_error("get_query_results", "ResourceNotFoundException", "no such query")
    with pytest.raises(QueryFailed, match="ResourceNotFoundException"):
        engine.results(handle)


def test_an_unreadable_record_of_the_key_fails_the_query(started):
    engine, stub, _fake, handle, query_id = started
    row = [{"field": "ts_ms", "value": "1722333601000"}, {"field": "@message", "value": '{"eventID": '}]
    stub.add_response(
        "get_query_results",
        {"status": "Complete", "results": [row], "statistics": STATISTICS},
        {"queryId": query_id, "maxItems": 10_000},
    )
    with pytest.raises(QueryFailed, match="not a readable CloudTrail record"):
        engine.results(handle)


# --- Hostile values ------------------------------------------------------------------------------------------


def test_hostile_values_are_refused_before_any_call(logs):
    client, _stub = logs  # nothing queued: any call to Logs Insights would fail the test
    engine = CloudWatchEngine(client, LOG_GROUP)
    hostile = 'AKIA" | filter 1=1 | fields @message #'
    with pytest.raises(InvalidQueryParameter, match="access_key_id"):
        engine.start("key_activity", {**PARAMS, "access_key_id": hostile})
    with pytest.raises(InvalidQueryParameter, match="access_key_id"):
        cw.quote_key(hostile)
    assert cw.quote_key(KEY) == f'"{KEY}"'
    with pytest.raises(InvalidQueryParameter, match="log group"):
        CloudWatchEngine(client, 'trail" | stats count(*)')
    for forged in (
        f"cwl:key_activity:{KEY}:1:2:-:q'; x",
        f"cwl:drop_table:{KEY}:1:2:-:q1",
        f"cwl:key_activity:{KEY}:9:2:-:q1",  # a window that ends before it starts
        "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",  # a bare Logs Insights id: no parameters to continue with
    ):
        with pytest.raises(InvalidInput):  # InvalidQueryParameter, or UnknownQuery for the name
            engine.status(forged)


def test_a_source_address_that_cannot_be_quoted_fails_the_query(logs):
    client, stub = logs
    engine, fake = make(client, stub, [_event(1, sourceIPAddress='1.2.3.4", "5.6.7.8')])
    lo, hi = window(PARAMS)
    fake.run(engine.render("same_ip_credentials", PARAMS)[0], lo, hi)  # and no second StartQuery
    with pytest.raises(QueryFailed, match="cannot be quoted"):
        engine.start("same_ip_credentials", PARAMS)


def test_the_declared_permissions_and_references():
    assert actions_of(cw.PERMISSIONS) == {"logs:StartQuery", "logs:GetQueryResults", "logs:StopQuery"}
    by_action = {a: p.resources for p in cw.PERMISSIONS for a in p.actions}
    assert by_action["logs:StartQuery"] == ("@cloudwatch_log_group",)
    assert by_action["logs:GetQueryResults"] == by_action["logs:StopQuery"] == ("@cloudwatch_queries",)
    assert frozenset({"cloudwatch_log_group", "cloudwatch_queries"}) == cw.REFERENCES
