"""Evidence, incident table, SOC topic and alarms: the properties that make them trustworthy."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

pytestmark = pytest.mark.synth


def _tls_only(policy: dict[str, Any]) -> bool:
    return any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool") == {"aws:SecureTransport": "false"}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


def _bucket_policy(synth, bucket_id: str) -> dict[str, Any]:
    (policy,) = [
        p
        for p in synth.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return policy


def test_evidence_bucket_is_locked_versioned_private_tls_only_logged_and_retained(synth):
    settings = synth.stack.settings
    evidence_id = synth.stack.resolve(synth.stack.node.find_child("Evidence").bucket.bucket_name)["Ref"]
    bucket = synth.resources[evidence_id]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {
            "DefaultRetention": {
                "Days": settings.evidence_retention_days,
                "Mode": settings.evidence_retention_mode,
            }
        },
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    log_bucket_id = props["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert log_bucket_id != evidence_id
    assert _tls_only(_bucket_policy(synth, evidence_id))

    log_bucket = synth.resources[log_bucket_id]
    assert log_bucket["DeletionPolicy"] == "Retain"
    assert log_bucket["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    assert log_bucket["Properties"]["BucketEncryption"]
    assert _tls_only(_bucket_policy(synth, log_bucket_id))


def test_incident_table_keys_pitr_encryption_on_demand_retained(synth):
    (table,) = synth.of_type("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {"AttributeName": "pk", "AttributeType": "S"} in props["AttributeDefinitions"]
    assert {"AttributeName": "sk", "AttributeType": "S"} in props["AttributeDefinitions"]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_soc_topic_is_encrypted_with_a_rotated_key_and_tls_only(synth):
    ((topic_id, topic),) = synth.of_type("AWS::SNS::Topic").items()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    assert synth.resources[key_id]["Properties"]["EnableKeyRotation"] is True
    (policy,) = synth.of_type("AWS::SNS::TopicPolicy").values()
    assert {"Ref": topic_id} in policy["Properties"]["Topics"]
    assert _tls_only(policy)


def test_alarms_notify_the_soc_on_failed_timed_out_aborted_runs_and_dlq_depth(synth):
    (topic_id,) = synth.of_type("AWS::SNS::Topic")
    (machine_id,) = synth.of_type("AWS::StepFunctions::StateMachine")
    (queue_id,) = synth.of_type("AWS::SQS::Queue")
    alarms = list(synth.of_type("AWS::CloudWatch::Alarm").values())
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
        synth.template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": "AWS/States",
                "MetricName": metric,
                "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": machine_id}}],
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "Threshold": 1,
                "AlarmActions": [{"Ref": topic_id}],
            },
        )
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
            "AlarmActions": [{"Ref": topic_id}],
        },
    )
    assert all(a["Properties"]["TreatMissingData"] == "notBreaching" for a in alarms)


def test_the_cli_finds_the_responder_through_outputs(synth):
    outputs = synth.template.to_json()["Outputs"]
    assert {"StateMachineArn", "EvidenceBucketName", "SocTopicArn", "IncidentTableName"} <= set(outputs)
    synth.template.has_output("StateMachineArn", {"Value": {"Ref": Match.any_value()}})
