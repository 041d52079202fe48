"""Malformed CloudTrail logs (issue 12 points 6 and 7): bounded, read the same way everywhere, counted.

Whoever can write the trail bucket (or the exported logs) writes these files. Each case is generated
here and goes through the DuckDB engine the workflow's query steps use, the row normalization, the
redaction of saved results, the report, and ``responder investigate`` end to end: no exception, no
record silently lost, and what was not read is in the coverage with why.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import responder.query.duckdb_engine as engine_module
from responder.analysis.rows import doc, malformed_records
from responder.query import DuckDBEngine
from responder.query.rows import MALFORMED, normalize_row
from responder.redact import redact
from responder.report import build_report, render_markdown
from responder.safejson import MAX_DEPTH, MAX_VALUE_BYTES, load_json
from responder.steps.query_results import rows_to_jsonl
from tests.conftest import REPO
from workstation.cli import main
from workstation.offline import investigate

SCHEMA = json.loads((REPO / "responder" / "schemas" / "report.schema.json").read_text())
KEY = "AKIAMALFORMEDLOGS001"
OTHER = "AKIAMALFORMEDOTHER01"
MINTED = "ASIAMALFORMEDMINTED1"
WINDOW = {"start": "2024-05-01T00:00:00Z", "end": "2024-05-08T00:00:00Z"}
PARAMS = {"access_key_id": KEY, **WINDOW}
NOW = datetime(2024, 5, 20, tzinfo=UTC)


def event(n: int, when: str = "2024-05-02T10:00:00Z", key: str = KEY, **fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "eventID": f"evt-{key[-4:]}-{n:04d}",
        "eventTime": when,
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "readOnly": True,
        "userIdentity": {
            "type": "IAMUser",
            "accessKeyId": key,
            "userName": "victim",
            "accountId": "111122223333",
        },
        "recipientAccountId": "111122223333",
        **fields,
    }


def nested(levels: int, key: str = "a") -> str:
    """JSON text nested ``levels`` deep (as text: json.dumps itself recurses per level)."""
    return f'{{"{key}":' * levels + '"x"' + "}" * levels


def records_text(records: list[dict[str, Any]], splice: dict[str, str] | None = None) -> str:
    """{"Records": [...]}, with placeholder strings replaced by raw JSON text."""
    text = json.dumps({"Records": records}, separators=(",", ":"))
    for marker, raw in (splice or {}).items():
        text = text.replace(json.dumps(marker), raw)
    return text


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


def rows_of(engine: DuckDBEngine, name: str = "key_activity", key: str = KEY) -> list[dict[str, Any]]:
    return engine.run(name, {**PARAMS, "access_key_id": key})


def run_cli(logs: list[Path], out: Path, *extra: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", stdout)
        mp.setattr("sys.stderr", stderr)
        code = main(
            ["investigate", "--logs", *map(str, logs), "--access-key", KEY, "--out", str(out), *extra]
        )
    return code, stdout.getvalue(), stderr.getvalue()


# ------------------------------------------------------------------------------------ deep values

DEPTHS = [MAX_DEPTH + 1, 1000, 20_000]
FIELDS = ["requestParameters", "responseElements", "additionalEventData", "resources"]


def deep_cases() -> Iterator[tuple[str, int]]:
    for field in FIELDS:
        for depth in DEPTHS:
            yield field, depth


@pytest.mark.parametrize(("field", "depth"), list(deep_cases()))
def test_a_deep_value_is_kept_as_raw_text_and_reported_everywhere(
    field: str, depth: int, tmp_path: Path
) -> None:
    deep = nested(depth)
    hostile = event(1, eventName="PutBucketTagging", readOnly=False, **{field: "@DEEP@"})
    fine = event(2, requestParameters={"bucketName": "b"})
    logs = write(tmp_path / "logs" / "a.json.gz", records_text([hostile, fine], {"@DEEP@": deep}))

    rows = {r["event_id"]: r for r in rows_of(DuckDBEngine([logs]))}
    bad, good = rows[hostile["eventID"]], rows[fine["eventID"]]
    column = {"requestParameters": "request_parameters", "responseElements": "response_elements"}.get(
        field, "additional_event_data" if field == "additionalEventData" else "resources"
    )
    assert bad[column] is None and good["request_parameters"] == '{"bucketName":"b"}'
    mark = json.loads(str(bad[MALFORMED]))[column]
    assert mark["reason"] == f"nested deeper than {MAX_DEPTH} levels"
    assert mark["bytes"] == len(deep)
    assert mark["raw"] == deep[: len(mark["raw"])] and (len(mark["raw"]) == len(deep)) != mark.get(
        "truncated", False
    )
    # The saved (redacted) results keep it; the analysis, the report and its Markdown read past it.
    saved = [json.loads(line) for line in rows_to_jsonl(list(rows.values())).decode().splitlines()]
    assert {r["event_id"] for r in saved} == set(rows)
    report = build_report(
        list(rows.values()), access_key_id=KEY, window_start=WINDOW["start"], window_end=WINDOW["end"]
    )
    jsonschema.validate(report, SCHEMA)
    assert report["coverage"]["unreadable_records"] == 1
    assert [r["event_id"] for r in report["coverage"]["malformed_records"]] == [hostile["eventID"]]
    assert report["events"]["total"] == 2
    assert "too deep or too large" in render_markdown(report)

    code, out, err = run_cli([logs], tmp_path / "out", "--start", WINDOW["start"], "--end", WINDOW["end"])
    assert code == 0 and "Traceback" not in err and "Error" not in err
    offline = json.loads((tmp_path / "out" / "report.json").read_text())
    assert offline["coverage"]["unreadable_records"] == 1
    assert "1 record(s) of the key hold a document too deep or too large to read" in out


def test_a_too_large_value_is_kept_raw_cut_and_hashed(tmp_path: Path) -> None:
    big = event(1, requestParameters={"policy": "x" * (MAX_VALUE_BYTES + 10)})
    logs = write(tmp_path / "a.json", records_text([big]))
    [row] = rows_of(DuckDBEngine([logs]))
    assert row["request_parameters"] is None
    mark = json.loads(str(row[MALFORMED]))["request_parameters"]
    assert mark["reason"].startswith(f"larger than {MAX_VALUE_BYTES} bytes")
    assert mark["truncated"] is True and mark["bytes"] > MAX_VALUE_BYTES > len(mark["raw"])


def test_deep_documents_never_recurse_in_readers_or_redaction() -> None:
    deep = nested(10_000, key="password")
    assert doc({"request_parameters": deep}, "request_parameters") is None
    with pytest.raises(ValueError, match="nested deeper"):
        load_json(deep)
    row = normalize_row({"event_id": "e", "request_parameters": deep, "response_elements": {"k": "v"}})
    assert row["request_parameters"] is None and row["response_elements"] == '{"k":"v"}'
    clean, _ = redact(dict(row))
    assert clean["event_id"] == "e"
    # A parsed value too deep to serialize (an engine handing back objects) is refused the same way.
    value: Any = "x"
    for _ in range(5000):
        value = {"a": value}
    parsed = normalize_row({"request_parameters": value})
    assert parsed["request_parameters"] is None
    assert (
        json.loads(str(parsed[MALFORMED]))["request_parameters"]["reason"]
        == f"nested deeper than {MAX_DEPTH} levels"
    )


# ------------------------------------------------------------------------------------ gzip bombs


def _multi_member_bomb(path: Path, mib: int) -> Path:
    """A gzip of ``mib`` MiB (one Records file with a huge string), made of identical 1 MiB members:
    small on disk, and its trailer (the last member's ISIZE) claims a few bytes."""
    head = json.dumps({"Records": [event(1)]})[:-2] + ',"pad":"'
    chunk = gzip.compress(b"a" * (1 << 20), mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(gzip.compress(head.encode(), mtime=0))
        for _ in range(mib):
            fh.write(chunk)
        fh.write(gzip.compress(b'"}]}', mtime=0))
    return path


def _honest_bomb(path: Path, size: int) -> Path:
    """One gzip member of ``size`` bytes whose trailer says so (compressed in chunks, a few MB on disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = (json.dumps({"Records": [event(1)]})[:-2] + ',"pad":"').encode()
    tail = b'"}]}'
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as fh:
        fh.write(comp.compress(head))
        left = size - len(head) - len(tail)
        block = b"a" * (1 << 20)
        while left > 0:
            fh.write(comp.compress(block[: min(left, len(block))]))
            left -= len(block)
        fh.write(comp.compress(tail) + comp.flush())
    return path


def test_a_gzip_bomb_is_skipped_by_its_size_and_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write(tmp_path / "good.json", records_text([event(1)]))
    bomb = _honest_bomb(tmp_path / "bomb.json.gz", 8 << 20)
    opened: list[str] = []
    real = engine_module.records_sql

    def spy(groups: dict, **kwargs: object) -> str:
        opened.extend(str(f) for files in groups.values() for f in files)
        return real(groups, **kwargs)

    monkeypatch.setattr(engine_module, "records_sql", spy)
    engine = DuckDBEngine([good, bomb], max_file_bytes=4 << 20)
    assert [r["event_id"] for r in rows_of(engine)] == [event(1)["eventID"]]
    assert str(bomb) not in opened and str(good) in opened
    [entry] = engine.coverage(PARAMS)["not_read"]
    assert (entry["unit"], entry["count"], entry["files"]) == ("files", 1, [str(bomb)])
    assert (
        entry["reason"]
        == f"decompresses to more than the {4 << 20} bytes read from one file (LOCAL_LOG_MAX_FILE_BYTES)"
    )


def test_a_512_mib_bomb_whose_trailer_lies_stops_at_the_object_limit(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", records_text([event(1)]))
    bomb = _multi_member_bomb(tmp_path / "bomb.json.gz", 512)
    assert bomb.stat().st_size < 2 << 20
    engine = DuckDBEngine([good, bomb])
    assert [r["event_id"] for r in rows_of(engine)] == [event(1)["eventID"]]
    coverage = engine.coverage(PARAMS)
    assert coverage["files_not_read"] == 1 and coverage["not_read"][0]["files"] == [str(bomb)]
    assert "maximum_object_size" in coverage["not_read"][0]["reason"]


def test_the_file_size_cap_is_a_setting() -> None:
    from responder.query import engine_from_settings
    from responder.settings import Settings

    env = {"QUERY_ENGINE": "duckdb", "LOCAL_LOG_PATHS": "/tmp/logs", "LOCAL_LOG_MAX_FILE_BYTES": "1048576"}
    assert engine_from_settings(Settings.from_env(env)).max_file_bytes == 1 << 20  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="LOCAL_LOG_MAX_FILE_BYTES"):
        Settings.from_env({**env, "LOCAL_LOG_MAX_FILE_BYTES": "0"})


# ----------------------------------------------------------------------------- records dropped


HOSTILE_RECORDS: list[Any] = [
    event(1),
    "a string",
    5,
    None,
    [],
    {},
    event(2, when="not a time"),
    event(3, when=""),
]


def _in_form(form: str, folder: Path) -> Path:
    if form == "records":
        return write(folder / "a.json", json.dumps({"Records": HOSTILE_RECORDS}))
    if form == "array":
        return write(folder / "a.json", json.dumps(HOSTILE_RECORDS))
    return write(folder / "a.jsonl.gz", "\n".join(json.dumps(r) for r in HOSTILE_RECORDS))


@pytest.mark.parametrize("form", ["records", "array", "lines"])
def test_records_that_are_not_events_or_have_no_time_are_counted(form: str, tmp_path: Path) -> None:
    logs = _in_form(form, tmp_path / "logs")
    engine = DuckDBEngine([logs])
    assert [r["event_id"] for r in rows_of(engine)] == [event(1)["eventID"]]
    coverage = engine.coverage(PARAMS)
    counts = {n["reason"]: n["count"] for n in coverage["not_read"]}
    assert counts == {
        "not a CloudTrail record (no eventTime, eventName, eventSource or eventID)": 5,
        "eventTime missing or not a time": 2,
    }
    assert coverage["records_not_read"] == 7 and coverage["status"] != "covered"
    code, out, _ = run_cli([logs], tmp_path / "out", "--start", WINDOW["start"], "--end", WINDOW["end"])
    assert code == 0
    assert "2 records not read: eventTime missing or not a time" in out


# ------------------------------------------------------------------------------ Records not first


@pytest.mark.parametrize("padding", [0, 100, 10_000])
@pytest.mark.parametrize("name", ["a.json", "a.json.gz"])
def test_records_need_not_be_the_first_key(padding: int, name: str, tmp_path: Path) -> None:
    events = [event(n) for n in range(10)]
    wrapper = {"Digest": "x" * padding, "Other": {"Records": "not these"}, "Records": events}
    logs = write(tmp_path / name, json.dumps(wrapper))
    assert len(rows_of(DuckDBEngine([logs]))) == 10
    report = investigate([logs], KEY, start=WINDOW["start"], end=WINDOW["end"])
    assert report["events"]["total"] == 10


# ----------------------------------------------------------------------------------------- times


def test_times_with_an_offset_are_read_as_the_same_instant(tmp_path: Path) -> None:
    inside = event(1, when="2024-05-02T12:00:00+02:00")  # 10:00Z
    # 2024-05-01T01:00+02:00 is 2024-04-30T23:00Z: outside the window, though its text sorts inside it.
    outside = event(2, when="2024-05-01T01:00:00+02:00")
    fraction = event(3, when="2024-05-03T10:00:00.250Z")
    logs = write(tmp_path / "a.json", records_text([inside, outside, fraction]))
    engine = DuckDBEngine([logs])
    assert {r["event_id"]: r["event_time"] for r in rows_of(engine)} == {
        inside["eventID"]: "2024-05-02T10:00:00Z",
        fraction["eventID"]: "2024-05-03T10:00:00Z",
    }
    coverage = engine.coverage(PARAMS)
    assert (coverage["first_event"], coverage["last_event"]) == (
        "2024-05-02T10:00:00Z",
        "2024-05-03T10:00:00Z",
    )


# ---------------------------------------------------------------------------------- duplicate keys


def test_a_duplicated_key_is_read_the_same_by_the_queries_and_the_analysis(tmp_path: Path) -> None:
    read = event(
        1,
        eventName="GetObject",
        requestParameters="@DUP@",
        additionalEventData={"bytesTransferredOut": 10},
    )
    minted = event(
        2,
        eventSource="sts.amazonaws.com",
        eventName="GetSessionToken",
        readOnly=False,
        responseElements="@DUP2@",
    )
    logs = write(
        tmp_path / "a.json",
        records_text(
            [read, minted],
            {
                "@DUP@": '{"bucketName":"first-bucket","key":"k","bucketName":"second-bucket"}',
                "@DUP2@": (
                    f'{{"credentials":{{"accessKeyId":"{MINTED}","accessKeyId":"ASIASECONDVALUE00001",'
                    '"expiration":"2024-05-02T22:00:00Z"}}'
                ),
            },
        ),
    )
    engine = DuckDBEngine([logs])
    # The queries (DuckDB's JSON functions)...
    [data] = rows_of(engine, "s3_data_events")
    [mint] = rows_of(engine, "minted_credentials")
    # ...and the analysis of the same rows (Python) read the first value.
    rows = {r["event_id"]: r for r in rows_of(engine)}
    assert data["bucket"] == doc(rows[read["eventID"]], "request_parameters")["bucketName"] == "first-bucket"
    analysed = doc(rows[minted["eventID"]], "response_elements")["credentials"]["accessKeyId"]
    assert mint["minted_access_key_id"] == analysed == MINTED
    found = malformed_records(rows.values())
    assert (found["duplicate_keys"], found["unreadable"]) == (2, 0)
    marks = {r["event_id"]: r["fields"] for r in found["records"]}
    assert marks[read["eventID"]]["request_parameters"]["reason"] == (
        "duplicate key bucketName: the first value is read (as the queries read it)"
    )
    assert marks[minted["eventID"]]["response_elements"]["reason"].startswith("duplicate key accessKeyId")


# ------------------------------------------------------------------------------------- file names


@pytest.mark.parametrize("name", ["*.json.gz", "[a].json", "?.json", "{a,b}.json", "b\\*.json"])
def test_a_file_name_is_never_a_glob(name: str, tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    hostile = write(folder / name, records_text([event(1)]))
    for n, other in enumerate(["a.json", "b.json", "aa.json.gz", "x.json"], start=2):
        write(folder / other, records_text([event(n)]))
    assert len(DuckDBEngine([folder]).files_for(PARAMS)) == 5
    # The one file alone is that file, not the others its name matches as a pattern.
    engine = DuckDBEngine([hostile])
    assert [r["event_id"] for r in rows_of(engine)] == [event(1)["eventID"]]
    # The whole folder: every file read exactly once.
    assert sorted(r["event_id"] for r in rows_of(DuckDBEngine([folder]))) == sorted(
        event(n)["eventID"] for n in range(1, 6)
    )
    report = investigate([hostile], KEY, start=WINDOW["start"], end=WINDOW["end"])
    assert report["events"]["total"] == 1


# ------------------------------------------------------------------------------- the default window


def test_one_record_dated_2099_or_another_keys_later_records_do_not_move_the_window(tmp_path: Path) -> None:
    mine = [event(n, when=f"2024-05-0{n}T10:00:00Z") for n in range(1, 4)]
    forged = event(9, when="2099-01-01T00:00:00Z")
    later = event(1, when="2024-06-15T00:00:00Z", key=OTHER)
    logs = write(tmp_path / "a.json", records_text([*mine, forged, later]))
    report = investigate([logs], KEY, days=7)
    # The window ends after the key's last event (2024-05-03T10:00Z), not at the other key's or 2099.
    assert report["window"]["end"] == "2024-05-03T10:00:00Z"
    assert report["events"]["total"] == 3
    note = report["coverage"]["window_note"]
    assert "the last event of AKIAMALFORMEDLOGS001 in the logs is 2024-05-03T10:00:00Z" in note
    assert "are not believed" in note
    # A key without an event of its own: the newest event that is not in the future.
    alone = investigate([logs], "AKIAMALFORMEDNOEVENT", days=7)
    assert alone["window"]["end"] == "2024-06-15T00:00:00Z"
    assert alone["coverage"]["window_note"].startswith("AKIAMALFORMEDNOEVENT has no event in the logs")


def test_many_unreadable_files_keep_the_coverage_small(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", records_text([event(1)]))
    bad = [write(tmp_path / f"bad{n:03d}.json", '{"Records": [' + "[" * n) for n in range(1, 60)]
    coverage = DuckDBEngine([good, *bad]).coverage(PARAMS)
    assert coverage["files_not_read"] == len(bad)
    assert len(coverage["not_read"]) <= 10
    assert all(len(n["files"]) <= 5 for n in coverage["not_read"])
    assert sum(n["count"] for n in coverage["not_read"]) == len(bad)
    assert len(json.dumps(coverage)) < 10_000


@pytest.mark.parametrize(
    ("source", "name", "parameter"),
    [
        ("iam.amazonaws.com", "PutUserPolicy", "policyDocument"),
        ("iam.amazonaws.com", "UpdateAssumeRolePolicy", "policyDocument"),
        ("iam.amazonaws.com", "CreateRole", "assumeRolePolicyDocument"),
        ("s3.amazonaws.com", "PutBucketPolicy", "bucketPolicy"),
    ],
)
def test_a_deep_policy_inside_a_string_parameter_is_no_policy(
    source: str, name: str, parameter: str, tmp_path: Path
) -> None:
    # The document is shallow; the policy it carries as a string (as IAM logs it) is 3,000 deep.
    policy = nested(3000)
    call = event(
        1,
        eventSource=source,
        eventName=name,
        readOnly=False,
        requestParameters={
            "userName": "u",
            "roleName": "r",
            "bucketName": "b",
            "policyName": "p",
            parameter: policy,
        },
    )
    logs = write(tmp_path / "a.json", records_text([call]))
    code, _, err = run_cli([logs], tmp_path / "out", "--start", WINDOW["start"], "--end", WINDOW["end"])
    assert code == 0 and "Traceback" not in err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["events"]["by_name"] == {name: 1}


def test_the_cli_cap_skips_a_large_file_and_says_so(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", records_text([event(1)]))
    bomb = _honest_bomb(tmp_path / "big.json.gz", 3 << 20)
    code, out, _ = run_cli([good, bomb], tmp_path / "out", "--days", "7", "--max-file-mib", "2")
    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["coverage"]["not_read"][0]["files"] == [str(bomb)]
    assert f"1 files not read: decompresses to more than the {2 << 20} bytes read from one file" in out
    code, _, err = run_cli([good], tmp_path / "out2", "--max-file-mib", "0")
    assert code == 2 and "--max-file-mib" in err
