"""QueryStatus: poll one running query; a query still running after :data:`MAX_POLLS` polls times out."""

from __future__ import annotations

from responder.errors import QueryTimedOut
from responder.query import PollingEngine
from responder.state import QueryHandle

MAX_POLLS = 180  # x poll interval: a query still running after this is TIMED_OUT for the workflow


def poll_query(engine: PollingEngine, handle: QueryHandle) -> QueryHandle:
    status = engine.status(handle.query_id)
    polls = handle.polls + 1
    if not status.done and polls >= MAX_POLLS:
        raise QueryTimedOut(f"query {handle.query_id} still {status.state} after {polls} polls")
    return handle.model_copy(
        update={
            "state": status.state,
            "polls": polls,
            "stats": {
                k: v for k, v in status.to_dict().items() if v is not None and k not in ("query_id", "state")
            },
        }
    )
