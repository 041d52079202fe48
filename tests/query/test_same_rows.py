"""Same named query, same rows on every engine.

The exact statement sent to Lake, and the exact QueryString + ExecutionParameters sent to Athena, are
transpiled by sqlglot to DuckDB and run on tables shaped like those engines' tables, over the same logs;
their rows (normalized as each engine's rows are) must equal the native DuckDB engine's rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from responder.query import QUERY_NAMES, AthenaEngine, DuckDBEngine, LakeEngine, normalize_rows
from responder.query.sql import transpile
from tests.conftest import shared_fixture_path
from tests.query.shaped import fetch, load_events, shaped_connection

EDS = "ec7160cc-5b9f-4d2c-9e2a-0123456789ab"
WINDOW = {"start": datetime(2024, 7, 1, tzinfo=UTC), "end": datetime(2024, 12, 31, tzinfo=UTC)}
KEYS = [
    "AKIAOZUDECYXYM4ONAN4",  # create-admin-user: CreateUser, AttachUserPolicy, CreateAccessKey
    "AKIA6V1GNZTT65XQH36M",  # sts-federation-token: GetFederationToken
    "AKIAMJ2320ZAXACWCPJI",  # ec2-download-user-data: AssumeRole, shares its IP with an ASIA key
    "ASIA4URVX2JM5MT0ZGK8",
    "AKIAS3EXAMPLE0000001",  # synthetic S3 data events
]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    stratus = shared_fixture_path("cloudtrail", "stratus-red-team")
    extra = tmp_path_factory.mktemp("s3") / "s3.json"
    extra.write_text(json.dumps({"Records": s3_events()}))
    return [stratus, extra]


def s3_events() -> list[dict]:
    def ev(i: int, name: str, key: str | None, out: float | None, resources: bool = True) -> dict:
        return {
            "eventID": f"00000000-0000-0000-0000-00000000000{i}",
            "eventTime": f"2024-09-0{i}T10:00:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": name,
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "[aws-cli/2.15.0]",
            "readOnly": name.startswith(("Get", "List")),
            "eventType": "AwsApiCall",
            "recipientAccountId": "111122223333",
            "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIAS3EXAMPLE0000001", "userName": "dev"},
            "requestParameters": {"bucketName": "loot", **({"key": key} if key else {})},
            "responseElements": None,
            "additionalEventData": {"bytesTransferredIn": 0, **({"bytesTransferredOut": out} if out else {})},
            **(
                {
                    "resources": [
                        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::loot/{key}"},
                        {"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::loot"},
                    ]
                }
                if resources
                else {}
            ),
        }

    return [
        ev(1, "GetObject", "a.csv", 1024.0),
        ev(2, "GetObject", "a.csv", 2048.0),
        ev(3, "ListObjects", None, None, resources=False),
        ev(4, "DeleteObject", "a.csv", None),
    ]


@pytest.fixture(scope="module")
def shaped(logs: list[Path]):
    return shaped_connection(load_events(logs))


@pytest.mark.fixtures
@pytest.mark.parametrize("name", QUERY_NAMES)
@pytest.mark.parametrize("key", KEYS)
def test_lake_text_gives_native_rows(logs, shaped, name, key):
    params = {"access_key_id": key, **WINDOW}
    native = DuckDBEngine(logs).run(name, params)
    statement = LakeEngine(None, EDS).render(name, params)
    rows = normalize_rows(fetch(shaped, transpile(statement.replace(EDS, "lake_eds"))))
    assert rows == native


@pytest.mark.fixtures
@pytest.mark.parametrize("name", QUERY_NAMES)
@pytest.mark.parametrize("key", KEYS)
def test_athena_text_gives_native_rows(logs, shaped, name, key):
    params = {"access_key_id": key, **WINDOW}
    native = DuckDBEngine(logs).run(name, params)
    engine = AthenaEngine(None, workgroup="wg", database="cloudtrail", table="cloudtrail_logs")
    sql, parameters = engine.render(name, params)
    values = [p.strip("'") for p in parameters]  # Athena's parameters are SQL literals of plain values
    rows = normalize_rows(fetch(shaped, transpile(sql), values))
    assert rows == native


@pytest.mark.fixtures
def test_some_queries_return_rows(logs):
    """Guard against vacuous equality: the comparisons above include non-empty results of every query."""
    engine = DuckDBEngine(logs)
    counts = {
        name: sum(len(engine.run(name, {"access_key_id": k, **WINDOW})) for k in KEYS) for name in QUERY_NAMES
    }
    assert all(counts.values()), counts
