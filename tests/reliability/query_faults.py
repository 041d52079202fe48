"""CloudTrail Lake and Athena faults, step by step (locally the workflow queries DuckDB, so the real
engines' calls are never made by a workflow run): each query step's handler runs against a botocore
``Stubber`` answering with the fault, then, for a retry, with success.

The ASL half is read from statemachine/responder.asl.json: which error names each query state retries,
and that the Investigate Parallel catches everything into NotifyFailure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.stub import Stubber

from responder.query.athena import AthenaEngine
from responder.query.base import PollingEngine
from responder.query.lake import LakeEngine
from tests.conftest import REPO

EDS = "arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/ec7160cc-5b9f-4d2c-9e2a-0123456789ab"
QID = "ec7160cc-0000-4d2c-9e2a-0123456789ab"
WINDOW = {"start": "2024-07-25T00:00:00Z", "end": "2024-08-01T23:59:59Z"}
TASK = {
    "incident_id": "inc-0123456789abcdef",
    "execution_id": "arn:aws:states:us-east-1:111122223333:execution:responder:run-1",
    "access_key_id": "AKIAOZUDECYXYM4ONAN4",
    "name": "key_activity",
    "window": WINDOW,
}
HANDLE = {**TASK, "query_id": QID, "state": "RUNNING", "wait_seconds": 0}
STATE_OF_STEP = {"start_query": "StartQuery", "query_status": "QueryStatus", "query_results": "QueryResults"}

# engine -> fault kind -> (error code, HTTP status)
CODES = {
    "lake": {
        "throttle": ("ThrottlingException", 400),
        "internal_error": ("InternalServerException", 500),
        "access_denied": ("AccessDeniedException", 403),
    },
    "athena": {
        "throttle": ("TooManyRequestsException", 400),
        "internal_error": ("InternalServerException", 500),
        "access_denied": ("AccessDeniedException", 400),
    },
}


@dataclass(frozen=True)
class Step:
    """One query step on one engine: the call that is faulted and the successful answers around it."""

    engine: str
    step: str  # query_start / query_status / query_results
    operation: str  # the faulted client method
    before: tuple[tuple[str, dict[str, Any]], ...]  # answered before the faulted call
    success: tuple[tuple[str, dict[str, Any]], ...]  # the faulted call's success and what follows

    @property
    def pair(self) -> str:
        service = "cloudtrail" if self.engine == "lake" else "athena"
        return f"{service}:{''.join(w.title() for w in self.operation.split('_'))}"


def _lake_status(state: str) -> dict[str, Any]:
    return {
        "QueryId": QID,
        "QueryStatus": state,
        "QueryStatistics": {"EventsScanned": 10, "BytesScanned": 100},
    }


def _athena_status(state: str) -> dict[str, Any]:
    return {"QueryExecution": {"QueryExecutionId": QID, "Status": {"State": state}, "Statistics": {}}}


_ATHENA_ROWS = {
    "ResultSet": {
        "ResultSetMetadata": {"ColumnInfo": [{"Name": "event_id", "Type": "varchar"}]},
        "Rows": [{"Data": [{"VarCharValue": "event_id"}]}],
    }
}
STEPS: tuple[Step, ...] = (
    Step(
        "lake",
        "start_query",
        "start_query",
        (),
        (("start_query", {"QueryId": QID}), ("describe_query", _lake_status("RUNNING"))),
    ),
    Step("lake", "query_status", "describe_query", (), (("describe_query", _lake_status("FINISHED")),)),
    Step(
        "lake",
        "query_results",
        "get_query_results",
        (("describe_query", _lake_status("FINISHED")),),
        (("get_query_results", {"QueryStatus": "FINISHED", "QueryResultRows": []}),),
    ),
    Step(
        "athena",
        "start_query",
        "start_query_execution",
        (),
        (
            ("start_query_execution", {"QueryExecutionId": QID}),
            ("get_query_execution", _athena_status("RUNNING")),
        ),
    ),
    Step(
        "athena",
        "query_status",
        "get_query_execution",
        (),
        (("get_query_execution", _athena_status("SUCCEEDED")),),
    ),
    Step(
        "athena",
        "query_results",
        "get_query_results",
        (("get_query_execution", _athena_status("SUCCEEDED")),),
        (("get_query_results", _ATHENA_ROWS),),
    ),
)


def engine_for(name: str, client: Any) -> PollingEngine:
    if name == "lake":
        return LakeEngine(client, EDS)
    return AthenaEngine(client, workgroup="responder", database="cloudtrail", table="cloudtrail_logs")


def asl_retries(state_name: str) -> set[str]:
    """The error names the ASL retries for one of the query states."""
    asl = json.loads((REPO / "statemachine" / "responder.asl.json").read_text())
    found: set[str] = set()

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            if name == state_name:
                found.update(e for r in state.get("Retry", []) for e in r["ErrorEquals"])
            for branch in state.get("Branches", []):
                walk(branch["States"])
            if "ItemProcessor" in state:
                walk(state["ItemProcessor"]["States"])

    walk(asl["States"])
    return found


def investigate_catches_all() -> bool:
    asl = json.loads((REPO / "statemachine" / "responder.asl.json").read_text())
    catch = asl["States"]["Investigate"].get("Catch", [])
    return any("States.ALL" in c["ErrorEquals"] and c["Next"] == "NotifyFailure" for c in catch)


@dataclass(frozen=True)
class StepOutcome:
    step: Step
    kind: str  # throttle_once / throttle_persistent / internal_error / access_denied
    first_error: str | None  # what the first invocation raised (its class name: the ASL's error name)
    retried: bool  # the ASL retries that name
    then: str  # what happened next: "succeeded on retry", "NotifyFailure via Investigate's Catch"

    @property
    def label(self) -> str:
        if self.first_error is None:
            return "succeeded"
        return f"{self.first_error}: {self.then}"


Invoke = Callable[[str, PollingEngine], Any]


def run_step_fault(step: Step, kind: str, invoke: Invoke) -> StepOutcome:
    """Fault ``step``'s call with ``kind``; for a throttle once, invoke again as the ASL's retry would."""
    service = "cloudtrail" if step.engine == "lake" else "athena"
    client = boto3.client(service, region_name="us-east-1")
    code, status = CODES[step.engine]["throttle" if kind.startswith("throttle") else kind]
    attempts = 6 if kind == "throttle_persistent" else 1  # the ASL's 1 + MaxAttempts 5 on Throttled
    retries = asl_retries(STATE_OF_STEP[step.step])
    first_error: str | None = None
    with Stubber(client) as stub:
        engine = engine_for(step.engine, client)
        for attempt in range(attempts):
            for method, response in step.before:
                stub.add_response(method, response)
            stub.add_client_error(step.operation, code, f"injected {code}", status)
            try:
                invoke(step.step, engine)
            except Exception as exc:
                name = type(exc).__name__
                first_error = first_error or name
                if name not in retries:
                    stub.assert_no_pending_responses()
                    caught = (
                        "NotifyFailure via Investigate's Catch" if investigate_catches_all() else "uncaught"
                    )
                    return StepOutcome(step, kind, first_error, False, caught)
                if attempt == attempts - 1 and kind == "throttle_persistent":
                    return StepOutcome(
                        step, kind, first_error, True, f"retried {attempts - 1} times, then NotifyFailure"
                    )
        if kind == "throttle_persistent":
            return StepOutcome(step, kind, first_error, True, "succeeded while throttled?")
        for method, response in (*step.before, *step.success):
            stub.add_response(method, response)
        invoke(step.step, engine)
        stub.assert_no_pending_responses()
    return StepOutcome(step, kind, first_error, first_error is not None, "succeeded on retry")
