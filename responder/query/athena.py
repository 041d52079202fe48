"""Athena over the S3 CloudTrail table (partition projection on ``timestamp``, yyyy/MM/dd).

Values travel as ExecutionParameters (SQL literals of validated values), never in the query text.
Every query carries a partition predicate for the window's days (one day of margin each side for late
delivery), so a seven-day investigation scans nine days of logs, not the bucket.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from responder.errors import QueryFailed
from responder.permissions import Permission
from responder.query.base import (
    Params,
    PollingEngine,
    QueryState,
    QueryStatus,
    client_error,
    require_finished,
    result_pages,
)
from responder.query.rows import Row, normalize_rows
from responder.query.sql import QueryParams, check_identifier, render_athena

# What this engine's code calls, by the stack's resource names (responder.permissions): the query
# steps declare exactly this, and the stack grants it only when this engine is chosen.
# The workgroup and its results bucket serve the Security Lake engine too (responder/query/securitylake.py).
WORKGROUP_PERMISSION = Permission(
    ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"),
    ("@athena_workgroup",),
    "saved queries in the responder's workgroup",
)
RESULTS_PERMISSION = Permission(
    ("s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"),
    ("@athena_results_bucket", "@athena_results_bucket/*"),
    "query results",
)
PERMISSIONS: tuple[Permission, ...] = (
    WORKGROUP_PERMISSION,
    Permission(
        ("glue:GetTable", "glue:GetDatabase", "glue:GetPartitions"),
        ("@glue_catalog", "@glue_database", "@glue_table"),
        "Athena reads the CloudTrail table definition and its partitions",
    ),
    Permission(("s3:GetObject", "s3:ListBucket"), ("@cloudtrail_bucket", "@cloudtrail_bucket/*"), "the logs"),
    RESULTS_PERMISSION,
)
# The stack resources only this engine uses. cloudtrail:ListPublicKeys takes no resource ("*"): digest
# validation reads the trail's files, so only a deployment that has them (Athena) grants it.
REFERENCES: frozenset[str] = frozenset(
    {
        "athena_workgroup",
        "athena_results_bucket",
        "glue_catalog",
        "glue_database",
        "glue_table",
        "cloudtrail_bucket",
        "cloudtrail_public_keys",
    }
)
_STATES: dict[str, QueryState] = {
    "QUEUED": "QUEUED",
    "RUNNING": "RUNNING",
    "SUCCEEDED": "FINISHED",
    "FAILED": "FAILED",
    "CANCELLED": "CANCELLED",
}
_FAILED_CODES = frozenset({"InvalidRequestException", "ResourceNotFoundException", "AccessDeniedException"})


def _client_error(exc: ClientError, what: str) -> QueryFailed | ClientError:
    return client_error(exc, what, _FAILED_CODES)


class AthenaEngine(PollingEngine):
    """Saved queries on the Athena CloudTrail table."""

    name = "athena"

    def __init__(
        self,
        athena: Any,
        *,
        workgroup: str,
        database: str,
        table: str,
        output_location: str | None = None,
        page_size: int = 1000,
    ):
        self.client = athena
        self.workgroup = workgroup
        self.database = check_identifier(database, "athena database")
        self.table = check_identifier(table, "athena table")
        self.output_location = output_location
        self.page_size = page_size

    def render(self, name: str, params: Params) -> tuple[str, list[str]]:
        """The exact QueryString and ExecutionParameters ``start`` sends."""
        return render_athena(name, QueryParams.of(params), self.table, self.database)

    def start(self, name: str, params: Params) -> str:
        sql, parameters = self.render(name, params)
        kwargs: dict[str, Any] = {
            "QueryString": sql,
            "WorkGroup": self.workgroup,
            "QueryExecutionContext": {"Database": self.database},
            "ExecutionParameters": parameters,
        }
        if self.output_location:
            kwargs["ResultConfiguration"] = {"OutputLocation": self.output_location}
        try:
            response = self.client.start_query_execution(**kwargs)
        except ClientError as exc:
            raise _client_error(exc, f"StartQueryExecution {name}") from exc
        return str(response["QueryExecutionId"])

    def status(self, query_id: str) -> QueryStatus:
        try:
            execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        except ClientError as exc:
            raise _client_error(exc, f"GetQueryExecution {query_id}") from exc
        status = execution.get("Status") or {}
        reason = status.get("StateChangeReason") or (status.get("AthenaError") or {}).get("ErrorMessage")
        state = _STATES.get(status.get("State", ""), "FAILED")
        # Athena has no TIMED_OUT state: a query past the workgroup's limit FAILS saying so.
        if state == "FAILED" and reason and "timeout" in reason.lower().replace(" ", ""):
            state = "TIMED_OUT"
        stats = execution.get("Statistics") or {}
        return QueryStatus(
            query_id=query_id,
            state=state,
            bytes_scanned=stats.get("DataScannedInBytes"),
            elapsed_ms=stats.get("TotalExecutionTimeInMillis"),
            error=reason,
        )

    def results(self, query_id: str) -> list[Row]:
        """Every row of a FINISHED query, all pages (the first row of the first page is the header)."""
        require_finished(self.status(query_id))
        raw: list[dict[str, Any]] = []
        first = True
        for page in result_pages(
            self.client.get_query_results,
            f"GetQueryResults {query_id}",
            _client_error,
            QueryExecutionId=query_id,
            MaxResults=self.page_size,
        ):
            result = page.get("ResultSet") or {}
            columns = [c["Name"] for c in (result.get("ResultSetMetadata") or {}).get("ColumnInfo", [])]
            rows = result.get("Rows") or []
            if first and rows:
                rows = rows[1:]  # the header
            first = False
            for row in rows:
                values = [cell.get("VarCharValue") for cell in row.get("Data", [])]
                raw.append(dict(zip(columns, values, strict=False)))
        return normalize_rows(raw)
