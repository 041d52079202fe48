"""The query row contract (docs/architecture.md): safe readers of rows (a CloudTrail record becomes a
row through :func:`responder.query.rows.record_to_row`, re-exported here).

Every engine returns rows as ``dict[str, str | int | None]`` with JSON sub-documents as JSON text.
Readers here are tolerant: an engine that hands back a dict, a bool or a space-separated timestamp
must not break the analysis, and neither must a record with an anonymized or missing field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from responder.models import parse_time  # one reading of a time, beside its one format (iso)
from responder.query.rows import record_to_row  # one mapping, owned by the query layer
from responder.safejson import load_json

Row = Mapping[str, Any]
"""One activity row. Declared loosely: engines differ in how they type values."""

ROW_KEYS: tuple[str, ...] = (
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
)


def records_to_rows(records: Iterable[Mapping[str, Any]]) -> list[dict[str, str | int | None]]:
    return [record_to_row(r) for r in records]


def text(row: Row, key: str) -> str | None:
    """A row value as a non-empty string, or None."""
    value = row.get(key)
    if value is None:
        return None
    value = str(value)
    return value or None


def doc(row: Row, key: str) -> Any:
    """A JSON sub-document of a row, parsed (None when absent or unparseable)."""
    value = row.get(key)
    if value is None or isinstance(value, dict | list):
        return value
    try:
        # Bounded: a row from anywhere (an old evidence file, another engine) may hold hostile text.
        return load_json(str(value))
    except ValueError:  # JsonLimit too
        return None


def mapping(row: Row, key: str) -> dict[str, Any]:
    """A JSON sub-document that should be an object; {} otherwise."""
    value = doc(row, key)
    return value if isinstance(value, dict) else {}


def succeeded(row: Row) -> bool:
    return not text(row, "error_code")


_READ_VERBS = ("Get", "List", "Describe", "Head", "Lookup", "Search", "Select", "BatchGet", "Scan", "Query")


def is_read(row: Row) -> bool:
    """readOnly when the row says; otherwise the verb of the event name decides."""
    value = row.get("read_only")
    if isinstance(value, bool):
        return value
    if value is not None and str(value).lower() in {"true", "false"}:
        return str(value).lower() == "true"
    return (text(row, "event_name") or "").startswith(_READ_VERBS)


_LAMBDA_SUFFIX = re.compile(r"20\d{6}(v\d+)?$")


def event_name(row: Row) -> str:
    """The event name without Lambda's API-version suffix (UpdateFunctionCode20150331v2)."""
    return _LAMBDA_SUFFIX.sub("", text(row, "event_name") or "")


def service(row: Row) -> str:
    """'iam' for iam.amazonaws.com."""
    return (text(row, "event_source") or "").split(".", 1)[0]


def time_of(row: Row) -> datetime | None:
    return parse_time(row.get("event_time"))


def iso_time(row: Row) -> str:
    """The row's time as ISO 8601 UTC ...Z (the raw value when unparseable)."""
    parsed = time_of(row)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else str(row.get("event_time") or "")


def sort_rows(rows: Iterable[Row]) -> list[Row]:
    """Rows in time order (unparseable times last), duplicates of one event_id dropped."""
    seen: set[str] = set()
    unique: list[Row] = []
    for row in rows:
        event_id = text(row, "event_id")
        if event_id:
            if event_id in seen:
                continue
            seen.add(event_id)
        unique.append(row)
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(unique, key=lambda r: (time_of(r) or far, text(r, "event_id") or ""))


MALFORMED = "malformed"  # responder.query.rows.MALFORMED: a row's documents that were not read as they are
MAX_LISTED = 50  # unreadable records listed one by one in the report; the rest are counted


def malformed_records(rows: Iterable[Row]) -> dict[str, Any]:
    """What the report says of the rows whose documents were not read as they are (``malformed``).

    ``unreadable``: records with a document too deep or too large, which the analysis did not read
    (the raw text is in the saved query results); ``duplicate_keys``: records whose document repeats
    a key (the first value was read, as by the queries). Each with its count and the first records."""
    out: dict[str, Any] = {"unreadable": 0, "duplicate_keys": 0, "records": []}
    for row in rows:
        marks = mapping(row, MALFORMED)
        if not marks:
            continue
        unreadable = {k: v for k, v in marks.items() if isinstance(v, dict) and "raw" in v}
        kind = "unreadable" if unreadable else "duplicate_keys"
        out[kind] += 1
        if len(out["records"]) < MAX_LISTED:
            out["records"].append(
                {
                    "event_id": text(row, "event_id"),
                    "event_time": iso_time(row),
                    "event_name": text(row, "event_name"),
                    "access_key_id": text(row, "access_key_id"),
                    "kind": kind,
                    "fields": {
                        k: {n: v.get(n) for n in ("reason", "bytes", "sha256") if n in v}
                        for k, v in sorted(marks.items())
                        if isinstance(v, dict)
                    },
                }
            )
    return out


def with_malformed(coverage: dict[str, Any], rows: Iterable[Row]) -> dict[str, Any]:
    """The report's coverage with what it could not read of the rows themselves (``malformed``):
    ``unreadable_records`` (a document too deep or too large, not analysed), ``duplicate_key_records``
    and ``malformed_records`` (the first of them, each with its fields and why)."""
    found = malformed_records(rows)
    if found["unreadable"] or found["duplicate_keys"]:
        coverage["unreadable_records"] = found["unreadable"]
        coverage["duplicate_key_records"] = found["duplicate_keys"]
        coverage["malformed_records"] = found["records"]
    return coverage


def not_read_lines(coverage: Mapping[str, Any]) -> list[str]:
    """What the logs held that was not read, one line per reason ("N records not read: why")."""
    lines = [f"{n['count']} {n['unit']} not read: {n['reason']}" for n in coverage.get("not_read") or []]
    unreadable = coverage.get("unreadable_records") or 0
    if unreadable:
        lines.append(
            f"{unreadable} record(s) of the key hold a document too deep or too large to read: "
            "not analysed (the raw text is in the query results)"
        )
    duplicated = coverage.get("duplicate_key_records") or 0
    if duplicated:
        lines.append(
            f"{duplicated} record(s) of the key repeat a key in a document: the first value was read"
        )
    return lines


def window_lines(coverage: Mapping[str, Any], access_key_id: str) -> list[str]:
    """How the window was chosen (offline: ``window_note``) and where the key's events outside it are
    (``outside_window``): counted in the files the window opened, and the days no query opened."""
    lines = [str(coverage["window_note"])] if coverage.get("window_note") else []
    outside = coverage.get("outside_window") or {}
    for side in ("before", "after"):
        found = outside.get(side)
        if found:
            lines.append(
                f"{found['events']} event(s) of {access_key_id} fall {side} the window, "
                f"{found['first_event']} to {found['last_event']} (in {found['files']} file(s) read for its "
                "margin): not in this report"
            )
    days = outside.get("days_not_opened") or {}
    spans = [f"{span[0]} to {span[1]} {side} it" for side in ("before", "after") if (span := days.get(side))]
    if outside.get("files_not_opened"):
        lines.append(
            f"{outside['files_not_opened']} log file(s) outside the window were not opened"
            + (f" ({'; '.join(spans)})" if spans else "")
            + f": {access_key_id}'s events there, if any, are not counted"
        )
    return lines


def coverage_notes(coverage: Mapping[str, Any], access_key_id: str) -> list[str]:
    """What a reader must know of the logs before the findings: how the window was chosen, the key's
    events outside it, and what was not read (files, records, documents). Silence is not absence."""
    return [*window_lines(coverage, access_key_id), *not_read_lines(coverage)]
