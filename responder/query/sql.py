"""Saved queries: loading, parameter validation, rendering for each engine, transpiling with sqlglot.

Each file in ``responder/queries`` is written once, in Trino SQL (what CloudTrail Lake and Athena speak),
over a logical table ``events`` whose columns are the row contract (docs/architecture.md). Each engine
supplies ``events`` as a CTE (Lake, Athena) or a view (DuckDB) over its own physical table, with its own
cheap window predicates (Lake's eventTime, Athena's date partition, DuckDB's file pruning).

Parameters are ``:access_key_id``, ``:window_start`` and ``:window_end``. Values never reach SQL text
unchecked: :class:`QueryParams` validates them (key pattern, timezone-aware datetimes rendered here), then
DuckDB binds them, Athena receives them as ExecutionParameters, and Lake (StartQuery has no bind
parameters) receives sqlglot-quoted literals of the validated values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

# sqlglot (60-140 ms to import) is loaded by the functions that parse or render SQL, not by every
# module that needs QueryParams or a query name: most handlers never render a query (bench/IMPORTS.md).
if TYPE_CHECKING:
    from sqlglot import exp


from responder.errors import InvalidQueryParameter, UnknownQuery

#: The playbook's six activity queries, in the order a report shows them, and where the key came from
#: (key_provenance: the call that created it, found by the key in its response).
QUERY_NAMES: tuple[str, ...] = (
    "key_activity",
    "source_ips",
    "write_events",
    "s3_data_events",
    "minted_credentials",
    "same_ip_credentials",
    "key_provenance",
)
#: The calls whose response carries a new credential (key_provenance's event names): few in any log, so
#: a local engine keeps them whole for every key, and the creator of any key is found without reading
#: every column of every event.
CREDENTIAL_EVENTS: frozenset[str] = frozenset(
    {
        "CreateAccessKey",
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetSessionToken",
        "GetFederationToken",
    }
)
#: The exposed key's activity: the query the report and remediation read the events from.
PRIMARY_QUERY = "key_activity"
#: Every saved query, including the coverage probe.
ALL_QUERIES: tuple[str, ...] = (*QUERY_NAMES, "coverage")
PARAMETERS: frozenset[str] = frozenset({"access_key_id", "window_start", "window_end"})

ACCESS_KEY_RE = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_EDS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,127}$")
_ISO = "%Y-%m-%dT%H:%M:%SZ"
READ = "trino"  # the dialect the saved queries are written in

# The logical `events` table over CloudTrail Lake. Strings come from the typed columns; JSON documents
# and readOnly from eventJson, because Lake stores requestParameters/responseElements/additionalEventData
# as map<string,string> (nested values become JSON text inside the map) and GetQueryResults renders a map
# as Java's `{key=value, key2=value2}`, which cannot be parsed back reliably. eventTime is a timestamp in
# Lake: formatted to the contract's ISO form, and compared natively (cheap) in the WHERE clause.
_LAKE_SOURCE = """
SELECT
    eventID AS event_id,
    date_format(eventTime, '%Y-%m-%dT%H:%i:%sZ') AS event_time,
    eventSource AS event_source,
    eventName AS event_name,
    awsRegion AS aws_region,
    sourceIPAddress AS source_ip,
    userAgent AS user_agent,
    errorCode AS error_code,
    errorMessage AS error_message,
    userIdentity.type AS identity_type,
    userIdentity.principalId AS principal_id,
    coalesce(userIdentity.userName, userIdentity.sessionContext.sessionIssuer.userName) AS user_name,
    userIdentity.arn AS identity_arn,
    userIdentity.accessKeyId AS access_key_id,
    recipientAccountId AS account_id,
    json_extract_scalar(eventJson, '$.readOnly') AS read_only,
    eventType AS event_type,
    json_format(json_extract(eventJson, '$.requestParameters')) AS request_parameters,
    json_format(json_extract(eventJson, '$.responseElements')) AS response_elements,
    json_format(json_extract(eventJson, '$.resources')) AS resources,
    json_format(json_extract(eventJson, '$.additionalEventData')) AS additional_event_data
FROM __event_data_store__
WHERE eventTime >= :lake_start AND eventTime <= :lake_end
"""

# The logical `events` table over the Athena CloudTrail table (the partition-projection DDL in the docs:
# JSON documents are strings, userIdentity a struct, resources an array of structs, `timestamp` the
# projected yyyy/MM/dd partition). The partition predicate keeps the scan to the window's days.
_ATHENA_SOURCE = """
SELECT
    eventid AS event_id,
    eventtime AS event_time,
    eventsource AS event_source,
    eventname AS event_name,
    awsregion AS aws_region,
    sourceipaddress AS source_ip,
    useragent AS user_agent,
    errorcode AS error_code,
    errormessage AS error_message,
    useridentity.type AS identity_type,
    useridentity.principalid AS principal_id,
    coalesce(useridentity.username, useridentity.sessioncontext.sessionissuer.username) AS user_name,
    useridentity.arn AS identity_arn,
    useridentity.accesskeyid AS access_key_id,
    recipientaccountid AS account_id,
    readonly AS read_only,
    eventtype AS event_type,
    requestparameters AS request_parameters,
    responseelements AS response_elements,
    json_format(CAST(resources AS JSON)) AS resources,
    additionaleventdata AS additional_event_data
FROM __athena_table__
WHERE "timestamp" >= :partition_start AND "timestamp" <= :partition_end
    AND eventtime >= :window_start AND eventtime <= :window_end
"""


# The logical `events` table over Amazon Security Lake's CloudTrail tables, source version 2 (OCSF 1.1:
# API Activity, Account Change and Authentication in cloud_trail_mgmt_2_0, S3 data events in
# s3_data_2_0), per AWS's CloudTrail-to-OCSF mapping: eventName is api.operation, the access key
# actor.user.credential_uid, sourceIPAddress src_endpoint.ip (src_endpoint.domain when it is a service
# name such as "AWS Internal"), requestParameters/responseElements api.request.data/api.response.data
# (JSON text), the fields OCSF has no place for in `unmapped` (map<string,string>: readOnly, eventType,
# additionalEventData) under their CloudTrail names. An assumed role's name, CloudTrail's
# sessionIssuer.userName, is the last part of actor.session.issuer (its ARN). The time_dt, region and
# accountid partitions bound the scan (Iceberg prunes on the time_dt predicate); the window's end is
# widened to its whole second, as the saved queries compare second-precision event_time text.
_SECURITY_LAKE_PROJECTION = """
SELECT
    metadata.uid AS event_id,
    date_format(time_dt, '%Y-%m-%dT%H:%i:%sZ') AS event_time,
    api.service.name AS event_source,
    api.operation AS event_name,
    cloud.region AS aws_region,
    coalesce(src_endpoint.ip, src_endpoint.domain) AS source_ip,
    http_request.user_agent AS user_agent,
    api.response.error AS error_code,
    api.response.message AS error_message,
    actor.user.type AS identity_type,
    actor.user.uid_alt AS principal_id,
    coalesce(actor.user.name, nullif(regexp_extract(actor.session.issuer, '/([^/]+)$', 1), '')) AS user_name,
    actor.user.uid AS identity_arn,
    actor.user.credential_uid AS access_key_id,
    accountid AS account_id,
    element_at(unmapped, 'readOnly') AS read_only,
    element_at(unmapped, 'eventType') AS event_type,
    api.request.data AS request_parameters,
    api.response.data AS response_elements,
    json_format(CAST(transform(resources, x -> CAST(ROW(x.uid, x.owner.account.uid, x.type)
        AS ROW(arn VARCHAR, accountid VARCHAR, type VARCHAR))) AS JSON)) AS resources,
    element_at(unmapped, 'additionalEventData') AS additional_event_data
FROM __security_lake_table__
"""
_SECURITY_LAKE_WINDOW = (
    "time_dt >= from_iso8601_timestamp(:window_start)"
    " AND time_dt < from_iso8601_timestamp(:window_end) + INTERVAL '1' SECOND"
)
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def security_lake_projection() -> exp.Query:
    """OCSF columns to the row contract, over the placeholder table ``__security_lake_table__`` (Trino).

    The offline engine reads Security Lake's Parquet files through this same projection, transpiled."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(_SECURITY_LAKE_PROJECTION, read=READ)
    assert isinstance(tree, exp.Select)
    return tree


def iso(ts: datetime) -> str:
    """The contract's time format: ISO 8601 UTC, second precision, Z."""
    return ts.astimezone(UTC).strftime(_ISO)


def _as_datetime(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError as exc:
            raise InvalidQueryParameter(f"{field} is not an ISO 8601 time: {value[:40]!r}") from exc
    if not isinstance(value, datetime):
        raise InvalidQueryParameter(f"{field} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidQueryParameter(f"{field} must carry a timezone (UTC): a naive time is ambiguous")
    return value.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class QueryParams:
    """Validated parameters of a saved query: the key and the window [window_start, window_end]."""

    access_key_id: str
    window_start: datetime
    window_end: datetime

    def __post_init__(self) -> None:
        key = self.access_key_id
        if not isinstance(key, str) or not ACCESS_KEY_RE.fullmatch(key):
            shown = key[:24] if isinstance(key, str) else type(key).__name__
            raise InvalidQueryParameter(
                f"access_key_id must match ^(AKIA|ASIA)[A-Z0-9]{{16}}$, got {shown!r}"
            )
        start = _as_datetime(self.window_start, "window_start")
        end = _as_datetime(self.window_end, "window_end")
        if start >= end:
            raise InvalidQueryParameter(f"window_start {iso(start)} must be before window_end {iso(end)}")
        object.__setattr__(self, "window_start", start)
        object.__setattr__(self, "window_end", end)

    @classmethod
    def of(cls, params: QueryParams | Mapping[str, Any]) -> QueryParams:
        """Accept a QueryParams or a state-input mapping (``start``/``end`` as aliases of the window)."""
        if isinstance(params, QueryParams):
            return params
        if not isinstance(params, Mapping):
            raise InvalidQueryParameter(f"query parameters must be a mapping, not {type(params).__name__}")
        start = params.get("window_start", params.get("start"))
        end = params.get("window_end", params.get("end"))
        missing = [
            k
            for k, v in (("access_key_id", params.get("access_key_id")), ("start", start), ("end", end))
            if v is None
        ]
        if missing:
            raise InvalidQueryParameter(f"missing query parameter(s): {', '.join(missing)}")
        return cls(access_key_id=params["access_key_id"], window_start=start, window_end=end)

    def bindings(self) -> dict[str, str]:
        """The saved queries' parameters, rendered: the only values that ever reach an engine."""
        return {
            "access_key_id": self.access_key_id,
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
        }

    def days(self, margin_days: int = 1) -> tuple[date, date]:
        """First and last day of the window, widened by ``margin_days`` for late log delivery."""
        margin = timedelta(days=margin_days)
        return (self.window_start - margin).date(), (self.window_end + margin).date()

    def to_dict(self) -> dict[str, str]:
        return self.bindings()


def check_name(name: str) -> str:
    if name not in ALL_QUERIES:
        raise UnknownQuery(f"no saved query {name!r}; known: {', '.join(ALL_QUERIES)}")
    return name


def query_text(name: str) -> str:
    """The saved SQL of ``name`` (package data, also reachable as the top-level ``queries/``)."""
    check_name(name)
    return (resources.files("responder") / "queries" / f"{name}.sql").read_text(encoding="utf-8")


@cache
def _parsed(name: str) -> exp.Query:
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(query_text(name), read=READ)
    for node in tree.walk():
        node.comments = None  # the files' comments are for readers, not for the engines
    if not isinstance(tree, exp.Query):
        raise UnknownQuery(f"{name}.sql is not a SELECT")
    unknown = {p.name for p in tree.find_all(exp.Placeholder)} - PARAMETERS
    if unknown:
        raise UnknownQuery(f"{name}.sql uses unknown parameters {sorted(unknown)}")
    return tree


def parse(name: str) -> exp.Query:
    """A fresh AST of the saved query (callers may transform it)."""
    return _parsed(check_name(name)).copy()


def with_events(body: exp.Query, source: exp.Query) -> exp.Query:
    """``WITH events AS (source), <body's own CTEs> <body>``."""
    from sqlglot import exp

    existing = body.args.get("with_")
    if existing is None:
        existing = body.args.get("with")
    ctes = [exp.CTE(this=source, alias=exp.TableAlias(this=exp.to_identifier("events")))]
    if existing is not None:
        ctes.extend(existing.expressions)
    body = body.copy()
    key = "with_" if "with_" in body.arg_types else "with"
    body.set(key, exp.With(expressions=ctes))
    return body


def bind_literals(tree: exp.Expr, values: Mapping[str, str]) -> exp.Expr:
    """Replace each ``:name`` by a quoted string literal (sqlglot escapes quotes; values are validated)."""
    from sqlglot import exp

    def repl(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name:
            if node.name not in values:
                raise InvalidQueryParameter(f"no value for parameter :{node.name}")
            return exp.Literal.string(values[node.name])
        return node

    return tree.transform(repl)


def positional(
    sql: str, values: Mapping[str, str], inline: frozenset[str] = frozenset()
) -> tuple[str, list[str]]:
    """Turn ``:name`` placeholders of generated SQL into ``?`` and list their values in text order.

    Names in ``inline`` are written as their value (a validated SQL literal) instead. Quoted strings,
    identifiers and comments are skipped: a ``:`` inside them is never taken for one.
    """
    out: list[str] = []
    ordered: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("/*", i) or sql.startswith("--", i):
            j = sql.find("*/", i + 2) + 2 if ch == "/" else sql.find("\n", i)
            j = n if j < (i + 2 if ch == "/" else i) else j
            out.append(sql[i:j])
            i = j
            continue
        if ch in "'\"":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1])
            i = j + 1
            continue
        if ch == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            name = sql[i + 1 : j]
            if name not in values:
                raise InvalidQueryParameter(f"no value for parameter :{name}")
            if name in inline:
                out.append(values[name])
            else:
                ordered.append(values[name])
                out.append("?")
            i = j
            continue
        out.append(ch)
        i += 1
    return "".join(out), ordered


def sql_literal(value: str) -> str:
    """A Trino string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def check_identifier(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidQueryParameter(
            f"{what} must be a plain SQL name ([A-Za-z_][A-Za-z0-9_]*), got {value!r}"
        )
    return value


def event_data_store_id(value: str) -> str:
    """The id Lake wants after FROM: the last part of an event data store ARN, or the id itself."""
    if isinstance(value, str) and value.startswith("arn:"):
        value = value.rsplit("/", 1)[-1]
    if not isinstance(value, str) or not _EDS_RE.fullmatch(value):
        raise InvalidQueryParameter(f"event data store must be an id or ARN, got {value!r}")
    return value


def render_lake(name: str, params: QueryParams, event_data_store: str) -> str:
    """The exact QueryStatement for CloudTrail Lake: validated values as literals, FROM the store id."""
    import sqlglot
    from sqlglot import exp

    eds = event_data_store_id(event_data_store)
    values = params.bindings()
    values["lake_start"] = params.window_start.strftime("%Y-%m-%d %H:%M:%S")
    values["lake_end"] = params.window_end.strftime("%Y-%m-%d %H:%M:%S")
    source = sqlglot.parse_one(_LAKE_SOURCE, read=READ)
    assert isinstance(source, exp.Query)
    tree = bind_literals(with_events(parse(name), source), values)
    sql = tree.sql(dialect=READ, pretty=True)
    # The store id is a bare FROM target in Lake's grammar (hyphens and all); it was validated above.
    return sql.replace("__event_data_store__", eds)


def render_athena(
    name: str, params: QueryParams, table: str, database: str | None = None
) -> tuple[str, list[str]]:
    """The Athena QueryString with ``?`` placeholders and its ExecutionParameters (SQL literals)."""
    return positional(*_athena_sql(name, params, table, database))


def _athena_sql(
    name: str, params: QueryParams, table: str, database: str | None = None
) -> tuple[str, dict[str, str]]:
    import sqlglot
    from sqlglot import exp

    check_identifier(table, "athena table")
    first, last = params.days(1)
    values = {k: sql_literal(v) for k, v in params.bindings().items()}
    values["partition_start"] = sql_literal(first.strftime("%Y/%m/%d"))
    values["partition_end"] = sql_literal(last.strftime("%Y/%m/%d"))
    source = sqlglot.parse_one(_ATHENA_SOURCE, read=READ)
    assert isinstance(source, exp.Query)
    target = (
        exp.to_table(table, quoted=True)
        if database is None
        else exp.Table(
            this=exp.to_identifier(table, quoted=True),
            db=exp.to_identifier(check_identifier(database, "athena database"), quoted=True),
        )
    )
    for node in source.find_all(exp.Table):
        if node.name == "__athena_table__":
            node.replace(target)
    sql = with_events(parse(name), source).sql(dialect=READ, pretty=True)
    return sql, values


def render_duckdb(name: str, params: QueryParams) -> tuple[str, dict[str, str]]:
    """The saved query transpiled to DuckDB, with ``$name`` parameters and their values."""
    from sqlglot import exp

    tree = parse(name)
    used = {p.name for p in tree.find_all(exp.Placeholder)}
    return tree.sql(dialect="duckdb", pretty=True), {k: v for k, v in params.bindings().items() if k in used}


def transpile(sql: str, read: str = READ, write: str = "duckdb") -> str:
    """One statement from ``read`` to ``write`` dialect (sqlglot)."""
    import sqlglot

    return sqlglot.transpile(sql, read=read, write=write, pretty=True)[0]


def _in_list(column: str, prefix: str, values: tuple[str, ...], values_out: dict[str, str]) -> str:
    names = []
    for i, value in enumerate(values):
        values_out[f"{prefix}_{i}"] = sql_literal(value)
        names.append(f":{prefix}_{i}")
    return f"{column} IN ({', '.join(names)})"


def securitylake_sql(
    name: str,
    params: QueryParams,
    *,
    database: str,
    tables: tuple[str, ...],
    accounts: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
) -> tuple[str, dict[str, str]]:
    """A saved query over Security Lake's tables, with ``:name`` parameters and their SQL literals
    (:func:`positional` makes the Athena QueryString and ExecutionParameters of it).

    ``tables``: the CloudTrail management table, then (optionally) the S3 data events table; their
    events form one ``events`` table. ``accounts`` and ``regions`` restrict the ``accountid`` and
    ``region`` partitions (empty: every account or region the tables hold)."""
    import sqlglot
    from sqlglot import exp

    check_identifier(database, "security lake database")
    if not tables:
        raise InvalidQueryParameter("security lake: no table to query")
    for table in tables:
        check_identifier(table, "security lake table")
    for account in accounts:
        if not isinstance(account, str) or not _ACCOUNT_RE.fullmatch(account):
            raise InvalidQueryParameter(f"security lake account must be a 12-digit id, got {account!r}")
    for region in regions:
        if not isinstance(region, str) or not _REGION_RE.fullmatch(region):
            raise InvalidQueryParameter(f"security lake region must be a region name, got {region!r}")
    values = {k: sql_literal(v) for k, v in params.bindings().items()}
    conditions = [_SECURITY_LAKE_WINDOW]
    if accounts:
        conditions.append(_in_list("accountid", "account", accounts, values))
    if regions:
        conditions.append(_in_list("region", "region", regions, values))
    where = sqlglot.parse_one(" AND ".join(conditions), read=READ)
    parts: list[exp.Query] = []
    for table in tables:
        part = security_lake_projection().where(where.copy())
        for node in part.find_all(exp.Table):
            if node.name == "__security_lake_table__":
                node.replace(
                    exp.Table(
                        this=exp.to_identifier(table, quoted=True),
                        db=exp.to_identifier(database, quoted=True),
                    )
                )
        parts.append(part)
    source: exp.Query = parts[0]
    for part in parts[1:]:
        source = exp.union(source, part, distinct=False)
    sql = with_events(parse(name), source).sql(dialect=READ, pretty=True)
    return sql, values


# What an analyst types for each parameter of a saved query in the Athena console (in order).
PARAMETER_HELP: dict[str, str] = {
    "access_key_id": "the access key id, quoted: 'AKIAIOSFODNN7EXAMPLE'",
    "window_start": "the window's start, ISO 8601 UTC, quoted: '2026-12-01T00:00:00Z'",
    "window_end": "the window's end, ISO 8601 UTC, quoted: '2026-12-08T00:00:00Z'",
    "partition_start": "the day before the window's start, quoted: '2026/11/30'",
    "partition_end": "the day after the window's end, quoted: '2026/12/09'",
}
_EXAMPLE = QueryParams(
    "AKIAIOSFODNN7EXAMPLE", datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)
)


def console_query(rendered: tuple[str, dict[str, str]]) -> str:
    """A saved query as an Athena named query: ``?`` for the key and the window (the console asks for
    each, in order: the header lists them), the deployment's accounts and regions written in."""
    sql, values = rendered
    fixed = frozenset(k for k in values if k.startswith(("account_", "region_")))
    template, order = positional(sql, {k: k for k in values} | {k: values[k] for k in fixed}, fixed)
    header = ["-- Parameters, in the order the Athena console asks for them:"]
    header += [f"--   {i}. {PARAMETER_HELP.get(n, n)}" for i, n in enumerate(order, 1)]
    return "\n".join(header) + "\n" + template


def athena_console_query(name: str, table: str, database: str) -> str:
    """``name`` as a named query over the Athena CloudTrail table."""
    return console_query(_athena_sql(name, _EXAMPLE, table, database))


def securitylake_console_query(
    name: str,
    *,
    database: str,
    tables: tuple[str, ...],
    accounts: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
) -> str:
    """``name`` as a named query over Security Lake's tables."""
    return console_query(
        securitylake_sql(name, _EXAMPLE, database=database, tables=tables, accounts=accounts, regions=regions)
    )
