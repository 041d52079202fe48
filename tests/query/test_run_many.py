"""One read of the window's files serves every query: ``run_many`` (and a second ``run`` on the same
engine) give exactly the rows that a fresh engine gives for each query alone."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlglot import exp

from responder.analysis import pivot
from responder.errors import InvalidQueryParameter
from responder.query import ALL_QUERIES, DuckDBEngine
from tests.conftest import shared_fixture_path
from workstation.demo.cloudtrail import generate_logs
from workstation.demo.scenario import default_scenario

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_logs(tmp_path_factory: pytest.TempPathFactory):
    """The demo's two weeks of logs: an exposed key that mints a session and a backdoor user's key."""
    return generate_logs(
        default_scenario(NOW), tmp_path_factory.mktemp("demo"), days=6, background_per_day=60
    )


def _params(key: str, start: datetime, end: datetime) -> dict[str, object]:
    return {"access_key_id": key, "start": start, "end": end}


def test_the_whole_plan_in_one_read_gives_each_query_own_rows(demo_logs):
    key = demo_logs.exposed_key_id
    start, end = NOW - timedelta(days=3), NOW
    engine = DuckDBEngine([demo_logs.root])
    results: dict[tuple[str, str], list] = {}
    while batch := pivot.next_batch(key, results):
        results.update(engine.run_many([(t.name, _params(t.access_key_id, start, end)) for t in batch]))
    # the plan did pivot: the session and the backdoor key were investigated too
    assert {k for k, _ in results} >= {key, demo_logs.session_key_id, demo_logs.backdoor_key_id}
    assert sum(len(rows) for rows in results.values()) > 50
    for (task_key, name), rows in results.items():
        assert rows == DuckDBEngine([demo_logs.root]).run(name, _params(task_key, start, end)), name
    assert engine.coverage(_params(key, start, end)) == DuckDBEngine([demo_logs.root]).coverage(
        _params(key, start, end)
    )


@pytest.mark.fixtures
def test_run_many_on_the_stratus_logs_matches_run():
    logs = [shared_fixture_path("cloudtrail", "stratus-red-team")]
    window = (datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 12, 31, tzinfo=UTC))
    keys = ["AKIAOZUDECYXYM4ONAN4", "AKIA6V1GNZTT65XQH36M", "AKIAMJ2320ZAXACWCPJI"]
    tasks = [(name, _params(k, *window)) for k in keys for name in ALL_QUERIES]
    with DuckDBEngine(logs) as engine:
        many = engine.run_many(tasks)
    assert many == {(p["access_key_id"], n): DuckDBEngine(logs).run(n, p) for n, p in tasks}
    assert any(many.values())


def _events_file(path: Path, key: str, when: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "eventID": f"id-{when}",
        "eventTime": when,
        "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity",
        "sourceIPAddress": "203.0.113.9",
        "readOnly": True,
        "userIdentity": {"type": "IAMUser", "accessKeyId": key},
    }
    path.write_bytes(gzip.compress(json.dumps({"Records": [record]}).encode()))


def test_a_late_delivery_is_read_and_other_windows_are_their_own(tmp_path):
    key = "AKIAABCDEFGHIJKLMNOP"
    day = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2024" / "03"
    _events_file(day / "04" / "a.json.gz", key, "2024-03-04T10:00:00Z")
    engine = DuckDBEngine([tmp_path])
    week = _params(key, datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC))
    assert len(engine.run("key_activity", week)) == 1
    _events_file(day / "05" / "b.json.gz", key, "2024-03-05T10:00:00Z")  # delivered since
    assert len(engine.run("key_activity", week)) == 2
    one_day = _params(key, datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 6, tzinfo=UTC))
    assert [r["event_time"] for r in engine.run("key_activity", one_day)] == ["2024-03-05T10:00:00Z"]
    assert len(engine.run("key_activity", week)) == 2
    with pytest.raises(InvalidQueryParameter, match="twice"):
        engine.run_many([("key_activity", week), ("key_activity", one_day)])
    engine.close()
    assert engine.run("coverage", week)[0]["events_scanned"] == 2


def test_each_saved_query_runs_on_the_narrowest_table_that_suffices():
    from responder.query.duckdb_engine import _events_columns, classify
    from responder.query.sql import parse

    assert {n: classify(n) for n in ALL_QUERIES} == {
        "coverage": "base",
        "same_ip_credentials": "base",
        "key_activity": "wide",
        "source_ips": "wide",
        "write_events": "wide",
        "s3_data_events": "wide",
        "minted_credentials": "wide",
        # Every credential-minting event is in wide, whoever made it (the key's creator is not the key).
        "key_provenance": "wide",
    }
    # A query over every key's events needing more than the base columns is not narrowed.
    tree = parse("coverage")
    tree.set("expressions", [*tree.expressions, exp.column("event_name")])
    assert _events_columns(tree) == ({"event_time", "event_name"}, False)
    ored = parse("key_activity")
    ored.set("where", exp.Where(this=exp.or_(ored.args["where"].this, exp.true())))
    assert not _events_columns(ored)[1]


def test_a_pivot_key_is_read_from_only_the_files_holding_its_events(tmp_path, monkeypatch):
    import responder.query.duckdb_engine as engine_module

    day = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2024" / "03"
    first, second = "AKIAABCDEFGHIJKLMNOP", "ASIAABCDEFGHIJKLMNOP"
    _events_file(day / "04" / "a.json.gz", first, "2024-03-04T10:00:00Z")
    _events_file(day / "05" / "b.json.gz", second, "2024-03-05T10:00:00Z")
    week = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC))
    engine = DuckDBEngine([tmp_path])
    assert len(engine.run("key_activity", _params(first, *week))) == 1
    read: list[list[Path]] = []
    real = engine_module.records_sql

    def spy(groups: dict, **kwargs: object) -> str:
        read.append([f for files in groups.values() for f in files])
        return real(groups, **kwargs)

    monkeypatch.setattr(engine_module, "records_sql", spy)
    rows = engine.run_many([("key_activity", _params(second, *week)), ("coverage", _params(second, *week))])
    assert [f.name for f in read[0]] == ["b.json.gz"] and len(read) == 1
    assert rows[(second, "key_activity")] == DuckDBEngine([tmp_path]).run(
        "key_activity", _params(second, *week)
    )
    assert rows[(second, "coverage")][0]["events_scanned"] == 2


def test_a_keys_creator_is_found_and_a_pivot_keys_own_minting_is_not_doubled(tmp_path):
    """wide holds every credential-minting event: a key's creation is found whoever made it, and a
    pivot key read in later does not bring its own CreateAccessKey in twice."""
    first, pivot_key, created = "AKIAABCDEFGHIJKLMNOP", "ASIAABCDEFGHIJKLMNOP", "AKIAZZZZZZZZZZZZZZZZ"
    day = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2024" / "03" / "04"
    _events_file(day / "a.json.gz", first, "2024-03-04T10:00:00Z")
    creation = {
        "eventID": "id-create",
        "eventTime": "2024-03-04T11:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateAccessKey",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.13.25",
        "userIdentity": {
            "type": "AssumedRole",
            "accessKeyId": pivot_key,
            "arn": "arn:aws:sts::1:assumed-role/r/s",
        },
        "responseElements": {
            "accessKey": {"accessKeyId": created, "userName": "backdoor", "status": "Active"}
        },
    }
    (day / "b.json.gz").write_bytes(gzip.compress(json.dumps({"Records": [creation]}).encode()))
    week = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC))
    engine = DuckDBEngine([tmp_path])
    assert len(engine.run("key_activity", _params(first, *week))) == 1
    assert [r["event_id"] for r in engine.run("key_activity", _params(pivot_key, *week))] == ["id-create"]
    (row,) = engine.run("key_provenance", _params(created, *week))
    assert (row["creator_access_key_id"], row["created_for"], row["source_ip"], row["event_name"]) == (
        pivot_key,
        "backdoor",
        "198.51.100.7",
        "CreateAccessKey",
    )
    assert engine.run("key_provenance", _params(pivot_key, *week)) == []
