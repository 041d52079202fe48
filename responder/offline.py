"""``responder investigate``: the whole investigation on local CloudTrail logs, with DuckDB.

The same plan as the workflow (:mod:`responder.plan`): the six saved queries for the exposed key,
then the pivot set for every credential it minted, as a plain loop instead of Plan -> Map -> Plan.
Every check on the arguments and every scan happens before anything is written, so a bad run leaves
the output folder untouched.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from responder import plan
from responder.errors import InvalidInput, InvalidQueryParameter, LogsUnreadable
from responder.query import DuckDBEngine, QueryParams
from responder.query.logs import file_day, select_files
from responder.query.rows import Row
from responder.query.sql import ACCESS_KEY_RE, iso
from responder.report import build_report, write_report

DEFAULT_DAYS = 7
MAX_DAYS = 3650
PRIMARY_QUERY = "key_activity"
# Bounds of the newest-event probe: wide enough for any real log, narrow enough for date arithmetic.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)

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


def _last_event(files: Sequence[Path], key: str) -> datetime | None:
    rows = DuckDBEngine(files).run("coverage", QueryParams(key, _EARLIEST, _LATEST))
    last = rows[0].get("last_event") if rows else None
    if not isinstance(last, str) or not last:
        return None
    try:
        return parse_time(last, "eventTime")
    except InvalidInput:
        raise LogsUnreadable(
            f"the newest eventTime in the logs is not an ISO 8601 time: {last[:40]!r}"
        ) from None


def newest_event(files: Sequence[Path], key: str) -> datetime | None:
    """The newest eventTime in ``files`` (None: no events at all), reading as few files as it can.

    CloudTrail files a log under the day it delivered it, never before its events happened, so when
    every file follows that layout, the newest event is in the newest two days' folders as soon as what
    they hold reaches the older of those days; otherwise every file is read.
    """
    days = [file_day(f) for f in files]
    if all(d is not None for d in days):
        newest_day = max(d for d in days if d is not None)
        floor: date = newest_day - timedelta(days=1)
        recent = [f for f, d in zip(files, days, strict=True) if d is not None and d >= floor]
        if len(recent) < len(files):
            found = _last_event(recent, key)
            if found is not None and found.date() >= floor:
                return found
    return _last_event(files, key)


def resolve_window(
    files: Sequence[Path],
    key: str,
    *,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    days: int | None = None,
) -> tuple[QueryParams, bool]:
    """The window to investigate, and whether finding it scanned the logs.

    --start/--end as given; otherwise ``days`` (7 by default) ending at the newest event in the logs.
    """
    first, last = check_window_options(start, end, days)
    if first is not None and last is not None:
        return QueryParams(key, first, last), False
    newest = newest_event(files, key)
    if newest is None:
        raise LogsUnreadable("the logs hold no CloudTrail events; give the window with --start and --end")
    return QueryParams(key, newest - timedelta(days=days or DEFAULT_DAYS), newest), True


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
    engine: DuckDBEngine, batch: Sequence[plan.QueryTask], window: QueryParams
) -> Iterator[tuple[plan.QueryTask, list[Row]]]:
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
) -> Investigation:
    """Validate, find the window, run the plan to its end, build the report (nothing is written)."""
    key = check_access_key(access_key_id)
    check_window_options(start, end, days)  # before touching the logs: bad dates fail fast
    files = log_files(paths)
    window, scanned = resolve_window(files, key, start=start, end=end, days=days)
    engine = DuckDBEngine(files)  # found once; each query prunes them to the window's days
    notify = progress or (lambda done, total, label: None)

    done = int(scanned)
    results: Results = {}
    # Coverage reads every file of the window first: an unreadable file fails here, before any query.
    coverage = engine.coverage(window)
    done += 1
    notify(done, done + len(plan.next_batch(key, results)), "coverage")
    # The plan is bounded (depth and credential count), and each round only adds results: it ends.
    while batch := plan.next_batch(key, results):
        for task, rows in _run_tasks(engine, batch, window):
            results[task.key] = rows
            done += 1
            notify(done, done + len(plan.next_batch(key, results)), f"{task.name} {task.access_key_id}")

    creds = plan.credentials(key, results)
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
        credentials=plan.report_credentials(key, results),
        derived_rows=derived,
        generated_at=generated_at,
    )
    report["queries"] = [
        {"access_key_id": k, "name": n, "rows": len(rows)} for (k, n), rows in sorted(results.items())
    ]
    return Investigation(report=report, results=results, window=window)


def query_path(out_dir: Path, access_key_id: str, name: str) -> Path:
    return out_dir / "queries" / access_key_id / f"{name}.jsonl"


def write_investigation(result: Investigation, out_dir: str | Path) -> list[Path]:
    """Write every query's rows (redacted JSON lines) and the report into ``out_dir``."""
    from responder.investigation import rows_to_jsonl  # the workflow's own redacted form

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
) -> dict[str, Any]:
    """Investigate ``access_key_id`` in local CloudTrail logs; the report (report.schema.json).

    ``paths``: files or folders (``.json``/``.json.gz``, ``{"Records": [...]}`` or a bare list). The
    window: ``start``/``end`` (ISO 8601 with Z or an offset), or ``days`` (default 7) ending at the
    newest event in the logs. With ``out_dir``, also writes ``queries/<key>/<name>.jsonl``,
    report.json and report.md there. Bad arguments and unreadable logs raise InvalidInput (or a
    subclass) before anything is written.
    """
    folder = check_out_dir(out_dir) if out_dir is not None else None
    result = run_investigation(paths, access_key_id, start=start, end=end, days=days, progress=progress)
    if folder is not None:
        write_investigation(result, folder)
    return result.report


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """What the CLI prints when done: the headline, the window and its coverage."""
    cov = report["coverage"]
    return [
        str((report.get("summary") or {}).get("headline") or report["subject"]["access_key_id"]),
        f"window {report['window']['start']} to {report['window']['end']}; logs {cov['status']} "
        f"({cov['events_scanned']} events in the window)",
    ]


class ProgressLine:
    """Renders ``progress`` on a stream: one updating line on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None, width: int | None = None):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.width = width or shutil.get_terminal_size((100, 20)).columns
        self._drawn = False

    def __call__(self, done: int, total: int, label: str) -> None:
        text = f"[{done}/{total}] {label}"
        if self.tty:
            self.stream.write("\r\x1b[K" + text[: max(self.width - 1, 10)])
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the updating line (before an error or the final output)."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
