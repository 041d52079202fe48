"""``responder investigate``: the whole investigation on local CloudTrail logs, with DuckDB.

The same plan as the workflow (:mod:`responder.analysis.pivot`): the seven saved queries for the exposed key,
then the pivot set for every credential it minted, as a plain loop instead of Plan -> Map -> Plan.
Every check on the arguments and every scan happens before anything is written, so a bad run leaves
the output folder untouched.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from secrets import token_bytes
from typing import Any

from responder.analysis import pivot
from responder.analysis.rows import coverage_notes
from responder.bundle import write_report
from responder.encode import terminal_line
from responder.errors import InvalidInput, InvalidQueryParameter, LogsUnreadable
from responder.query import DuckDBEngine, QueryParams
from responder.query.digest import describe, load_public_keys, validate_offline
from responder.query.duckdb_engine import DEFAULT_MAX_FILE_BYTES
from responder.query.logs import file_day, select_files
from responder.query.rows import Row
from responder.query.sql import ACCESS_KEY_RE, iso
from responder.redact import keyed
from responder.report import build_report
from workstation.progress import ProgressLine as _ProgressLine

DEFAULT_DAYS = 7
MAX_DAYS = 3650
PRIMARY_QUERY = "key_activity"
# Bounds of the newest-event probe: wide enough for any real log, narrow enough for date arithmetic.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# How far ahead of this machine's clock a record's eventTime may be and still anchor the window.
FUTURE_SKEW = timedelta(minutes=15)
# How long after the key's last event the default window runs on: what its minted credentials did
# next (a federation token lives up to 36 hours).
FOLLOW = timedelta(hours=36)

#: ``progress(done, total, label)``: called after each step (a scan or a query) with what just finished.
#: ``total`` grows when a pivot adds queries for a newly found credential.
Progress = Callable[[int, int, str], None]
Results = dict[tuple[str, str], list[Row]]


@dataclass(frozen=True)
class Investigation:
    """What one offline run found: the report and every query's rows, by (access key, query name)."""

    report: dict[str, Any]
    results: Results
    window: QueryParams


def check_access_key(value: str) -> str:
    """The key, stripped; InvalidQueryParameter unless it looks like an access key id."""
    key = (value or "").strip()
    if not ACCESS_KEY_RE.fullmatch(key):
        shown = key if len(key) <= 24 else key[:21] + "..."
        raise InvalidQueryParameter(
            f"--access-key {shown!r} is not an access key id (AKIA or ASIA and 16 upper-case letters or digits)"
        )
    return key


def parse_time(value: str | datetime, option: str) -> datetime:
    """An ISO 8601 time with Z or an offset, as UTC; a naive time is refused (whose midnight?)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidQueryParameter(
                f"{option} {value!r} is not an ISO 8601 time (e.g. 2024-05-01T00:00:00Z)"
            ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidQueryParameter(
            f"{option} {value!r} has no timezone: add Z or an offset (e.g. 2024-05-01T00:00:00Z)"
        )
    return parsed.astimezone(UTC).replace(microsecond=0)


def check_window_options(
    start: str | datetime | None, end: str | datetime | None, days: int | None
) -> tuple[datetime | None, datetime | None]:
    """Validate --days / --start / --end together; the parsed start and end (None when not given)."""
    if days is not None and (start is not None or end is not None):
        raise InvalidQueryParameter("give --days or --start/--end, not both")
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS
    ):
        raise InvalidQueryParameter(f"--days must be a whole number from 1 to {MAX_DAYS}, got {days!r}")
    if (start is None) != (end is None):
        given, missing = ("--start", "--end") if end is None else ("--end", "--start")
        raise InvalidQueryParameter(f"{given} needs {missing} too (or use --days N)")
    if start is None or end is None:
        return None, None
    first, last = parse_time(start, "--start"), parse_time(end, "--end")
    if last <= first:
        raise InvalidQueryParameter(f"--end {iso(last)} must be after --start {iso(first)}")
    if last - first > timedelta(days=MAX_DAYS):
        raise InvalidQueryParameter(f"the window {iso(first)} to {iso(last)} is longer than {MAX_DAYS} days")
    if first < _EARLIEST or last > _LATEST:
        raise InvalidQueryParameter(f"the window must lie between {iso(_EARLIEST)} and {iso(_LATEST)}")
    return first, last


def log_files(paths: Sequence[str | Path]) -> list[Path]:
    """Every log file under ``paths``; LogsUnreadable when a path is missing or none holds a log."""
    if not paths:
        raise LogsUnreadable("no log path given (--logs PATH [PATH...])")
    files = select_files(paths)
    if not files:
        shown = ", ".join(str(p) for p in paths[:3]) + (", ..." if len(paths) > 3 else "")
        raise LogsUnreadable(f"no CloudTrail logs found in {shown} (.json, .json.gz, .jsonl, .jsonl.gz)")
    return files


def _as_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value, "eventTime")
    except InvalidInput:
        raise LogsUnreadable(f"an eventTime in the logs is not an ISO 8601 time: {value[:40]!r}") from None


def _last_events(
    engine: DuckDBEngine, key: str, until: datetime, follow: timedelta
) -> tuple[datetime | None, datetime | None]:
    own, newest = engine.last_activity(key, until, follow)
    return _as_time(own), _as_time(newest)


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


@dataclass(frozen=True)
class Anchor:
    """Where the default window ends, and why (the report and the CLI say so)."""

    time: datetime
    note: str


def newest_event(
    files: Sequence[Path],
    key: str,
    *,
    now: datetime | None = None,
    engine: DuckDBEngine | None = None,
    days: int = DEFAULT_DAYS,
) -> datetime | None:
    """Where the default window ends (None: no events at all); :func:`window_anchor` says why."""
    anchor = window_anchor(files, key, now=now, engine=engine, days=days)
    return anchor.time if anchor else None


def window_anchor(
    files: Sequence[Path],
    key: str,
    *,
    now: datetime | None = None,
    engine: DuckDBEngine | None = None,
    days: int = DEFAULT_DAYS,
) -> Anchor | None:
    """The end of the default window, reading as few files as it can.

    Anchored on the key's own last activity, not on the newest record of any key: one record of
    someone else's (or a forged one) must not move the window away from the key. The window ends at
    the newest event up to FOLLOW (at most half the window) after the key's last one, for what the
    credentials it minted did next; without any event of the key, at the newest event. A record
    dated after ``now`` plus FUTURE_SKEW is not believed (a clock a little ahead is). CloudTrail files a log under the day it
    delivered it, never before its events happened, so when every file follows that layout, the newest
    event is in the newest two days' folders as soon as what they hold reaches the older of those days;
    otherwise every file is read.
    """
    until = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0) + FUTURE_SKEW
    follow = min(FOLLOW, timedelta(days=days) / 2)
    reader = engine or DuckDBEngine(files)
    file_days = [file_day(f) for f in files]
    own = newest = None
    if all(d is not None for d in file_days):
        newest_day = min(max(d for d in file_days if d is not None), until.date())
        floor: date = newest_day - timedelta(days=1)
        recent = [f for f, d in zip(files, file_days, strict=True) if d is not None and floor <= d]
        if len(recent) < len(files):
            probe = DuckDBEngine(recent, max_file_bytes=reader.max_file_bytes)
            own, newest = _last_events(probe, key, until, follow)
            if own is None or own.date() < floor:
                own = newest = None
    if own is None:
        own, newest = _last_events(reader, key, until, follow)
    later = f" (records dated after {iso(until)} are not believed)"
    if own is not None and newest is not None:
        return Anchor(
            newest,
            f"the window ends at {iso(newest)}: the last event of {key} in the logs is {iso(own)}, and the "
            f"window runs on to the newest event within {_hours(follow)} after it{later}",
        )
    if newest is not None:
        return Anchor(
            newest,
            f"{key} has no event in the logs: the window ends at {iso(newest)}, the newest event{later}",
        )
    return None


def resolve_window(
    files: Sequence[Path],
    key: str,
    *,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    days: int | None = None,
    now: datetime | None = None,
    engine: DuckDBEngine | None = None,
) -> tuple[QueryParams, bool]:
    """The window to investigate, and whether finding it scanned the logs.

    --start/--end as given; otherwise ``days`` (7 by default) ending at the key's last event
    (:func:`window_anchor`).
    """
    window, anchor = _resolve(files, key, start=start, end=end, days=days, now=now, engine=engine)
    return window, anchor is not None


def _resolve(
    files: Sequence[Path],
    key: str,
    *,
    start: str | datetime | None,
    end: str | datetime | None,
    days: int | None,
    now: datetime | None,
    engine: DuckDBEngine | None,
) -> tuple[QueryParams, Anchor | None]:
    first, last = check_window_options(start, end, days)
    if first is not None and last is not None:
        return QueryParams(key, first, last), None
    reader = engine or DuckDBEngine(files)
    anchor = window_anchor(files, key, now=now, engine=reader, days=days or DEFAULT_DAYS)
    if anchor is None:
        unread = reader.coverage(QueryParams(key, _EARLIEST, _LATEST)).get("not_read") or []
        if unread:
            # Nothing at all could be read: say why, file by file, rather than "no events".
            first_bad = unread[0]
            raise LogsUnreadable(
                f"no CloudTrail event could be read: {first_bad['count']} {first_bad['unit']} not read "
                f"({first_bad['reason']}), e.g. {', '.join(first_bad['files'][:3])}"
            )
        raise LogsUnreadable("the logs hold no CloudTrail events; give the window with --start and --end")
    return QueryParams(key, anchor.time - timedelta(days=days or DEFAULT_DAYS), anchor.time), anchor


def _principal(rows: Sequence[Row]) -> dict[str, Any] | None:
    """Who the exposed key belongs to, as its own events name it (the most common value of each)."""
    if not rows:
        return None
    fields = {
        "type": "identity_type",
        "user_name": "user_name",
        "principal_id": "principal_id",
        "arn": "identity_arn",
        "account_id": "account_id",
    }
    out: dict[str, Any] = {}
    for name, column in fields.items():
        seen = Counter(str(r[column]) for r in rows if r.get(column))
        out[name] = seen.most_common(1)[0][0] if seen else None
    return out


def _run_tasks(
    engine: DuckDBEngine, batch: Sequence[pivot.PivotQuery], window: QueryParams
) -> Iterator[tuple[pivot.PivotQuery, list[Row]]]:
    """Each task's rows over the window, in batch order (one scan of the window's files per task)."""
    for task in batch:
        params = QueryParams(task.access_key_id, window.window_start, window.window_end)
        yield task, engine.run(task.name, params)


def run_investigation(
    paths: Sequence[str | Path],
    access_key_id: str,
    *,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    days: int | None = None,
    progress: Progress | None = None,
    generated_at: datetime | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    digest_public_keys: str | Path | None = None,
) -> Investigation:
    """Validate, find the window, run the plan to its end, build the report (nothing is written).

    ``max_file_bytes``: no log file larger than this (decompressed) is read; it is counted in the
    coverage's ``not_read``, as are unreadable files and records."""
    key = check_access_key(access_key_id)
    check_window_options(start, end, days)  # before touching the logs: bad dates fail fast
    # CloudTrail's public keys for the digests (log-file validation): a bad file fails here too.
    keys = load_public_keys(digest_public_keys) if digest_public_keys else None
    files = log_files(paths)
    engine = DuckDBEngine(files, max_file_bytes=max_file_bytes)  # each query prunes them to the window's days
    window, anchor = _resolve(files, key, start=start, end=end, days=days, now=generated_at, engine=engine)
    scanned = anchor is not None
    notify = progress or (lambda done, total, label: None)

    done = int(scanned)
    results: Results = {}
    # Coverage reads every file of the window first: an unreadable file fails here, before any query.
    coverage = engine.coverage(window)
    coverage["log_file_validation"] = validate_offline(paths, window.window_start, window.window_end, keys)
    # The key's events just outside the window, and the days no query opened: said, never silent.
    coverage["outside_window"] = engine.outside_window(window)
    coverage["window_note"] = (
        anchor.note if anchor is not None else "the window is the one given (--start/--end)"
    )
    done += 1
    notify(done, done + len(pivot.next_batch(key, results)), "coverage")
    # The plan is bounded (depth and credential count), and each round only adds results: it ends.
    while batch := pivot.next_batch(key, results):
        for task, rows in _run_tasks(engine, batch, window):
            results[task.key] = rows
            done += 1
            notify(done, done + len(pivot.next_batch(key, results)), f"{task.name} {task.access_key_id}")

    creds = pivot.credentials(key, results)
    derived = {
        c.access_key_id: results.get((c.access_key_id, PRIMARY_QUERY), [])
        for c in creds
        if c.access_key_id != key
    }
    primary = results.get((key, PRIMARY_QUERY), [])
    report = build_report(
        primary,
        access_key_id=key,
        window_start=window.window_start,
        window_end=window.window_end,
        principal=_principal(primary),
        coverage=coverage,
        credentials=pivot.report_credentials(key, results),
        derived_rows=derived,
        generated_at=generated_at,
        provenance=results.get((key, "key_provenance")),
    )
    report["queries"] = [
        {"access_key_id": k, "name": n, "rows": len(rows)} for (k, n), rows in sorted(results.items())
    ]
    return Investigation(report=report, results=results, window=window)


def query_path(out_dir: Path, access_key_id: str, name: str) -> Path:
    return out_dir / "queries" / access_key_id / f"{name}.jsonl"


def write_investigation(result: Investigation, out_dir: str | Path) -> list[Path]:
    """Write every query's rows (redacted JSON lines) and the report into ``out_dir``."""
    from responder.steps.query_results import rows_to_jsonl

    folder = Path(out_dir)
    written: list[Path] = []
    listing = {(q["access_key_id"], q["name"]): q for q in result.report.get("queries") or []}
    try:
        for (key, name), rows in sorted(result.results.items()):
            path = query_path(folder, key, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = rows_to_jsonl(rows)
            path.write_bytes(data)
            written.append(path)
            # The listing ties each file to the report (the workflow lists its evidence the same way).
            entry = listing.setdefault((key, name), {"access_key_id": key, "name": name, "rows": len(rows)})
            entry["path"] = path.relative_to(folder).as_posix()
            entry["sha256"] = hashlib.sha256(data).hexdigest()
        written += write_report(result.report, folder)
    except OSError as exc:
        raise InvalidInput(f"{folder}: cannot write: {exc.strerror or exc}") from exc
    return written


def check_out_dir(out_dir: str | Path) -> Path:
    """The output folder, refused early when it is a file (nothing has been scanned yet)."""
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"--out {folder}: exists and is not a folder")
    return folder


def investigate(
    paths: Sequence[str | Path],
    access_key_id: str,
    *,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    days: int | None = None,
    progress: Progress | None = None,
    out_dir: str | Path | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    digest_public_keys: str | Path | None = None,
) -> dict[str, Any]:
    """Investigate ``access_key_id`` in local CloudTrail logs; the report (report.schema.json).

    ``paths``: files or folders (``.json``/``.json.gz``, ``{"Records": [...]}`` or a bare list). The
    window: ``start``/``end`` (ISO 8601 with Z or an offset), or ``days`` (default 7) ending at the
    key's own last event in the logs (never a time in the future). With ``out_dir``, also writes ``queries/<key>/<name>.jsonl``,
    report.json and report.md there. Secrets are redacted with HMAC-SHA256 digests under a random
    per-run key (see :mod:`responder.redact`). Bad arguments and unreadable logs raise InvalidInput (or a
    subclass) before anything is written.
    """
    folder = check_out_dir(out_dir) if out_dir is not None else None
    # No deployment secret offline: redaction digests are keyed with a random key made for this run
    # and kept nowhere (a short password's plain SHA-256 could be guessed); they match within the run.
    with keyed(token_bytes(32)):
        result = run_investigation(
            paths,
            access_key_id,
            start=start,
            end=end,
            days=days,
            progress=progress,
            max_file_bytes=max_file_bytes,
            digest_public_keys=digest_public_keys,
        )
        if folder is not None:
            write_investigation(result, folder)
    return result.report


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """What the CLI prints when done: the headline, the window and its coverage (terminal-safe)."""
    cov = report["coverage"]
    lines = [
        str((report.get("summary") or {}).get("headline") or report["subject"]["access_key_id"]),
        f"window {report['window']['start']} to {report['window']['end']}; logs {cov['status']} "
        f"({cov['events_scanned']} events in the window)",
    ]
    lines += coverage_notes(cov, str(report["subject"]["access_key_id"]))
    if cov.get("log_file_validation"):
        lines.append(describe(cov["log_file_validation"]))
    return [terminal_line(line) for line in lines]


class ProgressLine(_ProgressLine):
    """Renders ``progress`` on a stream: ``[done/total] label``."""

    def __call__(self, done: int, total: int, label: str) -> None:
        self.show(f"[{done}/{total}] {label}")
