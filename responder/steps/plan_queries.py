"""PlanQueries (playbook steps 4, 5, 7, 10): the next batch of CloudTrail queries for the Map.

The exposed key's saved queries first, then one round per credential it minted (the pivot in
:mod:`responder.analysis.pivot`), bounded by :data:`MAX_ROUNDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from responder.analysis.pivot import next_batch
from responder.errors import InvalidInput
from responder.evidence import (
    load_rows,
    saved_results,
)
from responder.models import Incident, iso, utc_now
from responder.query import QueryParams
from responder.query.sql import ACCESS_KEY_RE, PRIMARY_QUERY
from responder.state import QueryTask

MAX_ROUNDS = 6  # plan rounds: the exposed key's seven queries, then one round per pivot depth


class PlanOutput(BaseModel):
    """PlanQueries' answer: the next batch for the Map, or done."""

    done: bool
    round: int
    window: dict[str, str]
    batch: list[QueryTask] = Field(default_factory=list)
    queries_run: int = 0


def window_for(
    incident: Incident, *, now: datetime | None = None, lookback_days: int | None = None
) -> QueryParams:
    """The window: ``lookback_days`` before the finding (or now), up to now (activity continues)."""
    now = now or utc_now()
    anchor = now
    if incident.event_time:
        try:
            anchor = min(now, datetime.fromisoformat(incident.event_time.replace("Z", "+00:00")))
        except ValueError:
            anchor = now
    days = lookback_days or incident.lookback_days
    if not incident.access_key_id:
        raise InvalidInput("the incident names no access key to query")
    return QueryParams(incident.access_key_id, anchor - timedelta(days=days), now)


def _planning_rows(s3: Any, metas: Mapping[tuple[str, str], Mapping[str, Any]]) -> dict[tuple[str, str], Any]:
    """What the plan reads: the minting and same-IP answers; other results only count as done."""
    results: dict[tuple[str, str], Any] = {}
    for key, meta in metas.items():
        needed = key[1] in ("minted_credentials", "same_ip_credentials")
        results[key] = load_rows(s3, meta["rows"]) if needed else ()
    return results


def plan_queries(
    s3: Any,
    bucket: str,
    incident: Incident,
    *,
    execution_id: str,
    started_at: datetime,
    round_: int = 0,
) -> PlanOutput:
    """The next batch: the exposed key's seven queries, then each credential it minted, bounded."""
    if not incident.access_key_id or not ACCESS_KEY_RE.fullmatch(incident.access_key_id):
        # A sample finding or one naming no key: nothing to query; the report says so.
        return PlanOutput(done=True, round=round_ + 1, window={})
    params = window_for(incident, now=started_at)
    window = {"start": iso(params.window_start), "end": iso(params.window_end)}
    metas = saved_results(s3, bucket, incident.incident_id, execution_id)
    batch = (
        []
        if round_ >= MAX_ROUNDS
        else next_batch(params.access_key_id, _planning_rows(s3, metas), seeds=incident.related_key_ids)
    )
    return PlanOutput(
        done=not batch,
        round=round_ + 1,
        window=window,
        queries_run=len(metas),
        batch=[
            QueryTask(
                incident_id=incident.incident_id,
                execution_id=execution_id,
                access_key_id=t.access_key_id,
                name=t.name,
                window=window,
                coverage=t.access_key_id == params.access_key_id and t.name == PRIMARY_QUERY,
            )
            for t in batch
        ],
    )
