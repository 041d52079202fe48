"""Saved CloudTrail queries on CloudTrail Lake, Athena and DuckDB, with one protocol and one row contract.

A Lambda step starts a query, the state machine polls its status in a Wait/Choice loop, and a last step
fetches the rows::

    engine = engine_from_settings(settings, cloudtrail=client("cloudtrail"), athena=client("athena"))
    query_id = engine.start("key_activity", {"access_key_id": key, "start": "...Z", "end": "...Z"})
    engine.status(query_id).to_dict()        # {"state": "RUNNING", ...}; FAILED etc. raise on results
    rows = engine.results(query_id)          # list[dict], the row contract
"""

from __future__ import annotations

from typing import Any

from responder.errors import InvalidInput
from responder.query.athena import AthenaEngine
from responder.query.base import (
    PollingEngine,
    QueryEngine,
    QueryStatus,
    raise_for_status,
    require_finished,
    summarize_coverage,
)
from responder.query.lake import LakeEngine
from responder.query.rows import Row, normalize_row, normalize_rows
from responder.query.sql import ALL_QUERIES, QUERY_NAMES, QueryParams, query_text
from responder.settings import Settings

__all__ = [
    "ALL_QUERIES",
    "QUERY_NAMES",
    "AthenaEngine",
    "DuckDBEngine",
    "LakeEngine",
    "PollingEngine",
    "QueryEngine",
    "QueryParams",
    "QueryStatus",
    "Row",
    "coverage",
    "engine_from_settings",
    "normalize_row",
    "normalize_rows",
    "query_text",
    "raise_for_status",
    "require_finished",
    "summarize_coverage",
]


def __getattr__(name: str) -> Any:
    # DuckDB is the local engine only: Lambda (Lake, Athena) must not import it.
    if name == "DuckDBEngine":
        from responder.query.duckdb_engine import DuckDBEngine

        return DuckDBEngine
    raise AttributeError(name)


def engine_from_settings(settings: Settings, *, cloudtrail: Any = None, athena: Any = None) -> PollingEngine:
    """The engine ``settings.query_engine`` names, built from its settings and the client it needs."""
    if settings.query_engine == "lake":
        if cloudtrail is None or not settings.lake_event_data_store:
            raise InvalidInput("the lake engine needs a cloudtrail client and LAKE_EVENT_DATA_STORE")
        return LakeEngine(cloudtrail, settings.lake_event_data_store)
    if settings.query_engine == "athena":
        if athena is None or not (
            settings.athena_workgroup and settings.athena_database and settings.athena_table
        ):
            raise InvalidInput("the athena engine needs an athena client, ATHENA_WORKGROUP/DATABASE/TABLE")
        return AthenaEngine(
            athena,
            workgroup=settings.athena_workgroup,
            database=settings.athena_database,
            table=settings.athena_table,
        )
    if not settings.local_log_paths:
        raise InvalidInput("the duckdb engine needs LOCAL_LOG_PATHS")
    from responder.query.duckdb_engine import DuckDBEngine

    return DuckDBEngine(list(settings.local_log_paths), max_file_bytes=settings.local_log_max_file_bytes)


def coverage(engine: PollingEngine, params: QueryParams | dict[str, Any]) -> dict[str, Any]:
    """report.schema.json's ``coverage`` for the window on ``engine`` (a count/min/max query)."""
    return engine.coverage(params)
