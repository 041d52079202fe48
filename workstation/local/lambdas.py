"""Our Python handlers as Lambda functions of moto's Docker-less Lambda backend.

With ``mock_aws(config={"lambda": {"use_docker": False}})`` moto serves ``Invoke`` from
``moto.awslambda_simple.models.LambdaSimpleBackend.invoke``, which only echoes the payload.
:class:`LambdaDispatch` replaces that method (class-wide, restored when the last dispatch exits) so
that invoking a registered function calls its handler in-process, in the calling thread (moto's
Step Functions worker thread), and answers the way the AWS Lambda Python runtime does:

* the handler's return value, JSON-encoded (``Decimal`` allowed, as in the runtime); a value that
  cannot be encoded is the runtime's ``Runtime.MarshalError``;
* an exception is an *unhandled function error*: header ``x-amz-function-error: Unhandled`` and the
  payload ``{"errorMessage", "errorType", "requestId", "stackTrace"}``. Step Functions takes
  ``errorType`` (the exception's class name) as the error name, so ``Retry``/``Catch`` by
  ``ErrorEquals: ["ForeignAccessKey"]`` behave as in AWS.

Invoking a registered name that was never created is ``ResourceNotFoundException``, as in AWS;
unregistered functions keep moto's echo. Every invocation is recorded (:class:`Invocation`) with,
when Step Functions made it, the execution ARN, state name and retry count.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal

from workstation.local.errors import MotoNotConfigured

LOG = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]
"""A Lambda handler: ``handler(event, context) -> JSON-able``."""

Phase = Literal["started", "succeeded", "failed"]

LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True)
class Invocation:
    """One call of a handler. ``on_invoke`` sees it twice: ``started``, then ``succeeded``/``failed``."""

    function_name: str
    request_id: str
    phase: Phase
    started_at: datetime
    ended_at: datetime | None = None
    error_type: str | None = None
    error_message: str | None = None
    execution_arn: str | None = None
    state_name: str | None = None
    retry_count: int | None = None
    event: Any = field(default=None, repr=False)
    result: Any = field(default=None, repr=False)

    @property
    def duration_ms(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds() * 1000


@dataclass(frozen=True)
class LocalLambdaContext:
    """The attributes of the Lambda Python runtime's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None
    _deadline: float = field(default=0.0, repr=False)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        return f"{day}/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_name_of(ref: str) -> str:
    """The function name in a name, ``name:qualifier``, partial ARN or full ARN."""
    parts = ref.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


def _runtime_json(value: Any) -> bytes:
    """JSON like the Lambda Python runtime's marshaller (it also accepts Decimal)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return int(obj) if obj == obj.to_integral_value() else float(obj)
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    return json.dumps(value, default=default).encode()


def _error_payload(error_type: str, message: str, request_id: str, tb: TracebackType | None) -> bytes:
    stack = traceback.format_list(traceback.extract_tb(tb)) if tb is not None else []
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}
    ).encode()


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key in (name, name.lower()):
        value = headers.get(key)
        if value is not None:
            return str(value)
    return None


def _sfn_context() -> tuple[str | None, str | None, int | None]:
    """Execution ARN, state name and retry count of the Step Functions task making this call, if any.

    moto invokes Lambda synchronously in the thread evaluating the task, whose stack holds the
    interpreter's ``env``; a direct ``boto3`` invoke has none.
    """
    if "moto.stepfunctions.parser.asl.eval.environment" not in sys.modules:
        return None, None, None
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    frame = sys._getframe(1)
    while frame is not None:
        env = frame.f_locals.get("env")
        if isinstance(env, Environment):
            data: Mapping[str, Any] = env.states.context_object.context_object_data
            state = data.get("State") or {}
            return data["Execution"]["Id"], state.get("Name"), state.get("RetryCount")
        frame = frame.f_back  # type: ignore[assignment]
    return None, None, None


# Active dispatches, newest last; the patched method looks names up newest first.
_LOCK = threading.RLock()
_ACTIVE: list[LambdaDispatch] = []
_ORIGINAL_INVOKE: Callable[..., Any] | None = None


def _dispatching_invoke(
    backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
) -> Any:
    name = function_name_of(function_name)
    with _LOCK:
        dispatch = next((d for d in reversed(_ACTIVE) if name in d.handlers), None)
        original = _ORIGINAL_INVOKE
    if dispatch is None:
        assert original is not None
        return original(backend, function_name, qualifier, body, headers, response_headers)
    return dispatch._invoke(backend, function_name, qualifier, body, headers, response_headers)


class LambdaDispatch:
    """Context manager: while active, invoking a function named in ``handlers`` runs that handler.

    >>> with LambdaDispatch({"disable-key": handler}, on_invoke=print) as dispatch:
    ...     ...  # start executions; then dispatch.invocations
    """

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        on_invoke: Callable[[Invocation], None] | None = None,
    ) -> None:
        self.handlers: dict[str, Handler] = {function_name_of(k): v for k, v in handlers.items()}
        self.on_invoke = on_invoke
        self._records: list[Invocation] = []
        self._records_lock = threading.Lock()
        self._callback_errors: list[BaseException] = []

    @property
    def invocations(self) -> list[Invocation]:
        """Finished invocations, in the order they ended."""
        with self._records_lock:
            return list(self._records)

    def __enter__(self) -> LambdaDispatch:
        global _ORIGINAL_INVOKE  # noqa: PLW0603
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.core.config import default_user_config

        if default_user_config.get("lambda", {}).get("use_docker", True) is not False:
            raise MotoNotConfigured(
                'in-process Lambda needs mock_aws(config={"lambda": {"use_docker": False}}) to be active'
            )
        with _LOCK:
            if not _ACTIVE:
                _ORIGINAL_INVOKE = LambdaSimpleBackend.__dict__["invoke"]
                LambdaSimpleBackend.invoke = _dispatching_invoke  # type: ignore[assignment,method-assign]
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        global _ORIGINAL_INVOKE  # noqa: PLW0603
        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
            if not _ACTIVE and _ORIGINAL_INVOKE is not None:
                LambdaSimpleBackend.invoke = _ORIGINAL_INVOKE  # type: ignore[method-assign]
                _ORIGINAL_INVOKE = None
        # A failing narration callback must not look like a failing step, nor go unnoticed.
        if self._callback_errors and exc_info[0] is None:
            raise self._callback_errors[0]

    def _notify(self, invocation: Invocation) -> None:
        if self.on_invoke is None:
            return
        try:
            self.on_invoke(invocation)
        except Exception as exc:
            LOG.exception("on_invoke callback failed for %s", invocation.function_name)
            self._callback_errors.append(exc)

    def _invoke(
        self,
        backend: Any,
        function_ref: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        # Raises ResourceNotFoundException (404) like AWS when the function was never created.
        fn = backend.get_function(function_ref, qualifier)
        if _header(headers, "X-Amz-Invocation-Type") == "DryRun":
            return b""
        try:
            event = json.loads(body) if body else {}
        except (ValueError, TypeError) as exc:
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError(
                "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
            ) from exc

        name = fn.function_name
        arn = function_ref if function_ref.startswith("arn:") else fn.function_arn
        request_id = str(uuid.uuid4())
        timeout = int(getattr(fn, "timeout", 3) or 3)
        context = LocalLambdaContext(
            function_name=name,
            invoked_function_arn=arn,
            aws_request_id=request_id,
            memory_limit_in_mb=int(getattr(fn, "memory_size", 128) or 128),
            timeout_seconds=timeout,
            _deadline=time.monotonic() + timeout,
        )
        execution_arn, state_name, retry_count = _sfn_context()
        started = Invocation(
            function_name=name,
            request_id=request_id,
            phase="started",
            started_at=datetime.now(UTC),
            execution_arn=execution_arn,
            state_name=state_name,
            retry_count=retry_count,
            event=event,
        )
        self._notify(started)

        payload: bytes
        try:
            result = self.handlers[name](event, context)
        except Exception as exc:
            # Drop this frame: the runtime's stackTrace starts in the handler's module.
            tb = exc.__traceback__.tb_next if exc.__traceback__ else None
            payload = _error_payload(type(exc).__name__, str(exc), request_id, tb)
            finished = replace(started, phase="failed", error_type=type(exc).__name__, error_message=str(exc))
        else:
            try:
                payload = _runtime_json(result)
                finished = replace(started, phase="succeeded", result=result)
            except (TypeError, ValueError) as exc:
                message = f"Unable to marshal response: {exc}"
                payload = _error_payload("Runtime.MarshalError", message, request_id, None)
                finished = replace(
                    started, phase="failed", error_type="Runtime.MarshalError", error_message=message
                )
        finished = replace(finished, ended_at=datetime.now(UTC))
        if finished.phase == "failed" and _header(headers, "X-Amz-Invocation-Type") != "Event":
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = str(getattr(fn, "version", "$LATEST"))
        with self._records_lock:
            self._records.append(finished)
        self._notify(finished)
        return payload


def install_dispatch(
    handlers: Mapping[str, Handler], on_invoke: Callable[[Invocation], None] | None = None
) -> LambdaDispatch:
    """``with install_dispatch({"name": handler}) as d:``; invocations of ``name`` run ``handler``."""
    return LambdaDispatch(handlers, on_invoke=on_invoke)


def _tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def ensure_role(iam: Any, name: str = "responder-local") -> str:
    """ARN of an IAM role Lambda and Step Functions may assume (created when absent)."""
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY))
        return str(role["Role"]["Arn"])


def create_functions(
    lambda_client: Any,
    names: Iterable[str],
    role_arn: str,
    *,
    timeout: int = 60,
    memory_size: int = 256,
    environment: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Create (or find) Lambda functions so their ARNs resolve; returns name -> function ARN."""
    code = _tiny_zip()
    arns: dict[str, str] = {}
    for name in names:
        try:
            arns[name] = lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
            continue
        except lambda_client.exceptions.ResourceNotFoundException:
            pass
        created = lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role_arn,
            Handler="index.handler",
            Code={"ZipFile": code},
            Timeout=timeout,
            MemorySize=memory_size,
            Environment={"Variables": dict(environment or {})},
        )
        arns[name] = created["FunctionArn"]
    return arns
