import json

from responder.analysis.buckets import analyse_current_policy, analyse_policy, bucket_policy_changes
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
    internal_net = bucket_policy("*", condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    assert not analyse_policy(internal_net, ACCOUNT).grants_external


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
