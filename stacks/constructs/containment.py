"""The managed policy that deny-all containment attaches: owned by the stack, written by no step.

Containing a principal used to mean writing an inline deny-all onto it, and so holding
``iam:PutUserPolicy``/``iam:PutRolePolicy`` on every user and role: with code execution in that step,
an attacker could write an allow-all instead. Attaching this one policy needs only
``iam:AttachUserPolicy``/``iam:AttachRolePolicy`` under an ``iam:PolicyARN`` condition naming it
(``@deny_all_policy``), which grants nothing else. No step may change the policy itself (see
:mod:`stacks.constructs.functions`' guardrails): a new version would turn every containment into a grant.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from constructs import Construct

# The environment variable that tells the containing steps which policy to attach.
DENY_ALL_POLICY_ENV = "DENY_ALL_POLICY_ARN"


class DenyAllPolicy(Construct):
    """A customer-managed policy denying every action on every resource, attached to nothing here."""

    def __init__(self, scope: Construct, construct_id: str, *, name: str | None = None) -> None:
        super().__init__(scope, construct_id)
        # A fixed name in a member account, where the hub's steps must find it without a lookup.
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            managed_policy_name=name,
            description="Incident responder containment: denies every action. The responder attaches it to "
            "a contained user or role; responder recover detaches it.",
            statements=[
                iam.PolicyStatement(
                    sid="ContainedByTheIncidentResponder",
                    effect=iam.Effect.DENY,
                    actions=["*"],
                    resources=["*"],
                )
            ],
        )
        # Contained principals keep it attached after a stack update or deletion: removing it would
        # release every principal the responder contained.
        self.policy.apply_removal_policy(RemovalPolicy.RETAIN)

    @property
    def arn(self) -> str:
        return self.policy.managed_policy_arn
