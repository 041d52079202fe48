"""What a handler's cold start loads: not the X-Ray SDK. Every function keeps X-Ray active tracing
(tests/stack/test_functions.py), which records it without the SDK; responder/observability.py says why.

Presence in ``sys.modules`` of a fresh interpreter, never time: bench/imports.py measures the time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lambdas.steps import STEPS

REPO = Path(__file__).resolve().parents[2]
CONTAINMENT = "lambdas.triage.handler"  # the automatic path's one Lambda (bench/CONTAINMENT.md)
# Powertools' Tracer patches botocore only when it sees Lambda's variables: import as Lambda would.
LAMBDA_VARIABLES = {
    "LAMBDA_TASK_ROOT": str(REPO),
    "AWS_LAMBDA_FUNCTION_NAME": "responder-test",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
    "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "responder",
}
LOAD_AND_LIST = (
    "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint(*sys.modules)"
)


def loaded_after_importing(*modules: str) -> set[str]:
    """Every module in ``sys.modules`` once a fresh interpreter has imported ``modules``."""
    env = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_TRACE_DISABLED"} | LAMBDA_VARIABLES
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_LIST, *modules],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(done.stdout.split())


def packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_the_containment_handler_starts_without_the_xray_sdk() -> None:
    loaded = loaded_after_importing(CONTAINMENT)
    assert CONTAINMENT in loaded
    assert "aws_xray_sdk" not in packages(loaded)
    # What the SDK's botocore patching would bring along.
    assert not {"wrapt", "requests"} & packages(loaded)


def test_no_handler_imports_the_xray_sdk() -> None:
    handlers = [f"lambdas.{step.name}.handler" for step in STEPS]
    loaded = loaded_after_importing(*handlers)
    assert set(handlers) <= loaded
    assert "aws_xray_sdk" not in packages(loaded)


# Loaded by the functions that use them, never by a handler's import: sqlglot where SQL is parsed or
# rendered (responder/query/sql.py), policyuniverse where a policy is read (analysis/buckets.py);
# DuckDB is the workstation's engine and is never in a Lambda at all.
DEFERRED = {"sqlglot", "policyuniverse", "duckdb"}


def test_no_handler_import_loads_sqlglot_policyuniverse_or_duckdb() -> None:
    handlers = [f"lambdas.{step.name}.handler" for step in STEPS]
    loaded = loaded_after_importing(*handlers)
    assert set(handlers) <= loaded
    assert packages(loaded) & DEFERRED == set()


def test_rendering_a_query_still_finds_sqlglot() -> None:
    # The deferred import is there when the work is: rendering a saved query loads sqlglot.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "import lambdas.start_query.handler\n"
            "from responder.query.sql import QueryParams, render_duckdb\n"
            "before = 'sqlglot' in sys.modules\n"
            "sql, values = render_duckdb('key_activity', QueryParams.of({'access_key_id': "
            "'AKIAIOSFODNN7EXAMPLE', 'start': '2026-01-01T00:00:00Z', 'end': '2026-01-02T00:00:00Z'}))\n"
            "print(before, 'sqlglot' in sys.modules, values['access_key_id'], '$access_key_id' in sql)",
        ],
        env={k: v for k, v in os.environ.items() if k != "POWERTOOLS_TRACE_DISABLED"} | LAMBDA_VARIABLES,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["False", "True", "AKIAIOSFODNN7EXAMPLE", "True"]
