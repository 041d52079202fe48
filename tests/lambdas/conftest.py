"""An emulated account for the step handlers: evidence bucket, incident table, SOC topic, a user."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from workstation.local.lambdas import LocalLambdaContext

ACCOUNT = "123456789012"
REGION = "us-east-1"
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:responder:test-{uuid.uuid4().hex[:8]}"


@dataclass
class Account:
    iam: Any
    s3: Any
    ddb: Any
    sns: Any
    sqs: Any
    queue_url: str
    exposed_key: str
    innocent_key: str
    user: str = "analytics-etl"
    bucket: str = "acme-customer-exports"
    evidence_bucket: str = "responder-evidence-test"
    table: str = "responder-incidents-test"

    def key_status(self, key: str) -> str:
        keys = self.iam.list_access_keys(UserName=self.user)["AccessKeyMetadata"]
        return next(k["Status"] for k in keys if k["AccessKeyId"] == key)

    def soc_messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not got:
                return out
            out += [json.loads(m["Body"]) for m in got]


def context(name: str = "responder-step") -> LocalLambdaContext:
    return LocalLambdaContext(
        function_name=name,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        aws_request_id=str(uuid.uuid4()),
        memory_limit_in_mb=256,
        timeout_seconds=30,
    )


@pytest.fixture
def account(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        ddb = boto3.client("dynamodb", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        acct = Account(
            iam=iam, s3=s3, ddb=ddb, sns=sns, sqs=sqs, queue_url="", exposed_key="", innocent_key=""
        )
        iam.create_user(UserName=acct.user, Tags=[{"Key": "owner", "Value": "data-platform@example.com"}])
        acct.exposed_key = iam.create_access_key(UserName=acct.user)["AccessKey"]["AccessKeyId"]
        acct.innocent_key = iam.create_access_key(UserName=acct.user)["AccessKey"]["AccessKeyId"]
        s3.create_bucket(Bucket=acct.evidence_bucket, ObjectLockEnabledForBucket=True)
        s3.create_bucket(Bucket=acct.bucket)
        s3.put_bucket_policy(Bucket=acct.bucket, Policy=json.dumps(BACKDOORED_POLICY))
        ddb.create_table(
            TableName=acct.table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        topic = sns.create_topic(Name="soc")["TopicArn"]
        acct.queue_url = sqs.create_queue(QueueName="soc-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=acct.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        for key, value in {
            "EVIDENCE_BUCKET": acct.evidence_bucket,
            "INCIDENT_TABLE": acct.table,
            "SOC_TOPIC_ARN": topic,
            "QUERY_ENGINE": "duckdb",
        }.items():
            monkeypatch.setenv(key, value)
        from responder.settings import get_settings

        get_settings.cache_clear()
        yield acct


BACKDOORED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::acme-customer-exports", "arn:aws:s3:::acme-customer-exports/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "Backup",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": ["arn:aws:s3:::acme-customer-exports", "arn:aws:s3:::acme-customer-exports/*"],
        },
    ],
}
