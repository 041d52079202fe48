"""The IAM evaluator that checks our revocation (moto does not evaluate identity-policy conditions)."""

from __future__ import annotations

import pytest

from responder.policy_eval import evaluate, parse_time
from responder.steps.revoke_sessions import revoke_document

NOW = "2024-05-01T12:00:00Z"
READ_S3 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::exports/*"}],
}


def one(statement: dict) -> list[dict]:
    return [{"Version": "2012-10-17", "Statement": [statement]}]


# ----------------------------------------------------------------------------- the revoke policy


@pytest.mark.parametrize(
    ("issued", "expected"),
    [
        ("2024-05-01T11:59:59Z", "explicit_deny"),  # one second before the cutoff
        ("2024-04-30T00:00:00Z", "explicit_deny"),
        ("2024-05-01T11:59:59.999Z", "explicit_deny"),
        ("2024-05-01T12:00:00Z", "allow"),  # DateLessThan is strict
        ("2024-05-01T12:00:01Z", "allow"),  # one second after
        ("2024-05-01T14:00:01+02:00", "allow"),  # 12:00:01Z in another offset
        ("2024-05-01T13:59:59+02:00", "explicit_deny"),  # 11:59:59Z
    ],
)
def test_revoke_policy_denies_sessions_issued_before_the_cutoff_only(issued, expected):
    policies = [READ_S3, revoke_document(NOW)]
    decision = evaluate(
        policies,
        action="s3:GetObject",
        resource="arn:aws:s3:::exports/a.csv",
        context={"aws:TokenIssueTime": issued},
    )
    assert decision == expected


def test_revoke_policy_leaves_long_term_keys_alone():
    # Requests signed with an access key carry no aws:TokenIssueTime: DateLessThan is then false.
    policies = [READ_S3, revoke_document(NOW)]
    assert (
        evaluate(policies, action="s3:GetObject", resource="arn:aws:s3:::exports/a.csv", context={})
        == "allow"
    )


def test_revoke_policy_denies_every_action_of_an_old_session():
    context = {"aws:TokenIssueTime": "2024-05-01T11:00:00Z"}
    for action in ("iam:CreateUser", "sts:GetCallerIdentity", "ec2:RunInstances"):
        assert evaluate([revoke_document(NOW)], action=action, context=context) == "explicit_deny"


# ------------------------------------------------------------------------------ action/resource


def test_deny_wins_over_allow_in_any_order():
    deny = one({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    allow = one({"Effect": "Allow", "Action": "*", "Resource": "*"})
    assert evaluate([*allow, *deny], action="s3:GetObject", context={}) == "explicit_deny"
    assert evaluate([*deny, *allow], action="s3:GetObject", context={}) == "explicit_deny"


def test_no_matching_statement_is_an_implicit_deny():
    assert (
        evaluate([READ_S3], action="s3:PutObject", resource="arn:aws:s3:::exports/a", context={})
        == "implicit_deny"
    )
    assert evaluate([], action="s3:GetObject", context={}) == "implicit_deny"


def test_actions_match_case_insensitively_with_wildcards():
    policies = one({"Effect": "Allow", "Action": ["iam:Get*", "s3:?utObject"], "Resource": "*"})
    assert evaluate(policies, action="IAM:GETUSER", context={}) == "allow"
    assert evaluate(policies, action="s3:putobject", context={}) == "allow"
    assert evaluate(policies, action="s3:PutObjectAcl", context={}) == "implicit_deny"
    assert evaluate(policies, action="s3:utObject", context={}) == "implicit_deny"  # ? is exactly one
    assert evaluate(policies, action="iam:ListUsers", context={}) == "implicit_deny"


def test_resources_match_case_sensitively_and_star_crosses_slashes():
    policies = one({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::exports/*"})
    assert (
        evaluate(policies, action="s3:GetObject", resource="arn:aws:s3:::exports/a/b/c", context={})
        == "allow"
    )
    assert (
        evaluate(policies, action="s3:GetObject", resource="arn:aws:s3:::Exports/a", context={})
        == "implicit_deny"
    )


def test_brackets_and_dots_in_patterns_are_literal():
    policies = one({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a.b/[x]"})
    assert evaluate(policies, action="s3:GetObject", resource="arn:aws:s3:::a.b/[x]", context={}) == "allow"
    assert (
        evaluate(policies, action="s3:GetObject", resource="arn:aws:s3:::aXb/x", context={})
        == "implicit_deny"
    )


def test_not_action_and_not_resource():
    deny_all_but_iam = one({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"})
    assert evaluate(deny_all_but_iam, action="s3:GetObject", context={}) == "explicit_deny"
    assert evaluate(deny_all_but_iam, action="iam:GetUser", context={}) == "implicit_deny"
    allow_but_secret = one({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"})
    assert (
        evaluate(allow_but_secret, action="s3:GetObject", resource="arn:aws:s3:::public/a", context={})
        == "allow"
    )
    assert (
        evaluate(allow_but_secret, action="s3:GetObject", resource="arn:aws:s3:::secret/a", context={})
        == "implicit_deny"
    )


def test_a_single_statement_object_is_accepted():
    policy = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
    assert evaluate([policy], action="s3:GetObject", context={}) == "allow"


# ------------------------------------------------------------------------------------ conditions


def allow_if(condition: dict) -> list[dict]:
    return one({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition})


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        (
            {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
            {"aws:RequestedRegion": "eu-west-1"},
            "allow",
        ),
        (
            {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
            {"aws:RequestedRegion": "EU-WEST-1"},
            "implicit_deny",
        ),
        (
            {"StringEqualsIgnoreCase": {"aws:RequestedRegion": "eu-west-1"}},
            {"aws:RequestedRegion": "EU-WEST-1"},
            "allow",
        ),
        # multi-value OR
        (
            {"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}},
            {"aws:RequestedRegion": "eu-west-1"},
            "allow",
        ),
        # negated: none of the values
        (
            {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}},
            {"aws:RequestedRegion": "eu-west-1"},
            "implicit_deny",
        ),
        (
            {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}},
            {"aws:RequestedRegion": "ap-south-1"},
            "allow",
        ),
        ({"StringLike": {"aws:userid": "AIDA*:alice?"}}, {"aws:userid": "AIDAXYZ:alice1"}, "allow"),
        ({"StringLike": {"aws:userid": "AIDA*:alice?"}}, {"aws:userid": "AIDAXYZ:alice12"}, "implicit_deny"),
        ({"StringNotLike": {"aws:userid": "AIDA*"}}, {"aws:userid": "AROA1:s"}, "allow"),
        ({"StringNotLike": {"aws:userid": "AIDA*"}}, {"aws:userid": "AIDA1"}, "implicit_deny"),
        ({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {"aws:MultiFactorAuthPresent": "TRUE"}, "allow"),
        (
            {"Bool": {"aws:MultiFactorAuthPresent": True}},
            {"aws:MultiFactorAuthPresent": "false"},
            "implicit_deny",
        ),
        (
            {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
            {"aws:MultiFactorAuthAge": "3599"},
            "allow",
        ),
        (
            {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
            {"aws:MultiFactorAuthAge": "3600"},
            "implicit_deny",
        ),
        ({"NumericGreaterThan": {"s3:max-keys": 10}}, {"s3:max-keys": "11"}, "allow"),
        ({"NumericGreaterThan": {"s3:max-keys": 10}}, {"s3:max-keys": "10"}, "implicit_deny"),
        ({"DateLessThanEquals": {"aws:CurrentTime": NOW}}, {"aws:CurrentTime": NOW}, "allow"),
        ({"DateGreaterThan": {"aws:CurrentTime": NOW}}, {"aws:CurrentTime": NOW}, "implicit_deny"),
        (
            {"DateGreaterThanEquals": {"aws:CurrentTime": NOW}},
            {"aws:CurrentTime": "2024-05-01T12:00:00.000Z"},
            "allow",
        ),
        (
            {"DateLessThan": {"aws:CurrentTime": "1714564800"}},
            {"aws:CurrentTime": "2024-05-01T11:59:59Z"},
            "allow",
        ),
        # context key names are case-insensitive
        (
            {"StringEquals": {"AWS:RequestedRegion": "eu-west-1"}},
            {"aws:requestedregion": "eu-west-1"},
            "allow",
        ),
    ],
)
def test_condition_operators(condition, context, expected):
    assert evaluate(allow_if(condition), action="s3:GetObject", context=context) == expected


def test_several_keys_and_operators_must_all_hold():
    condition = {
        "StringEquals": {"aws:RequestedRegion": "eu-west-1", "aws:PrincipalAccount": "123456789012"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    full = {
        "aws:RequestedRegion": "eu-west-1",
        "aws:PrincipalAccount": "123456789012",
        "aws:SecureTransport": "true",
    }
    assert evaluate(allow_if(condition), action="s3:GetObject", context=full) == "allow"
    for key, wrong in [("aws:PrincipalAccount", "999999999999"), ("aws:SecureTransport", "false")]:
        assert (
            evaluate(allow_if(condition), action="s3:GetObject", context={**full, key: wrong})
            == "implicit_deny"
        )


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("StringEquals", "implicit_deny"),
        ("StringLike", "implicit_deny"),
        ("DateLessThan", "implicit_deny"),
        ("NumericGreaterThan", "implicit_deny"),
        ("Bool", "implicit_deny"),
        # The IAM reference: a negated operator whose key is absent is true.
        ("StringNotEquals", "allow"),
        ("StringNotLike", "allow"),
        # ...IfExists: true when the key is absent.
        ("StringEqualsIfExists", "allow"),
        ("DateLessThanIfExists", "allow"),
    ],
)
def test_a_missing_context_key(operator, expected):
    value = (
        "2024-01-01T00:00:00Z"
        if operator.startswith("Date")
        else "5"
        if operator.startswith("Numeric")
        else "x"
    )
    assert (
        evaluate(allow_if({operator: {"aws:SomeKey": value}}), action="s3:GetObject", context={}) == expected
    )


def test_if_exists_still_compares_a_present_key():
    policies = allow_if({"StringEqualsIfExists": {"aws:RequestedRegion": "eu-west-1"}})
    assert (
        evaluate(policies, action="s3:GetObject", context={"aws:RequestedRegion": "us-east-1"})
        == "implicit_deny"
    )


def test_null_checks_presence():
    absent = allow_if({"Null": {"aws:TokenIssueTime": "true"}})
    present = allow_if({"Null": {"aws:TokenIssueTime": "false"}})
    session = {"aws:TokenIssueTime": NOW}
    assert evaluate(absent, action="s3:GetObject", context={}) == "allow"
    assert evaluate(absent, action="s3:GetObject", context=session) == "implicit_deny"
    assert evaluate(present, action="s3:GetObject", context=session) == "allow"


@pytest.mark.parametrize(
    "condition",
    [
        {"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        {"ArnLike": {"aws:SourceArn": "arn:aws:*"}},
    ],
)
def test_unsupported_operators_are_refused_not_guessed(condition):
    with pytest.raises(ValueError, match=r"not supported|unsupported"):
        evaluate(allow_if(condition), action="s3:GetObject", context={"aws:TagKeys": "a"})


def test_parse_time_forms():
    assert parse_time("2024-05-01T12:00:00Z") == parse_time("2024-05-01T14:00:00+02:00")
    assert parse_time("2024-05-01T12:00:00") == parse_time("1714564800")
    assert parse_time("2024-05-01T12:00:00.5Z") > parse_time(NOW)
