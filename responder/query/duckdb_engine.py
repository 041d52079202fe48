"""DuckDB over local CloudTrail files: offline investigation, tests and the local demo.

The files of a window (CloudTrail-layout days outside it are never opened) are read once, with
``read_json`` and an explicit schema of just the fields the row contract needs (CloudTrail's fields vary
wildly between events; the documents stay JSON), into an in-memory table ``events`` of the window's
events; every saved query over that window then runs on it. Values are bound (``$name``), never pasted.
``start()`` runs the query at once; its rows wait in memory under the query id (the local runner is one
process). Speed and memory are measured by ``python -m bench`` (bench/RESULTS.md)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from responder.errors import InvalidQueryParameter, LogsUnreadable, QueryFailed, QueryStillRunning
from responder.query.base import Params, PollingEngine, QueryStatus, require_finished
from responder.query.logs import FileForm, file_form, select_files
from responder.query.rows import Row, normalize_rows
from responder.query.sql import QueryParams, check_name, render_duckdb

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


def _object_size(files: Sequence[Path]) -> int:
    """A maximum_object_size that fits the largest file: a Records file is one JSON object.

    DuckDB allocates buffers of this size per thread, so it is sized to the data, not set huge.
    The uncompressed size of a .gz is its last four bytes (ISIZE, modulo 4 GiB).
    """
    largest = 0
    for f in files:
        try:
            if f.name.endswith(".gz"):
                with f.open("rb") as fh:
                    fh.seek(-4, 2)
                    size = int.from_bytes(fh.read(4), "little")
            else:
                size = f.stat().st_size
        except OSError:
            size = 0
        largest = max(largest, size)
    return max(_MIN_OBJECT, 1 << (largest + 1024).bit_length())


# The logical `events` table (row contract) over the unnested records `r`.
_PROJECTION = """
    r.eventID AS event_id,
    r.eventTime AS event_time,
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

_RESULTS: OrderedDict[str, tuple[QueryStatus, list[Row]]] = OrderedDict()
_RESULTS_LOCK = threading.Lock()
_KEEP = 256


def _literal(value: str) -> str:
    if "\x00" in value:
        raise LogsUnreadable(f"{value!r}: NUL in a path")
    return "'" + value.replace("'", "''") + "'"


def _file_list(files: Sequence[Path]) -> str:
    return "[" + ", ".join(_literal(str(f)) for f in files) + "]"


def _read_json(files: Sequence[Path], fmt: str, columns: dict[str, str]) -> str:
    cols = "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in columns.items()) + "}"
    return (
        f"read_json({_file_list(files)}, format='{fmt}', records=true, columns={cols}, "
        f"maximum_object_size={_object_size(files)})"
    )


_COLUMNS = {k: _sql_type(v) for k, v in RECORD_STRUCTURE.items()}


def records_sql(groups: dict[FileForm, list[Path]], *, lenient: bool = False) -> str:
    """One ``r`` (record struct, or a row whose columns are the record's fields) per CloudTrail event.

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
                f"SELECT unnest(json_transform(json, {records}).Records) AS r "
                f"FROM read_json_objects({_file_list(files)}, format='auto', "
                f"maximum_object_size={_object_size(files)})"
            )
        else:
            parts.append(
                f"SELECT unnest(Records) AS r FROM {_read_json(files, 'auto', {'Records': _RECORD_STRUCT + '[]'})}"
            )
    for form, fmt in (("array", "array"), ("lines", "auto")):
        files = groups.get(form) or []  # type: ignore[call-overload]
        if not files:
            continue
        if lenient:
            parts.append(
                f"SELECT json_transform(json, {structure}) AS r FROM read_json_objects({_file_list(files)}, "
                f"format='{fmt}', maximum_object_size={_object_size(files)})"
            )
        else:
            # The row itself as the record struct: one projection serves every form.
            parts.append(f"SELECT r FROM {_read_json(files, fmt, _COLUMNS)} AS r")
    if not parts:
        parts.append(f"SELECT CAST(NULL AS {_RECORD_STRUCT}) AS r WHERE false")
    return "\nUNION ALL\n".join(parts)


def events_sql(groups: dict[FileForm, list[Path]], *, lenient: bool = False) -> str:
    """The logical ``events`` table over local files (DuckDB SQL)."""
    return f"SELECT {_PROJECTION} FROM (\n{records_sql(groups, lenient=lenient)}\n) AS records"


def _group(files: Iterable[Path]) -> dict[FileForm, list[Path]]:
    groups: dict[FileForm, list[Path]] = {}
    for f in files:
        groups.setdefault(file_form(f), []).append(f)
    return groups


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


@cache
def _rendered(name: str) -> tuple[str, tuple[str, ...]]:
    """A saved query's DuckDB text and the parameters it uses (the text does not depend on the values)."""
    probe = QueryParams("AKIA" + "A" * 16, datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC))
    sql, bindings = render_duckdb(name, probe)
    return sql, tuple(bindings)


class DuckDBEngine(PollingEngine):
    """Saved queries over local CloudTrail logs (files or folders).

    The window's files are read once, into an in-memory table ``events`` holding the row-contract
    columns of the window's events; every query over that window (the whole plan: six queries, the
    pivots, coverage) then runs on that table. Decompressing and parsing the JSON is nearly all the
    cost, so the second query is almost free. The table is kept for the last window only, and read
    again when a file of the window changes or appears; ``close()`` (or ``with``) frees it.
    """

    name = "duckdb"

    def __init__(self, paths: Sequence[str | Path], *, margin_days: int = 1, threads: int | None = None):
        if isinstance(paths, (str, Path)):
            paths = [paths]
        self.paths = [Path(p) for p in paths]
        self.margin_days = margin_days
        self.threads = threads
        self._lock = threading.RLock()
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._loaded: tuple[Any, ...] | None = None

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
        return conn

    def _culprit(self, files: Sequence[Path], error: Exception) -> LogsUnreadable | QueryFailed:
        """Name the file that cannot be read (DuckDB's message does not always); else the query failed."""
        for f in files:
            conn = self._connect()
            try:
                conn.execute(f"SELECT count(*) FROM ({records_sql(_group([f]), lenient=True)})").fetchall()
            except duckdb.Error as exc:
                return LogsUnreadable(f"{f}: {str(exc).splitlines()[0][:300]}")
            finally:
                conn.close()
        return QueryFailed(f"local query failed: {str(error).splitlines()[0][:300]}")

    def _load(self, p: QueryParams) -> tuple[duckdb.DuckDBPyConnection, list[Path]]:
        """The connection whose ``events`` table holds ``p``'s window (read now unless already loaded)."""
        files = self.files_for(p)
        key = (p.window_start, p.window_end, _signature(files))
        if self._conn is not None and self._loaded is not None and self._loaded[0] == key:
            return self._conn, self._loaded[1]
        self.close()
        groups = _group(files)
        conn = self._connect()
        window = {"window_start": p.bindings()["window_start"], "window_end": p.bindings()["window_end"]}
        load = (
            "CREATE TABLE events AS SELECT * FROM ({source}) AS e "
            "WHERE e.event_time >= $window_start AND e.event_time <= $window_end"
        )
        try:
            try:
                conn.execute(load.format(source=events_sql(groups)), window)
            except duckdb.Error:
                # A value of the wrong JSON type fails the strict reader: read again, leniently.
                conn.execute("DROP TABLE IF EXISTS events")
                conn.execute(load.format(source=events_sql(groups, lenient=True)), window)
        except duckdb.Error as exc:
            conn.close()
            raise self._culprit(files, exc) from exc
        self._conn, self._loaded = conn, (key, files)
        return conn, files

    def _query(self, conn: duckdb.DuckDBPyConnection, name: str, p: QueryParams) -> list[Row]:
        sql, used = _rendered(name)
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
            conn, files = self._load(p)
            return self._query(conn, name, p), files

    def run_many(self, tasks: Iterable[Task]) -> dict[tuple[str, str], list[Row]]:
        """Rows of each ``(name, params)`` task, keyed ``(access_key_id, name)`` as ``responder.plan``
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
                conn, _ = self._load(group[0][1])
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
        """Every event in the files a query opens (inside the window or not)."""
        files = self.files_for(params)
        conn = self._connect()
        try:
            row = conn.execute(
                f"SELECT count(*) FROM ({records_sql(_group(files), lenient=True)})"
            ).fetchone()
        except duckdb.Error as exc:
            raise self._culprit(files, exc) from exc
        finally:
            conn.close()
        return int(row[0]) if row else 0
