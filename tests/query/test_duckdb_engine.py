"""DuckDB engine: the saved queries on the Stratus Red Team logs (values checked by hand), pruning by
date in CloudTrail's layout, the three file forms, unreadable files."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from responder.errors import InvalidQueryParameter, LogsUnreadable, QueryStillRunning
from responder.query import DuckDBEngine, raise_for_status
from tests.conftest import shared_fixture_path

WIDE = {"start": "2024-07-01T00:00:00Z", "end": "2024-12-31T00:00:00Z"}


@pytest.fixture
def stratus() -> DuckDBEngine:
    return DuckDBEngine([shared_fixture_path("cloudtrail", "stratus-red-team")])


@pytest.mark.fixtures
def test_key_activity_create_admin_user(stratus):
    rows = stratus.run("key_activity", {"access_key_id": "AKIAOZUDECYXYM4ONAN4", **WIDE})
    assert sorted(r["event_name"] for r in rows) == ["AttachUserPolicy", "CreateAccessKey", "CreateUser"]
    # same second: newest first, then by event id descending
    assert [r["event_id"] for r in rows] == [
        "94faedcc-0fa4-46e6-9322-022e8e934f04",
        "3346344c-5a3e-429e-8405-420f98f75d6e",
        "083dc4ad-e264-46bc-a407-d0dd31b58bdc",
    ]
    attach = rows[2]
    assert attach["event_time"] == "2024-08-01T13:33:28Z"
    assert attach["source_ip"] == "075.050.255.67"  # anonymized, not a valid IP: kept as text
    assert attach["aws_region"] == "ap-isob-central-3r"
    assert attach["user_name"] == "christophe"
    assert attach["principal_id"] == "AIDAZ49AHUAJ9OEK73O5"
    assert attach["account_id"] == "229654561268"
    assert attach["read_only"] == "false"
    assert attach["response_elements"] is None
    assert json.loads(attach["request_parameters"]) == {
        "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
        "userName": "malicious-iam-user",
    }
    assert set(attach) >= {
        "event_id",
        "event_time",
        "event_source",
        "event_name",
        "aws_region",
        "source_ip",
        "user_agent",
        "error_code",
        "error_message",
        "identity_type",
        "principal_id",
        "user_name",
        "identity_arn",
        "access_key_id",
        "account_id",
        "read_only",
        "event_type",
        "request_parameters",
        "response_elements",
        "resources",
        "additional_event_data",
    }


@pytest.mark.fixtures
def test_minted_credentials_create_access_key_and_federation_token(stratus):
    created = stratus.run("minted_credentials", {"access_key_id": "AKIA30BEZSJBVKOFKZW0", **WIDE})
    assert [(r["event_name"], r["minted_access_key_id"], r["minted_for"]) for r in created] == [
        ("CreateAccessKey", "AKIAL80DWDVKKM0UXEER", "stratus-red-team-backdoor-u-user")
    ]
    federated = stratus.run("minted_credentials", {"access_key_id": "AKIA6V1GNZTT65XQH36M", **WIDE})
    assert len(federated) == 1
    assert federated[0] == {
        "event_time": "2024-11-30T08:43:17Z",
        "event_name": "GetFederationToken",
        "minted_access_key_id": "ASIASTJKC5GCM7ZE6LUP",
        "minted_for": "arn:aws:sts::742491224508:federated-user/stratus_red_team",
        "expiration": "Nov 30, 2024, 8:43:17 PM",
        "source_ip": "255.090.254.5",
        "aws_region": "ap-isob-east-1r",
        "event_id": "6e882b9d-2af8-4c67-b91f-aeac6a0e5e70",
        "access_key_id": "AKIA6V1GNZTT65XQH36M",
    }


@pytest.mark.fixtures
def test_minted_credentials_skip_failed_assume_role(stratus):
    # ec2-download-user-data: 4 AssumeRole by the key, 2 AccessDenied
    rows = stratus.run("minted_credentials", {"access_key_id": "AKIAMJ2320ZAXACWCPJI", **WIDE})
    assert sorted(r["minted_access_key_id"] for r in rows) == ["ASIA4URVX2JM5MT0ZGK8", "ASIA74KS09ZFFBFV9E6K"]


@pytest.mark.fixtures
def test_same_ip_credentials_finds_the_minted_session(stratus):
    rows = stratus.run("same_ip_credentials", {"access_key_id": "AKIA6V1GNZTT65XQH36M", **WIDE})
    assert rows == [
        {
            "access_key_id": "ASIASTJKC5GCM7ZE6LUP",
            "source_ip": "255.090.254.5",
            "event_count": 1,
            "first_seen": "2024-11-30T08:43:18Z",
            "last_seen": "2024-11-30T08:43:18Z",
            "identity_arn": "arn:aws:sts::742491224508:federated-user/stratus_red_team",
            "identity_type": "FederatedUser",
        }
    ]


@pytest.mark.fixtures
def test_source_ips_and_write_events(stratus):
    key = {"access_key_id": "AKIAMJ2320ZAXACWCPJI", **WIDE}
    (ip,) = stratus.run("source_ips", key)
    assert ip["source_ip"] == "255.18.064.253"
    assert (ip["event_count"], ip["error_count"]) == (4, 2)
    assert (ip["first_seen"], ip["last_seen"]) == ("2024-07-31T19:52:31Z", "2024-07-31T19:52:33Z")
    assert ip["user_agent_count"] == len(json.loads(ip["user_agents"]))
    # AssumeRole is read-only in CloudTrail: no writes for this key
    assert stratus.run("write_events", key) == []
    writes = stratus.run("write_events", {"access_key_id": "AKIAOZUDECYXYM4ONAN4", **WIDE})
    # same second: by event id
    assert [r["event_name"] for r in writes] == ["AttachUserPolicy", "CreateUser", "CreateAccessKey"]


@pytest.mark.fixtures
def test_window_excludes_and_coverage(stratus):
    outside = {
        "access_key_id": "AKIAOZUDECYXYM4ONAN4",
        "start": "2024-08-01T13:33:29Z",
        "end": "2024-08-02T00:00:00Z",
    }
    assert stratus.run("key_activity", outside) == []
    cov = stratus.coverage(outside)
    assert cov["status"] == "partial" and cov["events_scanned"] > 0
    empty = {
        "access_key_id": "AKIAOZUDECYXYM4ONAN4",
        "start": "2023-01-01T00:00:00Z",
        "end": "2023-01-02T00:00:00Z",
    }
    assert stratus.coverage(empty) == {
        "events_scanned": 0,
        "first_event": None,
        "last_event": None,
        "status": "no_data",
    }


def _event(key: str, when: str, name: str = "ListBuckets", ip: str = "203.0.113.9") -> dict:
    return {
        "eventID": f"id-{key}-{when}",
        "eventTime": when,
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "readOnly": True,
        "userIdentity": {"type": "IAMUser", "accessKeyId": key, "userName": "u"},
        "requestParameters": None,
    }


KEY = "AKIAABCDEFGHIJKLMNOP"


def _write(path: Path, doc: object, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(doc).encode()
    if gz:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Ten days of an org trail in CloudTrail's layout, one file a day, gz and plain, both forms."""
    base = tmp_path / "AWSLogs" / "o-abc123" / "111122223333" / "CloudTrail" / "us-east-1"
    for day in range(1, 11):
        ts = f"2024-03-{day:02d}T12:00:00Z"
        events = [_event(KEY, ts)]
        name = f"111122223333_CloudTrail_us-east-1_202403{day:02d}T1200Z_x.json"
        if day % 2:
            _write(base / f"2024/03/{day:02d}" / (name + ".gz"), {"Records": events}, gz=True)
        else:
            _write(base / f"2024/03/{day:02d}" / name, events, gz=False)  # a bare list
    _write(
        tmp_path
        / "AWSLogs"
        / "111122223333"
        / "CloudTrail-Digest"
        / "us-east-1"
        / "2024/03/05"
        / "d.json.gz",
        {"digestStartTime": "x"},
        gz=True,
    )
    return tmp_path


def test_only_files_of_the_window_are_opened(tree):
    engine = DuckDBEngine([tree])
    params = {"access_key_id": KEY, "start": "2024-03-04T00:00:00Z", "end": "2024-03-05T23:59:59Z"}
    opened = [f.parent.relative_to(tree).as_posix()[-10:] for f in engine.files_for(params)]
    assert opened == ["2024/03/03", "2024/03/04", "2024/03/05", "2024/03/06"]  # one day of margin each side
    rows = engine.run("key_activity", params)
    assert [r["event_time"] for r in rows] == ["2024-03-05T12:00:00Z", "2024-03-04T12:00:00Z"]
    query_id = engine.start("coverage", params)
    status = raise_for_status(engine.status(query_id))
    assert status.state == "FINISHED" and status.files_scanned == 4
    assert engine.results(query_id) == [
        {"events_scanned": 2, "first_event": "2024-03-04T12:00:00Z", "last_event": "2024-03-05T12:00:00Z"}
    ]


def test_files_outside_the_layout_are_always_opened(tmp_path):
    lines = tmp_path / "export.jsonl"
    lines.write_text("\n".join(json.dumps(_event(KEY, f"2024-05-0{d}T00:00:00Z")) for d in (1, 2)))
    plain = _write(tmp_path / "sub" / "bare.json.gz", [_event(KEY, "2024-05-03T00:00:00Z")], gz=True)
    engine = DuckDBEngine([tmp_path])
    params = {"access_key_id": KEY, "start": "2024-05-01T00:00:00Z", "end": "2024-05-04T00:00:00Z"}
    assert set(engine.files_for(params)) == {lines, plain}
    assert len(engine.run("key_activity", params)) == 3


def test_unreadable_file_is_skipped_named_and_counted(tmp_path):
    # One file an attacker can write (broken JSON, not gzip) must not stop the reading of the others.
    good = _write(tmp_path / "good.json", {"Records": [_event(KEY, "2024-05-01T00:00:00Z")]}, gz=False)
    bad = tmp_path / "bad.json"
    bad.write_text('{"Records": [{"eventTime": "2024-05-01T00:00:00Z",')
    notgz = tmp_path / "fake.json.gz"
    notgz.write_text("not gzip")
    engine = DuckDBEngine([good, bad, notgz])
    params = {"access_key_id": KEY, "start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"}
    assert [r["event_time"] for r in engine.run("key_activity", params)] == ["2024-05-01T00:00:00Z"]
    coverage = engine.coverage(params)
    assert coverage["files_not_read"] == 2 and coverage["status"] == "partial"
    named = {f for entry in coverage["not_read"] for f in entry["files"]}
    assert named == {str(bad), str(notgz)}
    assert all(entry["unit"] == "files" and entry["reason"] for entry in coverage["not_read"])
    assert DuckDBEngine([notgz]).run("key_activity", params) == []
    with pytest.raises(LogsUnreadable, match="no such file"):
        DuckDBEngine([tmp_path / "missing"]).run("key_activity", params)


def test_injection_rejected_before_duckdb(tmp_path, monkeypatch):
    engine = DuckDBEngine([tmp_path])
    monkeypatch.setattr(engine, "_connect", lambda: pytest.fail("DuckDB was reached"))
    with pytest.raises(InvalidQueryParameter, match="access_key_id"):
        engine.start("key_activity", {"access_key_id": "AKIA'; DROP TABLE x --", **WIDE})
    with pytest.raises(InvalidQueryParameter, match="timezone"):
        engine.run(
            "key_activity", {"access_key_id": KEY, "start": datetime(2024, 1, 1), "end": datetime.now(UTC)}
        )


def test_unknown_query_id():
    with pytest.raises(QueryStillRunning):
        DuckDBEngine([]).results("nope")
