"""The member stack: the responder's roles in one member account (organization deployment).

Deployed alone (``cdk deploy IncidentResponderMember``, with ``HubAccountId``) or by the hub's
service-managed StackSet to every account of the chosen OUs. The StackSet carries this same class's
template, synthesized by :func:`member_template_body` in an app of its own at synth time and
embedded as the StackSet's ``TemplateBody``: a member account needs no CDK bootstrap and no asset
bucket, and ``cdk diff`` on the hub shows any change to what members get.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, CfnOutput, CfnParameter, DefaultStackSynthesizer, Stack
from constructs import Construct

from deployment.settings import StackSettings
from stacks.constructs.member_roles import MemberRoles
from stacks.names import HUB_ACCOUNT_PARAMETER, HUB_STACK, MEMBER_STACK


class MemberStack(Stack):
    """Three roles the hub's steps assume (investigate, contain, remediate), and the deny-all policy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        hub_stack_name: str = HUB_STACK,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        hub_account = CfnParameter(
            self,
            HUB_ACCOUNT_PARAMETER,
            type="String",
            description="The account id of the responder's hub (the security account); its step roles "
            "are the only principals the member roles trust.",
            allowed_pattern=r"^\d{12}$",
            constraint_description="a 12-digit account id",
            default=settings.hub_account_id or None,
        )
        self.hub_account = hub_account
        self.member_roles = MemberRoles(
            self,
            "Roles",
            organization_id=settings.organization_id,
            hub_account_id=hub_account.value_as_string,
            hub_stack_name=hub_stack_name,
        )
        for power, role in self.member_roles.roles.items():
            CfnOutput(self, f"{power.title()}RoleArn", value=role.role_arn)
        CfnOutput(self, "DenyAllPolicyArn", value=self.member_roles.deny_all.arn)


def member_template_body(settings: StackSettings, context: Mapping[str, Any]) -> str:
    """The member stack's template as JSON text, for the StackSet: synthesized in an app of its own
    (``context``: the feature flags the main app runs with) without the CDK bootstrap check, which a
    member account that was never bootstrapped could not pass."""
    with tempfile.TemporaryDirectory(prefix="member-template-") as outdir:
        app = App(outdir=outdir, context=dict(context), analytics_reporting=False)
        stack = MemberStack(
            app,
            MEMBER_STACK,
            settings=settings,
            synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
            analytics_reporting=False,
        )
        template = app.synth().get_stack_artifact(stack.artifact_id).template
    return json.dumps(template, sort_keys=True, separators=(",", ":"))
