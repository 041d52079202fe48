"""Rows to the row contract (docs/architecture.md), whatever engine produced them.

Lower-case keys; values ``str``, ``int`` or ``None``; JSON documents as canonical JSON text (sorted keys,
compact), so the same event reads the same from Lake, Athena and DuckDB; times ISO 8601 UTC ``...Z``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from responder.safejson import JsonLimit, dumps_within, duplicate_keys, load_json

Row = dict[str, str | int | None]

#: The row key that lists a row's documents that could not be read as they are (JSON text
#: ``{column: {"reason", ...}}``): too deep or too large (the column is then None and the raw text is
#: kept here, cut at RAW_KEEP characters, with its size and SHA-256), or with a duplicated key (the
#: column holds the document with the first value of each, as DuckDB's queries read it).
MALFORMED = "malformed"
RAW_KEEP = 64 * 1024

JSON_COLUMNS = frozenset(
    {"request_parameters", "response_elements", "resources", "additional_event_data", "user_agents"}
)
INT_COLUMNS = frozenset(
    {"event_count", "error_count", "user_agent_count", "bytes_out", "bytes_in", "events_scanned"}
)
TIME_COLUMNS = frozenset({"event_time", "first_seen", "last_seen", "first_event", "last_event"})
# Lake renders timestamps as '2024-03-12 00:00:00.000'; Athena and JSON as '2024-03-12T00:00:00Z'.
_TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:Z|[+-]00:?00| UTC)?$")
# CloudTrail's spelling of a resource's keys; Athena's struct cast lower-cases them.
_RESOURCE_KEYS = {"arn": "ARN", "accountid": "accountId", "type": "type", "arnprefix": "ARNPrefix"}
_RESOURCE_ORDER = ("ARN", "accountId", "type")  # the DDL's field order, for a ROW cast to a JSON array


def parse_lake_map(text: str) -> dict[str, Any] | None:
    """Parse Lake's rendering of a map column, ``{key=value, key2=value2}``, best effort.

    Lake stores requestParameters, responseElements and additionalEventData as map<string,string>
    (nested objects as JSON text) and GetQueryResults renders a map like Java's Map.toString. A value
    holding ``, `` or ``=`` at top level makes that ambiguous, so the saved queries read those documents
    from eventJson instead; this parser serves ad-hoc queries that select the raw map columns.
    """
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")) or text.startswith('{"'):
        return None
    body = text[1:-1]
    if not body.strip():
        return {}
    parts: list[str] = []
    depth, start, in_str = 0, 0, False
    for i, ch in enumerate(body):
        if ch == '"' and (i == 0 or body[i - 1] != "\\"):
            in_str = not in_str
        elif not in_str and ch in "{[":
            depth += 1
        elif not in_str and ch in "}]":
            depth -= 1
        elif not in_str and depth == 0 and body.startswith(", ", i):
            parts.append(body[start:i])
            start = i + 2
    parts.append(body[start:])
    out: dict[str, Any] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep:
            return None
        try:
            out[key.strip()] = json.loads(value) if value[:1] in "{[" else value
        except ValueError:
            out[key.strip()] = value
    return out


def _canonical_resources(doc: Any) -> Any:
    if not isinstance(doc, list):
        return doc
    out = []
    for entry in doc:
        item = entry
        if isinstance(item, list):  # a ROW cast to JSON as an array, in DDL order
            item = dict(zip(_RESOURCE_ORDER, item, strict=False))
        if isinstance(item, dict):
            item = {_RESOURCE_KEYS.get(k.lower(), k): v for k, v in item.items() if v is not None}
        out.append(item)
    return out


class Unreadable(ValueError):
    """A document that is not read (too deep, too large): ``problem`` is what the row keeps of it."""

    def __init__(self, reason: str, raw: str) -> None:
        super().__init__(reason)
        data = raw.encode("utf-8", "surrogatepass")
        self.problem: dict[str, Any] = {
            "reason": reason,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "raw": raw[:RAW_KEEP],
            **({"truncated": True} if len(raw) > RAW_KEEP else {}),
        }


def _document(value: Any, column: str, problems: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    doc: Any = value
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            doc = load_json(value)
        except JsonLimit as exc:
            raise Unreadable(str(exc), value) from None
        except ValueError:
            parsed = parse_lake_map(value)
            if parsed is None:
                return value  # not JSON: keep the text rather than lose evidence
            doc = parsed
        except RecursionError:  # pragma: no cover - the depth check comes first
            raise Unreadable("nested too deeply to parse", value) from None
    if doc is None:
        return None
    if column == "resources":
        doc = _canonical_resources(doc)
    dupes = duplicate_keys(doc)
    if dupes and problems is not None:
        shown = ", ".join(dupes[:5]) + (", ..." if len(dupes) > 5 else "")
        problems[column] = {
            "reason": f"duplicate key {shown}: the first value is read (as the queries read it)"
        }
    try:
        return dumps_within(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except JsonLimit as exc:
        # A parsed value (from an engine) has no text to keep, and repr() would recurse as deep.
        raw = value if isinstance(value, str) else f"<a {type(value).__name__} {exc}: not serialized>"
        raise Unreadable(str(exc), raw) from None


def json_text(value: Any, column: str = "") -> str | None:
    """Canonical JSON text of a document given as text (JSON or Lake's map form) or as a value.

    Unreadable (a ValueError) when the document is too deep or too large to read safely."""
    return _document(value, column, None)


def iso_time(value: Any) -> str | None:
    """A time as ISO 8601 UTC with Z (second precision)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        tz = value if value.tzinfo else value.replace(tzinfo=UTC)
        return tz.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = str(value)
    match = _TIME_RE.match(text)
    if match:
        return f"{match.group(1)}T{match.group(2)}Z"
    # Another offset (+02:00): the same instant in UTC, so times compare as times, not as strings.
    try:
        parsed = datetime.fromisoformat(text.strip().replace(" ", "T", 1).replace("Z", "+00:00"))
    except ValueError:
        return text
    return iso_time(parsed)


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return int(float(value))


def json_value_text(value: Any) -> str | None:
    """A JSON value as the SQL engines read it into a VARCHAR column: strings as they are, booleans
    ``true``/``false``, numbers and documents as compact JSON text, None as NULL (what OCSF keeps of a
    CloudTrail field, and what Logs Insights' records give the saved queries)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if text != "" else None


def normalize_row(raw: Mapping[str, Any]) -> Row:
    """One engine row to the contract.

    A document too deep or too large to read becomes None, its raw text kept under ``malformed``
    (with one of a duplicated key, the first value is read): one hostile value never stops the rest."""
    row: Row = {}
    problems: dict[str, Any] = {}
    for key, value in raw.items():
        k = key.lower()
        if k == MALFORMED:
            continue
        if k in JSON_COLUMNS:
            try:
                row[k] = _document(value, k, problems)
            except Unreadable as exc:
                row[k] = None
                problems[k] = exc.problem
        elif k in INT_COLUMNS:
            row[k] = _int(value)
        elif k in TIME_COLUMNS:
            row[k] = iso_time(value)
        else:
            row[k] = _text(value)
    if problems:
        row[MALFORMED] = json.dumps(problems, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return row


def normalize_rows(rows: Iterable[Mapping[str, Any]]) -> list[Row]:
    return [normalize_row(r) for r in rows]


_JSON_FIELDS = {
    "request_parameters": "requestParameters",
    "response_elements": "responseElements",
    "resources": "resources",
    "additional_event_data": "additionalEventData",
}


def _object(value: Any) -> Mapping[str, Any]:
    # A hostile record may put a string or a list where CloudTrail writes an object.
    return value if isinstance(value, Mapping) else {}


def record_to_row(record: Mapping[str, Any]) -> dict[str, str | int | None]:
    """One CloudTrail record (a log file's, LookupEvents' CloudTrailEvent, a Logs Insights ``@message``)
    -> one contract row.

    Its documents are read as the engines' rows are (:func:`normalize_row`): one too deep or too large
    is None, with its raw text under ``malformed``. ``event_time`` is the record's own text."""
    identity = _object(record.get("userIdentity"))
    issuer = _object(_object(identity.get("sessionContext")).get("sessionIssuer"))
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
    documents = normalize_row({key: record.get(field) for key, field in _JSON_FIELDS.items()})
    row.update(documents)
    return row
