"""The query engine the three query steps share, and the permissions each engine needs.

A warm Lambda keeps its engine between invocations; the local DuckDB engine also keeps its results
in-process, which is what lets StartQuery, QueryStatus and QueryResults run as separate steps.
"""

from __future__ import annotations

from responder.clients import client
from responder.permissions import Permission
from responder.query import PollingEngine, engine_from_settings
from responder.settings import Settings, get_settings

# Only the chosen engine's resources exist in a deployed stack; the stack drops the others' grants.
ENGINE_PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        ("cloudtrail:StartQuery", "cloudtrail:DescribeQuery", "cloudtrail:GetQueryResults"),
        ("@lake_event_data_store",),
    ),
    Permission(
        ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"),
        ("@athena_workgroup",),
    ),
    Permission(
        ("glue:GetTable", "glue:GetDatabase", "glue:GetPartitions"),
        ("@glue_catalog", "@glue_database", "@glue_table"),
    ),
    Permission(("s3:GetObject", "s3:ListBucket"), ("@cloudtrail_bucket", "@cloudtrail_bucket/*")),
    Permission(
        ("s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"),
        ("@athena_results_bucket", "@athena_results_bucket/*"),
    ),
)

_CACHED: list[tuple[Settings, PollingEngine]] = []


def engine() -> PollingEngine:
    """One engine per settings object (per warm container; the local runner swaps settings)."""
    settings = get_settings()
    if not _CACHED or _CACHED[0][0] is not settings:
        built = engine_from_settings(
            settings,
            cloudtrail=client("cloudtrail") if settings.query_engine == "lake" else None,
            athena=client("athena") if settings.query_engine == "athena" else None,
        )
        _CACHED[:] = [(settings, built)]
    return _CACHED[0][1]
