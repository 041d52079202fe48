"""The playbook's people as roles in the hub: SecurityAnalyst, SecurityBreakGlass, SecurityDeploy.

Organization deployment only: there the security account is a place people sign in to with these
roles; a single-account deployment keeps its template unchanged and leaves people to the team's own
roles (docs/organization.md says why).

- **SecurityAnalyst** reads evidence and reports and the incident table, runs the saved queries (the
  query steps' own permissions on the deployed engine, and Athena's named queries), and starts runs
  through the **dry-run entry** only. Step Functions cannot filter a ``StartExecution`` on its input,
  so the analyst may not start the workflow itself: the entry is a state machine of two states
  (statemachine/dry_run.asl.json) that starts the workflow with the analyst's input and
  ``dryRun: true`` merged over it. Triage refuses an input naming ``dry_run`` twice, so no spelling of
  the flag gets past it. No containment action, no ``SendTaskSuccess``.
- **SecurityBreakGlass** answers approvals (``SendTaskSuccess``/``SendTaskFailure``), starts the
  workflow itself (containment, eradication), and recovers (``responder recover``'s declared
  permissions): only in a session with MFA (``aws:MultiFactorAuthPresent`` in its trust).
- **SecurityDeploy** may assume the CDK bootstrap roles (``cdk-hnb659fds-*``) of the hub account in the
  hub's and the forwarders' regions: what ``cdk deploy`` needs; the bootstrap's deploy role does the rest.

Each trusts ``responder:operatorPrincipals`` (exact ARNs), or else the hub account (its IAM policies
decide), never ``*``. The step guardrails keep the steps' IAM writes off these roles.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from deployment.settings import StackSettings
from lambdas.steps import STEP_BY_NAME
from responder.approval import PERMISSIONS_APPROVE
from responder.operators import ANALYST_ROLE, BREAK_GLASS_ROLE, DEPLOY_ROLE
from responder.permissions import Permission
from stacks.constructs.functions import References, grant, handler_permissions
from stacks.constructs.layers import REPO
from stacks.constructs.workflow import logged_state_machine
from stacks.nag import acknowledge
from workstation.recover import PERMISSIONS_RECOVER, PERMISSIONS_RECOVER_REMEDIATION

DRY_RUN_ASL = REPO / "statemachine" / "dry_run.asl.json"
OPERATOR_ROLES: tuple[str, ...] = (ANALYST_ROLE, BREAK_GLASS_ROLE, DEPLOY_ROLE)
#: The CDK's default bootstrap qualifier and the roles ``cdk deploy`` assumes in each region.
CDK_QUALIFIER = "hnb659fds"
CDK_BOOTSTRAP_ROLES: tuple[str, ...] = ("deploy", "file-publishing", "image-publishing", "lookup")
MFA = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
#: What running the saved queries takes: the query steps' permissions on the deployed engine (not the
#: evidence writes of query_results), and Athena's named queries in the responder's workgroup.
QUERY_STEPS: tuple[str, ...] = ("start_query", "query_status")
NAMED_QUERIES = Permission(
    ("athena:BatchGetNamedQuery", "athena:GetNamedQuery", "athena:ListNamedQueries"), ("@athena_workgroup",)
)
# Who is in the hub account's roles' reach: the evidence and the incident table, read only.
EVIDENCE_READ: tuple[Permission, ...] = (
    Permission(("s3:ListBucket",), ("@evidence_bucket",)),
    Permission(("s3:GetObject",), ("@evidence_bucket/*",)),
    Permission(("dynamodb:GetItem", "dynamodb:Query"), ("@incident_table",)),
)


def operator_role_arn(name: str) -> str:
    """The ARN of an operator role of the hub account (the step guardrails name them)."""
    return f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{name}"


def _trust(settings: StackSettings, *, mfa: bool) -> iam.IPrincipal:
    principals: list[iam.IPrincipal] = (
        [iam.ArnPrincipal(arn) for arn in settings.operator_principals]
        if settings.operator_principals
        else [iam.AccountPrincipal(Aws.ACCOUNT_ID)]
    )
    principal: iam.IPrincipal = principals[0] if len(principals) == 1 else iam.CompositePrincipal(*principals)
    return iam.PrincipalWithConditions(principal, MFA) if mfa else principal


class DryRunEntry(Construct):
    """The state machine an analyst starts: the workflow, with ``dryRun`` forced on."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        workflow: sfn.IStateMachine,
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group, self.state_machine = logged_state_machine(
            self,
            name="DryRun",
            comment="Analysts' entry: the responder's workflow as a dry run (nothing changes)",
            definition=DRY_RUN_ASL.read_text(),
            substitutions={"ResponderStateMachineArn": workflow.state_machine_arn},
            log_retention=log_retention,
            log_key=log_key,
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[workflow.state_machine_arn])
        )


class Operators(Construct):
    """The three operator roles, the deploy policy and the analysts' dry-run entry."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        references: References,
        workflow: sfn.StateMachine,
        stack_arn: str,
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dry_run = DryRunEntry(
            self, "DryRun", workflow=workflow, log_retention=log_retention, log_key=log_key
        )
        entry = self.dry_run.state_machine
        executions = {
            machine: f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:execution:{name}:*"
            for machine, name in (
                ("workflow", workflow.state_machine_name),
                ("entry", entry.state_machine_name),
            )
        }
        follow = Permission(
            ("states:DescribeExecution", "states:GetExecutionHistory"),
            (executions["workflow"], executions["entry"]),
            "executions are named per run at start; limited to the responder's two state machines",
        )
        find_stack = Permission(("cloudformation:DescribeStacks",), (stack_arn,))
        queries = tuple(p for name in QUERY_STEPS for p in handler_permissions(STEP_BY_NAME[name]))
        self.permissions: Mapping[str, tuple[Permission, ...]] = {
            ANALYST_ROLE: (
                *EVIDENCE_READ,
                *dict.fromkeys(queries),
                NAMED_QUERIES,
                Permission(("states:StartExecution",), (entry.state_machine_arn,)),
                follow,
                find_stack,
            ),
            BREAK_GLASS_ROLE: (
                *EVIDENCE_READ,
                *PERMISSIONS_APPROVE,
                Permission(("states:StartExecution",), (workflow.state_machine_arn,)),
                follow,
                find_stack,
                *PERMISSIONS_RECOVER,
                *PERMISSIONS_RECOVER_REMEDIATION,
            ),
        }
        descriptions = {
            ANALYST_ROLE: "Incident responder analyst: read evidence and reports, run the saved queries, "
            "start dry runs (no containment)",
            BREAK_GLASS_ROLE: "Incident responder break-glass (MFA): approve or deny containment, start "
            "containment and eradication, recover",
        }
        self.roles: dict[str, iam.Role] = {}
        self.granted: dict[str, frozenset[str]] = {}
        for name, permissions in self.permissions.items():
            role = iam.Role(
                self,
                name,
                role_name=name,
                description=descriptions[name],
                assumed_by=_trust(settings, mfa=name == BREAK_GLASS_ROLE),
            )
            granted, reasons = grant(role, permissions, references, where=f"operator role {name}")
            for finding, lines in reasons.items():
                acknowledge(role, finding, f"Operator role {name}: " + "; ".join(lines))
            self.roles[name] = role
            self.granted[name] = frozenset(granted)

        regions = (settings.hub_region, *settings.forwarded_regions)
        self.deploy_policy = iam.ManagedPolicy(
            self,
            "DeployPolicy",
            managed_policy_name=f"{DEPLOY_ROLE}CdkBootstrapRoles",
            description="Run cdk deploy for the incident responder: assume the CDK bootstrap roles of "
            "this account in the hub's and forwarders' regions",
            statements=[
                iam.PolicyStatement(
                    sid="AssumeTheCdkBootstrapRoles",
                    actions=["sts:AssumeRole"],
                    resources=[
                        f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/"
                        f"cdk-{CDK_QUALIFIER}-{kind}-role-{Aws.ACCOUNT_ID}-{region}"
                        for region in regions
                        for kind in CDK_BOOTSTRAP_ROLES
                    ],
                )
            ],
        )
        self.deploy_role = iam.Role(
            self,
            DEPLOY_ROLE,
            role_name=DEPLOY_ROLE,
            description="Incident responder deployment: cdk deploy through the CDK bootstrap roles",
            assumed_by=_trust(settings, mfa=False),
            managed_policies=[self.deploy_policy],
        )
        self.roles[DEPLOY_ROLE] = self.deploy_role
