"""The query row contract (docs/architecture.md): CloudTrail record -> row, and safe readers of rows.

Every engine returns rows as ``dict[str, str | int | None]`` with JSON sub-documents as JSON text.
Readers here are tolerant: an engine that hands back a dict, a bool or a space-separated timestamp
must not break the analysis, and neither must a record with an anonymized or missing field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

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

_JSON_FIELDS = {
    "request_parameters": "requestParameters",
    "response_elements": "responseElements",
    "resources": "resources",
    "additional_event_data": "additionalEventData",
}


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def record_to_row(record: Mapping[str, Any]) -> dict[str, str | int | None]:
    """One CloudTrail record (as in a log file or LookupEvents' CloudTrailEvent) -> one contract row."""
    identity = record.get("userIdentity") or {}
    issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer")) or {}
    read_only = record.get("readOnly")
    row: dict[str, str | int | None] = {
        "event_id": record.get("eventID"),
        "event_time": record.get("eventTime"),
        "event_source": record.get("eventSource"),
        "event_name": record.get("eventName"),
        "aws_region": record.get("awsRegion"),
        "source_ip": record.get("sourceIPAddress"),
        "user_agent": record.get("userAgent"),
        "error_code": record.get("errorCode") or None,
        "error_message": record.get("errorMessage"),
        "identity_type": identity.get("type"),
        "principal_id": identity.get("principalId"),
        "user_name": identity.get("userName") or issuer.get("userName"),
        "identity_arn": identity.get("arn"),
        "access_key_id": identity.get("accessKeyId"),
        "account_id": record.get("recipientAccountId"),
        "read_only": None if read_only is None else str(read_only).lower(),
        "event_type": record.get("eventType"),
    }
    for key, field in _JSON_FIELDS.items():
        row[key] = _json_text(record.get(field))
    return row


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
        return json.loads(str(value))
    except ValueError:
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


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (with Z, offset, or a space) -> aware UTC datetime; None when unparseable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    raw = str(value).strip().replace(" ", "T", 1)
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
