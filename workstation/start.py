"""A manual run of the deployed workflow (``responder start``): the console's re-run, from a terminal.

:func:`manual_input` builds the same input the Step Functions console takes
(``{"accessKeyId", "lookbackDays", "dryRun"}``, which triage reads as a manual input),
:func:`state_machine_arn` finds the workflow from the stack's ``StateMachineArn`` output,
:func:`start_run` starts it and :func:`follow` polls its history, one line per state entered or
exited, until it ends. Clients are arguments, so the same code runs under moto and against AWS.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from responder.errors import InvalidInput, ResponderError, error_code, error_message
from responder.operators import refusal
from responder.permissions import Permission
from responder.steps.triage import ACCESS_KEY_RE
from workstation.progress import ProgressLine

DEFAULT_STACK = "IncidentResponder"  # app.py's stack id
OUTPUT_KEY = "StateMachineArn"  # stacks/responder_stack.py's CfnOutput
MAX_LOOKBACK_DAYS = 3650  # Settings.max_lookback_days' default; triage enforces the deployed value
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        ("cloudformation:DescribeStacks",), ("arn:{partition}:cloudformation:{region}:{account}:stack/*",)
    ),
    Permission(("states:StartExecution",), ("arn:{partition}:states:{region}:{account}:stateMachine:*",)),
    Permission(
        ("states:DescribeExecution", "states:GetExecutionHistory"),
        ("arn:{partition}:states:{region}:{account}:execution:*",),
    ),
)
"""What the person running ``responder start`` needs (their role, not a Lambda's)."""


class StackNotFound(InvalidInput):
    """No such stack, or it has no state machine output: the --stack argument is wrong."""


class StartFailed(ResponderError):
    """Step Functions refused to start or describe the execution (AccessDenied, throttling...)."""


def manual_input(
    access_key_id: str, lookback_days: int | None = None, *, dry_run: bool = False
) -> dict[str, Any]:
    """The execution input for a manual run; raises :class:`InvalidInput` for a bad key or window.

    Without ``lookback_days`` the stack's configured default applies (``responder:lookbackDays``).
    """
    if not ACCESS_KEY_RE.match(access_key_id or ""):
        raise InvalidInput("--access-key must look like AKIA... or ASIA... (20 capitals and digits)")
    data: dict[str, Any] = {"accessKeyId": access_key_id}
    if lookback_days is not None:
        if not 1 <= lookback_days <= MAX_LOOKBACK_DAYS:
            raise InvalidInput(
                f"--lookback-days must be between 1 and {MAX_LOOKBACK_DAYS}, not {lookback_days}"
            )
        data["lookbackDays"] = lookback_days
    if dry_run:
        data["dryRun"] = True
    return data


def state_machine_arn(cloudformation: Any, stack: str = DEFAULT_STACK) -> str:
    """The workflow's ARN from the stack's outputs: ``StateMachineArn``, else the one key naming it."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in error_message(exc):
            raise StackNotFound(f"stack {stack!r} does not exist here (region? --stack?)") from exc
        raise StartFailed(
            f"cloudformation:DescribeStacks {stack}: {error_code(exc)}: {error_message(exc)}"
        ) from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for s in stacks[:1] for o in s.get("Outputs") or []}
    if OUTPUT_KEY in outputs:
        return str(outputs[OUTPUT_KEY])
    named = sorted(k for k in outputs if "StateMachine" in k)
    if len(named) == 1:
        return str(outputs[named[0]])
    raise StackNotFound(
        f"stack {stack!r} has no {OUTPUT_KEY} output"
        + (f" (several name a state machine: {', '.join(named)})" if named else "")
    )


def console_url(execution_arn: str) -> str:
    """The Step Functions console page of an execution."""
    parts = execution_arn.split(":")
    partition, region = parts[1], parts[3]
    host = {
        "aws-cn": "console.amazonaws.cn",
        "aws-us-gov": "console.amazonaws-us-gov.com",
    }.get(partition, f"{region}.console.aws.amazon.com")
    return f"https://{host}/states/home?region={region}#/v2/executions/details/{execution_arn}"


def execution_name(access_key_id: str, now: datetime | None = None) -> str:
    """``manual-<key>-<UTC time>-<4 hex>``: findable in the console by key, unique per run (<= 80 chars)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"manual-{access_key_id}-{stamp}-{uuid.uuid4().hex[:4]}"


def start_run(sfn: Any, arn: str, execution_input: Mapping[str, Any], *, name: str | None = None) -> str:
    """Start one execution; its ARN."""
    key = str(execution_input.get("accessKeyId", "run"))
    try:
        started = sfn.start_execution(
            stateMachineArn=arn, name=name or execution_name(key), input=json.dumps(dict(execution_input))
        )
    except ClientError as exc:
        command = "eradicate" if execution_input.get("eradicate") else "start"
        if not execution_input.get("dryRun") and (refused := refusal(command, exc)):
            raise StartFailed(refused) from exc
        raise StartFailed(f"states:StartExecution: {error_code(exc)}: {error_message(exc)}") from exc
    return str(started["executionArn"])


# ---------------------------------------------------------------------------------- following


@dataclass(frozen=True)
class ProgressStep:
    """One line of progress: a state entered or exited (or the execution's own end)."""

    event_id: int
    kind: str  # "entered" | "exited" | "failed" | the execution's status
    name: str
    elapsed: float  # seconds since the execution started

    def text(self) -> str:
        return f"[{_clock(self.elapsed)}] {self.kind:<8} {self.name}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(int(seconds), 0), 60)
    return f"{minutes:02d}:{secs:02d}"


_EXECUTION_END = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
_FAILED_DETAILS = (
    "taskFailedEventDetails",
    "lambdaFunctionFailedEventDetails",
    "executionFailedEventDetails",
)


def steps_of(events: list[dict[str, Any]], started: datetime | None = None) -> Iterator[ProgressStep]:
    """History events -> progress lines: states entered and exited, tasks failed, the execution's end."""
    start = started or (events[0]["timestamp"] if events else None)
    for event in events:
        elapsed = (event["timestamp"] - start).total_seconds() if start else 0.0
        kind = str(event["type"])
        if "stateEnteredEventDetails" in event:
            yield ProgressStep(
                int(event["id"]), "entered", event["stateEnteredEventDetails"]["name"], elapsed
            )
        elif "stateExitedEventDetails" in event:
            yield ProgressStep(int(event["id"]), "exited", event["stateExitedEventDetails"]["name"], elapsed)
        elif kind in _EXECUTION_END:
            error = _error_of(event)
            yield ProgressStep(int(event["id"]), _EXECUTION_END[kind], error or "execution", elapsed)
        elif kind.endswith("Failed"):
            yield ProgressStep(int(event["id"]), "failed", _error_of(event) or kind, elapsed)


def _error_of(event: Mapping[str, Any]) -> str | None:
    for key in _FAILED_DETAILS:
        detail = event.get(key)
        if isinstance(detail, Mapping) and detail.get("error"):
            return str(detail["error"])
    return None


def _history(sfn: Any, execution_arn: str, after: int) -> list[dict[str, Any]]:
    """The events with id > ``after``, oldest first (read newest first, so a long run costs one page)."""
    newest_first: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "reverseOrder": True, "maxResults": 100}
    while True:
        page = sfn.get_execution_history(**kwargs)
        fresh = [e for e in page["events"] if int(e["id"]) > after]
        newest_first.extend(fresh)
        if len(fresh) < len(page["events"]) or not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    return sorted(newest_first, key=lambda e: int(e["id"]))


@dataclass(frozen=True)
class RunResult:
    execution_arn: str
    status: str
    error: str | None = None
    cause: str | None = None


def follow(
    sfn: Any,
    execution_arn: str,
    on_step: Callable[[ProgressStep], None],
    *,
    poll_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """Poll the execution until it ends, calling ``on_step`` once per new progress line, in order."""
    seen = 0
    started: datetime | None = None
    while True:
        try:
            description = sfn.describe_execution(executionArn=execution_arn)
            started = started or description.get("startDate")
            events = _history(sfn, execution_arn, seen)
        except ClientError as exc:
            raise StartFailed(f"following {execution_arn}: {error_code(exc)}: {error_message(exc)}") from exc
        for step in steps_of(events, started):
            on_step(step)
        if events:
            seen = int(events[-1]["id"])
        status = str(description["status"])
        if status in TERMINAL:
            # The history can lag the status by a poll: read it once more for the last lines.
            for step in steps_of(_history(sfn, execution_arn, seen), started):
                on_step(step)
            return RunResult(execution_arn, status, description.get("error"), description.get("cause"))
        sleep(poll_seconds)


class ProgressDisplay(ProgressLine):
    """Renders each :class:`ProgressStep` of a followed execution."""

    def __call__(self, step: ProgressStep) -> None:
        self.show(step.text())
