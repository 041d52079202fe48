"""`responder audit-buckets`: every bucket's policy, ACL and Block Public Access, under moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from responder.permissions import actions_of
from workstation.audit import PERMISSIONS, audit_account, tls_deny_statement
from workstation.cli import main

ACCOUNT = "123456789012"  # moto's
ORG = "o-abcd123456"
ATTACKER = "999999999999"
PARTNER = "111122223333"


def _tls(bucket: str) -> dict[str, Any]:
    return tls_deny_statement(bucket)


def _allow(bucket: str, principal: Any, condition: dict[str, Any] | None = None, sid: str = "Read") -> dict:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    if condition:
        statement["Condition"] = condition
    return statement


# bucket -> its policy statements (None: no policy); "public-acl" also gets a public-read ACL.
BUCKETS: dict[str, list[dict[str, Any]] | None] = {
    "backdoored": [_allow("backdoored", {"AWS": f"arn:aws:iam::{ATTACKER}:root"}, sid="Backdoor")],
    "open-star": [_allow("open-star", "*", sid="Anyone"), _tls("open-star")],
    "star-from-ip": [
        _allow("star-from-ip", "*", {"IpAddress": {"aws:SourceIp": "203.0.113.7/32"}}, sid="FromIp"),
        _tls("star-from-ip"),
    ],
    "org-only": [
        _allow("org-only", "*", {"StringEquals": {"aws:PrincipalOrgID": ORG}}, sid="Org"),
        _tls("org-only"),
    ],
    "foreign-org": [
        _allow("foreign-org", "*", {"StringEquals": {"aws:PrincipalOrgID": "o-attacker99"}}, sid="Theirs"),
        _tls("foreign-org"),
    ],
    "tls-enforced": [
        _allow("tls-enforced", {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"}),
        _tls("tls-enforced"),
    ],
    "no-tls": [_allow("no-tls", {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"})],
    "partner": [_allow("partner", {"AWS": f"arn:aws:iam::{PARTNER}:role/etl"}), _tls("partner")],
    "no-policy": None,
    "public-acl": [_tls("public-acl")],
}
ALL_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _build(account_bpa: bool) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    for name, statements in BUCKETS.items():
        if name == "public-acl":
            s3.create_bucket(Bucket=name, ACL="public-read")
        else:
            s3.create_bucket(Bucket=name)
        if statements is not None:
            s3.put_bucket_policy(
                Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements})
            )
    if account_bpa:  # after the policies and ACLs: Block Public Access would refuse them
        boto3.client("s3control", region_name="us-east-1").put_public_access_block(
            AccountId=ACCOUNT, PublicAccessBlockConfiguration=ALL_ON
        )


@pytest.fixture
def account(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


def _audit(**kwargs: Any) -> dict[str, Any]:
    return audit_account(
        boto3.client("s3"),
        boto3.client("s3control"),
        boto3.client("sts"),
        boto3.client("organizations"),
        **kwargs,
    )


def _by_bucket(report: dict[str, Any]) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    out: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for f in report["findings"]:
        out.setdefault(f["bucket"], {})[(f["check"], f["severity"])] = f
    return out


def test_each_bad_policy_is_found_with_its_severity_when_block_public_access_is_off(account):
    _build(account_bpa=False)
    report = _audit(org_id=ORG, trusted_accounts=[PARTNER])
    found = {b: sorted(k) for b, k in _by_bucket(report).items()}

    assert found == {
        "*": [("block_public_access_off", "medium")],
        "backdoored": [
            ("block_public_access_off", "low"),
            ("external_principal", "high"),
            ("tls_not_enforced", "medium"),
        ],
        "open-star": [("block_public_access_off", "low"), ("wildcard_principal", "high")],
        "star-from-ip": [("block_public_access_off", "low"), ("wildcard_principal", "high")],
        "foreign-org": [("block_public_access_off", "low"), ("external_principal", "high")],
        "no-tls": [("block_public_access_off", "low"), ("tls_not_enforced", "medium")],
        "no-policy": [("block_public_access_off", "low"), ("tls_not_enforced", "medium")],
        "public-acl": [("block_public_access_off", "low"), ("public_acl", "high")],
        "org-only": [("block_public_access_off", "low")],
        "tls-enforced": [("block_public_access_off", "low")],
        "partner": [("block_public_access_off", "low")],  # trusted with --trusted-account
    }
    public = {b["bucket"] for b in report["buckets"] if b["public"]}
    assert public == {"open-star", "public-acl"}  # anyone-from-an-IP is not public to AWS
    assert report["counts"] == {"high": 5, "medium": 4, "low": 10}
    assert report["organization"]["id"] == ORG and report["organization"]["source"] == "argument"


def test_account_block_public_access_mitigates_public_policy_and_acl_but_not_the_ip_backdoor(account):
    _build(account_bpa=True)
    found = _by_bucket(_audit(org_id=ORG))

    assert set(found["open-star"]) == {("wildcard_principal", "low")}
    assert "RestrictPublicBuckets" in found["open-star"][("wildcard_principal", "low")]["detail"]
    assert set(found["public-acl"]) == {("public_acl", "low")}
    # '*' from one address is not "public" to AWS: Block Public Access does not block it.
    ip = found["star-from-ip"][("wildcard_principal", "high")]
    assert "203.0.113.7/32" in ip["detail"] and "does not block" in ip["detail"]
    assert "*" not in found  # no account-level finding
    assert not any(c == "block_public_access_off" for b in found.values() for c, _ in b)
    assert "tls-enforced" not in found and "org-only" not in found
    assert set(found["partner"]) == {("external_principal", "high")}  # not trusted this time


def test_suggestions_are_concrete_statements(account):
    _build(account_bpa=False)
    report = _audit(org_id=ORG)
    found = _by_bucket(report)

    backdoor = found["backdoored"][("external_principal", "high")]
    assert backdoor["principals"] == [f"arn:aws:iam::{ATTACKER}:root"]
    assert backdoor["suggestion"]["kind"] == "replace_statement"
    assert backdoor["suggestion"]["json"] == {
        "Sid": "Backdoor",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::backdoored/*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}},
    }
    tls = found["backdoored"][("tls_not_enforced", "medium")]["suggestion"]
    assert tls["kind"] == "add_statement"
    assert tls["json"] == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::backdoored", "arn:aws:s3:::backdoored/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    # The IP condition goes, the organization comes in.
    ip = found["star-from-ip"][("wildcard_principal", "high")]["suggestion"]["json"]
    assert ip["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG}}
    theirs = found["foreign-org"][("external_principal", "high")]["suggestion"]["json"]
    assert theirs["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG}}
    acl = found["public-acl"][("public_acl", "high")]["suggestion"]
    assert acl["kind"] == "put_bucket_acl"
    assert all(g["Grantee"]["Type"] == "CanonicalUser" for g in acl["json"]["Grants"])
    bpa = found["*"][("block_public_access_off", "medium")]["suggestion"]
    assert bpa["json"] == ALL_ON and "s3control put-public-access-block" in bpa["command"]
    # The whole suggested policy: each rewrite applied, the TLS Deny added once.
    bucket = next(b for b in report["buckets"] if b["bucket"] == "backdoored")
    assert bucket["suggested_policy"]["Statement"] == [backdoor["suggestion"]["json"], tls["json"]]


def test_without_an_organization_suggestions_narrow_to_the_account_and_org_conditions_are_unverified(account):
    _build(account_bpa=True)
    report = _audit()  # moto: AWSOrganizationsNotInUseException, tolerated

    assert report["organization"]["id"] is None
    assert any("--org-id" in note for note in report["notes"])
    found = _by_bucket(report)
    org_only = found["org-only"][("unverified_principal", "medium")]
    assert "o-abcd123456" in org_only["detail"]
    backdoor = found["backdoored"][("external_principal", "high")]["suggestion"]["json"]
    assert backdoor["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}


def test_the_organization_and_its_member_accounts_come_from_organizations(account):
    org = boto3.client("organizations")
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    created = org.create_account(AccountName="data", Email="data@example.com")["CreateAccountStatus"]
    member = created["AccountId"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="shared")
    s3.put_bucket_policy(
        Bucket="shared",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    _allow("shared", {"AWS": f"arn:aws:iam::{member}:root"}, sid="Member"),
                    _allow("shared", {"AWS": f"arn:aws:iam::{ATTACKER}:root"}, sid="Outsider"),
                    _tls("shared"),
                ],
            }
        ),
    )
    report = _audit()

    assert report["organization"]["id"] == org_id
    assert report["organization"]["source"] == "DescribeOrganization"
    assert member in report["organization"]["accounts"]
    external = [f for f in report["findings"] if f["check"] == "external_principal"]
    assert [f["principals"] for f in external] == [[f"arn:aws:iam::{ATTACKER}:root"]]
    assert external[0]["id"] == "shared:external_principal:Outsider"


def test_access_denied_on_describe_organization_is_tolerated(account):
    _build(account_bpa=True)
    org = boto3.client("organizations")
    with Stubber(org) as stub:
        stub.add_client_error("describe_organization", "AccessDeniedException", "not allowed", 400)
        report = audit_account(boto3.client("s3"), boto3.client("s3control"), boto3.client("sts"), org)
        stub.assert_no_pending_responses()

    assert report["organization"]["id"] is None
    assert any("AccessDeniedException" in note for note in report["notes"])


def test_a_bucket_the_auditor_cannot_read_is_reported_not_skipped(account):
    boto3.client("s3").create_bucket(Bucket="locked")
    s3 = boto3.client("s3")
    real = s3.get_bucket_policy

    def denied(**kwargs):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetBucketPolicy")

    s3.get_bucket_policy = denied
    try:
        report = audit_account(
            s3, boto3.client("s3control"), boto3.client("sts"), boto3.client("organizations")
        )
    finally:
        s3.get_bucket_policy = real
    checks = {(f["check"], f["severity"]) for f in report["findings"] if f["bucket"] == "locked"}
    assert ("not_reviewed", "medium") in checks
    assert ("tls_not_enforced", "medium") not in checks  # unknown, not absent
    assert report["buckets"][0]["errors"] == {"GetBucketPolicy": "AccessDenied"}


def test_permissions_name_every_call_the_audit_makes():
    assert actions_of(PERMISSIONS) == {
        "s3:ListAllMyBuckets",
        "s3:GetBucketPolicy",
        "s3:GetBucketAcl",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetAccountPublicAccessBlock",
        "organizations:DescribeOrganization",
        "organizations:ListAccounts",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeVpcs",
        "iam:ListUsers",
        "iam:ListRoles",
    }


def test_vpc_endpoint_and_user_id_conditions_are_inside_only_with_this_accounts_values(account):
    """Issue 12, point 9: the one analysis reads conditions by value, in the audit as elsewhere."""
    ec2, iam, s3 = boto3.client("ec2"), boto3.client("iam"), boto3.client("s3")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    vpce = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3")["VpcEndpoint"][
        "VpcEndpointId"
    ]
    role_id = iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps({"Statement": []}))["Role"][
        "RoleId"
    ]
    policies = {
        "ours-vpce": {"aws:SourceVpce": vpce},
        "theirs-vpce": {"aws:SourceVpce": "vpce-0attacker0000000"},
        "ours-userid": {"aws:userid": f"{role_id}:*"},
        "theirs-userid": {"aws:userid": "AROAATTACKERROLE0000:*"},
    }
    for name, condition in policies.items():
        s3.create_bucket(Bucket=name)
        statements = [_allow(name, "*", {"StringLike": condition}, sid="Cond"), _tls(name)]
        s3.put_bucket_policy(
            Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements})
        )

    found = {b: {c for c, _ in k} for b, k in _by_bucket(_audit(ec2=ec2, iam=iam)).items()}
    assert "external_principal" in found["theirs-vpce"] and "external_principal" in found["theirs-userid"]
    assert not {"external_principal", "unverified_principal"} & found["ours-vpce"]
    assert not {"external_principal", "unverified_principal"} & found["ours-userid"]
    # Without the live reads nobody can say they are ours: unverified, not internal.
    blind = {b: {c for c, _ in k} for b, k in _by_bucket(_audit()).items()}
    assert "unverified_principal" in blind["ours-vpce"] and "unverified_principal" in blind["ours-userid"]


# ---------------------------------------------------------------------------------------- CLI


def test_cli_writes_json_markdown_and_suggested_policies(account, tmp_path: Path, capsys):
    _build(account_bpa=True)
    out = tmp_path / "audit"

    code = main(["audit-buckets", "--org-id", ORG, "--trusted-account", PARTNER, "--out", str(out)])

    assert code == 0
    report = json.loads((out / "bucket-audit.json").read_text())
    assert report["counts"] == {"high": 3, "medium": 3, "low": 2}
    markdown = (out / "bucket-audit.md").read_text()
    assert "**3 high, 3 medium, 2 low** across 10 buckets." in markdown
    assert "### HIGH `backdoored`: external_principal" in markdown
    assert '"aws:PrincipalOrgID": "o-abcd123456"' in markdown
    suggested = json.loads((out / "suggested-policies" / "backdoored.json").read_text())
    assert suggested["Statement"][-1]["Sid"] == "DenyInsecureTransport"
    assert not (out / "suggested-policies" / "tls-enforced.json").exists()
    assert capsys.readouterr().out.splitlines()[0] == "10 buckets reviewed: 3 high, 3 medium, 2 low"


@pytest.mark.parametrize(("fail_on", "code"), [("high", 1), ("medium", 1), (None, 0)])
def test_cli_fail_on_for_ci(account, tmp_path: Path, fail_on, code):
    _build(account_bpa=True)
    extra = ["--fail-on", fail_on] if fail_on else []
    assert main(["audit-buckets", "--org-id", ORG, "--out", str(tmp_path), *extra]) == code


def test_cli_fail_on_high_passes_when_only_lower_findings_exist(account, tmp_path: Path):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="plain")  # no policy: TLS not enforced (medium), nothing high
    boto3.client("s3control").put_public_access_block(
        AccountId=ACCOUNT, PublicAccessBlockConfiguration=ALL_ON
    )
    assert main(["audit-buckets", "--out", str(tmp_path), "--fail-on", "high"]) == 0
    assert main(["audit-buckets", "--out", str(tmp_path), "--fail-on", "medium"]) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--trusted-account", "12345"],
        ["--org-id", "org-1"],
        ["--fail-on", "critical"],
    ],
)
def test_cli_bad_arguments_exit_2(aws_env, tmp_path: Path, capsys, argv):
    assert main(["audit-buckets", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("responder: ") and len(err.strip().splitlines()) == 1
