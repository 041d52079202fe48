#!/usr/bin/env python3
"""CDK app: the incident responder stack, checked by cdk-nag's AwsSolutions rules on every synth.

Environment-agnostic (no account, no region, no lookups): it synthesizes offline, without credentials.
An unacknowledged cdk-nag error fails synth: CDK prints the policy validation report and the process
exits non-zero, under ``python app.py`` and ``cdk synth`` alike.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from deployment.settings import StackSettings
from stacks.responder_stack import ResponderStack

HERE = Path(__file__).resolve().parent


def cli_context() -> dict[str, Any]:
    """cdk.json's context, which the CDK CLI passes itself; ``python app.py`` must read it here."""
    if "CDK_CONTEXT_JSON" in os.environ:  # run by the CLI: context already given
        return {}
    context: dict[str, Any] = {}
    for name in ("cdk.json", "cdk.context.json"):
        path = HERE / name
        if path.is_file():
            data = json.loads(path.read_text())
            context.update(data.get("context", {}) if name == "cdk.json" else data)
    return context


def build(app: App) -> ResponderStack:
    """The responder stack in ``app``, from its context, with the AwsSolutions checks registered."""
    settings = StackSettings.from_context(app.node.try_get_context)
    stack = ResponderStack(
        app,
        "IncidentResponder",
        settings=settings,
        description="Serverless responder for exposed AWS credentials: contain, investigate CloudTrail, "
        "preserve evidence, notify the SOC",
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


if __name__ == "__main__":
    application = App(context=cli_context())
    build(application)
    application.synth()
