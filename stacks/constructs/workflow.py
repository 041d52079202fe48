"""The responder's Step Functions workflow, from statemachine/responder.asl.json as written.

The ASL is inlined into the template (so ``cdk diff``, cfn-lint, cdk-nag and the tests all see it);
its ``${XxxFunctionArn}`` placeholders become the step functions' ARNs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constructs.layers import REPO
from stacks.nag import acknowledge

ASL = REPO / "statemachine" / "responder.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def placeholders(asl: Path = ASL) -> set[str]:
    """Every ``${Name}`` in the ASL."""
    return set(PLACEHOLDER.findall(asl.read_text()))


# Why a state machine's role has Resource "*": the calls it names take no resource.
LOG_DELIVERY_REASON = (
    "Step Functions' role: the log delivery actions (logs:CreateLogDelivery, GetLogDelivery, "
    "UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, "
    "DescribeResourcePolicies, DescribeLogGroups) and X-Ray's PutTraceSegments, PutTelemetryRecords, "
    "GetSamplingRules and GetSamplingTargets support no resource-level permissions."
)


def logged_state_machine(
    scope: Construct,
    *,
    name: str,
    comment: str,
    definition: str,
    substitutions: Mapping[str, str],
    log_retention: logs.RetentionDays,
    log_key: kms.IKey,
) -> tuple[logs.LogGroup, sfn.StateMachine]:
    """A STANDARD state machine of ``definition`` (ASL text, inlined) under ``scope``: every execution
    logged in full to an encrypted, retained log group, X-Ray tracing on."""
    log_group = logs.LogGroup(
        scope,
        "Logs",
        # The /aws/vendedlogs/ prefix keeps Step Functions' log delivery clear of the 5 KB limit
        # on CloudWatch Logs resource policies.
        log_group_name=f"/aws/vendedlogs/states/{Aws.STACK_NAME}-{name}",
        retention=log_retention,
        encryption_key=log_key,
        removal_policy=RemovalPolicy.RETAIN,
    )
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        comment=comment,
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_string(definition),
        definition_substitutions=dict(substitutions),
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        tracing_enabled=True,
    )
    acknowledge(machine, "AwsSolutions-IAM5[Resource::*]", LOG_DELIVERY_REASON)
    return log_group, machine


class Workflow(Construct):
    """STANDARD state machine: full execution logging to an encrypted log group, X-Ray tracing."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        substitutions: Mapping[str, str],
        functions: Sequence[lambda_.IFunction],
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        missing = placeholders() - set(substitutions)
        if missing:
            raise ValueError(f"{ASL.name}: no value for placeholder(s) {', '.join(sorted(missing))}")
        self.log_group, self.state_machine = logged_state_machine(
            self,
            name="Responder",
            comment="Exposed AWS credential: validate, contain, investigate CloudTrail, keep evidence, tell the SOC",
            definition=ASL.read_text(),
            substitutions=substitutions,
            log_retention=log_retention,
            log_key=log_key,
        )
        # The ASL calls each function by its unqualified ARN, so that is all the role may invoke
        # (grant_invoke would add every version and alias, ARN:*, too).
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[f.function_arn for f in functions]
            )
        )
