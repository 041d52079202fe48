"""account-changes.json: every resource of the emulated account a run changed, named as a person would."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from workstation.demo.account import account_state, resource_changes

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@pytest.fixture
def account(aws_env: None) -> Any:
    with mock_aws():
        iam, s3 = boto3.client("iam"), boto3.client("s3")
        iam.create_user(UserName="alice")
        iam.create_login_profile(UserName="alice", Password="Synthetic-Passw0rd!")
        key = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
        iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(TRUST))
        s3.create_bucket(Bucket="data-bucket")
        s3.create_bucket(Bucket="evidence-bucket")
        yield iam, s3, key


def test_nothing_changed_is_an_empty_list(account: Any) -> None:
    iam, s3, _ = account
    before = account_state(iam, s3)
    assert resource_changes(before, account_state(iam, s3)) == []


def test_each_change_is_one_resource_with_before_and_after(account: Any) -> None:
    iam, s3, key = account
    before = account_state(iam, s3, exclude_buckets=("evidence-bucket",))
    iam.update_access_key(UserName="alice", AccessKeyId=key, Status="Inactive")
    iam.delete_login_profile(UserName="alice")
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    iam.put_role_policy(RoleName="app", PolicyName="deny", PolicyDocument=json.dumps(deny))
    iam.create_user(UserName="bob")
    s3.put_bucket_policy(
        Bucket="data-bucket",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": "arn:aws:s3:::data-bucket/*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
        ),
    )
    s3.put_object(Bucket="evidence-bucket", Key="x", Body=b"evidence")  # the responder's own: left out
    changes = resource_changes(before, account_state(iam, s3, exclude_buckets=("evidence-bucket",)))
    by = {c["resource"]: c for c in changes}
    assert sorted(by) == [
        f"access-key/{key}",
        "bucket/data-bucket",
        "login-profile/alice",
        "role/app",
        "user/bob",
    ]
    assert by[f"access-key/{key}"]["before"] == {"user": "alice", "status": "Active"}
    assert by[f"access-key/{key}"]["after"] == {"user": "alice", "status": "Inactive"}
    assert by["login-profile/alice"]["after"] is None and by["login-profile/alice"]["before"]
    assert by["user/bob"]["before"] is None
    assert list(by["role/app"]["after"]["inline"]) == ["deny"]
    assert by["bucket/data-bucket"]["before"]["policy"] is None
    assert json.loads(by["bucket/data-bucket"]["after"]["policy"])["Statement"][0]["Effect"] == "Deny"
