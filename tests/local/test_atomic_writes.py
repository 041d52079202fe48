"""The local runner's DynamoDB writes are atomic, as DynamoDB's are: of many concurrent conditional
puts of one item, exactly one succeeds (the claims that make containment exactly-once rely on it)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from workstation.local.runner import atomic_dynamodb_writes

RACERS = 24


def _race(ddb: Any) -> list[str]:
    results: list[str] = []
    start = threading.Barrier(RACERS)

    def claim(n: int) -> None:
        start.wait()
        try:
            ddb.put_item(
                TableName="claims",
                Item={"pk": {"S": "KEY#AKIAEXAMPLE"}, "owner": {"S": str(n)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            results.append("won")
        except ddb.exceptions.ConditionalCheckFailedException:
            results.append("lost")

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_of_concurrent_conditional_puts_exactly_one_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    original = DynamoDBBackend.put_item
    with mock_aws():
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName="claims",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        with atomic_dynamodb_writes(), atomic_dynamodb_writes():  # nests
            assert DynamoDBBackend.put_item is not original
            results = _race(ddb)
        assert DynamoDBBackend.put_item is original  # moto as it was, once the last one exits
    assert sorted(results) == ["lost"] * (RACERS - 1) + ["won"]
