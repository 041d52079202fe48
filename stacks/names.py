"""The app's stack names and the fixed role names other accounts' policies depend on.

A member account's trust names the hub's step roles exactly, so in the organization deployment they
carry fixed names (the single-account stack keeps CloudFormation's generated ones). Every hub step role
starts with the hub stack's name, so the step guardrails (``role/<stack>-*``) and the self-check alarm
cover them as they cover the single-account roles.
"""

from __future__ import annotations

HUB_STACK = "IncidentResponder"  # also the single-account stack: the CLI's default --stack
MEMBER_STACK = "IncidentResponderMember"  # the member stack, and the StackSet that rolls it out
FORWARDER_STACK_PREFIX = "IncidentResponderForwarder-"
HUB_ACCOUNT_PARAMETER = "HubAccountId"  # the member stack's parameter: whose step roles it trusts


def forwarder_stack(region: str) -> str:
    """The forwarder stack of ``region``."""
    return f"{FORWARDER_STACK_PREFIX}{region}"


def hub_role_name(step_name: str, stack_name: str = HUB_STACK) -> str:
    """The fixed name of a step's role in the organization hub: ``IncidentResponder-hub-revoke-sessions``."""
    return f"{stack_name}-hub-{step_name.replace('_', '-')}"
