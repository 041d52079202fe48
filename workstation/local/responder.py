"""The responder's own workflow on the local runner: the real ASL, every step's real handler."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from lambdas.steps import STEPS
from workstation.local.lambdas import Handler

REPO = Path(__file__).resolve().parents[2]
ASL_PATH = REPO / "statemachine" / "responder.asl.json"
CDK_JSON = REPO / "cdk.json"


def asl_text() -> str:
    return ASL_PATH.read_text()


def step_functions(prefix: str = "responder") -> dict[str, tuple[str, Handler]]:
    """ASL placeholder -> (function name, handler) for every step, as the stack wires them."""
    functions: dict[str, tuple[str, Handler]] = {}
    for step in STEPS:
        module = importlib.import_module(f"lambdas.{step.name}.handler")
        functions[step.placeholder] = (f"{prefix}-{step.name.replace('_', '-')}", module.handler)
    return functions


def rule_pattern() -> dict[str, Any]:
    """The detection rule's event pattern, from the same settings and code the stack uses."""
    from deployment.patterns import event_pattern
    from deployment.settings import StackSettings

    context = json.loads(CDK_JSON.read_text()).get("context", {})
    return event_pattern(StackSettings.from_context(context.get))
