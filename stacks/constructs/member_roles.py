"""A member account's responder roles, one per power, each granting what its steps declare there.

In the organization deployment the hub's steps act in a finding's member account through one of three
roles (``lambdas.steps.MEMBER_POWER`` maps each step to one): ``responder-member-investigate``,
``-contain`` and ``-remediate``. A role grants exactly the member-account part of its steps'
``PERMISSIONS`` (:func:`member_permissions`): IAM users, roles, keys and policies of the account
(``{account}`` is the member's), its buckets (``arn:{partition}:s3:::*``), the account-relative calls
that take no resource (``iam:ListRoles``...), and the member's own deny-all policy
(``@deny_all_policy``). The hub's table, buckets, topic and secrets stay with the step's own role.

Each role trusts only the hub step roles mapped to it, by exact ARN, from a principal of the
organization (``aws:PrincipalOrgID``), and only with a source identity set (the runtime sets the
incident id), so the member's CloudTrail shows which incident acted. The same guardrails as the hub's
keep the roles' own trust and policies, the deny-all policy and the StackSets execution roles out of
reach of the IAM writes the remediate role holds.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from constructs import Construct

from lambdas.steps import (
    MEMBER_DENY_ALL_POLICY_NAME,
    MEMBER_POWER,
    STEP_BY_NAME,
    member_role_name,
)
from responder.accounts import POWERS, Power
from responder.permissions import Permission
from stacks.constructs.containment import DenyAllPolicy
from stacks.constructs.functions import (
    DENY_POLICY_WRITES,
    OWN_ROLE_WRITES,
    Guardrail,
    References,
    StepCodeError,
    grant,
    handler_permissions,
)
from stacks.nag import acknowledge
from stacks.names import HUB_STACK, hub_role_name

#: Calls on ``*`` whose answer does not depend on the calling account: they stay with the hub.
ACCOUNT_INDEPENDENT: frozenset[str] = frozenset({"sts:GetAccessKeyInfo"})
#: The references a member stack resolves itself (its own deny-all policy); every other ``@name``
#: is a hub resource.
MEMBER_REFERENCES: frozenset[str] = frozenset({"deny_all_policy"})
#: The trust's actions: the runtime names each session after the incident and sets it as the source
#: identity (kept by every later call, even through a chained role).
TRUST_ACTIONS: tuple[str, ...] = ("sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession")
#: The roles that deploy the member stack: a role writing their trust could deploy anything.
STACKSET_EXECUTION_ROLES: tuple[str, ...] = ("stacksets-exec-*", "AWSCloudFormationStackSetExecutionRole")
POWER_DESCRIPTIONS: dict[Power, str] = {
    "investigate": "read the key's user and owner, the buckets' policies and tags",
    "contain": "deactivate the exposed key, revoke its older sessions, tag the principal",
    "remediate": "fix backdoored bucket policies, contain rogue principals, delete what eradication plans",
}


def _side(resource: str, permission: Permission) -> str:
    """``"member"`` when ``resource`` lives in the account the call is made in, else ``"hub"``."""
    if resource.startswith("@"):
        return "member" if resource[1:].partition("/")[0] in MEMBER_REFERENCES else "hub"
    if resource == "*":
        return "hub" if set(permission.actions) <= ACCOUNT_INDEPENDENT else "member"
    if ":iam::{account}:" in resource or ":s3:::" in resource:
        return "member"
    return "hub"


def is_member_permission(permission: Permission) -> bool:
    """Whether ``permission`` is about the finding's account (a member role grants it); a permission
    naming both a member and a hub resource is a :class:`StepCodeError` (split it in two)."""
    sides = {_side(r, permission) for r in permission.resources}
    values = [v for keys in permission.conditions.values() for vs in keys.values() for v in vs]
    condition_sides = {_side(v, permission) for v in values if v.startswith("@")}
    if len(sides) > 1 or (sides == {"member"} and "hub" in condition_sides):
        raise StepCodeError(
            f"{', '.join(permission.actions)} on {', '.join(permission.resources)}: names resources of "
            "the member account and of the hub: declare them as two permissions"
        )
    return sides == {"member"}


def member_permissions(permissions: tuple[Permission, ...]) -> tuple[Permission, ...]:
    """The member-account part of a step's ``PERMISSIONS``."""
    return tuple(p for p in permissions if is_member_permission(p))


def steps_of(power: Power) -> tuple[str, ...]:
    """The steps that assume the member role of ``power``, in workflow order."""
    return tuple(name for name in STEP_BY_NAME if MEMBER_POWER.get(name) == power)


def power_permissions(power: Power) -> tuple[Permission, ...]:
    """What the member role of ``power`` grants: its steps' member-account permissions."""
    return tuple(
        p for name in steps_of(power) for p in member_permissions(handler_permissions(STEP_BY_NAME[name]))
    )


def member_guardrails(deny_all_policy_arn: str) -> tuple[Guardrail, ...]:
    """The explicit Denies of a member role holding IAM actions: its own and its peers' roles, the
    StackSets execution roles, and the deny-all policy."""
    roles = tuple(
        f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{name}"
        for name in ("responder-member-*", *STACKSET_EXECUTION_ROLES)
    )
    return (
        Guardrail("DenyWritesToTheResponderRoles", "iam", OWN_ROLE_WRITES, roles),
        Guardrail("DenyChangesToTheDenyAllPolicy", "iam", DENY_POLICY_WRITES, (deny_all_policy_arn,)),
    )


class MemberRoles(Construct):
    """The three member roles and the deny-all policy containment attaches in this account."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        organization_id: str,
        hub_account_id: str,
        hub_stack_name: str = HUB_STACK,
    ) -> None:
        super().__init__(scope, construct_id)
        self.deny_all = DenyAllPolicy(self, "Containment", name=MEMBER_DENY_ALL_POLICY_NAME)
        self.references = References(arns={"deny_all_policy": self.deny_all.arn})
        self.guardrails = member_guardrails(self.deny_all.arn)
        self.roles: dict[Power, iam.Role] = {}
        self.trusted: dict[Power, tuple[str, ...]] = {}
        self.granted: dict[Power, frozenset[str]] = {}
        for power in POWERS:
            steps = steps_of(power)
            trusted = tuple(
                f"arn:{Aws.PARTITION}:iam::{hub_account_id}:role/{hub_role_name(s, hub_stack_name)}"
                for s in steps
            )
            role = iam.Role(
                self,
                power.title(),
                role_name=member_role_name(power),
                description=f"Incident responder hub ({', '.join(steps)}): {POWER_DESCRIPTIONS[power]}",
                # Replaced below by the exact trust; the CDK needs a principal to build the role.
                assumed_by=iam.ArnPrincipal(trusted[0]),
            )
            role.node.default_child.add_property_override(  # type: ignore[union-attr]
                "AssumeRolePolicyDocument", trust_policy(trusted, organization_id)
            )
            granted, reasons = grant(
                role, power_permissions(power), self.references, where=f"member role {power}"
            )
            for guardrail in self.guardrails:
                if guardrail.applies_to(granted):
                    role.add_to_principal_policy(guardrail.statement())
            for finding, lines in reasons.items():
                acknowledge(role, finding, f"Member role {power}: " + "; ".join(lines))
            self.roles[power] = role
            self.trusted[power] = trusted
            self.granted[power] = frozenset(granted)


def trust_policy(trusted: tuple[str, ...], organization_id: str) -> dict[str, object]:
    """The member role's trust: exactly ``trusted`` (role ARNs), from this organization, with a source
    identity (the incident id) on the session."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TheHubStepsOfThisPower",
                "Effect": "Allow",
                "Principal": {"AWS": list(trusted)},
                "Action": list(TRUST_ACTIONS),
                "Condition": {
                    "StringEquals": {"aws:PrincipalOrgID": organization_id},
                    "Null": {"sts:SourceIdentity": "false"},
                },
            }
        ],
    }
