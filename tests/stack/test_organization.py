"""The organization deployment: hub, member roles by StackSet, forwarders per region, operator roles.

And the single-account deployment as it was: the same one stack, the same resources.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from app import build, cli_context, stacks
from deployment.patterns import event_pattern, health_pattern
from deployment.settings import SettingsError
from lambdas.steps import MEMBER_POWER, STEP_BY_NAME, STEPS, member_role_name
from responder.accounts import POWERS
from responder.permissions import Permission
from stacks.constructs.functions import handler_permissions, resolve_conditions, resolve_resource
from stacks.constructs.member_roles import (
    TRUST_ACTIONS,
    is_member_permission,
    member_guardrails,
    power_permissions,
    steps_of,
)
from stacks.constructs.operators import (
    ANALYST_ROLE,
    BREAK_GLASS_ROLE,
    CDK_BOOTSTRAP_ROLES,
    DEPLOY_ROLE,
    OPERATOR_ROLES,
)
from stacks.names import HUB_STACK, MEMBER_STACK, forwarder_stack, hub_role_name
from tests.stack.conftest import ORGANIZATION

pytestmark = pytest.mark.synth

HERE = Path(__file__).resolve().parent
ORG_ID = ORGANIZATION["organizationId"]
FORWARDED = ("eu-west-1", "ap-southeast-2")
# What a role must never hold when it may not contain: IAM and S3 writes, approvals, the workflow itself.
CONTAINMENT_PREFIXES = (
    "iam:Update",
    "iam:Put",
    "iam:Attach",
    "iam:Delete",
    "iam:Detach",
    "iam:Tag",
    "s3:Put",
    "s3:Delete",
    "states:SendTask",
)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _pairs(statements: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (a, json.dumps(r, sort_keys=True), json.dumps(s.get("Condition"), sort_keys=True))
        for s in statements
        for a in _list(s["Action"])
        for r in _list(s["Resource"])
    }


def _statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        s
        for policy in _resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _role_id(template: dict[str, Any], name: str) -> str:
    (role_id,) = [
        k
        for k, r in _resources(template, "AWS::IAM::Role").items()
        if r["Properties"].get("RoleName") == name
    ]
    return role_id


def _app(**overrides: Any) -> App:
    return App(context={**cli_context(), **{f"responder:{k}": v for k, v in overrides.items()}})


# ------------------------------------------------------------------------------------------ stacks


def test_cdk_ls_lists_one_stack_per_account_and_hub_member_and_forwarders_per_organization(
    synth, organization_synth
):
    assert set(stacks(synth.app)) == {HUB_STACK}
    assert set(stacks(organization_synth.app)) == {
        HUB_STACK,
        MEMBER_STACK,
        *(forwarder_stack(r) for r in FORWARDED),
    }
    hub = stacks(organization_synth.app)
    assert hub[HUB_STACK].region == "us-east-1"
    assert {hub[forwarder_stack(r)].region for r in FORWARDED} == set(FORWARDED)


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("organizationId", "responder:organizationId"),
        ("memberOrganizationalUnits", "responder:memberOrganizationalUnits"),
        ("hubRegion", "responder:hubRegion"),
    ],
)
def test_an_organization_without_its_required_values_fails_synth_naming_the_key(missing, named):
    context = {k: v for k, v in ORGANIZATION.items() if k != missing}
    with pytest.raises(
        SettingsError, match=rf"^{named} is required when responder:deployment is 'organization'"
    ):
        build(_app(**context, **({"organizationId": ""} if missing == "organizationId" else {})))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("memberOrganizationalUnits", ["ou-1234"]),
        ("organizationId", "o-short"),
        ("hubRegion", "mars-1"),
        ("regions", ["us-east-1", "nowhere"]),
        ("deployment", "organisation"),
    ],
)
def test_a_malformed_organization_value_fails_synth_naming_the_key(key, value):
    with pytest.raises(SettingsError, match=rf"^responder:{key}"):
        build(_app(**{**ORGANIZATION, key: value}))


def test_organization_keys_in_an_account_deployment_fail_rather_than_go_unused():
    with pytest.raises(SettingsError, match=r"^responder:memberOrganizationalUnits: only read when"):
        build(_app(memberOrganizationalUnits=["ou-ab12-cdef3456"]))


def test_the_single_account_stack_keeps_every_resource_it_had(synth):
    """The logical ids and types of main's template (tests/stack/single_account_resources.json)."""
    before = json.loads((HERE / "single_account_resources.json").read_text())
    after = {k: r["Type"] for k, r in synth.resources.items() if r["Type"] != "AWS::CDK::Metadata"}
    assert after == before
    # ...and its step roles keep CloudFormation's names, assuming nothing.
    for role in synth.of_type("AWS::IAM::Role").values():
        assert "RoleName" not in role["Properties"]
    for policy in synth.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert "sts:AssumeRole" not in _list(statement["Action"])


# ------------------------------------------------------------------------------- step -> power


def test_every_step_declaring_member_account_resources_has_a_power_and_only_those():
    touching = {s.name for s in STEPS if any(is_member_permission(p) for p in handler_permissions(s))}
    assert touching == set(MEMBER_POWER)
    assert set(MEMBER_POWER.values()) == set(POWERS)


def test_a_permission_mixing_member_and_hub_resources_is_refused():
    from stacks.constructs.functions import StepCodeError

    mixed = Permission(("s3:GetObject",), ("arn:{partition}:s3:::*", "@evidence_bucket/*"))
    with pytest.raises(StepCodeError, match="two permissions"):
        is_member_permission(mixed)


def test_the_hub_keeps_the_hub_and_the_member_roles_take_only_member_account_resources():
    for power in POWERS:
        for permission in power_permissions(power):
            named = [r for r in permission.resources if r.startswith("@")]
            assert named in ([], ["@deny_all_policy"]), (power, permission)
            assert "sts:GetAccessKeyInfo" not in permission.actions


# -------------------------------------------------------------------------------- member roles


def test_member_roles_trust_exactly_the_hub_steps_of_their_power_from_the_organization(organization_synth):
    member = organization_synth.stack_template(MEMBER_STACK)
    hub_names = {
        r["Properties"].get("RoleName") for r in organization_synth.of_type("AWS::IAM::Role").values()
    }
    assert member["Parameters"]["HubAccountId"]["AllowedPattern"] == r"^\d{12}$"
    for power in POWERS:
        role = member["Resources"][_role_id(member, member_role_name(power))]["Properties"]
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        expected = [
            {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":iam::",
                        {"Ref": "HubAccountId"},
                        f":role/{hub_role_name(step)}",
                    ],
                ]
            }
            for step in steps_of(power)
        ]
        assert statement["Principal"] == {"AWS": expected}
        assert statement["Effect"] == "Allow" and statement["Action"] == list(TRUST_ACTIONS)
        assert statement["Condition"] == {
            "StringEquals": {"aws:PrincipalOrgID": ORG_ID},
            "Null": {"sts:SourceIdentity": "false"},
        }
        # Each trusted name is a hub step role that exists, with that fixed name.
        assert {hub_role_name(s) for s in steps_of(power)} <= hub_names


@pytest.mark.parametrize("power", POWERS)
def test_member_role_grants_exactly_its_steps_member_account_permissions(organization_synth, power):
    member_stack = stacks(organization_synth.app)[MEMBER_STACK]
    template = organization_synth.stack_template(MEMBER_STACK)
    role_id = _role_id(template, member_role_name(power))
    role = template["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    statements = _statements(template, role_id)
    allows = [s for s in statements if s["Effect"] == "Allow"]
    denies = [s for s in statements if s["Effect"] != "Allow"]
    references = member_stack.member_roles.references
    # Every step of this power, each of its member-account permissions, resolved for the member account.
    declared = [
        p
        for step in steps_of(power)
        for p in handler_permissions(STEP_BY_NAME[step])
        if is_member_permission(p)
    ]
    expected = [
        {
            "Action": list(p.actions),
            "Resource": [resolve_resource(r, references) for r in p.resources],
            **({"Condition": resolve_conditions(p.conditions, references)} if p.conditions else {}),
        }
        for p in declared
    ]
    assert _pairs(allows) == _pairs(member_stack.resolve(expected))
    granted = {a for s in allows for a in _list(s["Action"])}
    rails = [g for g in member_guardrails(member_stack.member_roles.deny_all.arn) if g.applies_to(granted)]
    assert _pairs(denies) == _pairs(
        member_stack.resolve([{"Action": list(g.actions), "Resource": list(g.resources)} for g in rails])
    )
    # Nothing of the hub: no table, bucket, topic or secret of the responder.
    assert not any(a.split(":")[0] in {"dynamodb", "sns", "secretsmanager", "kms", "states"} for a in granted)


def test_the_powers_split_reading_containing_and_remediating(organization_synth):
    roles = stacks(organization_synth.app)[MEMBER_STACK].member_roles.granted
    assert not any(a.startswith(CONTAINMENT_PREFIXES) for a in roles["investigate"])
    assert "iam:UpdateAccessKey" in roles["contain"] and "iam:PutUserPolicy" in roles["contain"]
    assert not any(a.startswith(("s3:Put", "s3:Delete", "iam:Delete")) for a in roles["contain"])
    assert {"s3:PutBucketPolicy", "iam:DeleteUser", "iam:AttachUserPolicy"} <= roles["remediate"]


# ----------------------------------------------------------------------------------- hub roles


def test_hub_step_roles_have_fixed_names_and_assume_only_their_powers_member_role(organization_synth):
    hub = organization_synth.stack
    for step in STEPS:
        function = hub.functions.by_name[step.name]
        role_id = hub.resolve(function.role.role_arn)["Fn::GetAtt"][0]
        assert organization_synth.resources[role_id]["Properties"]["RoleName"] == hub_role_name(step.name)
        assumes = [
            s
            for s in _statements(organization_synth.template.to_json(), role_id)
            if any(a.startswith("sts:") and a != "sts:GetAccessKeyInfo" for a in _list(s["Action"]))
        ]
        power = MEMBER_POWER.get(step.name)
        if power is None:
            assert assumes == [], step.name
            continue
        (statement,) = assumes
        assert sorted(_list(statement["Action"])) == sorted(TRUST_ACTIONS)
        assert statement["Resource"] == {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::*:role/{member_role_name(power)}"]]
        }
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": [ORG_ID]}}


def test_hub_guardrails_keep_the_steps_off_the_operator_roles(organization_synth):
    remediate = organization_synth.stack.functions.by_name["remediate"]
    (rail,) = [g for g in remediate.guardrails if g.sid == "DenyWritesToTheResponderRoles"]
    resolved = json.dumps(organization_synth.stack.resolve(list(rail.resources)))
    for name in (*OPERATOR_ROLES, "IncidentResponder-*"):
        assert f":role/{name}" in resolved


# ------------------------------------------------------------------------------------ StackSet


def test_the_stack_set_rolls_the_member_stack_out_to_the_ous_automatically(organization_synth):
    (stack_set,) = organization_synth.of_type("AWS::CloudFormation::StackSet").values()
    props = stack_set["Properties"]
    assert props["StackSetName"] == MEMBER_STACK
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["CallAs"] == "DELEGATED_ADMIN"
    assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert props["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    (group,) = props["StackInstancesGroup"]
    assert group["DeploymentTargets"] == {"OrganizationalUnitIds": ORGANIZATION["memberOrganizationalUnits"]}
    assert group["Regions"] == ["us-east-1"]  # IAM is global: one region
    assert props["Parameters"] == [
        {"ParameterKey": "HubAccountId", "ParameterValue": {"Ref": "AWS::AccountId"}}
    ]
    # The step roles exist before the StackSet writes trusts naming them.
    role_ids = {
        organization_synth.stack.resolve(f.role.role_arn)["Fn::GetAtt"][0]
        for f in organization_synth.stack.functions.by_name.values()
    }
    assert role_ids <= set(stack_set["DependsOn"])


def test_the_stack_set_template_is_the_member_stack_without_the_bootstrap_check(organization_synth):
    (stack_set,) = organization_synth.of_type("AWS::CloudFormation::StackSet").values()
    body = json.loads(stack_set["Properties"]["TemplateBody"])
    standalone = organization_synth.stack_template(MEMBER_STACK)

    def without_paths(resources: dict[str, Any]) -> dict[str, Any]:
        return {k: {f: v for f, v in r.items() if f != "Metadata"} for k, r in resources.items()}

    assert without_paths(body["Resources"]) == without_paths(
        {k: r for k, r in standalone["Resources"].items() if r["Type"] != "AWS::CDK::Metadata"}
    )
    assert set(body["Parameters"]) == {"HubAccountId"}
    assert "Rules" not in body and "BootstrapVersion" in standalone["Parameters"]


def test_no_stack_set_with_call_as_none(tmp_path):
    from tests.stack.conftest import synthesize

    result = synthesize(tmp_path, **{**ORGANIZATION, "regions": [], "stackSetCallAs": "NONE"})
    assert not result.of_type("AWS::CloudFormation::StackSet")
    assert set(stacks(result.app)) == {HUB_STACK, MEMBER_STACK}


# ---------------------------------------------------------------------------------- forwarders


@pytest.mark.parametrize("region", FORWARDED)
def test_a_forwarder_sends_the_hubs_patterns_to_the_hub_bus_and_nothing_else(organization_synth, region):
    template = organization_synth.stack_template(forwarder_stack(region))
    kinds = sorted(r["Type"] for r in template["Resources"].values() if r["Type"] != "AWS::CDK::Metadata")
    assert kinds == ["AWS::Events::Rule", "AWS::Events::Rule", "AWS::IAM::Policy", "AWS::IAM::Role"]
    hub_rules = {
        json.dumps(r["Properties"]["EventPattern"], sort_keys=True)
        for r in organization_synth.of_type("AWS::Events::Rule").values()
    }
    bus = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":events:us-east-1:",
                {"Ref": "AWS::AccountId"},
                ":event-bus/default",
            ],
        ]
    }
    patterns = []
    for rule in _resources(template, "AWS::Events::Rule").values():
        pattern = rule["Properties"]["EventPattern"]
        patterns.append(pattern)
        assert json.dumps(pattern, sort_keys=True) in hub_rules  # the very pattern a hub rule starts on
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == bus
        assert set(target) == {"Arn", "Id", "RoleArn"}
    settings = organization_synth.stack.settings
    by_source = sorted(patterns, key=lambda p: p["source"])
    assert by_source == sorted((event_pattern(settings), health_pattern()), key=lambda p: p["source"])
    (policy,) = _resources(template, "AWS::IAM::Policy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("events:PutEvents", bus)
    (role,) = _resources(template, "AWS::IAM::Role").values()
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}


# ------------------------------------------------------------------------------- operator roles


def _operator(organization_synth, name: str) -> tuple[dict[str, Any], set[str], list[dict[str, Any]]]:
    template = organization_synth.template.to_json()
    role_id = _role_id(template, name)
    statements = _statements(template, role_id)
    return (
        template["Resources"][role_id]["Properties"],
        {a for s in statements for a in _list(s["Action"])},
        statements,
    )


def test_break_glass_needs_mfa_and_answers_approvals_and_recovers(organization_synth):
    role, granted, _ = _operator(organization_synth, BREAK_GLASS_ROLE)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    # The hub's region is set, so the CDK writes its partition itself.
    assert trust["Principal"] == {
        "AWS": {"Fn::Join": ["", ["arn:aws:iam::", {"Ref": "AWS::AccountId"}, ":root"]]}
    }
    assert {"states:SendTaskSuccess", "states:SendTaskFailure", "states:StartExecution"} <= granted
    assert {"iam:UpdateAccessKey", "iam:DetachUserPolicy", "s3:PutBucketPolicy"} <= granted


def test_the_analyst_reads_queries_and_starts_dry_runs_only(organization_synth):
    role, granted, statements = _operator(organization_synth, ANALYST_ROLE)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert "Condition" not in trust and trust["Principal"] != "*"
    assert not any(a.startswith(CONTAINMENT_PREFIXES) for a in granted), granted
    assert {"s3:GetObject", "dynamodb:Query", "cloudtrail:StartQuery"} <= granted
    (start,) = [s for s in statements if "states:StartExecution" in _list(s["Action"])]
    entry = organization_synth.stack.operators.dry_run.state_machine
    assert start["Resource"] == organization_synth.stack.resolve(entry.state_machine_arn)
    # The entry starts the workflow with dryRun merged over the analyst's input.
    machine = organization_synth.resources[organization_synth.stack.resolve(entry.state_machine_arn)["Ref"]]
    definition = json.loads(machine["Properties"]["DefinitionString"])
    workflow = organization_synth.stack.workflow.state_machine
    assert machine["Properties"]["DefinitionSubstitutions"] == {
        "ResponderStateMachineArn": organization_synth.stack.resolve(workflow.state_machine_arn)
    }
    assert (
        definition["States"]["StartDryRun"]["Parameters"]["StateMachineArn"] == "${ResponderStateMachineArn}"
    )
    assert definition["States"]["ForceDryRun"]["Parameters"]["forced"] == {"dryRun": True}
    assert definition["States"]["StartDryRun"]["Parameters"]["Input.$"] == (
        "States.JsonMerge($.input, $.forced, false)"
    )


def test_deploy_may_assume_the_cdk_bootstrap_roles_of_the_hub_and_forwarder_regions_only(organization_synth):
    (policy,) = [
        p
        for p in organization_synth.of_type("AWS::IAM::ManagedPolicy").values()
        if p["Properties"].get("ManagedPolicyName") == f"{DEPLOY_ROLE}CdkBootstrapRoles"
    ]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    names = {
        "".join(p if isinstance(p, str) else "{A}" for p in r["Fn::Join"][1]) for r in statement["Resource"]
    }
    assert names == {
        f"arn:{{A}}:iam::{{A}}:role/cdk-hnb659fds-{kind}-role-{{A}}-{region}"
        for kind in CDK_BOOTSTRAP_ROLES
        for region in ("us-east-1", *FORWARDED)
    }
    role = organization_synth.resources[_role_id(organization_synth.template.to_json(), DEPLOY_ROLE)]
    assert len(role["Properties"]["ManagedPolicyArns"]) == 1


def test_operator_roles_trust_the_configured_principals_when_given(tmp_path):
    from tests.stack.conftest import synthesize

    analysts = ["arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_SOC_0123"]
    result = synthesize(tmp_path, **{**ORGANIZATION, "regions": [], "operatorPrincipals": analysts})
    for name in OPERATOR_ROLES:
        role = result.resources[_role_id(result.template.to_json(), name)]["Properties"]
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"AWS": analysts[0]}


def test_the_organization_app_passes_cdk_nag(organization_synth):
    report = json.loads((organization_synth.outdir / "validation-report.json").read_text())
    failures = [r for r in report["pluginReports"] if r.get("conclusion") != "success"]
    assert not failures, json.dumps(failures, indent=1)[:4000]


def test_every_action_the_organization_stacks_grant_exists(organization_synth):
    """The actions the stacks add themselves (trusts, assume, operators, forwarders) are real ones."""
    from tests.stack.test_declared_actions import KNOWN

    names = [HUB_STACK, MEMBER_STACK, *(forwarder_stack(r) for r in FORWARDED)]
    actions: set[str] = set()
    for name in names:
        template = organization_synth.stack_template(name)
        for resource in template["Resources"].values():
            props = resource.get("Properties", {})
            documents = [props.get("PolicyDocument"), props.get("AssumeRolePolicyDocument")]
            for document in filter(None, documents):
                for statement in document["Statement"]:
                    actions.update(a for a in _list(statement["Action"]) if "*" not in a)  # TLS-only Denies
    assert {"sts:SetSourceIdentity", "sts:TagSession", "events:PutEvents"} <= actions
    unknown = sorted(a for a in actions if a.lower() not in KNOWN)
    assert not unknown, unknown
