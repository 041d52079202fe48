"""Run our real ASL on moto's Step Functions engine, each Lambda task dispatched to our Python handler.

The caller owns ``mock_aws`` (the demo builds the emulated account first); it must be started with
:data:`MOTO_CONFIG`. Inside it::

    with LocalWorkflow(asl_text, {"TriageFunctionArn": ("triage", triage.handler)},
                       values={"SocTopicArn": topic_arn}) as workflow:
        result = workflow.run({"detail": ...})
    result.status, result.output, result.invocations

or, for one execution, ``run_execution(asl_text, functions, input, values=...)``.
What moto's engine does and does not support is written down in docs/local-runner.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, cast

import boto3

from responder.errors import InvalidInput
from workstation.local.errors import ExecutionDidNotFinish, MotoNotConfigured, PlaceholderMismatch
from workstation.local.lambdas import (
    Handler,
    Invocation,
    LambdaDispatch,
    create_functions,
    ensure_role,
)

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig

MOTO_CONFIG: Final = cast(
    "DefaultConfig",
    {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}},
)
"""``mock_aws(config=MOTO_CONFIG)``: execute state machines; Lambda in-process, without Docker."""

TERMINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

# Anything between "${" and the next "}" is a placeholder; an unterminated "${" is an error too.
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def placeholders(definition: str) -> set[str]:
    """The ``${...}`` placeholder names in an ASL text."""
    return set(_PLACEHOLDER.findall(definition))


def substitute(definition: str, values: Mapping[str, str]) -> str:
    """Replace every ``${Key}`` with ``values[Key]``, strictly (like CDK's DefinitionSubstitutions).

    Raises :class:`PlaceholderMismatch` when a placeholder has no value or a value no placeholder.
    """
    found = placeholders(definition)
    missing, unused = sorted(found - values.keys()), sorted(values.keys() - found)
    if missing or unused:
        raise PlaceholderMismatch(
            f"placeholders without a value: {missing}; values without a placeholder: {unused}"
        )
    # Values land inside JSON strings: escape them as JSON string content.
    text = _PLACEHOLDER.sub(lambda m: json.dumps(str(values[m.group(1)]))[1:-1], definition)
    if "${" in text:
        raise PlaceholderMismatch("an unterminated '${' is left in the definition")
    try:
        json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"the definition is not JSON after substitution: {exc}") from exc
    return text


@dataclass(frozen=True)
class ExecutionResult:
    """A finished execution: what ``describe_execution`` and ``get_execution_history`` say, plus calls."""

    execution_arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    started_at: datetime
    stopped_at: datetime | None
    history: list[dict[str, Any]] = field(repr=False)
    invocations: list[Invocation] = field(repr=False)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def states_entered(self) -> list[str]:
        """Names of the states entered, in history order (Parallel and Map branches interleave)."""
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history
            if "stateEnteredEventDetails" in event
        ]

    def event_types(self) -> list[str]:
        return [event["type"] for event in self.history]


# moto's retrier sleeps IntervalSeconds (>= 1 by the ASL spec) between attempts; tests scale it.
_SCALE_LOCK = threading.Lock()
_SCALES: list[float] = []


class _ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: ``sleep`` is scaled, the rest is time's."""

    def sleep(self, seconds: float) -> None:
        with _SCALE_LOCK:
            scale = _SCALES[-1] if _SCALES else 1.0
        time.sleep(seconds * scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextlib.contextmanager
def retry_interval_scale(scale: float) -> Iterator[None]:
    """Multiply ASL Retry intervals by ``scale`` (0 = retry at once) while active. 1 changes nothing."""
    if scale == 1.0:
        yield
        return
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    with _SCALE_LOCK:
        if not _SCALES:
            retrier_decl.time = _ScaledTime()  # type: ignore[assignment]
        _SCALES.append(scale)
    try:
        yield
    finally:
        with _SCALE_LOCK:
            _SCALES.remove(scale)
            if not _SCALES:
                retrier_decl.time = time


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set process environment variables (handlers run in-process) and forget cached settings/clients."""
    from responder import clients
    from responder.settings import get_settings

    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    get_settings.cache_clear()
    clients.reset()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        clients.reset()


# DynamoDB's conditional writes are atomic; moto's check-then-write is not, across the threads that
# run concurrent executions' tasks. The exactly-once claims (a key's, a finding's first delivery) rely
# on that atomicity, so while a local workflow runs, moto's writes are serialized as DynamoDB's are.
_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_DYNAMODB_LOCK = threading.RLock()
_DYNAMODB_DEPTH: list[dict[str, Any]] = []


@contextlib.contextmanager
def atomic_dynamodb_writes() -> Iterator[None]:
    """moto's DynamoDB writes made atomic (one at a time) while active; nests."""
    from moto.dynamodb.models import DynamoDBBackend

    with _DYNAMODB_LOCK:
        if not _DYNAMODB_DEPTH:
            originals = {name: getattr(DynamoDBBackend, name) for name in _DYNAMODB_WRITES}

            def serialized(original: Any) -> Any:
                def write(self: Any, *args: Any, **kwargs: Any) -> Any:
                    with _DYNAMODB_LOCK:
                        return original(self, *args, **kwargs)

                return write

            for name, original in originals.items():
                setattr(DynamoDBBackend, name, serialized(original))
            _DYNAMODB_DEPTH.append(originals)
        else:
            _DYNAMODB_DEPTH.append(_DYNAMODB_DEPTH[0])
    try:
        yield
    finally:
        with _DYNAMODB_LOCK:
            originals = _DYNAMODB_DEPTH.pop()
            if not _DYNAMODB_DEPTH:
                for name, original in originals.items():
                    setattr(DynamoDBBackend, name, original)


def _check_moto() -> None:
    from moto.core.config import default_user_config
    from moto.core.models import botocore_stubber

    sfn = default_user_config.get("stepfunctions", {}).get("execute_state_machine", False)
    docker = default_user_config.get("lambda", {}).get("use_docker", True)
    if not botocore_stubber.enabled or sfn is not True or docker is not False:
        raise MotoNotConfigured("run inside mock_aws(config=workstation.local.runner.MOTO_CONFIG)")


class LocalWorkflow:
    """One state machine on emulated AWS, its Lambda tasks dispatched to in-process handlers.

    ``functions`` maps a placeholder to ``(function name, handler)``: the placeholder becomes that
    function's ARN. ``values`` maps the other placeholders to plain strings. ``environment`` is set
    in the process (all handlers share it, as they share one settings object) for the workflow's
    lifetime. Use it as a context manager: the dispatch is active until exit.
    """

    def __init__(
        self,
        definition: str,
        functions: Mapping[str, tuple[str, Handler]],
        values: Mapping[str, str] | None = None,
        *,
        name: str = "responder-local",
        region: str | None = None,
        environment: Mapping[str, str] | None = None,
        on_invoke: Callable[[Invocation], None] | None = None,
        retry_interval_scale: float = 1.0,
        function_timeout: int = 60,
    ) -> None:
        values = dict(values or {})
        overlap = sorted(values.keys() & functions.keys())
        if overlap:
            raise PlaceholderMismatch(f"placeholders given both a function and a value: {overlap}")
        handlers: dict[str, Handler] = {}
        for function_name, handler in functions.values():
            if handlers.setdefault(function_name, handler) is not handler:
                raise PlaceholderMismatch(f"function {function_name!r} is given two different handlers")
        # Fail before touching the emulated account (ARNs are filled in by deploy()).
        substitute(definition, {**values, **{key: "arn:aws:lambda:::function:x" for key in functions}})

        self.definition = definition
        self.functions = dict(functions)
        self.values = values
        self.name = name
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.environment = dict(environment or {})
        self.retry_interval_scale = retry_interval_scale
        self.function_timeout = function_timeout
        self.dispatch = LambdaDispatch(handlers, on_invoke=on_invoke)
        self.state_machine_arn: str | None = None
        self.function_arns: dict[str, str] = {}
        self._stack: contextlib.ExitStack | None = None
        self._sfn: Any = None

    def __enter__(self) -> LocalWorkflow:
        _check_moto()
        with contextlib.ExitStack() as stack:
            stack.enter_context(_environment(self.environment))
            stack.enter_context(retry_interval_scale(self.retry_interval_scale))
            stack.enter_context(atomic_dynamodb_writes())
            stack.enter_context(self.dispatch)
            self._sfn = boto3.client("stepfunctions", region_name=self.region)
            self.deploy()
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.__exit__(*exc_info)

    @property
    def invocations(self) -> list[Invocation]:
        """Every handler invocation so far, in the order they finished."""
        return self.dispatch.invocations

    def deploy(self) -> str:
        """Create the role, the functions and the STANDARD state machine (once); its ARN."""
        if self.state_machine_arn is not None:
            return self.state_machine_arn
        role_arn = ensure_role(boto3.client("iam", region_name=self.region))
        lambda_client = boto3.client("lambda", region_name=self.region)
        names = sorted({function_name for function_name, _ in self.functions.values()})
        self.function_arns = create_functions(
            lambda_client,
            names,
            role_arn,
            timeout=self.function_timeout,
            environment=self.environment,
        )
        substitutions = {
            **self.values,
            **{key: self.function_arns[function_name] for key, (function_name, _) in self.functions.items()},
        }
        created = self._sfn.create_state_machine(
            name=self.name,
            definition=substitute(self.definition, substitutions),
            roleArn=role_arn,
            type="STANDARD",
        )
        self.state_machine_arn = str(created["stateMachineArn"])
        return self.state_machine_arn

    def _client(self) -> Any:
        if self._stack is None:
            raise InvalidInput("use the LocalWorkflow as a context manager: `with LocalWorkflow(...) as wf:`")
        return self._sfn

    def start(self, execution_input: Any = None, *, name: str | None = None) -> str:
        """Start an execution (input as a JSON-able value); its ARN. Does not wait."""
        sfn = self._client()
        # Always name executions: moto names an unnamed one "None", and a second is then taken for it.
        started = sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=name or f"run-{uuid.uuid4().hex[:16]}",
            input=json.dumps({} if execution_input is None else execution_input),
        )
        return str(started["executionArn"])

    def wait(self, execution_arn: str, *, timeout: float = 30.0, poll: float = 0.01) -> ExecutionResult:
        """Wait for one execution to end; stop it and raise :class:`ExecutionDidNotFinish` past ``timeout``."""
        return self.wait_all([execution_arn], timeout=timeout, poll=poll)[0]

    def wait_all(
        self, execution_arns: Sequence[str], *, timeout: float = 30.0, poll: float = 0.01
    ) -> list[ExecutionResult]:
        """Wait for several executions (in input order); all must end within ``timeout`` in total."""
        sfn = self._client()
        deadline = time.monotonic() + timeout
        described: dict[str, dict[str, Any]] = {}
        pending = list(dict.fromkeys(execution_arns))
        while pending:
            for arn in list(pending):
                description = sfn.describe_execution(executionArn=arn)
                # moto marks an execution SUCCEEDED a moment before it stores the output: wait for both.
                settling = description["status"] == "SUCCEEDED" and description.get("output") is None
                if description["status"] in TERMINAL_STATUSES and not settling:
                    described[arn] = description
                    pending.remove(arn)
            if not pending:
                break
            if time.monotonic() > deadline:
                self._stop(pending, poll)
                raise ExecutionDidNotFinish(f"still RUNNING after {timeout}s, stopped: {', '.join(pending)}")
            time.sleep(poll)
        return [self._result(described[arn]) for arn in execution_arns]

    def _stop(self, execution_arns: Iterable[str], poll: float, grace: float = 2.0) -> None:
        """Stop executions and give them ``grace`` seconds to become ABORTED.

        moto aborts an execution only when its current state yields: a Wait state at once, a Task
        waiting for a token only at its TimeoutSeconds/HeartbeatSeconds (AWS aborts at once).
        """
        arns = list(execution_arns)
        for arn in arns:
            self._sfn.stop_execution(executionArn=arn, error="LocalRunner.WaitTimedOut")
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(
            self._sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" for arn in arns
        ):
            time.sleep(poll)

    def run(
        self, execution_input: Any = None, *, name: str | None = None, timeout: float = 30.0
    ) -> ExecutionResult:
        """Start one execution and wait for it."""
        return self.wait(self.start(execution_input, name=name), timeout=timeout)

    def run_many(self, inputs: Iterable[Any], *, timeout: float = 60.0) -> list[ExecutionResult]:
        """Start one execution per input, all at once, then wait for all of them."""
        return self.wait_all([self.start(item) for item in inputs], timeout=timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's whole history (all pages)."""
        sfn = self._client()
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def _result(self, description: Mapping[str, Any]) -> ExecutionResult:
        arn = description["executionArn"]
        return ExecutionResult(
            execution_arn=arn,
            status=description["status"],
            output=_parse_output(description.get("output")),
            error=description.get("error"),
            cause=description.get("cause"),
            started_at=description["startDate"],
            stopped_at=description.get("stopDate"),
            history=self.history(arn),
            invocations=[i for i in self.invocations if i.execution_arn == arn],
        )


def _parse_output(output: str | None) -> Any:
    if output is None:
        return None
    try:
        return json.loads(output)
    except ValueError:
        # moto returns an execution output that is a JSON *string* unencoded (AWS encodes it).
        return output


def run_execution(
    definition: str,
    functions: Mapping[str, tuple[str, Handler]],
    execution_input: Any = None,
    *,
    values: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    **options: Any,
) -> ExecutionResult:
    """Deploy ``definition`` inside the active ``mock_aws``, run one execution, wait and return it.

    ``options`` are :class:`LocalWorkflow`'s keyword arguments (name, environment, on_invoke...).
    """
    with LocalWorkflow(definition, functions, values, **options) as workflow:
        return workflow.run(execution_input, timeout=timeout)
