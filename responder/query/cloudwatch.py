"""CloudWatch Logs Insights over the log group a CloudTrail trail delivers to (one record per log event).

Each log event's ``@message`` is one CloudTrail record and ``@timestamp`` its event time. Logs Insights
speaks its own language (CWLI), not SQL, so each saved query's semantics are carried out in two parts:

- **The key's own queries** (key_activity, source_ips, write_events, s3_data_events,
  minted_credentials, and key_provenance, whose records are found by the key in their response) fetch
  the key's records whole (``@message``), narrowed in the query only by predicates the saved SQL
  states word for word (the key, the window, its event-name list), and the
  rest of the saved query runs here, over :func:`responder.query.rows.record_to_row`: its filters with
  SQL's NULL rules, its GROUP BY, its projection and its ORDER BY (NULLS LAST, as Trino and DuckDB).
  Exact by construction: nothing rests on how Logs Insights groups a missing field, sums a value that
  is not a number, or counts distinct values (``count_distinct`` is approximate). The scan, which is
  what Logs Insights bills, is the same as a ``stats`` query's; only what comes back differs.
- **The queries over other principals' events** (coverage; same_ip_credentials' other keys) use
  ``stats``, grouped only by fields their filter guarantees present; the groups are rolled up here
  (sums, min, max), so a time range split in parts gives the same rows.

same_ip_credentials needs the key's source addresses first (Logs Insights has no join): ``start`` runs
that small stats query to completion itself (polled with ``sleep``, bounded by ``start_seconds``), then
starts the second query, ``sourceIPAddress in [...]`` (more than one when the list would pass the
10,000-character query limit: the others run within ``results``).

Every row, as the other engines page theirs: a query returns at most ``limit`` rows (GetQueryResults
pages them with nextToken). A row query that returns ``limit`` rows continues, within ``results``,
with a further query from the last millisecond it saw, whose events are read again whole (none lost,
none doubled, CloudTrail's own duplicate deliveries kept as the SQL engines keep them); when one
millisecond alone holds ``limit`` of the key's events, QueryFailed says so. A stats query that returns
``limit`` groups runs again over the two halves of its time range. Both are bounded by
``results_seconds`` and ``max_queries``; a query abandoned at a deadline is stopped (StopQuery).

The time range: startTime is the window's first second, endTime (inclusive, in seconds) the second
after the window's last, and ``toMillis(@timestamp) < end`` in the query keeps exactly the window's
end second, as the saved queries compare second-precision event_time.

The query id the workflow carries names the saved query and its parameters besides Logs Insights' own
id (``cwl:<name>:<key>:<start>:<end>:<extra>:<queryId>``): ``results`` needs them to continue, and
GetQueryResults does not return them. It is validated again when read back.

Values never reach the query text unchecked: the key through :func:`quote_key` (the key pattern only),
the event names and source as the saved SQL spells them, the key's source addresses through a pattern
that admits no quote, backslash or bracket (a value outside it fails the query rather than vanish).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

from botocore.exceptions import ClientError

from responder.errors import (
    InvalidQueryParameter,
    QueryFailed,
    QueryTimedOut,
    ResponderError,
    Throttled,
    UnknownQuery,
    error_code,
    error_message,
)
from responder.permissions import Permission
from responder.query.base import (
    Params,
    PollingEngine,
    QueryState,
    QueryStatus,
    client_error,
    raise_for_status,
    require_finished,
)
from responder.query.rows import MALFORMED, Row, iso_time, normalize_row, record_to_row
from responder.query.rows import json_value_text as _text
from responder.query.sql import ACCESS_KEY_RE, QueryParams, check_name, iso, parse
from responder.safejson import JsonLimit, load_json

# What this engine's code calls, by the stack's resource names; granted only when it is chosen.
PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        ("logs:StartQuery",), ("@cloudwatch_log_group",), "Logs Insights queries on the trail's log group"
    ),
    Permission(
        ("logs:GetQueryResults", "logs:StopQuery"),
        ("@cloudwatch_queries",),
        "a query's status and rows, and stopping one abandoned at a deadline: neither takes a resource",
    ),
)
# The stack resources only this engine uses: the log group, and the resource-less query calls.
REFERENCES: frozenset[str] = frozenset({"cloudwatch_log_group", "cloudwatch_queries"})

# Errors that mean the query cannot run as asked. LimitExceededException is the account's concurrent
# query quota: worth a retry (Throttled, by name); throttling and 5xx propagate as they are.
_FAILED_CODES = frozenset(
    {
        "InvalidParameterException",
        "ResourceNotFoundException",
        "MalformedQueryException",
        "AccessDeniedException",
    }
)
_STATES: dict[str, QueryState] = {
    "Scheduled": "QUEUED",
    "Running": "RUNNING",
    "Complete": "FINISHED",
    "Failed": "FAILED",
    "Cancelled": "CANCELLED",
    "Timeout": "TIMED_OUT",
    "Unknown": "FAILED",
}

#: The saved queries answered from the key's whole records (the rest of their SQL runs here).
ROW_QUERIES: tuple[str, ...] = (
    "key_activity",
    "source_ips",
    "write_events",
    "s3_data_events",
    "minted_credentials",
    "key_provenance",
)
MAX_LIMIT = 100_000  # StartQuery's limit
MAX_PAGE = 10_000  # GetQueryResults' maxItems
MAX_QUERY_CHARS = 10_000  # StartQuery's queryString
NO_QUERY = "-"  # the Logs Insights id of a query that needed none (a key with no source address)
# same_ip_credentials.sql's key_ips: addresses every key shares are left out.
_AWS_INTERNAL = "AWS Internal"
_AWS_SERVICE_SUFFIX = ".amazonaws.com"
# A whole CloudTrail record: one level above its documents (which safejson bounds at 64 deep), and at
# most a log event's size. Deeper is hostile; its documents are still read within their own limits.
_RECORD_DEPTH = 256
_RECORD_BYTES = 1024 * 1024

_LOG_GROUP_RE = re.compile(r"^[A-Za-z0-9_#+=/:,.@-]{1,2048}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9.]{1,128}$")
# A source address as it may be quoted: IPv4, IPv6, a service name; never a quote, backslash or bracket.
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9.:_ -]{0,255}$")
_NUMBER_RE = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_HANDLE_RE = re.compile(
    r"^cwl:(?P<name>[a-z0-9_]{1,64}):(?P<key>[A-Z0-9]{20}):(?P<start>\d{1,12}):(?P<end>\d{1,12})"
    r":(?P<extra>-|\d{1,4}\.[0-9a-f]{16}):(?P<qid>[A-Za-z0-9._-]{1,256})$"
)


def _client_error(exc: ClientError, what: str) -> ResponderError | ClientError:
    if error_code(exc) == "LimitExceededException":
        return Throttled(f"{what}: LimitExceededException: {error_message(exc)}"[:500])
    return client_error(exc, what, _FAILED_CODES)


def quote_key(key: str) -> str:
    """The access key as a Logs Insights string literal; anything but the key pattern is refused."""
    if not isinstance(key, str) or not ACCESS_KEY_RE.fullmatch(key):
        shown = key[:24] if isinstance(key, str) else type(key).__name__
        raise InvalidQueryParameter(f"access_key_id must match ^(AKIA|ASIA)[A-Z0-9]{{16}}$, got {shown!r}")
    return f'"{key}"'


def _quote_name(value: str) -> str:
    # Event names and sources come from the saved SQL; checked all the same.
    if not _NAME_RE.fullmatch(value):
        raise UnknownQuery(f"{value!r} cannot be a Logs Insights literal")
    return f'"{value}"'


def _quote_address(value: str) -> str:
    if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
        raise QueryFailed(
            f"same_ip_credentials: a source address of the key, {str(value)[:60]!r}, cannot be quoted "
            "safely in a Logs Insights query: the query cannot run on this engine"
        )
    return f'"{value}"'


def _list(quoted: Iterable[str]) -> str:
    return "[" + ", ".join(quoted) + "]"


def log_group_identifier(value: str) -> str:
    """StartQuery's logGroupIdentifiers entry: a log group name or ARN (without a trailing ``:*``)."""
    if isinstance(value, str) and value.startswith("arn:") and value.endswith(":*"):
        value = value[:-2]  # the IAM resource form; StartQuery wants the ARN without it
    if not isinstance(value, str) or not _LOG_GROUP_RE.fullmatch(value):
        raise InvalidQueryParameter(f"cloudwatch log group must be a log group name or ARN, got {value!r}")
    return value


# --- What the saved SQL says, read from it (so the two cannot drift apart) ---------------------------


@cache
def columns(name: str) -> tuple[str, ...]:
    """The saved query's SELECT list, in order: the columns of its rows."""
    return tuple(s.alias_or_name for s in parse(name).selects)


@cache
def _in_list(name: str, column: str) -> tuple[str, ...]:
    from sqlglot import exp

    for node in parse(name).find_all(exp.In):
        if isinstance(node.this, exp.Column) and node.this.name == column:
            values = node.expressions
            if values and all(isinstance(v, exp.Literal) and v.is_string for v in values):
                return tuple(v.name for v in values)
    raise UnknownQuery(f"{name}.sql has no {column} IN (...) list of strings")


@cache
def _equals(name: str, column: str) -> str:
    from sqlglot import exp

    for node in parse(name).find_all(exp.EQ):
        if isinstance(node.this, exp.Column) and node.this.name == column:
            value = node.expression
            if isinstance(value, exp.Literal) and value.is_string:
                return str(value.name)
    raise UnknownQuery(f"{name}.sql has no {column} = '...'")


# --- Query text ----------------------------------------------------------------------------------------


def window_ms(params: QueryParams) -> tuple[int, int]:
    """The window as epoch milliseconds [start, end): the end second whole (event_time is to the second)."""
    start = int(params.window_start.timestamp()) * 1000
    end = (int(params.window_end.timestamp()) + 1) * 1000
    return start, end


def time_range(lo_ms: int, hi_ms: int) -> tuple[int, int]:
    """StartQuery's startTime and endTime (epoch seconds, both inclusive) covering [lo_ms, hi_ms)."""
    return lo_ms // 1000, -(-hi_ms // 1000)


def _window(lo_ms: int, hi_ms: int) -> str:
    return f"filter toMillis(@timestamp) >= {int(lo_ms)} and toMillis(@timestamp) < {int(hi_ms)}"


def row_query(name: str, key: str, lo_ms: int, hi_ms: int) -> str:
    """The key's whole records in [lo_ms, hi_ms), oldest first, for one of :data:`ROW_QUERIES`."""
    if name not in ROW_QUERIES:
        raise UnknownQuery(f"{name} is not answered from records")
    if name == "key_provenance":
        # The call that returned the key was made by another identity: found by the key in its response.
        quoted = quote_key(key)
        names = _list(_quote_name(n) for n in _in_list(name, "event_name"))
        return "\n| ".join(
            [
                "fields toMillis(@timestamp) as ts_ms, @message",
                f"filter eventName in {names}",
                f"filter responseElements.accessKey.accessKeyId = {quoted}"
                f" or responseElements.credentials.accessKeyId = {quoted}",
                _window(lo_ms, hi_ms),
                "sort @timestamp asc",
            ]
        )
    lines = [
        "fields toMillis(@timestamp) as ts_ms, @message",
        f"filter userIdentity.accessKeyId = {quote_key(key)}",
        _window(lo_ms, hi_ms),
    ]
    if name == "s3_data_events":
        source = _quote_name(_equals(name, "event_source"))
        names = _list(_quote_name(n) for n in _in_list(name, "event_name"))
        lines.append(f"filter eventSource = {source} and eventName in {names}")
    elif name == "minted_credentials":
        lines.append(f"filter eventName in {_list(_quote_name(n) for n in _in_list(name, 'event_name'))}")
    lines.append("sort @timestamp asc")
    return "\n| ".join(lines)


def key_ips_query(key: str, lo_ms: int, hi_ms: int) -> str:
    """same_ip_credentials' first query: the key's source addresses (exclusions applied here after)."""
    return "\n| ".join(
        [
            f"filter userIdentity.accessKeyId = {quote_key(key)}",
            _window(lo_ms, hi_ms),
            "stats count(*) as event_count by sourceIPAddress",
        ]
    )


def same_ip_query(key: str, addresses: Sequence[str], lo_ms: int, hi_ms: int) -> str:
    """same_ip_credentials' second query: other keys' events from ``addresses``, per key and address."""
    return "\n| ".join(
        [
            _window(lo_ms, hi_ms),
            f"filter sourceIPAddress in {_list(_quote_address(a) for a in addresses)}",
            f"filter ispresent(userIdentity.accessKeyId) and userIdentity.accessKeyId != {quote_key(key)}",
            "stats count(*) as event_count, min(toMillis(@timestamp)) as first_ms,"
            " max(toMillis(@timestamp)) as last_ms, max(userIdentity.arn) as identity_arn,"
            " max(userIdentity.type) as identity_type by userIdentity.accessKeyId, sourceIPAddress",
        ]
    )


def coverage_query(lo_ms: int, hi_ms: int) -> str:
    """Every event of the log group in [lo_ms, hi_ms): count, first and last."""
    return "\n| ".join(
        [
            _window(lo_ms, hi_ms),
            "stats count(*) as events_scanned, min(toMillis(@timestamp)) as first_ms,"
            " max(toMillis(@timestamp)) as last_ms",
        ]
    )


def address_chunks(key: str, addresses: Sequence[str], lo_ms: int, hi_ms: int) -> list[list[str]]:
    """``addresses`` in runs short enough for one query each (StartQuery takes 10,000 characters)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    for address in addresses:
        trial = [*current, address]
        if current and len(same_ip_query(key, trial, lo_ms, hi_ms)) > MAX_QUERY_CHARS:
            chunks.append(current)
            trial = [address]
        current = trial
    if current:
        chunks.append(current)
    return chunks


def _digest(addresses: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(addresses).encode()).hexdigest()[:16]


# --- The query id the workflow carries -------------------------------------------------------------------


@dataclass(frozen=True)
class _Handle:
    name: str
    params: QueryParams
    query_id: str  # Logs Insights' own, or NO_QUERY
    chunks: int = 1  # same_ip_credentials: how many address runs (the first is query_id)
    digest: str = ""  # same_ip_credentials: of the addresses, to see them change before results

    def encode(self) -> str:
        start = int(self.params.window_start.timestamp())
        end = int(self.params.window_end.timestamp())
        extra = f"{self.chunks}.{self.digest}" if self.digest else "-"
        return f"cwl:{self.name}:{self.params.access_key_id}:{start}:{end}:{extra}:{self.query_id}"

    @classmethod
    def decode(cls, text: str) -> _Handle:
        match = _HANDLE_RE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidQueryParameter(f"not a query id of the cloudwatch engine: {str(text)[:80]!r}")
        params = QueryParams(
            access_key_id=match["key"],
            window_start=datetime.fromtimestamp(int(match["start"]), UTC),
            window_end=datetime.fromtimestamp(int(match["end"]), UTC),
        )
        chunks, digest = 1, ""
        if match["extra"] != "-":
            count, digest = match["extra"].split(".")
            chunks = int(count)
        return cls(check_name(match["name"]), params, match["qid"], chunks, digest)


@dataclass
class _Budget:
    """What one call (start, results) may still spend running queries synchronously."""

    deadline: float
    seconds: float
    queries: int


# --- The saved queries' semantics, over CloudTrail records ------------------------------------------------


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _scalar(document: Any, *path: str) -> str | None:
    """Trino's json_extract_scalar(document, '$.a.b'): a scalar as text; NULL for objects, arrays, null."""
    value = document
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    if isinstance(value, Mapping | list) or value is None:
        return None
    return _text(value)


def _double(text: str | None) -> float | None:
    """TRY_CAST(text AS DOUBLE)."""
    return float(text) if text is not None and _NUMBER_RE.fullmatch(text) else None


def _bigint(value: float | None, what: str) -> int | None:
    """CAST(double AS BIGINT): nearest, halves away from zero; a value out of range fails, as in SQL."""
    if value is None:
        return None
    if not math.isfinite(value) or abs(value) >= 2.0**63:
        raise QueryFailed(f"s3_data_events: the sum of {what} ({value}) is out of BIGINT's range")
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _event_time(record: Mapping[str, Any]) -> str | None:
    """The event_time the SQL engines compare: eventTime in UTC to the second, NULL when not a time."""
    text = iso_time(_text(record.get("eventTime")))
    return text if text is not None and _ISO_Z.fullmatch(text) else None


def _of_key(records: Iterable[Mapping[str, Any]], params: QueryParams) -> list[tuple[Mapping[str, Any], str]]:
    """``access_key_id = :access_key_id AND event_time BETWEEN the window's ends``, with each event_time."""
    return _windowed(records, params, lambda r: _text(_object(r.get("userIdentity")).get("accessKeyId")))


def _windowed(
    records: Iterable[Mapping[str, Any]],
    params: QueryParams,
    key_of: Callable[[Mapping[str, Any]], str | None],
) -> list[tuple[Mapping[str, Any], str]]:
    """The records whose ``key_of`` is the asked key and whose time is in the window, with each time."""
    lo, hi = iso(params.window_start), iso(params.window_end)
    out = []
    for record in records:
        if key_of(record) != params.access_key_id:
            continue
        when = _event_time(record)
        if when is not None and lo <= when <= hi:
            out.append((record, when))
    return out


def _ordered(rows: Iterable[dict[str, Any]], keys: Sequence[tuple[str, bool]]) -> list[dict[str, Any]]:
    """ORDER BY ``keys`` ((column, descending), ...), NULLS LAST either way, as Trino and DuckDB."""
    out = list(rows)
    for column, descending in reversed(keys):  # stable sorts, least significant key first
        # (present, value) descending and (absent, value) ascending both put NULL last; two NULLs tie.
        if descending:
            out.sort(key=partial(_present_first, column), reverse=True)
        else:
            out.sort(key=partial(_absent_last, column))
    return out


def _present_first(column: str, row: Mapping[str, Any]) -> tuple[bool, Any]:
    return row.get(column) is not None, row.get(column)


def _absent_last(column: str, row: Mapping[str, Any]) -> tuple[bool, Any]:
    return row.get(column) is None, row.get(column)


def _contract(row: Mapping[str, Any], name: str) -> Row:
    """The saved query's columns of ``row``, normalized; ``malformed`` keeps what concerns them."""
    wanted = columns(name)
    out = normalize_row({c: row.get(c) for c in wanted})
    marks = row.get(MALFORMED)
    if isinstance(marks, str):
        kept = {k: v for k, v in json.loads(marks).items() if k in wanted}
        if kept:
            out[MALFORMED] = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return out


def _event_rows(records: Iterable[Mapping[str, Any]], params: QueryParams, name: str) -> list[Row]:
    rows = []
    for record, when in _of_key(records, params):
        if name == "write_events":
            read_only = _text(record.get("readOnly"))
            if (read_only.lower() if read_only is not None else "false") == "true":
                continue  # coalesce(lower(read_only), 'false') <> 'true'
        rows.append({**record_to_row(record), "event_time": when})
    descending = name == "key_activity"  # newest first; write_events oldest first
    ordered = _ordered(rows, [("event_time", descending), ("event_id", descending)])
    return [_contract(r, name) for r in ordered]


def _coalesce(*values: str | None) -> str | None:
    """SQL coalesce: the first non-NULL ('' included)."""
    return next((v for v in values if v is not None), None)


def _returned_key(response: Any) -> str | None:
    """The key a credential call returned (CreateAccessKey's accessKey, STS's credentials)."""
    return _coalesce(
        _scalar(response, "credentials", "accessKeyId"), _scalar(response, "accessKey", "accessKeyId")
    )


def _created_for(response: Any) -> str | None:
    """Whom the returned credential is for: the user, the assumed role's or federated user's ARN."""
    return _coalesce(
        _scalar(response, "accessKey", "userName"),
        _scalar(response, "assumedRoleUser", "arn"),
        _scalar(response, "federatedUser", "arn"),
    )


def _successful(
    timed: Iterable[tuple[Mapping[str, Any], str]], name: str
) -> Iterator[tuple[Mapping[str, Any], str]]:
    """``event_name IN (...) AND error_code IS NULL``, the list as the saved query ``name`` has it."""
    names = set(_in_list(name, "event_name"))
    for record, when in timed:
        if _text(record.get("eventName")) in names and _text(record.get("errorCode")) is None:
            yield record, when


def _minted_rows(records: Iterable[Mapping[str, Any]], params: QueryParams) -> list[Row]:
    rows = []
    for record, when in _successful(_of_key(records, params), "minted_credentials"):
        response = record.get("responseElements")
        identity = _object(record.get("userIdentity"))
        rows.append(
            {
                "event_time": when,
                "event_name": _text(record.get("eventName")),
                "minted_access_key_id": _returned_key(response),
                "minted_for": _coalesce(_created_for(response), _text(identity.get("arn"))),
                "expiration": _scalar(response, "credentials", "expiration"),
                "source_ip": _text(record.get("sourceIPAddress")),
                "aws_region": _text(record.get("awsRegion")),
                "event_id": _text(record.get("eventID")),
                "access_key_id": _text(identity.get("accessKeyId")),
            }
        )
    ordered = _ordered(rows, [("event_time", False), ("event_id", False)])
    return [_contract(r, "minted_credentials") for r in ordered]


def _provenance_rows(records: Iterable[Mapping[str, Any]], params: QueryParams) -> list[Row]:
    """key_provenance.sql over records: the successful calls whose response carries the key."""
    rows = []
    # The key is the one in the response (whoever made the call), not the caller's.
    returned = _windowed(records, params, lambda r: _returned_key(r.get("responseElements")))
    for record, when in _successful(returned, "key_provenance"):
        response = record.get("responseElements")
        identity = _object(record.get("userIdentity"))
        rows.append(
            {
                "event_time": when,
                "event_name": _text(record.get("eventName")),
                "created_for": _created_for(response),
                "created_status": _scalar(response, "accessKey", "status"),
                "creator_arn": _text(identity.get("arn")),
                "creator_type": _text(identity.get("type")),
                "creator_access_key_id": _text(identity.get("accessKeyId")),
                "source_ip": _text(record.get("sourceIPAddress")),
                "user_agent": _text(record.get("userAgent")),
                "aws_region": _text(record.get("awsRegion")),
                "account_id": _text(record.get("recipientAccountId")),
                "event_id": _text(record.get("eventID")),
            }
        )
    ordered = _ordered(rows, [("event_time", False), ("event_id", False)])
    return [_contract(r, "key_provenance") for r in ordered]


def _s3_rows(records: Iterable[Mapping[str, Any]], params: QueryParams) -> list[Row]:
    source = _equals("s3_data_events", "event_source")
    names = set(_in_list("s3_data_events", "event_name"))
    groups: dict[tuple[str | None, str | None, str | None], dict[str, Any]] = {}
    for record, when in _of_key(records, params):
        event_name = _text(record.get("eventName"))
        if _text(record.get("eventSource")) != source or event_name not in names:
            continue
        request = record.get("requestParameters")
        key = (_scalar(request, "bucketName"), _scalar(request, "key"), event_name)
        group = groups.setdefault(
            key,
            {"events": 0, "errors": 0, "out": None, "in": None, "first": when, "last": when},
        )
        group["events"] += 1
        group["errors"] += _text(record.get("errorCode")) is not None
        extra = record.get("additionalEventData")
        for field, sums in (("bytesTransferredOut", "out"), ("bytesTransferredIn", "in")):
            value = _double(_scalar(extra, field))
            if value is not None:  # sum() skips NULL, and is NULL when every value is
                group[sums] = value if group[sums] is None else group[sums] + value
        group["first"] = min(group["first"], when)
        group["last"] = max(group["last"], when)
    rows = [
        {
            "bucket": bucket,
            "object_key": object_key,
            "event_name": event_name,
            "event_count": g["events"],
            "error_count": g["errors"],
            "bytes_out": _bigint(g["out"], "bytesTransferredOut"),
            "bytes_in": _bigint(g["in"], "bytesTransferredIn"),
            "first_seen": g["first"],
            "last_seen": g["last"],
        }
        for (bucket, object_key, event_name), g in groups.items()
    ]
    ordered = _ordered(
        rows, [("bytes_out", True), ("bucket", False), ("object_key", False), ("event_name", False)]
    )
    return [_contract(r, "s3_data_events") for r in ordered]


def _source_ip_rows(records: Iterable[Mapping[str, Any]], params: QueryParams) -> list[Row]:
    groups: dict[str | None, dict[str, Any]] = {}
    for record, when in _of_key(records, params):
        address = _text(record.get("sourceIPAddress"))
        group = groups.setdefault(
            address, {"events": 0, "errors": 0, "first": when, "last": when, "agents": set()}
        )
        group["events"] += 1
        group["errors"] += _text(record.get("errorCode")) is not None
        group["first"] = min(group["first"], when)
        group["last"] = max(group["last"], when)
        agent = _text(record.get("userAgent"))
        if agent is not None:  # count(DISTINCT ...) and the FILTERed array_agg leave NULL out
            group["agents"].add(agent)
    rows = [
        {
            "source_ip": address,
            "event_count": g["events"],
            "error_count": g["errors"],
            "first_seen": g["first"],
            "last_seen": g["last"],
            "user_agent_count": len(g["agents"]),
            "user_agents": sorted(g["agents"]) or None,  # array_agg of no row is NULL
        }
        for address, g in groups.items()
    ]
    ordered = _ordered(rows, [("event_count", True), ("source_ip", False)])
    return [_contract(r, "source_ips") for r in ordered]


def evaluate(name: str, records: Iterable[Mapping[str, Any]], params: Params) -> list[Row]:
    """One of :data:`ROW_QUERIES` over CloudTrail records, exactly as its saved SQL would answer it."""
    p = QueryParams.of(params)
    if name in ("key_activity", "write_events"):
        return _event_rows(records, p, name)
    if name == "minted_credentials":
        return _minted_rows(records, p)
    if name == "key_provenance":
        return _provenance_rows(records, p)
    if name == "s3_data_events":
        return _s3_rows(records, p)
    if name == "source_ips":
        return _source_ip_rows(records, p)
    raise UnknownQuery(f"{name} is not answered from records")


def _number(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        pass
    try:
        return int(float(value))  # Logs Insights may render a number as 1.7225192E12
    except (TypeError, ValueError, OverflowError) as exc:
        raise QueryFailed(f"Logs Insights returned {str(value)[:40]!r} where a number belongs") from exc


def _ms_time(value: Any) -> str | None:
    ms = _number(value)
    return None if ms is None else iso(datetime.fromtimestamp(ms // 1000, UTC))


def _max_text(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _same_ip_rows(groups: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Stats groups (any split of the window) rolled up per other key and address."""
    rolled: dict[tuple[Any, Any], dict[str, Any]] = {}
    for g in groups:
        key = (g.get("userIdentity.accessKeyId"), g.get("sourceIPAddress"))
        row = rolled.setdefault(
            key,
            {
                "access_key_id": key[0],
                "source_ip": key[1],
                "event_count": 0,
                "first_seen": None,
                "last_seen": None,
                "identity_arn": None,
                "identity_type": None,
            },
        )
        row["event_count"] += _number(g.get("event_count")) or 0
        first, last = _number(g.get("first_ms")), _number(g.get("last_ms"))
        if first is not None:
            row["first_seen"] = first if row["first_seen"] is None else min(row["first_seen"], first)
        if last is not None:
            row["last_seen"] = last if row["last_seen"] is None else max(row["last_seen"], last)
        row["identity_arn"] = _max_text(row["identity_arn"], g.get("identity_arn"))
        row["identity_type"] = _max_text(row["identity_type"], g.get("identity_type"))
    ordered = _ordered(
        rolled.values(), [("event_count", True), ("access_key_id", False), ("source_ip", False)]
    )
    return [
        _contract(
            {**r, "first_seen": _ms_time(r["first_seen"]), "last_seen": _ms_time(r["last_seen"])},
            "same_ip_credentials",
        )
        for r in ordered
    ]


def _coverage_rows(groups: Iterable[Mapping[str, Any]]) -> list[Row]:
    count, first, last = 0, None, None
    for g in groups:
        count += _number(g.get("events_scanned")) or 0
        lo, hi = _number(g.get("first_ms")), _number(g.get("last_ms"))
        if lo is not None:
            first = lo if first is None else min(first, lo)
        if hi is not None:
            last = hi if last is None else max(last, hi)
    return [
        _contract(
            {"events_scanned": count, "first_event": _ms_time(first), "last_event": _ms_time(last)},
            "coverage",
        )
    ]


def _cells(result: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    # One result row is [{field, value}, ...]; @ptr (a pointer to the log event) is not a column.
    return {str(c["field"]): c["value"] for c in result if c.get("field") and c.get("field") != "@ptr"}


def _record(row: Mapping[str, str], name: str) -> Mapping[str, Any] | None:
    """The CloudTrail record of a result row (None when the message is JSON but no record object)."""
    message = row.get("@message")
    try:
        record = load_json(message or "", max_depth=_RECORD_DEPTH, max_bytes=_RECORD_BYTES)
    except (JsonLimit, ValueError) as exc:
        # Logs Insights matched it to the key: not reading it would drop one of the key's events.
        raise QueryFailed(
            f"{name}: a log event of the key is not a readable CloudTrail record: {exc}"
        ) from exc
    return record if isinstance(record, Mapping) else None


# --- The engine ------------------------------------------------------------------------------------------


class CloudWatchEngine(PollingEngine):
    """Saved queries on the CloudWatch Logs log group (name or ARN) the trail delivers to.

    ``limit``: rows per query (StartQuery's limit, up to 100,000); ``page_size``: rows per
    GetQueryResults call (up to 10,000); ``start_seconds`` / ``results_seconds``: how long ``start``
    (same_ip_credentials' first query) and ``results`` (continuations) may run queries themselves;
    ``max_queries``: how many queries one call may run; ``clock``: monotonic seconds (for tests)."""

    name = "cloudwatch"

    def __init__(
        self,
        logs: Any,
        log_group: str,
        *,
        limit: int = 10_000,
        page_size: int = 10_000,
        start_seconds: float = 40.0,
        results_seconds: float = 240.0,
        max_queries: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not 1 <= limit <= MAX_LIMIT or not 1 <= page_size <= MAX_PAGE:
            raise InvalidQueryParameter(f"limit must be 1..{MAX_LIMIT} and page_size 1..{MAX_PAGE}")
        self.client = logs
        self.log_group = log_group_identifier(log_group)
        self.limit = limit
        self.page_size = page_size
        self.start_seconds = start_seconds
        self.results_seconds = results_seconds
        self.max_queries = max_queries
        self.clock = clock

    def render(self, name: str, params: Params, *, source_ips: Sequence[str] | None = None) -> list[str]:
        """The exact queryString(s) ``start`` sends for the whole window. same_ip_credentials: the key's
        addresses query, then (given the addresses the first one found) one query per address run."""
        p = QueryParams.of(params)
        check_name(name)
        lo, hi = window_ms(p)
        if name in ROW_QUERIES:
            return [row_query(name, p.access_key_id, lo, hi)]
        if name == "coverage":
            return [coverage_query(lo, hi)]
        queries = [key_ips_query(p.access_key_id, lo, hi)]
        for chunk in address_chunks(p.access_key_id, list(source_ips or ()), lo, hi):
            queries.append(same_ip_query(p.access_key_id, chunk, lo, hi))
        return queries

    # -- AWS calls

    def _start(self, query: str, lo_ms: int, hi_ms: int, what: str) -> str:
        start, end = time_range(lo_ms, hi_ms)
        try:
            response = self.client.start_query(
                logGroupIdentifiers=[self.log_group],
                startTime=start,
                endTime=end,
                queryString=query,
                limit=self.limit,
            )
        except ClientError as exc:
            raise _client_error(exc, f"StartQuery {what}") from exc
        return str(response["queryId"])

    def _get(self, query_id: str, max_items: int, token: str | None = None) -> dict[str, Any]:
        try:
            response: dict[str, Any] = self.client.get_query_results(
                queryId=query_id, maxItems=max_items, **({"nextToken": token} if token else {})
            )
        except ClientError as exc:
            raise _client_error(exc, f"GetQueryResults {query_id}") from exc
        return response

    def _stop(self, query_id: str, what: str, state: str, seconds: float) -> QueryTimedOut:
        message = f"{what}: Logs Insights query {query_id} still {state} after {seconds:.0f}s; stopped"
        try:
            self.client.stop_query(queryId=query_id)
        except ClientError as exc:
            raise QueryTimedOut(f"{message} (StopQuery failed: {error_code(exc)})") from exc
        return QueryTimedOut(message)

    def _status_of(self, query_id: str, response: Mapping[str, Any]) -> QueryStatus:
        raw = str(response.get("status") or "Unknown")
        state = _STATES.get(raw, "FAILED")
        stats = response.get("statistics") or {}
        return QueryStatus(
            query_id=query_id,
            state=state,
            bytes_scanned=_number(stats.get("bytesScanned")),
            events_scanned=_number(stats.get("recordsScanned")),
            error=None if state in ("QUEUED", "RUNNING", "FINISHED") else f"Logs Insights status {raw}",
        )

    def _pages(self, query_id: str, first: Mapping[str, Any] | None = None) -> list[dict[str, str]]:
        """Every row of a Complete query, following nextToken."""
        page = first if first is not None else self._get(query_id, self.page_size)
        rows: list[dict[str, str]] = []
        for _ in range(self.limit // self.page_size + 2):  # a query holds at most `limit` rows
            rows.extend(_cells(r) for r in page.get("results") or [])
            token = page.get("nextToken")
            if not token:
                return rows
            page = self._get(query_id, self.page_size, str(token))
        raise QueryFailed(f"GetQueryResults {query_id}: pages beyond the query's limit of {self.limit} rows")

    def _run(self, query: str, lo_ms: int, hi_ms: int, what: str, budget: _Budget) -> list[dict[str, str]]:
        """Run one query to completion here (within ``budget``) and return its rows."""
        budget.queries -= 1
        if budget.queries < 0:
            raise QueryFailed(
                f"{what} needs more than {self.max_queries} Logs Insights queries: narrow the window"
            )
        query_id = self._start(query, lo_ms, hi_ms, what)
        while True:
            status = self._status_of(f"{what} ({query_id})", self._get(query_id, 1))
            if status.done:
                raise_for_status(status)
                return self._pages(query_id)
            if self.clock() > budget.deadline:
                raise self._stop(query_id, what, status.state, budget.seconds)
            self.sleep(self.poll_seconds)

    def _stats(
        self,
        make: Callable[[int, int], str],
        lo_ms: int,
        hi_ms: int,
        what: str,
        budget: _Budget,
        first: list[dict[str, str]] | None = None,
    ) -> list[dict[str, str]]:
        """A stats query's groups over [lo_ms, hi_ms); a full answer is asked again in two halves."""
        rows = first if first is not None else self._run(make(lo_ms, hi_ms), lo_ms, hi_ms, what, budget)
        if len(rows) < self.limit:
            return rows
        if hi_ms - lo_ms < 2:
            raise QueryFailed(f"{what}: more than {self.limit} groups within one millisecond")
        mid = (lo_ms + hi_ms) // 2
        return self._stats(make, lo_ms, mid, what, budget) + self._stats(make, mid, hi_ms, what, budget)

    def _budget(self, seconds: float) -> _Budget:
        return _Budget(self.clock() + seconds, seconds, self.max_queries)

    # -- same_ip_credentials

    def _key_addresses(self, p: QueryParams, lo: int, hi: int, budget: _Budget) -> list[str]:
        key = p.access_key_id
        groups = self._stats(
            lambda a, b: key_ips_query(key, a, b), lo, hi, "same_ip_credentials (the key's addresses)", budget
        )
        found = {g.get("sourceIPAddress") for g in groups}
        return sorted(
            a for a in found if a is not None and a != _AWS_INTERNAL and not a.endswith(_AWS_SERVICE_SUFFIX)
        )

    def _same_ip_groups(
        self, h: _Handle, rows: list[dict[str, str]], lo: int, hi: int, budget: _Budget
    ) -> list[dict[str, str]]:
        if h.chunks == 1 and len(rows) < self.limit:
            return rows
        key = h.params.access_key_id
        addresses = self._key_addresses(h.params, lo, hi, budget)
        chunks = address_chunks(key, addresses, lo, hi)
        # The first run's answer stands only if the addresses are still those it was asked about.
        same = _digest(addresses) == h.digest and len(chunks) == h.chunks
        groups: list[dict[str, str]] = []
        for i, chunk in enumerate(chunks):
            groups += self._stats(
                partial(same_ip_query, key, chunk),
                lo,
                hi,
                "same_ip_credentials",
                budget,
                first=rows if same and i == 0 else None,
            )
        return groups

    # -- the protocol

    def start(self, name: str, params: Params) -> str:
        p = QueryParams.of(params)
        check_name(name)
        lo, hi = window_ms(p)
        if name != "same_ip_credentials":
            return _Handle(name, p, self._start(self.render(name, p)[0], lo, hi, name)).encode()
        # No join in Logs Insights: the key's addresses first, run to completion here.
        addresses = self._key_addresses(p, lo, hi, self._budget(self.start_seconds))
        if not addresses:
            return _Handle(name, p, NO_QUERY).encode()
        chunks = address_chunks(p.access_key_id, addresses, lo, hi)
        query_id = self._start(same_ip_query(p.access_key_id, chunks[0], lo, hi), lo, hi, name)
        return _Handle(name, p, query_id, len(chunks), _digest(addresses)).encode()

    def status(self, query_id: str) -> QueryStatus:
        h = _Handle.decode(query_id)
        if h.query_id == NO_QUERY:
            return QueryStatus(query_id=query_id, state="FINISHED")
        return self._status_of(query_id, self._get(h.query_id, 1))

    def results(self, query_id: str) -> list[Row]:
        """Every row of a FINISHED query, per the row contract (continuing past ``limit`` here)."""
        h = _Handle.decode(query_id)
        if h.query_id == NO_QUERY:
            return []
        first = self._get(h.query_id, self.page_size)
        require_finished(self._status_of(query_id, first))
        rows = self._pages(h.query_id, first)
        budget = self._budget(self.results_seconds)
        lo, hi = window_ms(h.params)
        if h.name in ROW_QUERIES:
            return evaluate(h.name, self._records(h, rows, lo, hi, budget), h.params)
        if h.name == "coverage":
            return _coverage_rows(self._stats(coverage_query, lo, hi, "coverage", budget, first=rows))
        return _same_ip_rows(self._same_ip_groups(h, rows, lo, hi, budget))

    def _records(
        self, h: _Handle, rows: list[dict[str, str]], lo: int, hi: int, budget: _Budget
    ) -> list[Mapping[str, Any]]:
        """The key's records over the window: a full answer continues from its last millisecond."""
        key = h.params.access_key_id
        out: list[Mapping[str, Any]] = []
        while True:
            if len(rows) < self.limit:
                out.extend(r for r in (_record(row, h.name) for row in rows) if r is not None)
                return out
            stamps = [_number(row.get("ts_ms")) for row in rows]
            if any(s is None for s in stamps):
                raise QueryFailed(f"{h.name}: a result row without its timestamp: cannot continue past it")
            boundary = max(s for s in stamps if s is not None)
            if boundary <= lo:
                raise QueryFailed(
                    f"{h.name}: more than {self.limit} of the key's events at {_ms_time(boundary)} "
                    f"(one millisecond, {boundary}): Logs Insights cannot page within it; rows would be "
                    "lost, so none are returned (a larger limit, up to 100,000, may hold them)"
                )
            # The boundary millisecond may be cut short: it is read again, whole, by the next query.
            out.extend(
                r
                for r in (
                    _record(row, h.name)
                    for row, s in zip(rows, stamps, strict=True)
                    if s is not None and s < boundary
                )
                if r is not None
            )
            lo = boundary
            rows = self._run(row_query(h.name, key, lo, hi), lo, hi, h.name, budget)
