"""One Lambda function per workflow step, each with its own role granting what its handler declares.

The permissions come from ``lambdas/<step>/handler.py``'s ``PERMISSIONS`` (see
:mod:`responder.permissions`), imported at synth: ``{partition}``, ``{region}`` and ``{account}`` become
the deployment's, ``@name`` references become the ARNs of this stack's resources, in resources and
condition values alike. Besides those, a role may write to its own log group and send X-Ray traces,
nothing else. A step whose permissions name a resource in :attr:`References.environment` gets its
ARN in that environment variable.

On top of what it is granted, every role that holds an action of a :class:`Guardrail`'s service gets
the guardrail's explicit Deny: the evidence, access-log and trail buckets' configuration and objects,
the responder's own roles and the deny-all policy stay out of every step's reach, whatever a handler
declares now or later (an explicit Deny wins over any Allow, so a broadened grant cannot undo it).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import Aws, Duration, RemovalPolicy, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from lambdas.steps import STEPS, Step
from responder.permissions import Permission
from stacks.constructs.layers import ARCHITECTURE, REPO, SharedLayers, package_code
from stacks.nag import acknowledge, wildcard_finding

# Why a wildcard resource is as narrow as it can be, for permissions that give no reason of their own.
WILDCARD_REASONS: Mapping[str, str] = {
    "arn:{partition}:iam::{account}:user/*": "the exposed key's IAM user is known only from the finding at "
    "run time; limited to IAM users of this account",
    "arn:{partition}:iam::{account}:role/*": "the exposed session's role is known only from the finding at "
    "run time; limited to roles of this account, and an explicit Deny keeps the responder's own roles out",
    "arn:{partition}:iam::{account}:policy/*": "the customer-managed policies an attacker created are known "
    "only from the investigation; limited to this account's policies (AWS-managed ones are not in it)",
    "arn:{partition}:iam::{account}:group/*": "the groups a rogue user was added to are known only at run time; "
    "limited to this account",
    "arn:{partition}:iam::{account}:instance-profile/*": "a rogue role's instance profiles are known only at "
    "run time; limited to this account",
    "arn:{partition}:iam::{account}:mfa/*": "a rogue user's MFA devices are known only at run time; limited "
    "to this account",
    "arn:{partition}:s3:::*": "the buckets a finding names are known only at run time; read-only bucket "
    "configuration actions",
    "@evidence_bucket/*": "evidence object keys are created per incident at run time; limited to the "
    "objects of the responder's own evidence bucket",
    "@cloudtrail_bucket/*": "CloudTrail log objects are named by date and region; limited to the "
    "configured trail bucket",
    "@athena_results_bucket/*": "Athena names its result objects per query; limited to the results bucket",
}
# IAM calls that change a principal or a policy (prefixes): what makes a step an IAM writer.
IAM_WRITES: tuple[str, ...] = (
    "iam:Put",
    "iam:Tag",
    "iam:Untag",
    "iam:Delete",
    "iam:Detach",
    "iam:Attach",
    "iam:Remove",
    "iam:Update",
    "iam:Deactivate",
    "iam:Create",
    "iam:Set",
)
# What no step may do to the responder's own roles: with any of these, code execution in one step
# would grant itself or a peer more.
OWN_ROLE_WRITES: tuple[str, ...] = (
    "iam:AttachRolePolicy",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)
# What no step may do to the deny-all policy: a new default version would make every containment a grant.
DENY_POLICY_WRITES: tuple[str, ...] = (
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
)
# What no step may do to the configuration of a bucket the responder's record depends on: open it,
# stop its logging or versioning, shorten its lock or its life, or delete it.
BUCKET_CONFIG_WRITES: tuple[str, ...] = (
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutBucketLogging",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutReplicationConfiguration",
)
# What no step may do to a recorded object: remove it (a delete marker hides it and frees its key for
# a new write), loosen its lock, or share it.
RECORD_OBJECT_WRITES: tuple[str, ...] = (
    "s3:BypassGovernanceRetention",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectAcl",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectVersionAcl",
)
# Log files are written by CloudTrail and S3 log delivery only: a step that wrote one could forge the
# very records the responder investigates.
LOG_OBJECT_WRITES: tuple[str, ...] = (*RECORD_OBJECT_WRITES, "s3:PutObject")
XRAY_REASON = (
    "xray:PutTraceSegments and xray:PutTelemetryRecords (added by active tracing) support no "
    "resource-level permissions"
)


class StepCodeError(RuntimeError):
    """A step's handler is missing or declares its permissions wrongly."""


@dataclass(frozen=True)
class Guardrail:
    """An explicit Deny of ``actions`` on ``resources`` (resolved ARNs) for every step role granted any
    action of ``service``."""

    sid: str
    service: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def applies_to(self, granted: set[str]) -> bool:
        return any(a.startswith(f"{self.service}:") for a in granted)

    def statement(self) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid=self.sid,
            effect=iam.Effect.DENY,
            actions=sorted(self.actions),
            resources=list(self.resources),
        )


def guardrails(
    *,
    stack_name: str,
    deny_all_policy_arn: str,
    record_buckets: tuple[str, ...],
    log_buckets: tuple[str, ...],
    other_roles: tuple[str, ...] = (),
) -> tuple[Guardrail, ...]:
    """The explicit Denies every step role gets (by service): the responder's own roles (``<stack>-*``
    and ``other_roles``, role ARNs: the organization hub's human roles) and deny-all policy; the
    configuration and objects of ``record_buckets`` (evidence: written, never rewritten) and
    ``log_buckets`` (access logs, the trail: read only). Bucket values are bucket ARNs."""
    own_roles = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{stack_name}-*"
    buckets = (*record_buckets, *log_buckets)
    rails = [
        Guardrail("DenyWritesToTheResponderRoles", "iam", OWN_ROLE_WRITES, (own_roles, *other_roles)),
        Guardrail("DenyChangesToTheDenyAllPolicy", "iam", DENY_POLICY_WRITES, (deny_all_policy_arn,)),
        Guardrail("DenyChangesToResponderBuckets", "s3", BUCKET_CONFIG_WRITES, buckets),
    ]
    if record_buckets:
        rails.append(
            Guardrail(
                "DenyRemovingEvidence", "s3", RECORD_OBJECT_WRITES, tuple(f"{b}/*" for b in record_buckets)
            )
        )
    if log_buckets:
        rails.append(
            Guardrail("DenyWritingLogFiles", "s3", LOG_OBJECT_WRITES, tuple(f"{b}/*" for b in log_buckets))
        )
    return tuple(rails)


@dataclass(frozen=True)
class References:
    """What ``@name`` resolves to: ARNs of this stack's resources.

    ``elsewhere`` names resources of the query engine not deployed, and ``unconfigured`` optional
    resources whose context key is not set (the threat list, the chat webhook secret): a permission
    that names only those is dropped (a handler declares everything it may use; the stack grants what
    this deployment has).
    ``pending`` names resources the stack will create but does not yet, with where they will come from.
    ``implied`` adds permissions that come with using a resource as deployed, which its code cannot
    know: a role that reads ``@cloudtrail_bucket`` also needs ``kms:Decrypt`` on the trail's key when
    the trail encrypts with SSE-KMS (a deployment fact, from ``responder:cloudTrailKmsKeyArn``), and
    one that reads ``@webhook_secret`` on the secret's key (``responder:chatWebhookKmsKeyArn``).
    """

    arns: Mapping[str, str]
    elsewhere: frozenset[str] = field(default_factory=frozenset)
    unconfigured: frozenset[str] = field(default_factory=frozenset)
    pending: Mapping[str, str] = field(default_factory=dict)
    implied: Mapping[str, tuple[Permission, ...]] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)

    def implied_by(self, permissions: tuple[Permission, ...]) -> tuple[Permission, ...]:
        """The implied permissions of every resource ``permissions`` name (that this stack deploys)."""
        named = referenced(permissions)
        return tuple(p for name in sorted(named & set(self.arns)) for p in self.implied.get(name, ()))

    def environment_of(self, permissions: tuple[Permission, ...], *always: str) -> dict[str, str]:
        """``{variable: ARN}`` of the :attr:`environment` resources ``permissions`` name, or ``always``
        names (a step that must know a resource it needs no permission on)."""
        named = referenced(permissions) | set(always)
        return {var: self.arns[name] for name, var in self.environment.items() if name in named}


def referenced(permissions: tuple[Permission, ...]) -> set[str]:
    """Names of the ``@references`` in ``permissions``' resources and condition values."""
    values = [r for p in permissions for r in p.resources] + [
        v for p in permissions for keys in p.conditions.values() for vs in keys.values() for v in vs
    ]
    return {v[1:].partition("/")[0] for v in values if v.startswith("@")}


def handler_permissions(step: Step) -> tuple[Permission, ...]:
    """``PERMISSIONS`` of ``lambdas/<step>/handler.py``, imported the way the tests import it."""
    module_name = f"lambdas.{step.name}.handler"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in (module_name, f"lambdas.{step.name}"):
            raise StepCodeError(
                f"lambdas/{step.name}/handler.py is missing: every step in lambdas.steps.STEPS needs a "
                "handler module exporting PERMISSIONS"
            ) from exc
        raise
    permissions = getattr(module, "PERMISSIONS", None)
    if not isinstance(permissions, tuple) or not all(isinstance(p, Permission) for p in permissions):
        raise StepCodeError(f"lambdas/{step.name}/handler.py must export PERMISSIONS: tuple[Permission, ...]")
    return permissions


def resolve_resource(template: str, references: References) -> str | None:
    """The policy resource for a declared one, or None when it belongs to the engine not deployed
    or to an optional resource this deployment does not configure."""
    if template == "*" or Token.is_unresolved(template):
        return template  # a token: an ARN of this stack already (an implied permission's key)
    if template.startswith("@"):
        name, slash, rest = template[1:].partition("/")
        if name in references.arns:
            return f"{references.arns[name]}{slash}{rest}"
        if name in references.elsewhere or name in references.unconfigured:
            return None
        hint = f" yet ({references.pending[name]})" if name in references.pending else ""
        raise StepCodeError(f"{template}: this stack creates no resource called {name!r}{hint}")
    resolved = (
        template.replace("{partition}", Aws.PARTITION)
        .replace("{region}", Aws.REGION)
        .replace("{account}", Aws.ACCOUNT_ID)
    )
    if "{" in template.replace("{partition}", "").replace("{region}", "").replace("{account}", ""):
        raise StepCodeError(f"{template}: only {{partition}}, {{region}} and {{account}} are substituted")
    return resolved


def resolve_conditions(
    conditions: Mapping[str, Mapping[str, list[str]]], references: References
) -> dict[str, dict[str, list[str]]] | None:
    """The statement's ``Condition`` for declared ``conditions`` (values resolved as resources are), or
    None when a key is left with no value: it names only resources this deployment lacks and could
    never hold."""
    resolved: dict[str, dict[str, list[str]]] = {}
    for operator, keys in conditions.items():
        for key, values in keys.items():
            kept = [r for r in (resolve_resource(v, references) for v in values) if r is not None]
            if not kept:
                return None
            resolved.setdefault(operator, {})[key] = kept
    return resolved


def grant(
    role: iam.IRole, permissions: tuple[Permission, ...], references: References, *, where: str
) -> tuple[set[str], dict[str, list[str]]]:
    """Add one statement per permission to ``role``, resolved against ``references`` (those naming only
    absent resources dropped): ``(actions granted, {IAM5 finding: reasons})``. A wildcard resource
    without a reason (its own, or :data:`WILDCARD_REASONS`') is a :class:`StepCodeError` naming ``where``."""
    reasons: dict[str, list[str]] = {}
    granted: set[str] = set()
    for permission in permissions:
        resources = [r for r in permission.resources if resolve_resource(r, references) is not None]
        conditions = resolve_conditions(permission.conditions, references)
        if not resources or conditions is None:
            continue
        statement = iam.PolicyStatement(
            actions=list(permission.actions),
            resources=[resolve_resource(r, references) or "" for r in resources],
            conditions=conditions or None,
        )
        role.add_to_principal_policy(statement)
        granted.update(permission.actions)
        for template, resource in zip(resources, statement.resources, strict=True):
            finding = wildcard_finding(role, resource)
            if finding:
                why = permission.reason or WILDCARD_REASONS.get(template)
                if not why:
                    raise StepCodeError(
                        f"{where}: {', '.join(permission.actions)} on {template} "
                        "is a wildcard resource: give the Permission a reason"
                    )
                reasons.setdefault(finding, []).append(
                    f"{', '.join(permission.actions)} on {template}: {why}"
                )
    return granted, reasons


# Checks checkov (make test) makes on every step function that do not fit a Step Functions task.
CHECKOV_SKIPS = {
    "CKV_AWS_116": "Invoked synchronously by Step Functions only: a failed invocation goes to the ASL's "
    "Retry/Catch and NotifyFailure tells the SOC; an async dead-letter queue would never receive anything.",
    "CKV_AWS_117": "Calls only AWS APIs (IAM, STS, S3, DynamoDB, SNS, CloudTrail/Athena) and reaches no "
    "private network resource; a VPC would add NAT or endpoints without reducing what the role can do.",
    "CKV_AWS_115": "Concurrency is bounded by the workflow (one execution per finding, a bounded Map); "
    "reserving it would take from the account pool and could throttle containment during a burst.",
    "CKV_AWS_173": "The environment holds resource names and settings only, never a secret (the webhook "
    "secret stays in Secrets Manager); Lambda encrypts it at rest with the AWS managed key.",
}


class StepFunction(Construct):
    """A step's function, its role and its log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        step: Step,
        runtime: lambda_.Runtime,
        code: lambda_.Code,
        layers: SharedLayers,
        references: References,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
        guardrails: tuple[Guardrail, ...] = (),
        always_environment: tuple[str, ...] = (),
        role_name: str | None = None,
        assume: tuple[Permission, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.step = step
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, encryption_key=log_key, removal_policy=RemovalPolicy.RETAIN
        )
        # A fixed name only where another account's trust must name the role (organization hub).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Incident responder step {step.name}: {step.description}",
            role_name=role_name,
        )
        self.assume = assume
        self.log_group.grant_write(self.role)
        declared = handler_permissions(step)
        granted, reasons = grant(
            self.role,
            (*declared, *references.implied_by(declared), *assume),
            references,
            where=f"lambdas/{step.name}/handler.py",
        )
        self.granted = frozenset(granted)
        self.guardrails = tuple(g for g in guardrails if g.applies_to(granted))
        for guardrail in self.guardrails:
            self.role.add_to_policy(guardrail.statement())

        self.function = lambda_.Function(
            self,
            "Function",
            description=step.description,
            runtime=runtime,
            architecture=ARCHITECTURE,
            code=code,
            handler=f"lambdas.{step.name}.handler.handler",
            layers=[layers.powertools, layers.responder],
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=Duration.seconds(step.timeout_seconds),
            memory_size=step.memory_mb,
            environment={**environment, **references.environment_of(declared, *always_environment)},
        )
        reasons.setdefault("AwsSolutions-IAM5[Resource::*]", []).append(XRAY_REASON)
        for finding, lines in reasons.items():
            acknowledge(self, finding, f"Role of step {step.name}: " + "; ".join(lines))
        self.function.node.default_child.add_metadata(  # type: ignore[union-attr]
            "checkov", {"skip": [{"id": i, "comment": why} for i, why in CHECKOV_SKIPS.items()]}
        )

    @property
    def reads_security_lake(self) -> bool:
        """Whether its role was granted Lake Formation's data access (it queries Security Lake)."""
        return "lakeformation:GetDataAccess" in self.granted


class StepFunctions(Construct):
    """Every step in :data:`lambdas.steps.STEPS`, by name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        references: References,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
        runtime: lambda_.Runtime,
        guardrails: tuple[Guardrail, ...] = (),
        always_environment: Mapping[str, tuple[str, ...]] | None = None,
        role_names: Mapping[str, str] | None = None,
        assume: Mapping[str, tuple[Permission, ...]] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.layers = SharedLayers(self, "Layers", runtime=runtime)
        code = package_code(REPO / "lambdas", runtime)
        self.by_name: dict[str, StepFunction] = {
            step.name: StepFunction(
                self,
                "".join(part.title() for part in step.name.split("_")),
                step=step,
                runtime=runtime,
                code=code,
                layers=self.layers,
                references=references,
                environment=environment,
                log_retention=log_retention,
                log_key=log_key,
                guardrails=guardrails,
                always_environment=(always_environment or {}).get(step.name, ()),
                role_name=(role_names or {}).get(step.name),
                assume=(assume or {}).get(step.name, ()),
            )
            for step in STEPS
        }

    @property
    def arn_substitutions(self) -> dict[str, str]:
        """``{placeholder: function ARN}`` for the ASL's ``${...}`` placeholders."""
        return {f.step.placeholder: f.function.function_arn for f in self.by_name.values()}
