"""Saved CloudTrail queries on CloudTrail Lake, Athena (the S3 trail), Security Lake (OCSF, through
Athena), CloudWatch Logs Insights and DuckDB (local files), with one protocol and one row contract.

A Lambda step starts a query, the state machine polls its status in a Wait/Choice loop, and a last step
fetches the rows::

    engine = engine_from_settings(settings, client)
    query_id = engine.start("key_activity", {"access_key_id": key, "start": "...Z", "end": "...Z"})
    engine.status(query_id).to_dict()        # {"state": "RUNNING", ...}; FAILED etc. raise on results
    rows = engine.results(query_id)          # list[dict], the row contract
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from responder.errors import InvalidInput
from responder.permissions import Permission
from responder.query import athena, cloudwatch, lake, securitylake
from responder.query.athena import AthenaEngine
from responder.query.base import (
    PollingEngine,
    QueryEngine,
    QueryStatus,
    raise_for_status,
    require_finished,
    summarize_coverage,
)
from responder.query.cloudwatch import CloudWatchEngine
from responder.query.lake import LakeEngine
from responder.query.rows import Row, normalize_row, normalize_rows
from responder.query.securitylake import SecurityLakeEngine
from responder.query.sql import ALL_QUERIES, QUERY_NAMES, QueryParams, query_text
from responder.settings import ENGINES, Settings

__all__ = [
    "ALL_QUERIES",
    "ENGINE_SPECS",
    "QUERY_NAMES",
    "AthenaEngine",
    "CloudWatchEngine",
    "DuckDBEngine",
    "EngineSpec",
    "LakeEngine",
    "PollingEngine",
    "QueryEngine",
    "QueryParams",
    "QueryStatus",
    "Row",
    "SecurityLakeEngine",
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


LogFiles = Literal["none", "s3_trail", "local"]


@dataclass(frozen=True)
class EngineSpec:
    """What one query engine owns: its name (``responder:queryEngine``), the AWS calls its code makes
    (by stack reference), the stack resources only it uses, and how it is built at run time."""

    name: str
    permissions: tuple[Permission, ...]
    references: frozenset[str]
    build: Callable[[Settings, Callable[[str], Any]], PollingEngine]
    # Where the log files it reads live, for their digest validation (responder/query/digest.py):
    # none (Lake keeps events, not files), the S3 trail bucket, or local paths.
    log_files: LogFiles


def _lake(settings: Settings, clients: Callable[[str], Any]) -> PollingEngine:
    if not settings.lake_event_data_store:
        raise InvalidInput("the lake engine needs LAKE_EVENT_DATA_STORE")
    return LakeEngine(clients("cloudtrail"), settings.lake_event_data_store)


def _athena(settings: Settings, clients: Callable[[str], Any]) -> PollingEngine:
    if not (settings.athena_workgroup and settings.athena_database and settings.athena_table):
        raise InvalidInput("the athena engine needs ATHENA_WORKGROUP, ATHENA_DATABASE and ATHENA_TABLE")
    return AthenaEngine(
        clients("athena"),
        workgroup=settings.athena_workgroup,
        database=settings.athena_database,
        table=settings.athena_table,
    )


def _securitylake(settings: Settings, clients: Callable[[str], Any]) -> PollingEngine:
    if not (
        settings.athena_workgroup
        and settings.security_lake_database
        and settings.security_lake_management_table
    ):
        raise InvalidInput(
            "the securitylake engine needs ATHENA_WORKGROUP, SECURITY_LAKE_DATABASE and "
            "SECURITY_LAKE_MANAGEMENT_TABLE"
        )
    return SecurityLakeEngine(
        clients("athena"),
        workgroup=settings.athena_workgroup,
        database=settings.security_lake_database,
        management_table=settings.security_lake_management_table,
        s3_data_table=settings.security_lake_s3_data_table or None,
        accounts=settings.trail_accounts,
        regions=settings.security_lake_regions,
    )


def _cloudwatch(settings: Settings, clients: Callable[[str], Any]) -> PollingEngine:
    if not settings.cloudwatch_log_group:
        raise InvalidInput("the cloudwatch engine needs CLOUDWATCH_LOG_GROUP")
    return CloudWatchEngine(clients("logs"), settings.cloudwatch_log_group)


def _duckdb(settings: Settings, clients: Callable[[str], Any]) -> PollingEngine:
    if not settings.local_log_paths:
        raise InvalidInput("the duckdb engine needs LOCAL_LOG_PATHS")
    from responder.query.duckdb_engine import DuckDBEngine  # compiled, workstation-only: never in Lambda

    return DuckDBEngine(list(settings.local_log_paths), max_file_bytes=settings.local_log_max_file_bytes)


#: Every engine, by the name settings and ``cdk.json`` choose it with. The choice is read here at run
#: time (:func:`engine_from_settings`) and in the stack at synth time (stacks/responder_stack.py).
ENGINE_SPECS: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec("lake", lake.PERMISSIONS, lake.REFERENCES, _lake, "none"),
        EngineSpec("athena", athena.PERMISSIONS, athena.REFERENCES, _athena, "s3_trail"),
        # Security Lake and CloudWatch Logs keep events, not CloudTrail's signed files: no digest to check.
        EngineSpec("securitylake", securitylake.PERMISSIONS, securitylake.REFERENCES, _securitylake, "none"),
        EngineSpec("cloudwatch", cloudwatch.PERMISSIONS, cloudwatch.REFERENCES, _cloudwatch, "none"),
        EngineSpec("duckdb", (), frozenset(), _duckdb, "local"),  # no AWS call, no stack resource
    )
}
assert tuple(ENGINE_SPECS) == ENGINES, "responder.settings.ENGINES and the engine specs must agree"


def _no_clients(service: str) -> Any:
    raise InvalidInput(f"this engine needs a {service} client and none was given")


def engine_from_settings(settings: Settings, clients: Callable[[str], Any] = _no_clients) -> PollingEngine:
    """The engine ``settings.query_engine`` names, built from its settings and ``clients(service)``."""
    spec = ENGINE_SPECS.get(settings.query_engine)
    if spec is None:
        raise InvalidInput(
            f"unknown query engine {settings.query_engine!r}: one of {', '.join(ENGINE_SPECS)}"
        )
    return spec.build(settings, clients)


def coverage(engine: PollingEngine, params: QueryParams | dict[str, Any]) -> dict[str, Any]:
    """report.schema.json's ``coverage`` for the window on ``engine`` (a count/min/max query)."""
    return engine.coverage(params)
