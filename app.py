#!/usr/bin/env python3
"""CDK app: the incident responder's stacks, checked by cdk-nag's AwsSolutions rules on every synth.

``responder:deployment`` = ``account`` (the default): one stack, ``IncidentResponder``, protecting the
account it is deployed in. ``organization``: the hub ``IncidentResponder`` (in the security account,
``responder:hubRegion``), the member roles ``IncidentResponderMember`` (deployed by the hub's StackSet,
or alone) and one ``IncidentResponderForwarder-<region>`` per other region (docs/organization.md).

Environment-agnostic (no account, no region, no lookups): it synthesizes offline, without credentials.
An unacknowledged cdk-nag error fails synth: CDK prints the policy validation report and the process
exits non-zero, under ``python app.py`` and ``cdk synth`` alike.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack, Validations
from cdk_nag import AwsSolutionsChecks

from deployment.settings import StackSettings
from stacks.forwarder_stack import ForwarderStack
from stacks.member_stack import MemberStack, member_template_body
from stacks.names import HUB_STACK, MEMBER_STACK, forwarder_stack
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


def feature_flags(app: App) -> dict[str, Any]:
    """cdk.json's feature flags as ``app`` sees them: the member template's own app synthesizes with them."""
    flags = json.loads((HERE / "cdk.json").read_text())["context"]
    return {k: app.node.try_get_context(k) for k in flags if k.startswith("@")}


def build(app: App) -> ResponderStack:
    """The responder stack in ``app`` (the hub, in the organization deployment, with the member and
    forwarder stacks beside it), from its context, with the AwsSolutions checks registered."""
    settings = StackSettings.from_context(app.node.try_get_context)
    description = (
        "Serverless responder for exposed AWS credentials: contain, investigate CloudTrail, "
        "preserve evidence, notify the SOC"
    )
    if not settings.organization:
        stack = ResponderStack(app, HUB_STACK, settings=settings, description=description)
    else:
        region = Environment(region=settings.hub_region)
        stack = ResponderStack(
            app,
            HUB_STACK,
            settings=settings,
            member_template_body=member_template_body(settings, feature_flags(app)),
            description=f"{description}; the hub of organization {settings.organization_id}",
            env=region,
        )
        MemberStack(
            app,
            MEMBER_STACK,
            settings=settings,
            description="Incident responder member roles: what the hub's steps may do in this account",
        )
        for forwarded in settings.forwarded_regions:
            ForwarderStack(
                app,
                forwarder_stack(forwarded),
                settings=settings,
                description=f"Incident responder: forward {forwarded}'s findings to the hub in "
                f"{settings.hub_region}",
                env=Environment(region=forwarded),
            )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def stacks(app: App) -> dict[str, Stack]:
    """The app's stacks by name: what ``cdk ls`` lists."""
    return {c.stack_name: c for c in app.node.children if isinstance(c, Stack)}


if __name__ == "__main__":
    application = App(context=cli_context())
    build(application)
    application.synth()
