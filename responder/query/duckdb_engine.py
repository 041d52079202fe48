"""DuckDB over local CloudTrail files: offline investigation, tests and the local demo.

The files of a window (CloudTrail-layout days outside it are never opened) are read once, with
``read_json`` and an explicit schema of just the fields the row contract needs (CloudTrail's fields vary
wildly between events; the documents stay JSON), into two in-memory tables: ``base``, a few columns of
every event of the window (what coverage and same_ip_credentials read), and ``wide``, every row-contract
column of the events of the keys asked about (what the other queries read: they filter on their key)
and of every call that minted a credential (CREDENTIAL_EVENTS, few: key_provenance finds a key's
creator by the key in the response, whoever made the call).
A key asked about later (a credential the exposed key minted) is added to ``wide`` by reading again only
the files that hold its events. Each saved query runs on the table it provably needs (``classify``).
Values are bound (``$name``), never pasted. Whoever can write the trail bucket writes these files,
so reading is bounded and nothing is lost silently: a file over ``max_file_bytes`` decompressed, a file
DuckDB cannot read, a record that is not an event or has no valid time is left out and counted in
``coverage()["not_read"]``; ``eventTime`` is compared as a time; a file name is never a glob pattern. ``start()`` runs the query at once; its rows wait in memory
under the query id (the local runner is one process). Speed and memory are measured by
``python -m bench`` (bench/RESULTS.md)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

import duckdb
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from responder.errors import InvalidQueryParameter, LogsUnreadable, QueryFailed, QueryStillRunning
from responder.query.base import COVERAGE_SLACK, Params, PollingEngine, QueryStatus, require_finished
from responder.query.logs import FileForm, file_day, file_form, select_files
from responder.query.rows import Row, normalize_rows
from responder.query.sql import CREDENTIAL_EVENTS, QueryParams, check_name, parse, security_lake_projection

# The fields read from each record (names as CloudTrail spells them), as a json_transform structure:
# missing keys become NULL, extra keys are ignored, JSON documents stay JSON text.
RECORD_STRUCTURE: dict[str, Any] = {
    "eventID": "VARCHAR",
    "eventTime": "VARCHAR",
    "eventSource": "VARCHAR",
    "eventName": "VARCHAR",
    "awsRegion": "VARCHAR",
    "sourceIPAddress": "VARCHAR",
    "userAgent": "VARCHAR",
    "errorCode": "VARCHAR",
    "errorMessage": "VARCHAR",
    "userIdentity": {
        "type": "VARCHAR",
        "principalId": "VARCHAR",
        "arn": "VARCHAR",
        "accountId": "VARCHAR",
        "accessKeyId": "VARCHAR",
        "userName": "VARCHAR",
        "sessionContext": {"sessionIssuer": {"userName": "VARCHAR"}},
    },
    "recipientAccountId": "VARCHAR",
    "readOnly": "VARCHAR",
    "eventType": "VARCHAR",
    "requestParameters": "JSON",
    "responseElements": "JSON",
    "resources": "JSON",
    "additionalEventData": "JSON",
}


def _sql_type(structure: Any) -> str:
    if isinstance(structure, dict):
        return "STRUCT(" + ", ".join(f'"{k}" {_sql_type(v)}' for k, v in structure.items()) + ")"
    return str(structure)


_RECORD_STRUCT = _sql_type(RECORD_STRUCTURE)
_STRUCTURE_JSON = json.dumps(RECORD_STRUCTURE, separators=(",", ":"))
_MIN_OBJECT = 16 << 20  # DuckDB's default maximum_object_size
#: The largest file read, decompressed (``LOCAL_LOG_MAX_FILE_BYTES``): CloudTrail's own files are a few
#: MB; a larger one (a gzip bomb: 512 MiB from 500 KB) is skipped and reported, never read whole.
DEFAULT_MAX_FILE_BYTES = 256 << 20


def declared_size(f: Path) -> int:
    """A file's size as read: a .gz's uncompressed size is its last four bytes (ISIZE, modulo 4 GiB).

    The trailer is the writer's word: a file that lies about it still cannot pass the cap, because
    ``maximum_object_size`` (sized from these, at most the cap) stops DuckDB at the real size."""
    try:
        if f.name.endswith(".gz"):
            with f.open("rb") as fh:
                fh.seek(-4, 2)
                return int.from_bytes(fh.read(4), "little")
        return f.stat().st_size
    except OSError:
        return 0


def _object_size(files: Sequence[Path], cap: int = DEFAULT_MAX_FILE_BYTES) -> int:
    """A maximum_object_size that fits the largest file (a Records file is one JSON object), within the cap.

    DuckDB allocates buffers of this size per thread, so it is sized to the data, not set huge.
    """
    largest = min(max((declared_size(f) for f in files), default=0), cap)
    return max(_MIN_OBJECT, 1 << (largest + 1024).bit_length())


# The logical `events` table (row contract) over the unnested records `r`.
# eventTime as a time (an offset such as +02:00 is the same instant), rendered UTC ...Z: the saved
# queries compare it with the window's bounds as text, which orders correctly only in one form.
_EVENT_TIME = "strftime(timezone('UTC', try_cast(r.eventTime AS TIMESTAMPTZ)), '%Y-%m-%dT%H:%M:%SZ')"
_PROJECTION = f"""
    r.eventID AS event_id,
    {_EVENT_TIME} AS event_time,
    r.eventSource AS event_source,
    r.eventName AS event_name,
    r.awsRegion AS aws_region,
    r.sourceIPAddress AS source_ip,
    r.userAgent AS user_agent,
    r.errorCode AS error_code,
    r.errorMessage AS error_message,
    r.userIdentity."type" AS identity_type,
    r.userIdentity.principalId AS principal_id,
    coalesce(r.userIdentity.userName, r.userIdentity.sessionContext.sessionIssuer.userName) AS user_name,
    r.userIdentity.arn AS identity_arn,
    r.userIdentity.accessKeyId AS access_key_id,
    r.recipientAccountId AS account_id,
    r.readOnly AS read_only,
    r.eventType AS event_type,
    CAST(r.requestParameters AS VARCHAR) AS request_parameters,
    CAST(r.responseElements AS VARCHAR) AS response_elements,
    CAST(r.resources AS VARCHAR) AS resources,
    CAST(r.additionalEventData AS VARCHAR) AS additional_event_data
"""

# The calls that mint a credential, as the $credential_events list the staging queries bind.
_CREDENTIAL_EVENTS = sorted(CREDENTIAL_EVENTS)

_RESULTS: OrderedDict[str, tuple[QueryStatus, list[Row]]] = OrderedDict()
_RESULTS_LOCK = threading.Lock()
_KEEP = 256


def _literal(value: str) -> str:
    if "\x00" in value:
        raise LogsUnreadable(f"{value!r}: NUL in a path")
    return "'" + value.replace("'", "''") + "'"


def _file_list(files: Sequence[Path]) -> str:
    return "[" + ", ".join(_literal(str(f)) for f in files) + "]"


def _read_json(files: Sequence[Path], fmt: str, columns: dict[str, str], cap: int) -> str:
    cols = "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in columns.items()) + "}"
    return (
        f"read_json({_file_list(files)}, format='{fmt}', records=true, columns={cols}, "
        f"filename=true, maximum_object_size={_object_size(files, cap)})"
    )


_COLUMNS = {k: _sql_type(v) for k, v in RECORD_STRUCTURE.items()}


# Security Lake's OCSF Parquet files: the Security Lake engine's own OCSF-to-row projection
# (responder/query/sql.py, Trino), transpiled, then packed back into the record struct every other
# form gives, so the loading, the window, coverage and the queries are the same for every file form.
_PACKED_FIELDS: dict[str, str] = {
    "eventID": "event_id",
    "eventTime": "event_time",
    "eventSource": "event_source",
    "eventName": "event_name",
    "awsRegion": "aws_region",
    "sourceIPAddress": "source_ip",
    "userAgent": "user_agent",
    "errorCode": "error_code",
    "errorMessage": "error_message",
    "recipientAccountId": "account_id",
    "readOnly": "read_only",
    "eventType": "event_type",
}
_PACKED_DOCUMENTS: dict[str, str] = {
    "requestParameters": "request_parameters",
    "responseElements": "response_elements",
    "resources": "resources",
    "additionalEventData": "additional_event_data",
}


def _as_json(column: str) -> str:
    # OCSF keeps documents as text: a text that is not JSON is kept, as a JSON string, not lost.
    return f"CASE WHEN json_valid(o.{column}) THEN CAST(o.{column} AS JSON) ELSE to_json(o.{column}) END"


def _packed_record() -> str:
    values = {k: f"o.{v}" for k, v in _PACKED_FIELDS.items()}
    values["userIdentity"] = (
        "{'type': o.identity_type, 'principalId': o.principal_id, 'arn': o.identity_arn, "
        "'accountId': CAST(NULL AS VARCHAR), 'accessKeyId': o.access_key_id, 'userName': o.user_name, "
        "'sessionContext': {'sessionIssuer': {'userName': CAST(NULL AS VARCHAR)}}}"
    )
    values.update({k: _as_json(v) for k, v in _PACKED_DOCUMENTS.items()})
    packed = ", ".join(f"{_literal(k)}: {values[k]}" for k in RECORD_STRUCTURE)  # the struct's own order
    return f"CAST({{{packed}}} AS {_RECORD_STRUCT})"


@cache
def _ocsf_projection() -> str:
    """The OCSF-to-row projection in DuckDB, with ``filename``, FROM ``__security_lake_table__``."""
    tree = security_lake_projection().select("filename")
    return tree.sql(dialect="duckdb")


def _ocsf_records(files: Sequence[Path]) -> str:
    source = f"read_parquet({_file_list(files)}, filename=true, union_by_name=true)"
    projection = _ocsf_projection().replace("__security_lake_table__", source)
    return f"SELECT {_packed_record()} AS r, o.filename FROM ({projection}) AS o"


def records_sql(
    groups: dict[FileForm, list[Path]], *, lenient: bool = False, cap: int = DEFAULT_MAX_FILE_BYTES
) -> str:
    """One ``r`` (record struct) and its ``filename`` per CloudTrail event.

    ``read_json`` with an explicit ``columns`` schema converts straight from the parsed document (the
    fastest form measured: bench/RESULTS.md), but fails a whole file on a type clash (a string where
    CloudTrail has an object). ``lenient`` reads the same fields with ``read_json_objects`` +
    ``json_transform``, which turns such a value into NULL; both fail on malformed JSON.
    """
    parts = []
    structure = _literal(_STRUCTURE_JSON)
    if groups.get("records"):
        files = groups["records"]
        if lenient:
            records = _literal('{"Records":[' + _STRUCTURE_JSON + "]}")
            parts.append(
                f"SELECT unnest(json_transform(json, {records}).Records) AS r, filename "
                f"FROM read_json_objects({_file_list(files)}, format='auto', filename=true, "
                f"maximum_object_size={_object_size(files, cap)})"
            )
        else:
            parts.append(
                "SELECT unnest(Records) AS r, filename FROM "
                + _read_json(files, "auto", {"Records": _RECORD_STRUCT + "[]"}, cap)
            )
    if groups.get("ocsf"):
        parts.append(_ocsf_records(groups["ocsf"]))  # typed columns: nothing to read leniently
    for form, fmt in (("array", "array"), ("lines", "auto")):
        files = groups.get(form) or []  # type: ignore[call-overload]
        if not files:
            continue
        if lenient:
            parts.append(
                f"SELECT json_transform(json, {structure}) AS r, filename FROM read_json_objects("
                f"{_file_list(files)}, format='{fmt}', filename=true, maximum_object_size={_object_size(files, cap)})"
            )
        else:
            # The row's columns packed into the record struct: one projection serves every form.
            packed = ", ".join(f'{_literal(k)}: t."{k}"' for k in _COLUMNS)
            parts.append(
                f"SELECT {{{packed}}} AS r, t.filename FROM {_read_json(files, fmt, _COLUMNS, cap)} AS t"
            )
    if not parts:
        parts.append(
            f"SELECT CAST(NULL AS {_RECORD_STRUCT}) AS r, CAST(NULL AS VARCHAR) AS filename WHERE false"
        )
    return "\nUNION ALL\n".join(parts)


def events_sql(groups: dict[FileForm, list[Path]], *, lenient: bool = False) -> str:
    """The logical ``events`` table over local files (DuckDB SQL)."""
    return f"SELECT {_PROJECTION} FROM (\n{records_sql(groups, lenient=lenient)}\n) AS records"


# The columns every event keeps (coverage and same_ip_credentials read every event of the window, and
# only these); the other row-contract columns are kept only for the events of the keys asked about.
BASE_COLUMNS: tuple[str, ...] = ("event_time", "access_key_id", "source_ip", "identity_arn", "identity_type")
_BASE_PROJECTION = f"""
    {_EVENT_TIME} AS event_time,
    r.userIdentity.accessKeyId AS access_key_id,
    r.sourceIPAddress AS source_ip,
    r.userIdentity.arn AS identity_arn,
    r.userIdentity."type" AS identity_type
"""
Table = Literal["base", "wide", "full"]


# Characters read_json takes as a glob pattern (and the escape): such names are read through a link.
_GLOB = re.compile(r"[*?\[\]{}\\]")
# Why a record of the window's files is not read (NULL: it is read). A record that is no object (a
# string or a number in Records), or one with none of CloudTrail's identifying fields, is not an
# event; one without a time cannot be placed in (or out of) any window.
_PROBLEM = f"""CASE
    WHEN r IS NULL OR (r.eventTime IS NULL AND r.eventName IS NULL AND r.eventSource IS NULL AND r.eventID IS NULL)
        THEN 'not a CloudTrail record (no eventTime, eventName, eventSource or eventID)'
    WHEN {_EVENT_TIME} IS NULL THEN 'eventTime missing or not a time'
END"""
# coverage travels in a step's output (256 KB): what was not read is summarized, never listed whole.
MAX_FILES_LISTED = 5
MAX_REASONS = 10
MAX_NAME = 300


def _not_read(skipped: dict[Path, str], dropped: Sequence[tuple[str, Path, int]]) -> list[dict[str, Any]]:
    """coverage ``not_read``: per reason, how many files or records were not read, and which files."""
    out: list[dict[str, Any]] = []
    by_reason: dict[str, list[Path]] = {}
    for f, why in skipped.items():
        by_reason.setdefault(why, []).append(f)
    for why, paths in sorted(by_reason.items()):
        listed = sorted(str(f)[:MAX_NAME] for f in paths)
        out.append({"unit": "files", "reason": why, "count": len(paths), "files": listed[:MAX_FILES_LISTED]})
    records: dict[str, tuple[int, set[str]]] = {}
    for why, f, n in dropped:
        count, names = records.get(why, (0, set()))
        records[why] = (count + n, names | {str(f)[:MAX_NAME]})
    for why, (count, names) in sorted(records.items()):
        out.append(
            {"unit": "records", "reason": why, "count": count, "files": sorted(names)[:MAX_FILES_LISTED]}
        )
    # The reasons are few by construction; an engine message that names something per file must not
    # make this grow with the attack either.
    if len(out) > MAX_REASONS:
        rest = out[MAX_REASONS - 1 :]
        out = out[: MAX_REASONS - 1]
        for unit in ("files", "records"):
            extra = [n for n in rest if n["unit"] == unit]
            if extra:
                listed = sorted({f for n in extra for f in n["files"]})[:MAX_FILES_LISTED]
                out.append(
                    {
                        "unit": unit,
                        "reason": f"{len(extra)} other reasons",
                        "count": sum(n["count"] for n in extra),
                        "files": listed,
                    }
                )
    return out


def _signature(files: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    """What the loaded table was read from: a file that changes (late delivery) or appears invalidates it."""
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            out.append((str(f), -1, -1))
        else:
            out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


Task = tuple[str, Params]


def _events_columns(tree: exp.Query) -> tuple[set[str], bool]:
    """The ``events`` columns a saved query reads, and whether every read of ``events`` is restricted to
    ``access_key_id = :access_key_id`` (a top-level conjunct of its WHERE)."""
    columns: set[str] = set()
    restricted = True
    for scope in traverse_scope(tree):
        aliases = {
            alias for alias, source in scope.sources.items()
            if isinstance(source, exp.Table) and source.name == "events" and not source.db
        }  # fmt: skip
        if not aliases:
            continue
        outputs = {e.alias_or_name for e in getattr(scope.expression, "expressions", [])}
        only = len(scope.sources) == 1
        mine = [
            c for c in scope.columns
            if c.table in aliases or (not c.table and (only or c.name not in outputs))
        ]  # fmt: skip
        columns |= {c.name for c in mine}
        where = scope.expression.args.get("where")
        conjuncts = (
            list(where.this.flatten())
            if where is not None and isinstance(where.this, exp.And)
            else ([where.this] if where is not None else [])
        )
        restricted = restricted and any(
            _credential_events_only(c)
            or (
                isinstance(c, exp.EQ)
                and {type(c.this), type(c.expression)} == {exp.Column, exp.Placeholder}
                and next(x for x in (c.this, c.expression) if isinstance(x, exp.Column)).name
                == "access_key_id"
                and next(x for x in (c.this, c.expression) if isinstance(x, exp.Column)).table
                in (aliases | {""})
                and next(x for x in (c.this, c.expression) if isinstance(x, exp.Placeholder)).name
                == "access_key_id"
            )
            for c in conjuncts
        )
    return columns, restricted


def _credential_events_only(conjunct: Any) -> bool:
    """``event_name IN (...)`` naming only CREDENTIAL_EVENTS: ``wide`` holds every such event, whoever
    made it (:meth:`DuckDBEngine._stage`)."""
    if not isinstance(conjunct, exp.In) or not isinstance(conjunct.this, exp.Column):
        return False
    values = conjunct.expressions
    return (
        conjunct.this.name == "event_name"
        and bool(values)
        and all(isinstance(v, exp.Literal) and v.is_string and v.name in CREDENTIAL_EVENTS for v in values)
    )


def classify(name: str) -> Table:
    """Which table a saved query can run on: ``base`` (every event, BASE_COLUMNS), ``wide`` (every
    column, the events of the keys asked about and every credential-minting event: the query reads only
    its own key's events, or only such events) or ``full``
    (every column of every event: nothing narrower is provably enough)."""
    columns, restricted = _events_columns(parse(name))
    if columns <= set(BASE_COLUMNS):
        return "base"
    return "wide" if restricted else "full"


@cache
def _rendered(name: str) -> tuple[str, tuple[str, ...], Table]:
    """A saved query's DuckDB text over the table it needs, the parameters it uses and that table.

    Rendered once per process (sqlglot); the text does not depend on the values, which are bound."""
    table = classify(name)
    tree = parse(name)
    target = "base" if table == "base" else "wide"
    for node in list(tree.find_all(exp.Table)):
        if node.name == "events" and not node.db:
            alias = node.alias or "events"
            node.replace(exp.to_table(target).as_(alias))
    used = {p.name for p in tree.find_all(exp.Placeholder)}
    return tree.sql(dialect="duckdb", pretty=True), tuple(sorted(used)), table


class DuckDBEngine(PollingEngine):
    """Saved queries over local CloudTrail logs (files or folders).

    The window's files are read once, into the tables ``base`` (a few columns of every event) and
    ``wide`` (every column of the asked-about keys' events); every query over that window (the whole
    plan: seven queries, the pivots, coverage) then runs on them, a pivot key's events being read again
    from only the files that hold them. Decompressing and parsing the JSON is nearly all the cost, so
    the second query is almost free. The tables are kept for the last window only, and read again
    when a file of the window changes or appears; ``close()`` (or ``with``) frees them.
    """

    name = "duckdb"

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        margin_days: int = 1,
        threads: int | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ):
        if isinstance(paths, (str, Path)):
            paths = [paths]
        self.paths = [Path(p) for p in paths]
        self.margin_days = margin_days
        self.threads = threads
        self.max_file_bytes = max_file_bytes
        self._lock = threading.RLock()
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._loaded: tuple[Any, ...] | None = None
        # Per file (path, mtime, size): its form, or why it is not read; and the name DuckDB is given.
        self._forms: dict[tuple[str, int, int], tuple[FileForm | None, str]] = {}
        self._aliases: dict[Path, Path] = {}
        self._real: dict[str, Path] = {}
        self._alias_dir: Path | None = None
        self._not_read: list[dict[str, Any]] = []
        self._outside: dict[tuple[str, str], dict[str, Any]] = {}

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free the loaded window (the engine reads it again if asked)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn, self._loaded = None, None
            if self._alias_dir is not None:
                shutil.rmtree(self._alias_dir, ignore_errors=True)
                self._alias_dir = None
                self._aliases.clear()
                self._real.clear()

    def __del__(self) -> None:
        # The links of glob-named files, for an engine nobody closed (at exit, modules may be gone).
        try:
            if getattr(self, "_alias_dir", None) is not None:
                shutil.rmtree(self._alias_dir, ignore_errors=True)  # type: ignore[arg-type]
        except Exception:  # noqa: S110 - nothing to report to in a finalizer
            pass

    def files_for(self, params: Params) -> list[Path]:
        """The files a query over ``params``' window opens (CloudTrail-layout days outside it are not)."""
        first, last = QueryParams.of(params).days(self.margin_days)
        return select_files(self.paths, first, last)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        conn = duckdb.connect(":memory:")
        if self.threads:
            conn.execute(f"SET threads = {int(self.threads)}")
        # The saved queries order their own rows; an unordered load lets every thread insert at once.
        conn.execute("SET preserve_insertion_order = false")
        # A time without an offset is UTC (as CloudTrail's are), whatever the machine's zone.
        conn.execute("SET TimeZone = 'UTC'")
        return conn

    # ------------------------------------------------------------------------------ the files

    def _alias(self, f: Path) -> Path:
        """The name DuckDB is given for ``f``: read_json takes a name as a glob pattern, so a name
        holding ``*``, ``?``, ``[`` or ``{`` is read through a plain-named link to the one file."""
        if not _GLOB.search(str(f)):
            return f
        if f not in self._aliases:
            if self._alias_dir is None:
                self._alias_dir = Path(tempfile.mkdtemp(prefix="responder-logs-"))
            suffix = next(x for x in (".jsonl.gz", ".json.gz", ".jsonl", ".json") if f.name.endswith(x))
            link = self._alias_dir / f"{len(self._aliases)}{suffix}"
            link.symlink_to(f.resolve())
            self._aliases[f] = link
            self._real[str(link)] = f
        return self._aliases[f]

    def real_path(self, name: str) -> Path:
        """The file a name DuckDB reported stands for (an alias of a file named like a glob)."""
        return self._real.get(name, Path(name))

    def _is_wrapper(self, f: Path) -> bool:
        """Whether a ``{`` file is one ``{..., "Records": [...]}`` object, whatever its key order."""
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT json_type(json, '$.Records') = 'ARRAY' FROM read_json_objects("
                f"{_file_list([self._alias(f)])}, format='auto', "
                f"maximum_object_size={_object_size([f], self.max_file_bytes)}) LIMIT 1"
            ).fetchone()
        except duckdb.Error:
            return False  # read as lines; what is wrong with it is named when it is read
        finally:
            conn.close()
        return bool(row and row[0])

    def _form(self, f: Path) -> tuple[FileForm | None, str]:
        """``(form, "")`` for a file to read, ``(None, why)`` for one that is not read."""
        sig = _signature([f])[0]
        if sig not in self._forms:
            size = declared_size(f)
            if size > self.max_file_bytes:
                found: tuple[FileForm | None, str] = (
                    None,
                    f"decompresses to more than the {self.max_file_bytes} bytes read from one file "
                    "(LOCAL_LOG_MAX_FILE_BYTES)",
                )
            else:
                try:
                    form = file_form(f)
                except LogsUnreadable as exc:
                    found = (None, str(exc).removeprefix(f"{f}: "))
                else:
                    if (
                        form == "lines"
                        and not f.name.endswith((".jsonl", ".jsonl.gz"))
                        and self._is_wrapper(f)
                    ):
                        form = "records"
                    found = (form, "")
            self._forms[sig] = found
        return self._forms[sig]

    def _prepare(self, files: Sequence[Path]) -> tuple[dict[FileForm, list[Path]], dict[Path, str]]:
        """The files to read, grouped by form under the names DuckDB is given, and those not read, with why."""
        groups: dict[FileForm, list[Path]] = {}
        skipped: dict[Path, str] = {}
        for f in files:
            form, why = self._form(f)
            if form is None:
                skipped[f] = why
            else:
                groups.setdefault(form, []).append(self._alias(f))
        return groups, skipped

    def _unreadable(self, groups: dict[FileForm, list[Path]]) -> dict[Path, str]:
        """The files DuckDB cannot read at all (malformed JSON, a broken gzip, an object over the
        size), each tried alone; each is remembered as not read until it changes."""
        bad: dict[Path, str] = {}
        for form, names in groups.items():
            for name in names:
                conn = self._connect()
                try:
                    conn.execute(
                        f"SELECT count(*) FROM ({records_sql({form: [name]}, lenient=True, cap=self.max_file_bytes)})"
                    ).fetchall()
                except duckdb.Error as exc:
                    real = self.real_path(str(name))
                    # Without the name (listed beside it): one reason for many files, not one each.
                    why = (
                        str(exc)
                        .splitlines()[0]
                        .replace(f'"{name}"', "the file")
                        .replace(str(name), "the file")[:300]
                    )
                    bad[real] = why
                    self._forms[_signature([real])[0]] = (None, why)
                finally:
                    conn.close()
        return bad

    def _culprit(self, files: Sequence[Path], error: Exception) -> LogsUnreadable | QueryFailed:
        """Name the file that cannot be read (DuckDB's message does not always); else the query failed."""
        groups, skipped = self._prepare(files)
        bad = {**skipped, **self._unreadable(groups)}
        for f, why in bad.items():
            return LogsUnreadable(f"{f}: {why}")
        return QueryFailed(f"local query failed: {str(error).splitlines()[0][:300]}")

    # ------------------------------------------------------------------------------ loading

    def _stage(
        self, conn: duckdb.DuckDBPyConnection, groups: dict[FileForm, list[Path]], values: dict[str, Any]
    ) -> bool:
        """Read the files into ``staged``; whether the lenient reader was needed."""
        names = ", ".join(_literal(str(f)) for fs in groups.values() for f in fs) or "''"
        stage = (
            "CREATE TABLE staged AS SELECT * FROM ("
            f"SELECT {_BASE_PROJECTION}, CAST(e.filename AS ENUM({names})) AS file, "
            "CASE WHEN $full OR list_contains($keys, r.userIdentity.accessKeyId) "
            "OR list_contains($credential_events, r.eventName) THEN r END AS r, "
            f"{_PROBLEM} AS problem "
            "FROM ({source}) AS e) "
            # The asked-about keys' events just outside the window are kept, to be counted
            # (outside_window): the window's margin-day files hold them, read already.
            "WHERE problem IS NOT NULL OR (event_time >= $window_start AND event_time <= $window_end) "
            "OR list_contains($keys, access_key_id)"
        )
        try:
            conn.execute(stage.format(source=records_sql(groups, cap=self.max_file_bytes)), values)
            return False
        except duckdb.Error:
            # A value of the wrong JSON type (or a duplicated key) fails the strict reader: read leniently.
            conn.execute("DROP TABLE IF EXISTS staged")
        conn.execute(stage.format(source=records_sql(groups, lenient=True, cap=self.max_file_bytes)), values)
        return True

    def _load(
        self, p: QueryParams, keys: Iterable[str], full: bool = False
    ) -> tuple[duckdb.DuckDBPyConnection, list[Path]]:
        """The connection whose tables hold ``p``'s window: ``base`` (BASE_COLUMNS of every event) and
        ``wide`` (every column of the events of ``keys``, or of every event if ``full``).

        The window's files are read once; a key asked about later is read again from only the files
        that hold its events (``base`` knows them), a minted credential's usually a day or two. A file
        or record that cannot be read is left out and counted (``coverage()["not_read"]``): one hostile
        file never stops the investigation of the others."""
        files = self.files_for(p)
        key = (p.window_start, p.window_end, _signature(files))
        wanted = set(keys) | {p.access_key_id}
        loaded = self._loaded
        if self._conn is not None and loaded is not None and loaded[0] == key and (loaded[3] or not full):
            missing = set() if loaded[3] else wanted - loaded[4]
            if missing:
                self._supplement(self._conn, p, files, sorted(missing))
            return self._conn, files
        self.close()
        conn = self._connect()
        window = p.bindings()
        values = {
            "full": full,
            "keys": sorted(wanted),
            "credential_events": _CREDENTIAL_EVENTS,
            "window_start": window["window_start"],
            "window_end": window["window_end"],
        }
        groups, skipped = self._prepare(files)
        lenient = False
        try:
            while True:
                try:
                    lenient = self._stage(conn, groups, values) or lenient
                    break
                except duckdb.Error as exc:
                    conn.execute("DROP TABLE IF EXISTS staged")
                    bad = self._unreadable(groups)
                    if not bad:
                        raise QueryFailed(f"local query failed: {str(exc).splitlines()[0][:300]}") from exc
                    skipped.update(bad)
                    groups, _ = self._prepare([f for f in files if f not in skipped])
            inside = "event_time >= $window_start AND event_time <= $window_end"
            bounds = {"window_start": window["window_start"], "window_end": window["window_end"]}
            conn.execute(
                f"CREATE TABLE wide AS SELECT {_PROJECTION} FROM staged "
                f"WHERE r IS NOT NULL AND problem IS NULL AND {inside}",
                bounds,
            )
            conn.execute(
                f"CREATE TABLE base AS SELECT {', '.join(BASE_COLUMNS)}, file FROM staged "
                f"WHERE problem IS NULL AND {inside}",
                bounds,
            )
            outside = conn.execute(
                "SELECT access_key_id, event_time < $window_start, count(*), min(event_time), max(event_time), "
                "count(DISTINCT file) FROM staged "
                f"WHERE problem IS NULL AND NOT ({inside}) GROUP BY ALL",
                bounds,
            ).fetchall()
            dropped = conn.execute(
                "SELECT problem, CAST(file AS VARCHAR), count(*) FROM staged WHERE problem IS NOT NULL "
                "GROUP BY ALL ORDER BY ALL"
            ).fetchall()
            conn.execute("DROP TABLE staged")
        except duckdb.Error as exc:
            conn.close()
            raise self._culprit(files, exc) from exc
        except QueryFailed:
            conn.close()
            raise
        self._not_read = _not_read(skipped, [(str(w), self.real_path(str(f)), int(n)) for w, f, n in dropped])
        self._outside = {
            (str(k), "before" if early else "after"): {
                "events": int(n),
                "first_event": first,
                "last_event": last,
                "files": int(f),
            }
            for k, early, n, first, last, f in outside
        }
        self._conn, self._loaded = conn, (key, files, lenient, full, wanted, groups)
        return conn, files

    def _supplement(
        self, conn: duckdb.DuckDBPyConnection, p: QueryParams, files: list[Path], keys: list[str]
    ) -> None:
        """Add the events of ``keys`` to ``wide``, reading only the window's files that hold them."""
        assert self._loaded is not None
        lenient, groups = self._loaded[2], self._loaded[5]
        rows = conn.execute(
            "SELECT DISTINCT CAST(file AS VARCHAR) FROM base WHERE list_contains($keys, access_key_id)",
            {"keys": keys},
        ).fetchall()
        holding = {str(r[0]) for r in rows}
        needed = {form: [f for f in fs if str(f) in holding] for form, fs in groups.items()}
        needed = {form: fs for form, fs in needed.items() if fs}
        if needed:
            window = p.bindings()
            try:
                conn.execute(
                    f"INSERT INTO wide SELECT {_PROJECTION} FROM ({records_sql(needed, lenient=lenient, cap=self.max_file_bytes)}) "
                    f"AS e WHERE {_EVENT_TIME} >= $window_start AND {_EVENT_TIME} <= $window_end "
                    "AND list_contains($keys, r.userIdentity.accessKeyId) "
                    # wide holds these already, whoever made them
                    "AND NOT coalesce(list_contains($credential_events, r.eventName), false)",
                    {
                        "keys": keys,
                        "credential_events": _CREDENTIAL_EVENTS,
                        "window_start": window["window_start"],
                        "window_end": window["window_end"],
                    },
                )
            except duckdb.Error as exc:
                raise self._culprit(
                    [self.real_path(str(f)) for fs in needed.values() for f in fs], exc
                ) from exc
        self._loaded[4].update(keys)

    def _query(self, conn: duckdb.DuckDBPyConnection, name: str, p: QueryParams) -> list[Row]:
        sql, used, _ = _rendered(name)
        values = p.bindings()
        try:
            cursor = conn.execute(sql, {k: values[k] for k in used})
            columns = [d[0] for d in cursor.description or []]
            raw = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        except duckdb.Error as exc:
            raise QueryFailed(f"local query {name} failed: {str(exc).splitlines()[0][:300]}") from exc
        return normalize_rows(raw)

    def execute(self, name: str, params: Params) -> tuple[list[Row], list[Path]]:
        """Run a saved query now; rows per the contract and the files opened."""
        check_name(name)
        p = QueryParams.of(params)
        with self._lock:
            conn, files = self._load(p, [p.access_key_id], full=_rendered(name)[2] == "full")
            return self._query(conn, name, p), files

    def run_many(self, tasks: Iterable[Task]) -> dict[tuple[str, str], list[Row]]:
        """Rows of each ``(name, params)`` task, keyed ``(access_key_id, name)`` as ``responder.analysis.pivot``
        keys its results. Tasks over one window share one read of its files, and its files are listed
        once for them all (``run`` lists them again each time, to see late deliveries)."""
        by_window: dict[tuple[datetime, datetime], list[tuple[str, QueryParams]]] = {}
        seen: set[tuple[str, str]] = set()
        for name, params in tasks:
            p = QueryParams.of(params)
            task_key = (p.access_key_id, check_name(name))
            if task_key in seen:
                raise InvalidQueryParameter(f"{name} for {p.access_key_id} asked twice")
            seen.add(task_key)
            by_window.setdefault((p.window_start, p.window_end), []).append((name, p))
        out: dict[tuple[str, str], list[Row]] = {}
        with self._lock:
            for group in by_window.values():
                keys = [p.access_key_id for _, p in group]
                full = any(_rendered(name)[2] == "full" for name, _ in group)
                conn, _ = self._load(group[0][1], keys, full=full)
                for name, p in group:
                    out[(p.access_key_id, name)] = self._query(conn, name, p)
        return out

    def start(self, name: str, params: Params) -> str:
        began = time.monotonic()
        rows, files = self.execute(name, params)
        query_id = str(uuid.uuid4())
        status = QueryStatus(
            query_id=query_id,
            state="FINISHED",
            files_scanned=len(files),
            elapsed_ms=int((time.monotonic() - began) * 1000),
        )
        with _RESULTS_LOCK:
            _RESULTS[query_id] = (status, rows)
            while len(_RESULTS) > _KEEP:
                _RESULTS.popitem(last=False)
        return query_id

    def status(self, query_id: str) -> QueryStatus:
        with _RESULTS_LOCK:
            entry = _RESULTS.get(query_id)
        if entry is None:
            raise QueryStillRunning(f"no local query {query_id} in this process")
        return entry[0]

    def results(self, query_id: str) -> list[Row]:
        require_finished(self.status(query_id))
        with _RESULTS_LOCK:
            return list(_RESULTS[query_id][1])

    def run(self, name: str, params: Params) -> list[Row]:
        return self.execute(name, params)[0]

    def events_scanned(self, params: Params) -> int:
        """Every event in the files a query opens (inside the window or not; files not read left out)."""
        files = self.files_for(params)
        groups, _ = self._prepare(files)
        conn = self._connect()
        try:
            row = conn.execute(
                f"SELECT count(*) FROM ({records_sql(groups, lenient=True, cap=self.max_file_bytes)})"
            ).fetchone()
        except duckdb.Error as exc:
            raise self._culprit(files, exc) from exc
        finally:
            conn.close()
        return int(row[0]) if row else 0

    def coverage(self, params: Params, slack: timedelta = COVERAGE_SLACK) -> dict[str, Any]:
        """The base coverage, plus what the window's files held that was not read (``not_read``: each
        reason with its count of files or records), which also makes a covered window ``partial``."""
        p = QueryParams.of(params)
        with self._lock:
            out = super().coverage(p, slack)
            not_read = [dict(n) for n in self._not_read]
        if not_read:
            out["not_read"] = not_read
            out["records_not_read"] = sum(n["count"] for n in not_read if n["unit"] == "records")
            out["files_not_read"] = sum(n["count"] for n in not_read if n["unit"] == "files")
            if out["status"] == "covered":
                out["status"] = "partial"
        return out

    def outside_window(self, params: Params) -> dict[str, Any]:
        """Where the key's events outside the window are: those in the files the window opens (its
        margin days), counted before and after it; and the files no query opened (CloudTrail-layout
        days outside the window), by day, whose events are not known without reading them."""
        p = QueryParams.of(params)
        with self._lock:
            _, files = self._load(p, [p.access_key_id])
            found = {side: dict(v) for (k, side), v in self._outside.items() if k == p.access_key_id}
        opened = set(files)
        unopened = [f for f in select_files(self.paths) if f not in opened]
        days = sorted({d for f in unopened if (d := file_day(f)) is not None})
        out: dict[str, Any] = {
            "events_before": found.get("before", {}).get("events", 0),
            "events_after": found.get("after", {}).get("events", 0),
            "before": found.get("before"),
            "after": found.get("after"),
            "files_not_opened": len(unopened),
        }
        before = [d for d in days if d < p.window_start.date()]
        after = [d for d in days if d > p.window_end.date()]
        out["days_not_opened"] = {
            "before": [before[0].isoformat(), before[-1].isoformat()] if before else None,
            "after": [after[0].isoformat(), after[-1].isoformat()] if after else None,
        }
        return out

    def last_activity(
        self, access_key_id: str, until: datetime, follow: timedelta = timedelta(0)
    ) -> tuple[str | None, str | None]:
        """The newest eventTime (UTC ...Z) of ``access_key_id``'s own events up to ``until``, and the
        newest of any event up to ``follow`` after that (up to ``until`` when the key has none). A
        record dated after ``until`` is not believed: it is not in the window read."""
        p = QueryParams(access_key_id, datetime(1970, 1, 1, tzinfo=until.tzinfo), until)
        with self._lock:
            conn, _ = self._load(p, [access_key_id])
            row = conn.execute(
                "SELECT max(event_time) FROM base WHERE access_key_id = $key", {"key": access_key_id}
            ).fetchone()
            own = row[0] if row else None
            cap = until
            if own:
                cap = min(until, datetime.fromisoformat(own.replace("Z", "+00:00")) + follow)
            row = conn.execute(
                "SELECT max(event_time) FROM base WHERE event_time <= $cap",
                {"cap": cap.astimezone(until.tzinfo).strftime("%Y-%m-%dT%H:%M:%SZ")},
            ).fetchone()
        return own, (row[0] if row else None)
