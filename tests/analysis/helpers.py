"""Rows for the analysis tests: from the shared fixtures (skipped where absent) or built inline."""

from __future__ import annotations

import json
from typing import Any

from responder.analysis.rows import record_to_row
from tests.conftest import shared_fixture_path

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
KEY = "AKIAEXPOSEDKEY000001"


def stratus_records(name: str) -> list[dict[str, Any]]:
    path = shared_fixture_path("cloudtrail", "stratus-red-team", f"{name}.json")
    data = json.loads(path.read_text())
    return data["Records"] if isinstance(data, dict) else data


def stratus_rows(name: str) -> list[dict[str, Any]]:
    return [record_to_row(r) for r in stratus_records(name)]


def panther_event(rule_id: str, test_name: str) -> dict[str, Any]:
    path = shared_fixture_path("cloudtrail", "panther-analysis", "panther_cloudtrail_rule_tests.jsonl")
    for line in path.read_text().splitlines():
        item = json.loads(line)
        if item["rule_id"] == rule_id and item["test_name"] == test_name:
            return item["event"]
    raise LookupError(f"{rule_id} / {test_name} not in the panther fixture")


def row(
    event_name: str,
    *,
    source: str = "s3.amazonaws.com",
    time: str = "2024-05-01T10:00:00Z",
    key: str = KEY,
    ip: str = "203.0.113.7",
    agent: str = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux Python/3.11",
    params: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    error: str | None = None,
    read_only: bool | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One contract row, via a CloudTrail record so that record_to_row is exercised too."""
    record: dict[str, Any] = {
        "eventID": event_id or f"{event_name}-{time}-{key}",
        "eventTime": time,
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": agent,
        "recipientAccountId": ACCOUNT,
        "eventType": "AwsApiCall",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/dev",
            "accountId": ACCOUNT,
            "accessKeyId": key,
            "userName": "dev",
        },
        "requestParameters": params,
        "responseElements": response,
        "additionalEventData": extra,
    }
    if error:
        record["errorCode"] = error
        record["errorMessage"] = "denied"
    if read_only is not None:
        record["readOnly"] = read_only
    return record_to_row(record)


def bucket_policy(
    principal: Any, sid: str = "Backdoor", condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::finance-data/*",
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}
