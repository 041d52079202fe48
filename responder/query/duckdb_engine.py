"""DuckDB over local CloudTrail files: offline investigation, tests and the local demo.

``read_json`` with an explicit schema of just the fields the row contract needs (CloudTrail's fields vary
wildly between events; the documents stay JSON), over the files of the window only. The query runs at
``start()``; its rows wait in memory under the query id (the local runner is one process).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from responder.errors import LogsUnreadable, QueryFailed, QueryStillRunning
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


def records_sql(groups: dict[FileForm, list[Path]]) -> str:
    """One ``r`` (record struct) per CloudTrail event in the grouped files.

    ``read_json_objects`` + ``json_transform`` is several times faster than ``read_json`` with a nested
    ``columns`` schema on CloudTrail's one-object-per-file form, and as strict about malformed JSON.
    """
    parts = []
    structure = _literal(_STRUCTURE_JSON)
    if groups.get("records"):
        files = groups["records"]
        parts.append(
            f"SELECT unnest(json_transform(json->'$.Records', {_literal('[' + _STRUCTURE_JSON + ']')})) AS r "
            f"FROM read_json_objects({_file_list(files)}, format='auto', "
            f"maximum_object_size={_object_size(files)})"
        )
    for form, fmt in (("array", "array"), ("lines", "auto")):
        files = groups.get(form) or []  # type: ignore[call-overload]
        if files:
            parts.append(
                f"SELECT json_transform(json, {structure}) AS r FROM read_json_objects({_file_list(files)}, "
                f"format='{fmt}', maximum_object_size={_object_size(files)})"
            )
    if not parts:
        parts.append(f"SELECT CAST(NULL AS {_RECORD_STRUCT}) AS r WHERE false")
    return "\nUNION ALL\n".join(parts)


def events_sql(groups: dict[FileForm, list[Path]]) -> str:
    """The logical ``events`` table over local files (DuckDB SQL)."""
    return f"SELECT {_PROJECTION} FROM (\n{records_sql(groups)}\n) AS records"


def _group(files: Iterable[Path]) -> dict[FileForm, list[Path]]:
    groups: dict[FileForm, list[Path]] = {}
    for f in files:
        groups.setdefault(file_form(f), []).append(f)
    return groups


class DuckDBEngine(PollingEngine):
    """Saved queries over local CloudTrail logs (files or folders)."""

    name = "duckdb"

    def __init__(self, paths: Sequence[str | Path], *, margin_days: int = 1, threads: int | None = None):
        if isinstance(paths, (str, Path)):
            paths = [paths]
        self.paths = [Path(p) for p in paths]
        self.margin_days = margin_days
        self.threads = threads

    def files_for(self, params: Params) -> list[Path]:
        """The files a query over ``params``' window opens (CloudTrail-layout days outside it are not)."""
        first, last = QueryParams.of(params).days(self.margin_days)
        return select_files(self.paths, first, last)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        conn = duckdb.connect(":memory:")
        if self.threads:
            conn.execute(f"SET threads = {int(self.threads)}")
        return conn

    def _culprit(self, files: Sequence[Path], error: Exception) -> LogsUnreadable | QueryFailed:
        """Name the file that cannot be read (DuckDB's message does not always); else the query failed."""
        for f in files:
            conn = self._connect()
            try:
                conn.execute(f"SELECT count(*) FROM ({records_sql(_group([f]))})").fetchall()
            except duckdb.Error as exc:
                return LogsUnreadable(f"{f}: {str(exc).splitlines()[0][:300]}")
            finally:
                conn.close()
        return QueryFailed(f"local query failed: {str(error).splitlines()[0][:300]}")

    def execute(self, name: str, params: Params) -> tuple[list[Row], list[Path]]:
        """Run a saved query now; rows per the contract and the files opened."""
        check_name(name)
        p = QueryParams.of(params)
        files = self.files_for(p)
        groups = _group(files)
        sql, bindings = render_duckdb(name, p)
        conn = self._connect()
        try:
            conn.execute(f"CREATE TEMP VIEW events AS {events_sql(groups)}")
            cursor = conn.execute(sql, bindings)
            columns = [d[0] for d in cursor.description or []]
            raw = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
        except duckdb.Error as exc:
            raise self._culprit(files, exc) from exc
        finally:
            conn.close()
        return normalize_rows(raw), files

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
            row = conn.execute(f"SELECT count(*) FROM ({records_sql(_group(files))})").fetchone()
        except duckdb.Error as exc:
            raise self._culprit(files, exc) from exc
        finally:
            conn.close()
        return int(row[0]) if row else 0
