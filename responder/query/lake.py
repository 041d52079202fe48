"""CloudTrail Lake: StartQuery, DescribeQuery, GetQueryResults (NextToken pages).

StartQuery has no bind parameters: the statement carries the validated values as literals
(:func:`responder.query.sql.render_lake`). GetQueryResults returns every value as a string, one
``{column: value}`` per cell; map columns render as ``{key=value, ...}``, which is why the saved queries
read JSON documents from ``eventJson`` (see :mod:`responder.query.rows`).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from responder.errors import QueryFailed
from responder.permissions import Permission
from responder.query.base import (
    Params,
    PollingEngine,
    QueryStatus,
    client_error,
    require_finished,
    result_pages,
)
from responder.query.rows import Row, normalize_rows
from responder.query.sql import QueryParams, event_data_store_id, render_lake

# What this engine's code calls, by the stack's resource names; granted only when Lake is chosen.
PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        ("cloudtrail:StartQuery", "cloudtrail:DescribeQuery", "cloudtrail:GetQueryResults"),
        ("@lake_event_data_store",),
        "saved queries on the event data store",
    ),
)
# The stack resources only this engine uses: the existing event data store.
REFERENCES: frozenset[str] = frozenset({"lake_event_data_store"})
# Errors that mean the query cannot run as asked; anything else (throttling, 5xx) propagates as is.
_FAILED_CODES = frozenset(
    {
        "InvalidQueryStatementException",
        "InvalidParameterException",
        "EventDataStoreNotFoundException",
        "InactiveEventDataStoreException",
        "QueryIdNotFoundException",
        "InvalidQueryStatusException",
        "AccessDeniedException",
        "InsufficientEncryptionPolicyException",
        "MaxConcurrentQueriesException",
    }
)


def _client_error(exc: ClientError, what: str) -> QueryFailed | ClientError:
    return client_error(exc, what, _FAILED_CODES)


class LakeEngine(PollingEngine):
    """Saved queries on a CloudTrail Lake event data store (id or ARN)."""

    name = "lake"

    def __init__(self, cloudtrail: Any, event_data_store: str, *, page_size: int = 1000):
        self.client = cloudtrail
        self.event_data_store = event_data_store_id(event_data_store)
        self.page_size = page_size

    def render(self, name: str, params: Params) -> str:
        """The exact QueryStatement ``start`` sends."""
        return render_lake(name, QueryParams.of(params), self.event_data_store)

    def start(self, name: str, params: Params) -> str:
        statement = self.render(name, params)
        try:
            response = self.client.start_query(QueryStatement=statement)
        except ClientError as exc:
            raise _client_error(exc, f"StartQuery {name}") from exc
        return str(response["QueryId"])

    def status(self, query_id: str) -> QueryStatus:
        try:
            response = self.client.describe_query(QueryId=query_id)
        except ClientError as exc:
            raise _client_error(exc, f"DescribeQuery {query_id}") from exc
        stats = response.get("QueryStatistics") or {}
        return QueryStatus(
            query_id=query_id,
            state=response["QueryStatus"],
            bytes_scanned=stats.get("BytesScanned"),
            events_scanned=stats.get("EventsScanned"),
            elapsed_ms=stats.get("ExecutionTimeInMillis"),
            error=response.get("ErrorMessage"),
        )

    def results(self, query_id: str) -> list[Row]:
        """Every row of a FINISHED query, all pages, per the row contract."""
        require_finished(self.status(query_id))
        raw: list[dict[str, Any]] = []
        for page in result_pages(
            self.client.get_query_results,
            f"GetQueryResults {query_id}",
            _client_error,
            QueryId=query_id,
            MaxQueryResults=self.page_size,
        ):
            for cells in page.get("QueryResultRows") or []:
                row: dict[str, Any] = {}
                for cell in cells:  # each cell is a one-entry {column: value} map, in SELECT order
                    row.update(cell)
                raw.append(row)
        return normalize_rows(raw)
