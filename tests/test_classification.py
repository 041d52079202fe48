"""What the touched buckets hold: Macie's sensitivity score (Stubber, real DescribeBuckets shapes),
else the bucket's classification tag (moto), else unknown, said as such."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from responder.classification import classify_buckets
from responder.report import build_report, render_markdown
from tests.analysis.helpers import KEY, row

WINDOW = {"window_start": "2024-05-01T00:00:00Z", "window_end": "2024-05-08T00:00:00Z"}


def _read(bucket: str, key: str) -> dict[str, Any]:
    return row(
        "GetObject",
        params={"bucketName": bucket, "key": key},
        extra={"additionalEventData": {"bytesTransferredOut": 2048}},
        read_only=True,
        event_id=f"get-{bucket}-{key}",
    )


def _metadata(bucket: str, score: int) -> dict[str, Any]:
    return {
        "accountId": "111122223333",
        "bucketName": bucket,
        "bucketArn": f"arn:aws:s3:::{bucket}",
        "classifiableObjectCount": 1200,
        "sensitivityScore": score,
        "lastAutomatedDiscoveryTime": datetime(2026, 12, 6, tzinfo=UTC),
    }


@pytest.fixture
def clients(aws_env):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket, tags in (
            ("customer-exports", None),
            ("hr-data", [{"Key": "data-classification", "Value": "confidential"}]),
            ("build-cache", [{"Key": "team", "Value": "ci"}]),
        ):
            s3.create_bucket(Bucket=bucket)
            if tags:
                s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
        macie = boto3.client("macie2", region_name="us-east-1")
        with Stubber(macie) as stub:
            yield macie, s3, stub
            stub.assert_no_pending_responses()


def test_macie_scores_say_what_each_bucket_holds(clients):
    macie, s3, stub = clients
    for bucket, score in (("build-cache", 12), ("customer-exports", 87), ("hr-data", -1)):
        stub.add_response(
            "describe_buckets",
            {"buckets": [_metadata(bucket, score)]},
            {"criteria": {"bucketName": {"eq": [bucket]}}},
        )
    got = {
        c["bucket"]: c for c in classify_buckets(macie, s3, ["hr-data", "customer-exports", "build-cache"])
    }
    assert (got["customer-exports"]["classification"], got["customer-exports"]["source"]) == (
        "sensitive",
        "macie",
    )
    assert got["customer-exports"]["sensitivity_score"] == 87
    assert got["build-cache"]["classification"] == "not sensitive"
    # Macie could not analyse it: its tag says what the owners declared.
    assert (got["hr-data"]["source"], got["hr-data"]["classification"]) == ("tag", "confidential")


def test_without_macie_the_tags_answer_and_the_rest_is_unknown(clients):
    macie, s3, stub = clients
    stub.add_client_error(
        "describe_buckets",
        service_error_code="AccessDeniedException",
        service_message="Macie is not enabled",
        http_status_code=403,
    )  # asked once: not again for every bucket
    got = {
        c["bucket"]: c for c in classify_buckets(macie, s3, ["customer-exports", "hr-data", "build-cache"])
    }
    assert (got["hr-data"]["source"], got["hr-data"]["classification"]) == ("tag", "confidential")
    for bucket in ("customer-exports", "build-cache"):
        assert (got[bucket]["source"], got[bucket]["classification"]) == ("unknown", "unknown")
        assert got[bucket]["detail"] == "Macie unavailable (AccessDeniedException); no classification tag"


def test_the_report_says_what_was_touched_and_asks_accordingly(clients):
    macie, s3, stub = clients
    stub.add_response(
        "describe_buckets",
        {"buckets": [_metadata("customer-exports", 91)]},
        {"criteria": {"bucketName": {"eq": ["customer-exports"]}}},
    )
    stub.add_response("describe_buckets", {"buckets": []}, {"criteria": {"bucketName": {"eq": ["hr-data"]}}})
    rows = [
        _read("customer-exports", "q3.csv"),
        _read("hr-data", "salaries.csv"),
    ]
    report = build_report(
        rows, access_key_id=KEY, **WINDOW, classify=lambda buckets: classify_buckets(macie, s3, buckets)
    )
    assert [(c["bucket"], c["classification"]) for c in report["data_classification"]] == [
        ("customer-exports", "sensitive"),
        ("hr-data", "confidential"),
    ]
    steps = report["summary"]["next_steps"]
    assert any(s.startswith("Buckets customer-exports hold sensitive data (Macie)") for s in steps)
    assert any("hr-data (confidential)" in s for s in steps)
    assert "| `customer-exports` | sensitive | macie |" in render_markdown(report)


def test_offline_every_touched_bucket_is_unknown_and_says_why():
    report = build_report([_read("customer-exports", "q3.csv")], access_key_id=KEY, **WINDOW)
    [entry] = report["data_classification"]
    assert (entry["classification"], entry["detail"]) == ("unknown", "not looked up (no account read)")
    assert any(
        s.startswith("Find out what buckets customer-exports hold") for s in report["summary"]["next_steps"]
    )
