"""Security Lake: the same saved queries over Security Lake's OCSF tables give the same rows.

The fixture CloudTrail records are converted to OCSF Parquet the way Security Lake stores them
(workstation/demo/ocsf.py follows AWS's CloudTrail-to-OCSF mapping), in Security Lake's layout and
table names. The exact QueryString and ExecutionParameters the engine sends to Athena are transpiled by
sqlglot to DuckDB and run over those files; the rows must equal the native DuckDB engine's rows over
the CloudTrail JSON of the same events. The offline engine reads the same Parquet files directly.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
import sqlglot
from botocore.stub import Stubber
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from responder.errors import InvalidInput, InvalidQueryParameter
from responder.query import (
    ALL_QUERIES,
    AthenaEngine,
    DuckDBEngine,
    SecurityLakeEngine,
    engine_from_settings,
    normalize_rows,
)
from responder.query.securitylake import database_name, table_name
from responder.query.sql import ACCESS_KEY_RE, athena_console_query, securitylake_console_query, transpile
from responder.settings import Settings
from tests.conftest import shared_fixture_path
from tests.query.shaped import load_events
from tests.query.test_same_rows import KEYS, s3_events
from workstation.demo.ocsf import (
    ACCOUNT_CHANGE,
    API_ACTIVITY,
    AUTHENTICATION,
    MANAGEMENT_TABLE,
    S3_DATA_TABLE,
    to_ocsf,
    write_security_lake,
)

pytestmark = pytest.mark.fixtures

REGION = "us-east-1"
DATABASE = database_name(REGION)
TABLES = (table_name(REGION, "cloud_trail_mgmt_2_0"), table_name(REGION, "s3_data_2_0"))
WINDOW = {"start": datetime(2015, 1, 1, tzinfo=UTC), "end": datetime(2026, 1, 1, tzinfo=UTC)}


def _panther_events() -> list[dict[str, Any]]:
    """Panther's labelled CloudTrail test events, each with its own eventID (as CloudTrail gives every
    event; the tests reuse a few), leaving out those whose sessionIssuer.userName is not the name in
    its ARN: OCSF keeps only the issuer's ARN, and a real role's name is the ARN's last part."""
    path = shared_fixture_path("cloudtrail", "panther-analysis", "panther_cloudtrail_rule_tests.jsonl")
    out = []
    for i, line in enumerate(path.read_text().splitlines()):
        event = json.loads(line).get("event")
        if not isinstance(event, dict):
            continue
        identity = event.get("userIdentity")
        issuer = (
            ((identity or {}).get("sessionContext") or {}).get("sessionIssuer")
            if isinstance(identity, dict)
            else None
        )
        if (
            isinstance(issuer, dict)
            and issuer.get("arn")
            and not str(issuer["arn"]).endswith("/" + str(issuer.get("userName")))
        ):
            continue
        out.append({**event, "eventID": f"{i:08d}-0000-4000-8000-00000000a11c"})
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """(CloudTrail JSON file, Security Lake root, every access key in it)."""
    events = [
        *load_events([shared_fixture_path("cloudtrail", "stratus-red-team")]),
        *s3_events(),
        *_panther_events(),
    ]
    root = tmp_path_factory.mktemp("security-lake")
    cloudtrail = root / "cloudtrail.json"
    cloudtrail.write_text(json.dumps(events))
    write_security_lake(events, root / "lake")
    keys = sorted(
        {
            e["userIdentity"]["accessKeyId"]
            for e in events
            if isinstance(e.get("userIdentity"), dict)
            and isinstance(e["userIdentity"].get("accessKeyId"), str)
            and ACCESS_KEY_RE.fullmatch(e["userIdentity"]["accessKeyId"])
        }
    )
    assert set(KEYS) <= set(keys) and len(keys) > 20
    return cloudtrail, root / "lake", keys


@pytest.fixture(scope="module")
def lake_tables(corpus: tuple[Path, Path, list[str]]) -> duckdb.DuckDBPyConnection:
    """Security Lake's database and two tables, loaded from the Parquet files (with their types)."""
    _, root, _ = corpus
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(f"CREATE SCHEMA {DATABASE}")
    for table, source in zip(TABLES, (MANAGEMENT_TABLE, S3_DATA_TABLE), strict=True):
        conn.execute(
            f"CREATE TABLE {DATABASE}.{table} AS SELECT * FROM "
            f"read_parquet('{root / source}/**/*.parquet', union_by_name = true)"
        )
    return conn


@functools.cache
def _duckdb_text(sql: str) -> str:
    return transpile(sql)


def _athena_rows(conn: duckdb.DuckDBPyConnection, sql: str, parameters: list[str]) -> list[dict[str, Any]]:
    values = [p[1:-1].replace("''", "'") for p in parameters]  # SQL literals of plain text values
    cursor = conn.execute(_duckdb_text(sql), values)
    columns = [d[0] for d in cursor.description]
    return normalize_rows(dict(zip(columns, row, strict=True)) for row in cursor.fetchall())


@pytest.mark.parametrize("name", ALL_QUERIES)
def test_security_lake_text_gives_native_rows(corpus, lake_tables, name):
    cloudtrail, _, keys = corpus
    native = DuckDBEngine([cloudtrail])
    engine = SecurityLakeEngine.for_region(None, workgroup="responder", region=REGION)
    total = 0
    for key in keys:
        params = {"access_key_id": key, **WINDOW}
        want = native.run(name, params)
        assert _athena_rows(lake_tables, *engine.render(name, params)) == want, key
        total += len(want)
    assert total > 0, f"{name} returned no row for any key: the comparison would prove nothing"


@pytest.mark.parametrize("name", ALL_QUERIES)
def test_offline_engine_reads_security_lake_files_as_the_cloudtrail_json(corpus, name):
    cloudtrail, lake, keys = corpus
    native, ocsf = DuckDBEngine([cloudtrail]), DuckDBEngine([lake])
    for key in keys:
        params = {"access_key_id": key, **WINDOW}
        assert ocsf.run(name, params) == native.run(name, params), key


def test_offline_opens_only_the_event_days_of_the_window(corpus):
    _, lake, _ = corpus
    engine = DuckDBEngine([lake])
    days = {
        p.parent.name
        for p in engine.files_for(
            {
                "access_key_id": KEYS[0],
                "start": datetime(2024, 9, 2, tzinfo=UTC),
                "end": datetime(2024, 9, 3, tzinfo=UTC),
            }
        )
    }
    dated = {d for d in days if d != "eventDay=unknown"}  # records without a valid time: always read
    assert dated and dated <= {
        "eventDay=20240901",
        "eventDay=20240902",
        "eventDay=20240903",
        "eventDay=20240904",
    }
    assert len(engine.files_for({"access_key_id": KEYS[0], **WINDOW})) > len(days)


def test_queries_are_pruned_on_time_region_and_account():
    engine = SecurityLakeEngine.for_region(
        None,
        workgroup="responder",
        region=REGION,
        accounts=("111122223333",),
        regions=("us-east-1", "eu-west-1"),
    )
    sql, parameters = engine.render("key_activity", {"access_key_id": KEYS[0], **WINDOW})
    tree = sqlglot.parse_one(sql, read="trino")
    sources = [t for t in tree.find_all(exp.Table) if t.db == DATABASE]
    assert sorted(t.name for t in sources) == sorted(TABLES)
    for table in sources:
        where = table.find_ancestor(exp.Select).args["where"].sql(dialect="trino")
        assert "time_dt >= FROM_ISO8601_TIMESTAMP(?)" in where
        assert "time_dt < FROM_ISO8601_TIMESTAMP(?) + INTERVAL '1' SECOND" in where
        assert "accountid IN (?)" in where and "region IN (?, ?)" in where
    assert "AKIA" not in sql and sql.count("?") == len(parameters)
    assert parameters[:5] == [
        "'2015-01-01T00:00:00Z'",
        "'2026-01-01T00:00:00Z'",
        "'111122223333'",
        "'us-east-1'",
        "'eu-west-1'",
    ]
    assert parameters.count(f"'{KEYS[0]}'") == 1


def test_without_the_s3_data_source_only_the_management_table_is_read():
    engine = SecurityLakeEngine.for_region(None, workgroup="responder", region=REGION, s3_data=False)
    sql, _ = engine.render("s3_data_events", {"access_key_id": KEYS[0], **WINDOW})
    assert TABLES[0] in sql and TABLES[1] not in sql


def _all_texts() -> list[tuple[str, str]]:
    params = {"access_key_id": KEYS[0], **WINDOW}
    lake = SecurityLakeEngine.for_region(None, workgroup="wg", region=REGION, accounts=("111122223333",))
    athena = AthenaEngine(None, workgroup="wg", database="responder", table="cloudtrail")
    texts = []
    for name in ALL_QUERIES:
        texts += [
            (f"securitylake {name}", lake.render(name, params)[0]),
            (f"athena {name}", athena.render(name, params)[0]),
            (f"named athena {name}", athena_console_query(name, "cloudtrail", "responder")),
            (
                f"named securitylake {name}",
                securitylake_console_query(
                    name, database=DATABASE, tables=TABLES, accounts=("111122223333",)
                ),
            ),
        ]
    return texts


@pytest.mark.parametrize(("label", "sql"), _all_texts(), ids=[t[0] for t in _all_texts()])
def test_every_text_sent_or_saved_to_athena_validates_in_trino(label, sql):
    tree = sqlglot.parse_one(sql, read="trino", error_level=ErrorLevel.RAISE)
    assert isinstance(tree, exp.Query)
    assert not list(tree.find_all(exp.Anonymous)), "a function sqlglot does not know in Trino"
    tree.sql(dialect="trino", unsupported_level=ErrorLevel.RAISE)


def test_named_queries_list_their_parameters_in_order():
    text = securitylake_console_query("minted_credentials", database=DATABASE, tables=TABLES)
    header = [line for line in text.splitlines() if line.startswith("--   ")]
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    assert len(header) == body.count("?") == 7
    assert "the access key id" in header[4] and "window's start" in header[0]


def test_start_sends_the_rendered_query_to_the_workgroup(aws_env):
    client = boto3.client("athena", region_name=REGION)
    engine = SecurityLakeEngine.for_region(
        client, workgroup="responder", region=REGION, accounts=("111122223333",)
    )
    params = {"access_key_id": KEYS[0], **WINDOW}
    sql, parameters = engine.render("source_ips", params)
    with Stubber(client) as stub:
        stub.add_response(
            "start_query_execution",
            {"QueryExecutionId": "11111111-2222-3333-4444-555555555555"},
            {
                "QueryString": sql,
                "WorkGroup": "responder",
                "QueryExecutionContext": {"Database": DATABASE},
                "ExecutionParameters": parameters,
            },
        )
        assert engine.start("source_ips", params) == "11111111-2222-3333-4444-555555555555"
        stub.assert_no_pending_responses()


def test_engine_from_settings_names_what_is_missing():
    settings = Settings(query_engine="securitylake", athena_workgroup="responder")
    with pytest.raises(InvalidInput, match="SECURITY_LAKE_DATABASE"):
        engine_from_settings(settings, lambda _s: None)
    built = engine_from_settings(
        Settings(
            query_engine="securitylake",
            athena_workgroup="responder",
            security_lake_database=DATABASE,
            security_lake_management_table=TABLES[0],
            trail_accounts=("111122223333",),
            security_lake_regions=("eu-west-1",),
        ),
        lambda _s: None,
    )
    assert isinstance(built, SecurityLakeEngine) and built.tables == (TABLES[0],)
    assert (built.accounts, built.regions) == (("111122223333",), ("eu-west-1",))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"database": 'db"; DROP TABLE x; --'},
        {"management_table": "t WHERE 1=1"},
        {"accounts": ("1111' OR '1'='1",)},
        {"regions": ("us-east-1' --",)},
    ],
)
def test_hostile_names_are_refused_before_any_call(kwargs):
    base: dict[str, Any] = {"workgroup": "wg", "database": DATABASE, "management_table": TABLES[0]}
    with pytest.raises(InvalidQueryParameter):
        SecurityLakeEngine(None, **{**base, **kwargs}).render(
            "key_activity", {"access_key_id": KEYS[0], **WINDOW}
        )


# ---------------------------------------------------------------------------- the OCSF mapping


def _record(**fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "eventID": "0f6d3a1c-7b2e-4c59-9a61-3d0b8e2f4a17",
        "eventTime": "2024-09-01T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateAccessKey",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-kali3-amd64",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE000000001",
            "arn": "arn:aws:iam::111122223333:user/dev",
            "accountId": "111122223333",
            "accessKeyId": "AKIAS3EXAMPLE0000001",
            "userName": "dev",
        },
        "requestParameters": {"userName": "backdoor"},
        "responseElements": {"accessKey": {"accessKeyId": "AKIAS3EXAMPLE0000002", "userName": "backdoor"}},
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        **fields,
    }


def test_ocsf_fields_follow_the_documented_mapping():
    row = to_ocsf(_record())
    assert (row["class_uid"], row["class_name"]) == ACCOUNT_CHANGE[:2]
    assert row["actor"]["user"]["credential_uid"] == "AKIAS3EXAMPLE0000001"
    assert row["actor"]["user"]["uid"] == "arn:aws:iam::111122223333:user/dev"
    assert (
        row["api"]["operation"] == "CreateAccessKey" and row["api"]["service"]["name"] == "iam.amazonaws.com"
    )
    assert row["src_endpoint"] == {"ip": "203.0.113.7", "domain": None, "uid": None}
    assert row["http_request"]["user_agent"].startswith("aws-cli/2.15.0")
    assert json.loads(row["api"]["request"]["data"]) == {"userName": "backdoor"}
    assert row["unmapped"]["readOnly"] == "false" and row["unmapped"]["eventType"] == "AwsApiCall"
    assert (row["accountid"], row["region"], row["time"]) == ("111122223333", "us-east-1", 1725184800000)
    assert row["status"] == "Success" and row["type_uid"] == 300101


def test_ocsf_classes_and_service_sources():
    signin = to_ocsf(
        _record(eventName="ConsoleLogin", eventSource="signin.amazonaws.com", eventType="AwsConsoleSignIn")
    )
    assert signin["class_uid"] == AUTHENTICATION[0]
    call = to_ocsf(
        _record(eventName="GetObject", eventSource="s3.amazonaws.com", sourceIPAddress="AWS Internal")
    )
    assert call["class_uid"] == API_ACTIVITY[0] and call["category_uid"] == 6
    assert call["src_endpoint"]["ip"] is None and call["src_endpoint"]["domain"] == "AWS Internal"
    failed = to_ocsf(_record(errorCode="AccessDenied", errorMessage="not authorized"))
    assert failed["status"] == "Failure" and failed["api"]["response"]["error"] == "AccessDenied"


def test_the_functions_environment_builds_the_engine_the_stack_configured():
    settings = Settings.from_env(
        {
            "QUERY_ENGINE": "securitylake",
            "ATHENA_WORKGROUP": "IncidentResponder",
            "SECURITY_LAKE_DATABASE": DATABASE,
            "SECURITY_LAKE_MANAGEMENT_TABLE": TABLES[0],
            "SECURITY_LAKE_S3_DATA_TABLE": TABLES[1],
            "SECURITY_LAKE_REGIONS": "us-east-1,eu-west-1",
            "TRAIL_ACCOUNTS": "111122223333,444455556666",
        }
    )
    engine = engine_from_settings(settings, lambda _s: None)
    assert isinstance(engine, SecurityLakeEngine)
    assert (engine.workgroup, engine.database, engine.tables) == ("IncidentResponder", DATABASE, TABLES)
    assert engine.regions == ("us-east-1", "eu-west-1") and len(engine.accounts) == 2
