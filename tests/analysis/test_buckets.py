import json

import pytest

from responder.analysis.buckets import (
    Insiders,
    analyse_current_policy,
    analyse_policy,
    bucket_policy_changes,
    review_statement,
)
from responder.analysis.rows import record_to_row
from tests.analysis.helpers import ACCOUNT, OTHER_ACCOUNT, bucket_policy, panther_event, row


def test_policy_granting_another_account_is_external():
    result = analyse_policy(bucket_policy({"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}), ACCOUNT)
    assert result.grants_external
    assert result.external_principals == [f"arn:aws:iam::{OTHER_ACCOUNT}:root"]
    assert result.offending_statements[0]["sid"] == "Backdoor"
    assert json.loads(result.offending_statements[0]["statement"])["Principal"]["AWS"].endswith(":root")


def test_policy_granting_only_the_own_account_is_not_external():
    for principal in (
        {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"},
        {"AWS": ACCOUNT},
        {"Service": "cloudtrail.amazonaws.com"},
    ):
        result = analyse_policy(bucket_policy(principal), ACCOUNT)
        assert not result.grants_external, principal
        assert result.offending_statements == []


def test_wildcard_principal_depends_on_its_conditions():
    assert analyse_policy(bucket_policy("*"), ACCOUNT).external_principals == ["*"]
    own = bucket_policy("*", condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}})
    assert not analyse_policy(own, ACCOUNT).grants_external
    other = bucket_policy("*", condition={"StringEquals": {"aws:PrincipalAccount": OTHER_ACCOUNT}})
    assert analyse_policy(other, ACCOUNT).external_principals == [OTHER_ACCOUNT]
    # Anyone, from the attacker's address: the classic backdoor.
    from_ip = bucket_policy("*", condition={"IpAddress": {"aws:SourceIp": "203.0.113.9/32"}})
    assert analyse_policy(from_ip, ACCOUNT).external_principals == ["* (aws:SourceIp 203.0.113.9/32)"]
    # Private ranges are in every account's VPCs: an address never pins the principal.
    private_net = bucket_policy("*", condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    assert analyse_policy(private_net, ACCOUNT).external_principals == ["* (aws:SourceIp 10.0.0.0/8)"]


def test_deny_notprincipal_and_unknown_principals():
    deny = bucket_policy("*")
    deny["Statement"][0]["Effect"] = "Deny"
    assert not analyse_policy(deny, ACCOUNT).grants_external
    notp = {
        "Statement": [
            {"Effect": "Allow", "NotPrincipal": {"AWS": ACCOUNT}, "Action": "s3:*", "Resource": "*"}
        ]
    }
    assert analyse_policy(notp, ACCOUNT).external_principals == ["NotPrincipal"]
    unique_id = analyse_policy(bucket_policy({"AWS": "AIDAEXAMPLEUNIQUEID"}), ACCOUNT)
    assert unique_id.external_principals == ["AIDAEXAMPLEUNIQUEID"]


def test_policy_as_json_string_or_object_and_garbage():
    as_text = json.dumps(bucket_policy({"AWS": OTHER_ACCOUNT}))
    assert analyse_policy(as_text, ACCOUNT).grants_external
    assert analyse_policy("invalid-json-policy", ACCOUNT).parse_error
    assert not analyse_policy(None, ACCOUNT).grants_external


def test_bucket_policy_changes_from_rows():
    rows = [
        row(
            "PutBucketPolicy",
            params={"bucketName": "finance-data", "bucketPolicy": bucket_policy({"AWS": OTHER_ACCOUNT})},
        ),
        row(
            "PutBucketPolicy",
            params={"bucketName": "logs", "bucketPolicy": json.dumps(bucket_policy({"AWS": ACCOUNT}))},
        ),
        row("DeleteBucketPolicy", params={"bucketName": "logs"}, error="AccessDenied"),
        row("GetBucketPolicy", params={"bucketName": "logs"}),
    ]
    changes = bucket_policy_changes(rows)
    assert [(c["bucket"], c["event_name"], c["grants_external"], c["succeeded"]) for c in changes] == [
        ("finance-data", "PutBucketPolicy", True, True),
        ("logs", "PutBucketPolicy", False, True),
        ("logs", "DeleteBucketPolicy", False, False),
    ]
    assert changes[0]["external_principals"] == [OTHER_ACCOUNT]
    assert changes[0]["event_time"] == "2024-05-01T10:00:00Z"


def test_panther_bucket_policies():
    public = record_to_row(panther_event("AWS.CloudTrail.ResourceMadePublic", "S3 Made Publicly Accessible"))
    restricted = record_to_row(
        panther_event(
            "AWS.CloudTrail.ResourceMadePublic", "All Restrictive Conditions Types (Should Not Alert)"
        )
    )
    invalid = record_to_row(
        panther_event("AWS.CloudTrail.ResourceMadePublic", "Invalid JSON Policy (Should Not Alert)")
    )
    changes = bucket_policy_changes([public, restricted, invalid], account_id="123456789012")
    # "Restrictive" pins '*' to organization o-test123456 only for whoever knows that is ours.
    assert [(c["grants_external"], c["public"]) for c in changes] == [
        (True, True),
        (True, True),  # any VPC (vpc-*) of an organization we cannot place
        (False, False),
    ]
    assert changes[1]["external_principals"] == ["VPC vpc-*", "organization o-test123456"]
    ours = Insiders(account_id="123456789012", organization_id="o-test123456")
    changes = bucket_policy_changes([public, restricted, invalid], account_id=ours)
    assert [(c["grants_external"], c["public"]) for c in changes] == [
        (True, True),
        (False, False),
        (False, False),
    ]
    assert changes[0]["offending_statements"][0]["sid"] == "Public Access"


def test_current_policy_snapshot():
    text = json.dumps(bucket_policy({"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:user/x"}, sid="Keep"))
    result = analyse_current_policy(text, ACCOUNT)
    assert result["grants_external"] and result["has_policy"]
    assert len(result["policy_sha256"]) == 64
    none = analyse_current_policy(None, ACCOUNT)
    assert not none["grants_external"] and not none["has_policy"]


ORG, ATTACKER_ORG = "o-ourorg1234", "o-attacker99"
OURS = Insiders(
    account_id=ACCOUNT,
    organization_id=ORG,
    vpc_endpoints=frozenset({"vpce-0ours"}),
    vpcs=frozenset({"vpc-0ours"}),
    user_ids=frozenset({"AROAOURROLE"}),
    identity_pools=frozenset({"us-east-1:11111111-2222-3333-4444-555555555555"}),
    oidc_subjects=frozenset({"repo:acme/"}),
)


def _star(condition: dict) -> dict:
    return {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "*",
        "Condition": condition,
    }


@pytest.mark.parametrize(
    ("key", "ours", "theirs"),
    [
        ("aws:PrincipalOrgID", ORG, ATTACKER_ORG),
        ("aws:PrincipalOrgPaths", f"{ORG}/r-ab12/ou-ab12-11111111/", f"{ATTACKER_ORG}/r-zz99/"),
        ("aws:SourceVpce", "vpce-0ours", "vpce-0attacker"),
        ("aws:SourceVpc", "vpc-0ours", "vpc-0attacker"),
        ("aws:userid", "AROAOURROLE:*", "AROAATTACKER:*"),
        ("aws:PrincipalAccount", ACCOUNT, OTHER_ACCOUNT),
    ],
)
def test_a_condition_pins_a_wildcard_inside_only_by_this_accounts_value(key, ours, theirs):
    """Issue 12, point 9: the attacker's own organization id, VPC endpoint or user id is outside."""
    assert not review_statement(_star({"StringEquals": {key: ours}}), OURS).is_external
    theirs_review = review_statement(_star({"StringEquals": {key: theirs}}), OURS)
    assert theirs_review.is_external and theirs_review.external
    # One of several values outside is enough (values of one key are ORed).
    assert review_statement(_star({"StringEquals": {key: [ours, theirs]}}), OURS).is_external
    # Unknown (only the account id known, as in an offline report): outside until shown otherwise.
    if key != "aws:PrincipalAccount":
        assert review_statement(_star({"StringEquals": {key: ours}}), ACCOUNT).is_external


def test_weak_operators_and_the_resource_org_narrow_nothing():
    for condition in (
        {"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}},
        {"ForAllValues:StringEquals": {"aws:PrincipalOrgPaths": [f"{ORG}/*"]}},
        {"StringNotEquals": {"aws:PrincipalOrgID": ATTACKER_ORG}},
        {"StringEquals": {"aws:ResourceOrgID": ORG}},
    ):
        assert review_statement(_star(condition), OURS).is_external, condition
    # Keys are ANDed: pinned to our organization, whatever another key allows.
    both = {"StringEquals": {"aws:PrincipalOrgID": ORG}, "StringLike": {"aws:SourceVpc": "vpc-*"}}
    assert not review_statement(_star(both), OURS).is_external
    assert review_statement(_star({"StringLike": {"aws:PrincipalOrgID": "o-*"}}), OURS).is_external


def _trust(provider: str, condition: dict | None = None) -> dict:
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    return {**statement, "Condition": condition} if condition else statement


def test_federated_trusts_are_inside_only_with_this_accounts_audience_and_subject():
    pool = "us-east-1:11111111-2222-3333-4444-555555555555"
    cognito = "cognito-identity.amazonaws.com"
    assert review_statement(_trust(cognito), OURS).is_external
    assert review_statement(
        _trust(cognito, {"StringEquals": {f"{cognito}:aud": "us-east-1:attacker"}}), OURS
    ).is_external
    assert not review_statement(_trust(cognito, {"StringEquals": {f"{cognito}:aud": pool}}), OURS).is_external
    github = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    host = "token.actions.githubusercontent.com"
    aud = {f"{host}:aud": "sts.amazonaws.com"}
    assert review_statement(_trust(github), OURS).is_external
    assert review_statement(_trust(github, {"StringEquals": aud}), OURS).is_external
    attacker = {"StringEquals": aud, "StringLike": {f"{host}:sub": "repo:attacker/*"}}
    assert review_statement(_trust(github, attacker), OURS).reasons
    assert review_statement(_trust(github, attacker), OURS).is_external
    ours = {"StringEquals": aud, "StringLike": {f"{host}:sub": "repo:acme/deploy:ref:refs/heads/main"}}
    assert not review_statement(_trust(github, ours), OURS).is_external
    foreign = f"arn:aws:iam::{OTHER_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    assert review_statement(_trust(foreign, ours), OURS).is_external
    assert not review_statement(_trust(f"arn:aws:iam::{ACCOUNT}:saml-provider/okta"), OURS).is_external
