"""StartQuery (playbook steps 4, 5, 7): start one saved query on the configured engine.

The state machine drives the polling (Wait/Choice), so this is one short call.
"""

from __future__ import annotations

from responder.query import PollingEngine, QueryParams
from responder.state import QueryHandle, QueryTask


def start_query(engine: PollingEngine, task: QueryTask, *, poll_seconds: int) -> QueryHandle:
    params = QueryParams.of({"access_key_id": task.access_key_id, **task.window})
    query_id = engine.start(task.name, params)
    status = engine.status(query_id)
    return QueryHandle(
        **task.model_dump(),
        engine=engine.name,
        query_id=query_id,
        state=status.state,
        wait_seconds=0 if status.done else poll_seconds,
        stats={k: v for k, v in status.to_dict().items() if v is not None and k not in ("query_id", "state")},
    )
