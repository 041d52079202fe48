"""Who is inside, read from the live account (responder.insiders) under moto: unknown stays outside."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from responder.analysis.buckets import review_statement
from responder.insiders import PERMISSIONS_INSIDERS, read_insiders
from responder.permissions import actions_of

ACCOUNT = "123456789012"


@pytest.fixture
def account(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


def _star(key: str, value: str) -> dict:
    return {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "*",
        "Condition": {"StringEquals": {key: value}},
    }


def test_the_organization_endpoints_vpcs_and_principal_ids_come_from_the_account(account):
    org, ec2, iam = boto3.client("organizations"), boto3.client("ec2"), boto3.client("iam")
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    vpce = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3")["VpcEndpoint"][
        "VpcEndpointId"
    ]
    role_id = iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps({"Statement": []}))["Role"][
        "RoleId"
    ]
    notes: list[str] = []
    # A setting naming another organization cannot make it ours: the live account wins.
    found = read_insiders(ACCOUNT, org=org, ec2=ec2, iam=iam, organization_id="o-notours0001", notes=notes)

    assert found.organization_id == org_id and any("o-notours0001" in n for n in notes)
    assert vpce in found.vpc_endpoints and vpc in found.vpcs and role_id in found.user_ids
    for key, value in (
        ("aws:PrincipalOrgID", org_id),
        ("aws:SourceVpce", vpce),
        ("aws:SourceVpc", vpc),
        ("aws:userid", f"{role_id}:*"),
    ):
        assert not review_statement(_star(key, value), found).is_external, key
    assert review_statement(_star("aws:PrincipalOrgID", "o-notours0001"), found).is_external


def test_refused_reads_leave_their_part_unknown_and_unknown_is_outside(account):
    org, ec2 = boto3.client("organizations"), boto3.client("ec2")
    notes: list[str] = []
    with Stubber(org) as org_stub, Stubber(ec2) as ec2_stub:
        org_stub.add_client_error("describe_organization", "AccessDeniedException", "no", 400)
        ec2_stub.add_client_error("describe_vpc_endpoints", "UnauthorizedOperation", "no", 403)
        found = read_insiders(ACCOUNT, org=org, ec2=ec2, organization_id="o-configured01", notes=notes)

    # The configured organization id is used when the account cannot say; endpoints stay unknown.
    assert found.organization_id == "o-configured01" and not found.vpc_endpoints
    assert len(notes) == 2
    assert review_statement(_star("aws:SourceVpce", "vpce-0anything"), found).is_external


def test_permissions_name_the_reads():
    assert actions_of(PERMISSIONS_INSIDERS) == {
        "organizations:DescribeOrganization",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeVpcs",
        "iam:ListUsers",
        "iam:ListRoles",
    }
