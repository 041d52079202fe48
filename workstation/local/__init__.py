"""The local runner: our real ASL on moto's Step Functions engine, Lambda tasks run in-process.

See docs/local-runner.md for what moto's engine supports.
"""

from __future__ import annotations

from workstation.local.errors import (
    ExecutionDidNotFinish,
    InvalidEvent,
    InvalidEventPattern,
    LocalRunnerError,
    MotoNotConfigured,
    PlaceholderMismatch,
)
from workstation.local.events import matches_rule
from workstation.local.lambdas import (
    Handler,
    Invocation,
    LambdaDispatch,
    LocalLambdaContext,
    create_functions,
    ensure_role,
    install_dispatch,
)
from workstation.local.runner import (
    MOTO_CONFIG,
    ExecutionResult,
    LocalWorkflow,
    placeholders,
    retry_interval_scale,
    run_execution,
    substitute,
)

__all__ = [
    "MOTO_CONFIG",
    "ExecutionDidNotFinish",
    "ExecutionResult",
    "Handler",
    "InvalidEvent",
    "InvalidEventPattern",
    "Invocation",
    "LambdaDispatch",
    "LocalLambdaContext",
    "LocalRunnerError",
    "LocalWorkflow",
    "MotoNotConfigured",
    "PlaceholderMismatch",
    "create_functions",
    "ensure_role",
    "install_dispatch",
    "matches_rule",
    "placeholders",
    "retry_interval_scale",
    "run_execution",
    "substitute",
]
