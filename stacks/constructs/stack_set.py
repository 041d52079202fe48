"""The service-managed StackSet that rolls the member stack out to the organization's chosen OUs.

Service-managed: AWS Organizations' trusted access for CloudFormation StackSets creates the execution
roles in every target account, and auto-deployment gives a new account of those OUs the member roles
on arrival (and removes them when it leaves). It must be created from the management account
(``CallAs: SELF``) or from an account registered as a delegated administrator for StackSets
(``DELEGATED_ADMIN``, the usual case for the security account): ``responder:stackSetCallAs``.
StackSets never deploy to the management account itself (docs/organization.md).

The template is the member stack's own, embedded as ``TemplateBody`` (stacks/member_stack.py), and is
deployed in the hub's region only: the member stack holds IAM, which is global.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_cloudformation as cloudformation
from constructs import Construct

from deployment.settings import StackSettings
from stacks.names import HUB_ACCOUNT_PARAMETER, MEMBER_STACK

# CloudFormation's limit on a TemplateBody (a larger template would have to be an S3 asset).
TEMPLATE_BODY_LIMIT = 51_200


class MemberStackSet(Construct):
    """``AWS::CloudFormation::StackSet`` of the member stack, to ``responder:memberOrganizationalUnits``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, template_body: str
    ) -> None:
        super().__init__(scope, construct_id)
        if len(template_body.encode()) > TEMPLATE_BODY_LIMIT:
            raise ValueError(
                f"the member template is {len(template_body.encode())} bytes, over the "
                f"{TEMPLATE_BODY_LIMIT} a StackSet's TemplateBody takes"
            )
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "StackSet",
            stack_set_name=MEMBER_STACK,
            description="Incident responder member roles (investigate, contain, remediate) that the hub's "
            "steps assume in each member account",
            permission_model="SERVICE_MANAGED",
            call_as=settings.stack_set_call_as,
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            capabilities=["CAPABILITY_NAMED_IAM"],
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                failure_tolerance_percentage=10,
                max_concurrent_percentage=25,
                region_concurrency_type="PARALLEL",
            ),
            parameters=[
                cloudformation.CfnStackSet.ParameterProperty(
                    parameter_key=HUB_ACCOUNT_PARAMETER, parameter_value=Aws.ACCOUNT_ID
                )
            ],
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(settings.member_organizational_units)
                    ),
                    regions=[settings.hub_region],
                )
            ],
            template_body=template_body,
        )
