"""`responder investigate`: the whole investigation on local CloudTrail logs, per the CLI contract."""

from __future__ import annotations

import gzip
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import REPO, shared_fixture_path
from workstation.cli import main
from workstation.demo import LogSet, default_scenario, generate_logs
from workstation.offline import ProgressLine, investigate, newest_event

SCHEMA = json.loads((REPO / "responder" / "schemas" / "report.schema.json").read_text())
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
STRATUS_KEY = "AKIA6V1GNZTT65XQH36M"
STRATUS_MINTED = "ASIASTJKC5GCM7ZE6LUP"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    dir: Path

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.dir / "report.json").read_text())
        return data


def run_cli(out_dir: Path, *args: str) -> Run:
    """`responder investigate ... --out out_dir`, with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        mp.setattr("sys.stderr", err)
        code = main(["investigate", *args, "--out", str(out_dir)])
    return Run(code, out.getvalue(), err.getvalue(), out_dir)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def records(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:
        data = json.load(fh)
    return list(data["Records"] if isinstance(data, dict) else data)


@pytest.fixture(scope="module")
def logset(tmp_path_factory: pytest.TempPathFactory) -> LogSet:
    return generate_logs(default_scenario(NOW), tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def demo_run(logset: LogSet, tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = run_cli(
        tmp_path_factory.mktemp("out") / "report",
        "--logs",
        str(logset.root),
        "--access-key",
        logset.exposed_key_id,
    )
    assert run.code == 0, run.err
    return run


# ------------------------------------------------------------------------------ the demo incident


def test_the_minted_session_and_the_backdoor_key_are_followed(demo_run: Run, logset: LogSet) -> None:
    creds = {c["access_key_id"]: c for c in demo_run.report["credentials"]}
    session = creds[logset.session_key_id]
    assert (session["relation"], session["parent"], session["via"]) == (
        "derived",
        logset.exposed_key_id,
        "GetSessionToken",
    )
    assert session["event_count"] > 0
    backdoor = creds[logset.backdoor_key_id]
    assert (backdoor["relation"], backdoor["parent"]) == ("created", logset.exposed_key_id)
    assert creds[logset.exposed_key_id]["relation"] == "exposed"
    # Every credential the plan followed has its queries on disk.
    for key in (logset.exposed_key_id, logset.session_key_id, logset.backdoor_key_id):
        assert (demo_run.dir / "queries" / key / "key_activity.jsonl").is_file()
    assert (demo_run.dir / "queries" / logset.exposed_key_id / "same_ip_credentials.jsonl").is_file()


def test_the_bucket_policy_backdoor_made_by_the_session_is_reported(demo_run: Run, logset: LogSet) -> None:
    scenario = default_scenario(NOW)
    changes = [c for c in demo_run.report["bucket_policy_changes"] if c["bucket"] == scenario.victim_bucket]
    backdoors = [c for c in changes if c["grants_external"]]
    assert backdoors, changes
    assert scenario.attacker_root_arn in backdoors[0]["external_principals"]
    # The exposed key never calls PutBucketPolicy itself: only the pivot to its session finds it.
    assert backdoors[0]["access_key_id"] == logset.session_key_id


def test_data_access_lists_the_victim_reads_with_bytes(demo_run: Run, logset: LogSet) -> None:
    victim = default_scenario(NOW).victim_bucket
    reads = [
        a for a in demo_run.report["data_access"] if a["bucket"] == victim and a["event_name"] == "GetObject"
    ]
    assert {a["object_key"] for a in reads} >= set(logset.objects_read)
    ours = {logset.exposed_key_id, logset.session_key_id}
    logged = sum(
        int(r["additionalEventData"]["bytesTransferredOut"])
        for f in logset.files
        for r in records(f)
        if r["eventName"] == "GetObject"
        and r["userIdentity"].get("accessKeyId") in ours
        and r["eventTime"] >= demo_run.report["window"]["start"]
    )
    assert sum(a["bytes_out"] for a in reads) == logged > 0
    assert all(a["bytes_out"] > 0 for a in reads)


def test_no_session_token_reaches_the_output_folder(demo_run: Run, logset: LogSet) -> None:
    assert logset.session_tokens
    files = [f for f in demo_run.dir.rglob("*") if f.is_file()]
    assert len(files) >= 16
    for f in files:
        text = f.read_text(encoding="utf-8")
        leaked = [t for t in logset.session_tokens if t in text]
        assert not leaked, f"{f} holds a session token"
    rows = (demo_run.dir / "queries" / logset.exposed_key_id / "key_activity.jsonl").read_text()
    # The tokens were there and were replaced, not lost silently; keyed with a per-run random key.
    assert "<redacted hmac-sha256:" in rows and "<redacted sha256:" not in rows


def test_report_validates_and_lists_its_query_files(demo_run: Run, logset: LogSet) -> None:
    report = demo_run.report
    jsonschema.validate(report, SCHEMA)
    assert report["subject"]["access_key_id"] == logset.exposed_key_id
    assert report["subject"]["principal"]["user_name"] == default_scenario(NOW).user_name
    assert (demo_run.dir / "report.md").read_text().startswith(f"# Exposed key {logset.exposed_key_id}")
    for entry in report["queries"]:
        path = demo_run.dir / entry["path"]
        assert path.is_file()
        assert len(path.read_text().splitlines()) == entry["rows"]
    # stdout says what was found and where; stderr only carried progress lines.
    assert logset.exposed_key_id in demo_run.out
    assert "report.md" in demo_run.out
    assert "Traceback" not in demo_run.err
    assert f"key_activity {logset.session_key_id}" in demo_run.err


# ------------------------------------------------------------------------------------- the window


def test_window_defaults_to_seven_days_ending_after_the_keys_last_event(
    demo_run: Run, logset: LogSet
) -> None:
    # Anchored on the key's own last call, then on to the newest event within 36 h (what its minted
    # credentials did next): here the end of the logs.
    own = [
        r
        for f in logset.files
        for r in records(f)
        if r["userIdentity"].get("accessKeyId") == logset.exposed_key_id
    ]
    last_own = max(r["eventTime"] for r in own)
    end = logset.last_event_time
    assert demo_run.report["window"] == {"start": iso(end - timedelta(days=7)), "end": iso(end)}
    assert demo_run.report["coverage"]["last_event"] == iso(end)
    note = demo_run.report["coverage"]["window_note"]
    assert note.startswith(
        f"the window ends at {iso(end)}: the last event of {logset.exposed_key_id} in the logs is {last_own}"
    )
    assert note in demo_run.out


def test_days_and_explicit_windows(tmp_path: Path) -> None:
    fixture = shared_fixture_path(
        "cloudtrail", "stratus-red-team", "aws.persistence.sts-federation-token.json"
    )
    newest = max(r["eventTime"] for r in records(fixture))
    base = ["--logs", str(fixture), "--access-key", STRATUS_KEY]

    days = run_cli(tmp_path / "days", *base, "--days", "2")
    assert days.code == 0, days.err
    end = datetime.fromisoformat(newest.replace("Z", "+00:00"))
    assert days.report["window"] == {"start": iso(end - timedelta(days=2)), "end": newest}

    explicit = run_cli(
        tmp_path / "explicit", *base, "--start", "2024-11-30T10:00:00+02:00", "--end", "2024-11-30T09:00:00Z"
    )
    assert explicit.code == 0, explicit.err
    assert explicit.report["window"] == {"start": "2024-11-30T08:00:00Z", "end": "2024-11-30T09:00:00Z"}


def test_newest_event_reads_older_days_when_the_newest_folder_holds_late_logs(tmp_path: Path) -> None:
    def put(day: str, event_time: str) -> None:
        folder = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / day
        folder.mkdir(parents=True)
        record = {"eventTime": event_time, "eventName": "ListBuckets", "eventID": event_time}
        (folder / "f.json").write_text(json.dumps({"Records": [record]}))

    put("2025/01/10", "2025-01-10T23:50:00Z")
    # A file in the newest folder whose events are old (a late re-delivery) proves nothing alone.
    put("2025/01/12", "2025-01-05T00:00:00Z")
    files = sorted(tmp_path.rglob("*.json"))
    assert newest_event(files, STRATUS_KEY) == datetime(2025, 1, 10, 23, 50, tzinfo=UTC)


def test_no_data_in_the_window_is_not_no_activity(logset: LogSet, tmp_path: Path) -> None:
    before = logset.first_event_time - timedelta(days=30)
    run = run_cli(
        tmp_path / "out",
        "--logs",
        str(logset.root),
        "--access-key",
        logset.exposed_key_id,
        "--start",
        iso(before - timedelta(days=1)),
        "--end",
        iso(before),
    )
    assert run.code == 0, run.err
    report = run.report
    assert report["coverage"]["status"] == "no_data"
    assert report["coverage"]["events_scanned"] == 0
    assert report["events"]["total"] == 0
    markdown = (run.dir / "report.md").read_text()
    assert "do not cover the window" in markdown
    assert "No activity" not in markdown
    assert "logs no_data" in run.out


# ------------------------------------------------------------------------------ other log forms


def test_stratus_federation_token_is_followed(tmp_path: Path) -> None:
    fixture = shared_fixture_path(
        "cloudtrail", "stratus-red-team", "aws.persistence.sts-federation-token.json"
    )
    run = run_cli(tmp_path / "out", "--logs", str(fixture), "--access-key", STRATUS_KEY)
    assert run.code == 0, run.err
    jsonschema.validate(run.report, SCHEMA)
    creds = {c["access_key_id"]: c for c in run.report["credentials"]}
    minted = creds[STRATUS_MINTED]
    assert (minted["relation"], minted["parent"], minted["via"]) == (
        "derived",
        STRATUS_KEY,
        "GetFederationToken",
    )
    assert run.report["events"]["by_credential"][STRATUS_MINTED] >= 1


def test_a_bare_list_file_works(logset: LogSet, tmp_path: Path) -> None:
    last_day = f"{logset.last_event_time:%Y/%m/%d}"
    events = [r for f in logset.files if last_day in f.as_posix() for r in records(f)]
    bare = tmp_path / "events.json"
    bare.write_text(json.dumps(events))
    report = investigate([bare], logset.exposed_key_id, out_dir=tmp_path / "out")
    assert report["window"]["end"] == iso(logset.last_event_time)
    relations = {c["access_key_id"]: c["relation"] for c in report["credentials"]}
    assert relations[logset.session_key_id] == "derived"
    assert (tmp_path / "out" / "report.json").is_file()


# --------------------------------------------------------------------------------------- exit 2


def _bad_logs(tmp: Path, kind: str) -> Path:
    if kind == "not json":
        (tmp / "bad.json").write_text("this is not a CloudTrail log\n")
    elif kind == "broken json":
        (tmp / "bad.json").write_text('{"Records": [{"eventTime": "2025-01-01T00:00:00Z", ')
    elif kind == "broken gzip":
        (tmp / "bad.json.gz").write_bytes(gzip.compress(b'{"Records": []}')[:12])
    elif kind == "no logs":
        (tmp / "notes.txt").write_text("nothing here")
    elif kind == "missing":
        return tmp / "nowhere"
    return tmp


@pytest.mark.parametrize("kind", ["not json", "broken json", "broken gzip", "no logs", "missing"])
def test_unreadable_logs_exit_2(kind: str, logset: LogSet, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    run = run_cli(
        tmp_path / "out", "--logs", str(_bad_logs(logs, kind)), "--access-key", logset.exposed_key_id
    )
    assert_exit_2(run)
    if kind == "no logs":
        assert "no CloudTrail logs found" in run.err


def test_an_unreadable_file_among_good_ones_is_skipped_and_counted(tmp_path: Path) -> None:
    # One file an attacker can write must not stop the investigation of the others: it is skipped,
    # named in the coverage, and the coverage is no longer "covered".
    good = shared_fixture_path("cloudtrail", "stratus-red-team", "aws.persistence.sts-federation-token.json")
    bad = _bad_logs(tmp_path, "broken json") / "bad.json"
    run = run_cli(tmp_path / "out", "--logs", str(good), str(bad), "--access-key", STRATUS_KEY)
    assert run.code == 0, run.err
    coverage = run.report["coverage"]
    [entry] = coverage["not_read"]
    assert (entry["unit"], entry["count"], entry["files"]) == ("files", 1, [str(bad)])
    assert coverage["files_not_read"] == 1 and coverage["status"] == "partial"
    assert f"1 files not read: {entry['reason']}" in run.out
    assert "1 files not read" in (run.dir / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--access-key", "AKIA-not-a-key"], "not an access key id"),
        (["--access-key", "akiaabcdefghijklmnop"], "not an access key id"),
        (["--start", "yesterday", "--end", "2025-03-01T00:00:00Z"], "not an ISO 8601 time"),
        (["--start", "2025-02-01T00:00:00", "--end", "2025-03-01T00:00:00Z"], "no timezone"),
        (["--start", "2025-03-01T00:00:00Z", "--end", "2025-03-01T00:00:00Z"], "must be after"),
        (["--start", "2025-03-02T00:00:00Z", "--end", "2025-03-01T00:00:00Z"], "must be after"),
        (["--start", "2025-03-01T00:00:00Z"], "needs --end"),
        (["--end", "2025-03-01T00:00:00Z"], "needs --start"),
        (["--days", "3", "--start", "2025-02-01T00:00:00Z", "--end", "2025-03-01T00:00:00Z"], "not both"),
        (["--days", "0"], "from 1 to 3650"),
        (["--days", "-2"], "from 1 to 3650"),
        (["--days", "3651"], "from 1 to 3650"),
        (["--days", "seven"], "invalid int"),
        (["--start", "1900-01-01T00:00:00Z", "--end", "2025-03-01T00:00:00Z"], "longer than 3650 days"),
    ],
)
def test_bad_arguments_exit_2(args: list[str], says: str, logset: LogSet, tmp_path: Path) -> None:
    if "--access-key" not in args:
        args = [*args, "--access-key", logset.exposed_key_id]
    run = run_cli(tmp_path / "out", "--logs", str(logset.root), *args)
    assert_exit_2(run)
    assert says in run.err


def test_missing_required_arguments_exit_2(tmp_path: Path) -> None:
    run = run_cli(tmp_path / "out", "--access-key", STRATUS_KEY)
    assert_exit_2(run)
    assert "--logs" in run.err


def test_an_out_folder_that_is_a_file_exits_2(tmp_path: Path) -> None:
    fixture = shared_fixture_path(
        "cloudtrail", "stratus-red-team", "aws.persistence.sts-federation-token.json"
    )
    taken = tmp_path / "taken"
    taken.write_text("mine")
    run = run_cli(taken, "--logs", str(fixture), "--access-key", STRATUS_KEY)
    assert run.code == 2
    assert len(run.err.strip().splitlines()) == 1 and "not a folder" in run.err
    assert taken.read_text() == "mine"


def assert_exit_2(run: Run) -> None:
    assert run.code == 2, (run.out, run.err)
    assert "Traceback" not in run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("responder: ")
    assert not run.dir.exists(), "nothing may be written on a failed run"


# ------------------------------------------------------------------------------------- progress


def test_progress_is_one_updating_line_on_a_terminal() -> None:
    stream = io.StringIO()
    line = ProgressLine(stream, tty=True, width=40)
    line(1, 7, "coverage")
    line(3, 10, "key_activity AKIAZPIBNMMVRQKPTKA6 and a label far too long for the terminal")
    line.clear()
    text = stream.getvalue()
    assert "\n" not in text
    assert "\r\x1b[K[3/10] key_activity AKIA" in text
    assert all(len(part) <= 40 for part in text.split("\r\x1b[K"))
    assert text.endswith("\r\x1b[K")


def test_progress_is_plain_lines_elsewhere() -> None:
    stream = io.StringIO()
    line = ProgressLine(stream, tty=False)
    line(1, 7, "coverage")
    line(2, 7, "key_activity AKIAZPIBNMMVRQKPTKA6")
    line.clear()
    assert stream.getvalue() == "[1/7] coverage\n[2/7] key_activity AKIAZPIBNMMVRQKPTKA6\n"


# ------------------------------------------------------------------------ Security Lake's files


def _without_run_specifics(value: Any) -> Any:
    """A report without what differs between two runs over the same events: the time it was made,
    where the logs were, how many CloudTrail files were checked against digests (Security Lake's
    Parquet files carry none), the per-run redaction key's digests and the run's clock in the window
    note."""
    if isinstance(value, dict):
        return {
            k: (
                "<digest>"
                if k == "hmac_sha256"
                else re.sub(r"dated after \S+ are", "dated after <now> are", v)
                if k == "window_note"
                else _without_layout(v)
                if k == "outside_window"
                else _without_run_specifics(v)
            )
            for k, v in value.items()
            if k not in ("generated_at", "source", "log_files", "sha256")
        }
    if isinstance(value, list):
        return [_without_run_specifics(v) for v in value]
    return value


def _without_layout(outside: dict[str, Any]) -> dict[str, Any]:
    """outside_window without its file counts: Security Lake's layout holds the same events in other files."""
    return {
        k: {i: j for i, j in v.items() if i != "files"}
        if isinstance(v, dict) and k != "days_not_opened"
        else v
        for k, v in outside.items()
        if k != "files_not_opened"
    }


def test_security_lake_parquet_gives_the_same_report_as_the_cloudtrail_json(
    logset: LogSet, tmp_path: Path
) -> None:
    from responder.query.logs import select_files
    from workstation.demo.ocsf import write_security_lake

    events = [r for f in select_files([logset.root]) for r in records(f)]
    files = write_security_lake(events, tmp_path / "lake")
    assert {f.relative_to(tmp_path / "lake").parts[0] for f in files} == {
        "cloud_trail_mgmt_2_0",
        "s3_data_2_0",
    }
    cloudtrail = investigate([logset.root], logset.exposed_key_id, out_dir=tmp_path / "from-json")
    lake = investigate([tmp_path / "lake"], logset.exposed_key_id, out_dir=tmp_path / "from-lake")
    assert cloudtrail["events"]["total"] > 50 and cloudtrail["findings"]
    assert _without_run_specifics(lake) == _without_run_specifics(cloudtrail)
    assert lake["coverage"]["log_file_validation"]["log_files"]["total"] == 0
    for name in ("report.md", "report.html"):
        assert (tmp_path / "from-lake" / name).is_file()


# ------------------------------------------------------------------------------ provenance

CREATED_KEY = "AKIAQUIETKEY00000001"
CONSOLE_SESSION = "ASIACONSOLESESSION01"
HOSTILE_AGENT = "Mozilla/5.0 <img src=x onerror=alert(1)> [click](http://evil.example)"


def _record(name: str, when: str, identity: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventID": f"{name}-{when}",
        "eventTime": when,
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.23",
        "userAgent": HOSTILE_AGENT,
        "recipientAccountId": "111122223333",
        "userIdentity": identity,
        **extra,
    }


def test_a_key_that_made_no_call_still_shows_who_created_it(tmp_path: Path) -> None:
    """Created from a console session and never used in the logs: not "No activity" but its creator."""
    console = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/Admin/mallory",
        "accessKeyId": CONSOLE_SESSION,
        "sessionContext": {"attributes": {"mfaAuthenticated": "false"}},
    }
    records = [
        _record("ListUsers", "2025-02-20T09:00:00Z", console),
        _record(
            "CreateAccessKey",
            "2025-02-20T09:01:00Z",
            console,
            requestParameters={"userName": "svc-backup"},
            responseElements={
                "accessKey": {
                    "accessKeyId": CREATED_KEY,
                    "status": "Active",
                    "userName": "svc-backup",
                    "createDate": "Feb 20, 2025 9:01:00 AM",
                }
            },
        ),
        # A failed creation naming the key (a forged or garbled record) is not provenance.
        _record(
            "CreateAccessKey",
            "2025-02-20T09:02:00Z",
            console,
            errorCode="LimitExceeded",
            responseElements={"accessKey": {"accessKeyId": CREATED_KEY}},
        ),
    ]
    folder = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2025" / "02" / "20"
    folder.mkdir(parents=True)
    (folder / "a.json.gz").write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    run = run_cli(tmp_path / "out", "--logs", str(tmp_path / "AWSLogs"), "--access-key", CREATED_KEY)
    assert run.code == 0, run.err
    report = run.report
    jsonschema.validate(report, SCHEMA)
    origin = report["provenance"]
    assert origin["found"] and origin["looked_up"] and origin["other_calls"] == 0
    assert (origin["event_name"], origin["event_time"], origin["created_for"]) == (
        "CreateAccessKey",
        "2025-02-20T09:01:00Z",
        "svc-backup",
    )
    assert (origin["creator_arn"], origin["creator_access_key_id"], origin["source_ip"]) == (
        console["arn"],
        CONSOLE_SESSION,
        "198.51.100.23",
    )
    exposed = next(c for c in report["credentials"] if c["relation"] == "exposed")
    assert (exposed["via"], exposed["minted_for"], exposed["minted_by"]) == (
        "CreateAccessKey",
        "svc-backup",
        console["arn"],
    )
    happened = report["summary"]["what_happened"]
    assert "No activity" not in happened and f"No call by {CREATED_KEY} itself" in happened
    assert "CreateAccessKey at 2025-02-20T09:01:00Z for svc-backup" in happened and console["arn"] in happened
    steps = report["summary"]["next_steps"]
    assert any(f"responder investigate --access-key {CONSOLE_SESSION}" in s for s in steps), steps
    markdown = (run.dir / "report.md").read_text()
    assert f"Where `{CREATED_KEY}` came from" in markdown or f"Where {CREATED_KEY} came from" in markdown
    assert "<img" not in markdown and "](http://evil" not in markdown
    page = (run.dir / "report.html").read_text()
    assert 'id="provenance"' in page and "<img src=x" not in page and "&lt;img src=x" in page


def test_a_key_created_before_the_window_says_where_to_look(tmp_path: Path) -> None:
    records = [
        _record(
            "ListUsers", "2025-02-20T09:00:00Z", {"type": "IAMUser", "accessKeyId": "AKIAOTHER00000000001"}
        )
    ]
    folder = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2025" / "02" / "20"
    folder.mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps({"Records": records}))
    run = run_cli(tmp_path / "out", "--logs", str(tmp_path / "AWSLogs"), "--access-key", CREATED_KEY)
    assert run.code == 0, run.err
    origin = run.report["provenance"]
    assert (origin["found"], origin["looked_up"]) == (False, True)
    assert "created before" in origin["note"]
    assert any(
        s.startswith(f"Find where {CREATED_KEY} came from") for s in run.report["summary"]["next_steps"]
    )


def test_the_keys_events_outside_the_window_are_counted_and_the_days_not_opened_named(tmp_path: Path) -> None:
    key = "AKIAOUTSIDE000000001"
    identity = {"type": "IAMUser", "accessKeyId": key, "arn": "arn:aws:iam::111122223333:user/dev"}

    def put(day: str, *times: str) -> None:
        folder = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / day
        folder.mkdir(parents=True, exist_ok=True)
        recs = [_record("ListUsers", t, identity) for t in times]
        (folder / f"{len(list(folder.iterdir()))}.json").write_text(json.dumps({"Records": recs}))

    put("2024/02/20", "2024-02-20T10:00:00Z")  # a day no query opens
    put("2024/03/02", "2024-03-02T22:00:00Z", "2024-03-02T23:00:00Z")  # the margin day before: counted
    put("2024/03/03", "2024-03-03T08:00:00Z", "2024-03-03T09:00:00Z")  # the window
    put("2024/03/04", "2024-03-04T13:00:00Z")  # the margin day after: counted
    put("2024/03/20", "2024-03-20T10:00:00Z")  # not opened
    args = ["--logs", str(tmp_path / "AWSLogs"), "--access-key", key]
    run = run_cli(tmp_path / "out", *args, "--start", "2024-03-03T00:00:00Z", "--end", "2024-03-04T00:00:00Z")
    assert run.code == 0, run.err
    report = run.report
    jsonschema.validate(report, SCHEMA)
    assert report["events"]["total"] == 2
    outside = report["coverage"]["outside_window"]
    assert (outside["events_before"], outside["events_after"], outside["files_not_opened"]) == (2, 1, 2)
    assert (outside["before"]["first_event"], outside["before"]["last_event"]) == (
        "2024-03-02T22:00:00Z",
        "2024-03-02T23:00:00Z",
    )
    assert outside["after"]["first_event"] == "2024-03-04T13:00:00Z"
    assert outside["days_not_opened"] == {
        "before": ["2024-02-20", "2024-02-20"],
        "after": ["2024-03-20", "2024-03-20"],
    }
    markdown = (run.dir / "report.md").read_text()
    assert "2 event(s) of AKIAOUTSIDE000000001 fall before the window" in markdown
    assert "2 log file(s) outside the window were not opened (2024-02-20 to 2024-02-20 before it" in markdown
    assert "fall before the window" in run.out  # the CLI says so too
    steps = report["summary"]["next_steps"]
    assert any(
        f"--access-key {key} --start 2024-02-20T00:00:00Z --end 2024-03-04T00:00:00Z" in s for s in steps
    ), steps
    assert any("1 event(s) after the window" in s for s in steps), steps
    # A window that holds all of the key's events in its files says nothing of the kind.
    wide = run_cli(
        tmp_path / "wide", *args, "--start", "2024-02-01T00:00:00Z", "--end", "2024-04-01T00:00:00Z"
    )
    assert wide.code == 0, wide.err
    assert wide.report["coverage"]["outside_window"]["events_before"] == 0
    assert wide.report["coverage"]["outside_window"]["files_not_opened"] == 0
    assert not any("before the window" in s for s in wide.report["summary"]["next_steps"])
