"""The query protocol the workflow drives: start, poll status, fetch results (Lake's own shape)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from botocore.exceptions import ClientError

from responder.errors import (
    QueryCancelled,
    QueryFailed,
    QueryStillRunning,
    QueryTimedOut,
    error_code,
    error_message,
)
from responder.query.rows import Row
from responder.query.sql import QueryParams, iso

QueryState = Literal["QUEUED", "RUNNING", "FINISHED", "FAILED", "CANCELLED", "TIMED_OUT"]
# How far the first/last event may sit from the window's ends for the logs to count as covering it:
# quiet accounts go hours without an event overnight, and CloudTrail delivers minutes late.
COVERAGE_SLACK = timedelta(hours=6)

DONE_STATES: frozenset[str] = frozenset({"FINISHED", "FAILED", "CANCELLED", "TIMED_OUT"})
Params = QueryParams | Mapping[str, Any]


@dataclass(frozen=True)
class QueryStatus:
    """Where a query is, with what it cost so far. ``to_dict`` is what a Lambda step returns."""

    query_id: str
    state: QueryState
    bytes_scanned: int | None = None
    events_scanned: int | None = None
    files_scanned: int | None = None
    elapsed_ms: int | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "done": self.done}


def raise_for_status(status: QueryStatus) -> QueryStatus:
    """Raise the named error of a query that ended badly; return the status otherwise."""
    detail = f"query {status.query_id}: {status.error or status.state}"
    if status.state == "FAILED":
        raise QueryFailed(detail)
    if status.state == "CANCELLED":
        raise QueryCancelled(detail)
    if status.state == "TIMED_OUT":
        raise QueryTimedOut(detail)
    return status


def require_finished(status: QueryStatus) -> None:
    """Results are only asked for once FINISHED: a bad end raises its error, an early ask QueryStillRunning."""
    raise_for_status(status)
    if status.state != "FINISHED":
        raise QueryStillRunning(f"query {status.query_id} is {status.state}")


@runtime_checkable
class QueryEngine(Protocol):
    """What every engine offers (CloudTrail Lake, Athena, DuckDB)."""

    name: str

    def start(self, name: str, params: Params) -> str: ...

    def status(self, query_id: str) -> QueryStatus: ...

    def results(self, query_id: str) -> list[Row]: ...

    def run(self, name: str, params: Params) -> list[Row]: ...


def result_pages(
    call: Callable[..., dict[str, Any]],
    what: str,
    on_error: Callable[[ClientError, str], Exception],
    **kwargs: Any,
) -> Iterator[dict[str, Any]]:
    """Every page of a ``NextToken``-paginated results call (Lake's and Athena's GetQueryResults).

    ``on_error`` turns a ClientError into the engine's named error (or returns it to re-raise as is)."""
    token: str | None = None
    while True:
        try:
            page = call(**kwargs, **({"NextToken": token} if token else {}))
        except ClientError as exc:
            raise on_error(exc, what) from exc
        yield page
        token = page.get("NextToken")
        if not token:
            return


class PollingEngine:
    """``run`` and ``coverage`` on top of start/status/results (the engines inherit them)."""

    name = "engine"
    poll_seconds: float = 1.0
    timeout_seconds: float = 900.0
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def start(self, name: str, params: Params) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def status(self, query_id: str) -> QueryStatus:  # pragma: no cover - abstract
        raise NotImplementedError

    def results(self, query_id: str) -> list[Row]:  # pragma: no cover - abstract
        raise NotImplementedError

    def wait(self, query_id: str) -> QueryStatus:
        """Poll until the query is done (the synchronous form of the workflow's Wait/Choice loop)."""
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            status = self.status(query_id)
            if status.done:
                return raise_for_status(status)
            if time.monotonic() > deadline:
                raise QueryStillRunning(
                    f"query {query_id} still {status.state} after {self.timeout_seconds}s"
                )
            self.sleep(self.poll_seconds)

    def run(self, name: str, params: Params) -> list[Row]:
        """Start, wait and return every row: for the CLI, tests and the local runner."""
        query_id = self.start(name, params)
        self.wait(query_id)
        return self.results(query_id)

    def coverage(self, params: Params, slack: timedelta = COVERAGE_SLACK) -> dict[str, Any]:
        """Whether the logs span the window (report.schema.json ``coverage``), from a count/min/max query."""
        p = QueryParams.of(params)
        return summarize_coverage(self.run("coverage", p), p, slack)


def summarize_coverage(rows: list[Row], params: Params, slack: timedelta = COVERAGE_SLACK) -> dict[str, Any]:
    """The ``coverage`` object from the coverage query's row.

    ``covered``: events within ``slack`` of both ends of the window; ``partial``: events, but an end is
    bare (logs start late, stop early, or have not been delivered yet); ``no_data``: no event at all,
    which says nothing about the key's activity.
    """
    p = QueryParams.of(params)
    row = rows[0] if rows else {}
    count = int(row.get("events_scanned") or 0)
    first = row.get("first_event") if count else None
    last = row.get("last_event") if count else None
    status = "no_data"
    if count and isinstance(first, str) and isinstance(last, str):
        early = iso(p.window_start + slack)
        late = iso(p.window_end - slack)
        status = "covered" if first <= early and last >= late else "partial"
    return {
        "events_scanned": count,
        "first_event": first if isinstance(first, str) else None,
        "last_event": last if isinstance(last, str) else None,
        "status": status,
    }


def client_error(exc: ClientError, what: str, failed_codes: frozenset[str]) -> QueryFailed | ClientError:
    """A service error that means the query cannot run as asked becomes QueryFailed (caught by the
    ASL by name); anything else (throttling, 5xx) is returned as is, for the retries to see."""
    code = error_code(exc)
    if code in failed_codes:
        return QueryFailed(f"{what}: {code}: {error_message(exc)}"[:500])
    return exc
