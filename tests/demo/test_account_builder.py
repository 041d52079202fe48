"""The emulated account's responder resources are the stack's: same table keys, same evidence lock."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import boto3
import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template
from moto import mock_aws

from app import cli_context
from deployment.settings import StackSettings
from stacks.constructs.evidence import EvidenceStore
from workstation.demo.account import REGION, create_evidence_bucket, create_incident_table

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def store() -> dict[str, dict[str, Any]]:
    """The evidence store construct alone, with cdk.json's settings: its table and evidence bucket."""
    app = App(context=cli_context())
    stack = Stack(app, "Builder")
    store = EvidenceStore(stack, "Evidence", settings=StackSettings.from_context(app.node.try_get_context))
    resources = Template.from_stack(stack).to_json()["Resources"]
    (table,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    bucket = resources[stack.resolve(store.bucket.bucket_name)["Ref"]]["Properties"]
    return {"table": table, "bucket": bucket}


def test_builder_table_has_the_stacks_keys_billing_encryption_and_recovery(
    aws_env: None, store: dict[str, dict[str, Any]]
) -> None:
    expected = store["table"]
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        table = ddb.describe_table(TableName=create_incident_table(ddb, "incidents"))["Table"]
        backups = ddb.describe_continuous_backups(TableName="incidents")["ContinuousBackupsDescription"]
    assert table["KeySchema"] == expected["KeySchema"]
    key = itemgetter("AttributeName")
    assert sorted(table["AttributeDefinitions"], key=key) == sorted(expected["AttributeDefinitions"], key=key)
    assert table["BillingModeSummary"]["BillingMode"] == expected["BillingMode"]
    assert (table["SSEDescription"]["Status"] == "ENABLED") is expected["SSESpecification"]["SSEEnabled"]
    assert table["DeletionProtectionEnabled"] is expected["DeletionProtectionEnabled"]
    pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert pitr is expected["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]


def test_builder_evidence_bucket_has_the_stacks_lock_and_public_access_block(
    aws_env: None, store: dict[str, dict[str, Any]]
) -> None:
    expected = store["bucket"]
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        bucket = create_evidence_bucket(s3, "evidence")
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    # moto reports the unset period too ("Years": 0); the template names only the one it sets.
    retention = {k: v for k, v in lock["Rule"]["DefaultRetention"].items() if v}
    assert {**lock, "Rule": {"DefaultRetention": retention}} == expected["ObjectLockConfiguration"]
    assert block == expected["PublicAccessBlockConfiguration"]
    assert versioning == expected["VersioningConfiguration"]["Status"]
