"""The query engine's resources: with Athena, a partition-projected table over the trail, an enforced
workgroup and its results bucket, and query roles granted exactly those; with Lake, none of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from deployment.settings import COMMERCIAL_REGIONS
from responder.query.sql import ALL_QUERIES, QUERY_NAMES, QueryParams, render_athena
from tests.stack.conftest import ORGANIZATION_TRAIL, Synth

pytestmark = pytest.mark.synth

QUERY_STEPS = ("start_query", "query_status", "query_results")
ENGINE_TYPES = ("AWS::Glue::", "AWS::Athena::")


def _one(synth: Synth, kind: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = synth.of_type(kind).items()
    return logical_id, resource["Properties"]


def _statements(synth: Synth, step: str) -> list[dict[str, Any]]:
    role_id = synth.stack.resolve(synth.stack.functions.by_name[step].role.role_arn)["Fn::GetAtt"][0]
    return [
        s
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _trail_decrypt(synth: Synth, step: str) -> list[Any]:
    """The keys a step may decrypt with, other than the redaction key secret's (read through Secrets
    Manager by the steps that redact: tests/stack/test_guardrails.py)."""
    redaction_key = synth.stack.resolve(synth.stack.redaction_key.key_arn)
    return [k for k in _grants(synth, step).get("kms:Decrypt", []) if k != redaction_key]


def _grants(synth: Synth, step: str) -> dict[str, list[Any]]:
    """``{action: [resources]}`` of a step's role."""
    grants: dict[str, list[Any]] = {}
    for statement in _statements(synth, step):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for action in actions:
            grants.setdefault(action, []).extend(resources)
    return grants


def _each(actions: tuple[str, ...], resources: list[Any]) -> dict[str, list[Any]]:
    return {action: list(resources) for action in actions}


def _arn(*parts: Any) -> dict[str, Any]:
    """The Fn::Join CDK renders for an f-string ARN of pseudo parameters and names."""
    return {"Fn::Join": ["", list(parts)]}


PARTITION, REGION, ACCOUNT = {"Ref": "AWS::Partition"}, {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}


def _hive_fields(kind: str) -> dict[str, str]:
    """The fields of a Hive ``struct<a:t,b:struct<...>>`` type string."""
    assert kind.startswith("struct<") and kind.endswith(">"), kind
    fields: dict[str, str] = {}
    depth, start, body = 0, 0, kind[len("struct<") : -1]
    for i, ch in enumerate(body + ","):
        depth += {"<": 1, ">": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            name, _, field_type = body[start:i].partition(":")
            fields[name] = field_type
            start = i + 1
    return fields


# --- Athena ---------------------------------------------------------------------------------------


def test_athena_table_projects_every_day_region_and_the_account_over_the_trail(athena_synth):
    database_id, database = _one(athena_synth, "AWS::Glue::Database")
    table_id, table = _one(athena_synth, "AWS::Glue::Table")
    table_input = table["TableInput"]
    assert table["DatabaseName"] == database["DatabaseInput"]["Name"] == "incident_responder"
    assert database_id in athena_synth.resources[table_id].get("DependsOn", [])
    assert table_input["TableType"] == "EXTERNAL_TABLE"
    assert [k["Name"] for k in table_input["PartitionKeys"]] == ["timestamp", "region", "account"]
    params = table_input["Parameters"]
    assert {k: v for k, v in params.items() if k.startswith("projection.timestamp")} == {
        "projection.timestamp.type": "date",
        "projection.timestamp.format": "yyyy/MM/dd",
        "projection.timestamp.range": "2020/01/01,NOW",
        "projection.timestamp.interval": "1",
        "projection.timestamp.interval.unit": "DAYS",
    }
    assert params["projection.enabled"] == "true"
    assert params["projection.region.type"] == "enum"
    assert params["projection.region.values"].split(",") == list(COMMERCIAL_REGIONS)
    assert {"us-east-1", "eu-west-1", "ap-southeast-7", "mx-central-1", "il-central-1"} <= set(
        COMMERCIAL_REGIONS
    )
    assert not [r for r in COMMERCIAL_REGIONS if r.startswith(("cn-", "us-gov-", "us-iso", "eusc-"))]
    assert params["projection.account.type"] == "enum"
    assert params["projection.account.values"] == ACCOUNT, "default: the deploying account"
    assert params["storage.location.template"] == (
        "s3://my-trail-bucket/AWSLogs/${account}/CloudTrail/${region}/${timestamp}"
    )
    storage = table_input["StorageDescriptor"]
    assert storage["Location"] == "s3://my-trail-bucket/AWSLogs/"
    assert storage["InputFormat"] == "com.amazon.emr.cloudtrail.CloudTrailInputFormat"
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.apache.hive.hcatalog.data.JsonSerDe"


def test_organization_trail_table_reads_under_the_organization_id_with_the_given_accounts(org_synth):
    _, table = _one(org_synth, "AWS::Glue::Table")
    params = table["TableInput"]["Parameters"]
    assert params["storage.location.template"] == (
        "s3://my-trail-bucket/AWSLogs/o-a1b2c3d4e5/${account}/CloudTrail/${region}/${timestamp}"
    )
    assert (
        table["TableInput"]["StorageDescriptor"]["Location"] == "s3://my-trail-bucket/AWSLogs/o-a1b2c3d4e5/"
    )
    assert params["projection.account.values"] == "111122223333,444455556666"
    assert params["projection.region.values"] == "us-east-1,eu-west-1"
    assert params["projection.timestamp.range"] == "2023/06/01,NOW"
    _, workgroup = _one(org_synth, "AWS::Athena::WorkGroup")
    assert workgroup["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"] == 50_000_000_000


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_every_column_the_athena_rendering_reads_is_in_the_table(athena_synth, name):
    _, table = _one(athena_synth, "AWS::Glue::Table")
    columns = {c["Name"]: c["Type"] for c in table["TableInput"]["StorageDescriptor"]["Columns"]}
    columns |= {k["Name"]: k["Type"] for k in table["TableInput"]["PartitionKeys"]}
    env = _environment(athena_synth, "start_query")
    params = QueryParams(
        "AKIAIOSFODNN7EXAMPLE", datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC)
    )
    sql, _ = render_athena(name, params, env["ATHENA_TABLE"], env["ATHENA_DATABASE"])
    tree = sqlglot.parse_one(sql, read="trino")
    (source,) = [cte.this for cte in tree.find_all(exp.CTE) if cte.alias == "events"]
    assert {t.name for t in source.find_all(exp.Table)} == {env["ATHENA_TABLE"]}
    paths: set[tuple[str, ...]] = set()
    for column in source.find_all(exp.Column):
        parts = [p.name.lower() for p in column.parts]
        node = column.parent
        while isinstance(node, exp.Dot):
            parts.append(node.expression.name.lower())
            node = node.parent
        paths.add(tuple(parts))
    assert {
        ("useridentity", "sessioncontext", "sessionissuer", "username"),
        ("timestamp",),
        ("resources",),
    } <= paths
    assert len(paths) >= 22, sorted(paths)
    for path in paths:
        kind = columns.get(path[0])
        assert kind is not None, f"{name}: column {path[0]} is not in the table"
        for field in path[1:]:
            kind = _hive_fields(kind).get(field)
            assert kind is not None, f"{name}: {'.'.join(path)} is not in the table"


def _environment(synth: Synth, step: str) -> dict[str, Any]:
    function = synth.stack.functions.by_name[step].function
    function_id = synth.stack.resolve(function.function_arn)["Fn::GetAtt"][0]
    return synth.resources[function_id]["Properties"]["Environment"]["Variables"]


def test_functions_know_the_workgroup_database_and_table(athena_synth):
    _, workgroup = _one(athena_synth, "AWS::Athena::WorkGroup")
    _, table = _one(athena_synth, "AWS::Glue::Table")
    for step in QUERY_STEPS:
        env = _environment(athena_synth, step)
        assert env["QUERY_ENGINE"] == "athena" and "LAKE_EVENT_DATA_STORE" not in env
        assert env["ATHENA_WORKGROUP"] == workgroup["Name"]
        assert (env["ATHENA_DATABASE"], env["ATHENA_TABLE"]) == (
            table["DatabaseName"],
            table["TableInput"]["Name"],
        )


def test_workgroup_enforces_encrypted_results_in_its_bucket_and_a_scan_cutoff(athena_synth):
    _, workgroup = _one(athena_synth, "AWS::Athena::WorkGroup")
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == 100 * 1024**3
    assert config["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    results = config["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    assert results["ExpectedBucketOwner"] == ACCOUNT
    results_id = athena_synth.stack.resolve(athena_synth.stack.query_engine.results_bucket.bucket_name)["Ref"]
    assert results["OutputLocation"] == _arn("s3://", {"Ref": results_id}, "/results/")


def test_results_bucket_is_private_tls_only_expiring_and_access_logged(athena_synth):
    stack = athena_synth.stack
    results_id = stack.resolve(stack.query_engine.results_bucket.bucket_name)["Ref"]
    bucket = athena_synth.resources[results_id]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 30 and rule["Status"] == "Enabled"
    logs_id = bucket["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert "AccessLogs" in logs_id, "the evidence store's access-log bucket"
    (policy,) = [
        p["Properties"]
        for p in athena_synth.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": results_id}
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["PolicyDocument"]["Statement"]
    )


@pytest.mark.parametrize("step", QUERY_STEPS)
def test_query_roles_are_granted_exactly_the_athena_resources(athena_synth, step):
    stack = athena_synth.stack
    workgroup_id, _ = _one(athena_synth, "AWS::Athena::WorkGroup")
    results = stack.resolve(stack.query_engine.results_bucket.bucket_arn)
    glue = ("arn:", PARTITION, ":glue:", REGION, ":", ACCOUNT)
    workgroup = _arn(
        "arn:", PARTITION, ":athena:", REGION, ":", ACCOUNT, ":workgroup/", {"Ref": workgroup_id}
    )
    trail = _arn("arn:", PARTITION, ":s3:::my-trail-bucket")
    trail_objects = _arn("arn:", PARTITION, ":s3:::my-trail-bucket/*")
    grants = _grants(athena_synth, step)
    athena = {a: r for a, r in grants.items() if a.startswith(("athena:", "glue:", "s3:", "kms:"))}
    expected = {
        **_each(
            ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"), [workgroup]
        ),
        **_each(
            ("glue:GetTable", "glue:GetDatabase", "glue:GetPartitions"),
            [
                _arn(*glue, ":catalog"),
                _arn(*glue, ":database/incident_responder"),
                _arn(*glue, ":table/incident_responder/cloudtrail"),
            ],
        ),
    }
    for action, resources in athena.items():
        if action.startswith(("athena:", "glue:")):
            assert resources == expected.pop(action), action
        elif action.startswith("s3:"):
            allowed = [trail, trail_objects, results, _arn(results, "/*")]
            assert all(r in allowed or "Evidence" in json.dumps(r) for r in resources), (action, resources)
    assert not expected, f"{step}: missing {sorted(expected)}"
    assert not _trail_decrypt(athena_synth, step), (
        "the trail is not KMS-encrypted unless cloudTrailKmsKeyArn says so"
    )
    assert (
        trail_objects in grants["s3:GetObject"]
        and results in grants["s3:PutObject"] + grants["s3:ListBucket"]
    )


def test_only_the_roles_that_read_the_trail_may_decrypt_it_with_its_key(org_synth):
    key = ORGANIZATION_TRAIL["cloudTrailKmsKeyArn"]
    for step in org_synth.stack.functions.by_name:
        decrypt = _trail_decrypt(org_synth, step)
        if step in QUERY_STEPS:
            assert decrypt == [key], step
        else:
            assert key not in decrypt, step


@pytest.mark.parametrize("fixture", ["athena_synth", "org_synth"])
def test_athena_stacks_pass_cdk_nag(request, fixture):
    synth = request.getfixturevalue(fixture)
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    failures = [r for r in report["pluginReports"] if r.get("conclusion") != "success"]
    assert not failures, json.dumps(failures, indent=1)[:4000]


# --- CloudTrail Lake ------------------------------------------------------------------------------


def test_lake_creates_no_glue_or_athena_resource_and_grants_no_athena_or_glue_action(synth):
    assert synth.stack.settings.query_engine == "lake"
    assert not [r["Type"] for r in synth.resources.values() if r["Type"].startswith(ENGINE_TYPES)]
    assert synth.stack.query_engine is None
    for logical_id, policy in synth.of_type("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not [a for a in actions if a.startswith(("athena:", "glue:"))], logical_id
            assert "my-trail-bucket" not in json.dumps(statement["Resource"])


@pytest.mark.parametrize("step", QUERY_STEPS)
def test_lake_query_roles_reach_only_the_event_data_store(synth, step):
    store = synth.stack.settings.lake_event_data_store
    grants = _grants(synth, step)
    lake = {a: r for a, r in grants.items() if a.startswith("cloudtrail:")}
    expected_arn = (
        store
        if store.startswith("arn:")
        else _arn("arn:", PARTITION, ":cloudtrail:", REGION, ":", ACCOUNT, f":eventdatastore/{store}")
    )
    assert lake == _each(
        ("cloudtrail:StartQuery", "cloudtrail:DescribeQuery", "cloudtrail:GetQueryResults"), [expected_arn]
    )
    assert not _trail_decrypt(synth, step)
    environment = _environment(synth, step)
    assert environment["LAKE_EVENT_DATA_STORE"] == synth.stack.settings.lake_event_data_store_id
    assert not {k for k in environment if k.startswith("ATHENA_")}


# --- named queries --------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["athena_synth", "securitylake_synth"])
def test_every_saved_query_is_a_named_query_in_the_workgroup(request, fixture):
    synth = request.getfixturevalue(fixture)
    workgroup_id, _ = _one(synth, "AWS::Athena::WorkGroup")
    named = {r["Properties"]["Name"]: r for r in synth.of_type("AWS::Athena::NamedQuery").values()}
    assert sorted(named) == sorted(f"responder-{n}" for n in ALL_QUERIES)
    for resource in named.values():
        props = resource["Properties"]
        assert props["WorkGroup"] == {"Ref": workgroup_id} and workgroup_id in resource["DependsOn"]
        assert props["Database"] == synth.stack.query_engine.database_name
        text = props["QueryString"]
        asked = [line for line in text.splitlines() if line.startswith("--   ")]
        assert len(asked) == text.count("?") > 0, "each ? is listed in the header, in order"
        assert isinstance(sqlglot.parse_one(text, read="trino"), exp.Query)


# --- Security Lake --------------------------------------------------------------------------------


def test_security_lake_creates_no_table_and_tells_the_functions_its_tables(securitylake_synth):
    assert not securitylake_synth.of_type("AWS::Glue::Table") and not securitylake_synth.of_type(
        "AWS::Glue::Database"
    )
    _, workgroup = _one(securitylake_synth, "AWS::Athena::WorkGroup")
    for step in QUERY_STEPS:
        env = _environment(securitylake_synth, step)
        assert env["QUERY_ENGINE"] == "securitylake" and env["ATHENA_WORKGROUP"] == workgroup["Name"]
        assert env["SECURITY_LAKE_DATABASE"] == "amazon_security_lake_glue_db_us_east_1"
        assert env["SECURITY_LAKE_MANAGEMENT_TABLE"] == (
            "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"
        )
        assert env["SECURITY_LAKE_S3_DATA_TABLE"] == "amazon_security_lake_table_us_east_1_s3_data_2_0"
        assert env["SECURITY_LAKE_REGIONS"] == "us-east-1,eu-west-1"
        assert env["TRAIL_ACCOUNTS"] == "111122223333,444455556666"


@pytest.mark.parametrize("step", QUERY_STEPS)
def test_security_lake_query_roles_get_what_a_query_subscriber_needs(securitylake_synth, step):
    stack = securitylake_synth.stack
    workgroup_id, _ = _one(securitylake_synth, "AWS::Athena::WorkGroup")
    results = stack.resolve(stack.query_engine.results_bucket.bucket_arn)
    glue = ("arn:", PARTITION, ":glue:us-east-1:", ACCOUNT)
    database = "amazon_security_lake_glue_db_us_east_1"
    grants = _grants(securitylake_synth, step)
    engine = {a: r for a, r in grants.items() if a.startswith(("athena:", "glue:", "lakeformation:"))}
    assert engine == {
        **_each(
            ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"),
            [_arn("arn:", PARTITION, ":athena:", REGION, ":", ACCOUNT, ":workgroup/", {"Ref": workgroup_id})],
        ),
        **_each(
            ("glue:GetTable", "glue:GetDatabase", "glue:GetPartitions"),
            [
                _arn(*glue, ":catalog"),
                _arn(*glue, f":database/{database}"),
                _arn(*glue, f":table/{database}/amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"),
                _arn(*glue, f":table/{database}/amazon_security_lake_table_us_east_1_s3_data_2_0"),
            ],
        ),
        "lakeformation:GetDataAccess": ["*"],
    }
    s3 = {a: r for a, r in grants.items() if a.startswith("s3:")}
    assert all(
        r in (results, _arn(results, "/*")) or "Evidence" in json.dumps(r) for rs in s3.values() for r in rs
    )
    assert not _trail_decrypt(securitylake_synth, step)


def test_lake_formation_grants_select_and_describe_to_the_query_roles_only(securitylake_synth):
    stack = securitylake_synth.stack
    roles = {json.dumps(stack.resolve(f.role.role_arn)): name for name, f in stack.functions.by_name.items()}
    granted: dict[str, set[str]] = {}
    for resource in securitylake_synth.of_type("AWS::LakeFormation::PrincipalPermissions").values():
        props = resource["Properties"]
        step = roles[json.dumps(props["Principal"]["DataLakePrincipalIdentifier"])]
        assert props["PermissionsWithGrantOption"] == []
        target = props["Resource"]
        if "Database" in target:
            assert props["Permissions"] == ["DESCRIBE"]
            granted.setdefault(step, set()).add(target["Database"]["Name"])
        else:
            assert props["Permissions"] == ["SELECT"]
            granted.setdefault(step, set()).add(target["Table"]["Name"])
    everything = {
        "amazon_security_lake_glue_db_us_east_1",
        "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0",
        "amazon_security_lake_table_us_east_1_s3_data_2_0",
    }
    readers = {n for n, f in stack.functions.by_name.items() if "lakeformation:GetDataAccess" in f.granted}
    assert set(QUERY_STEPS) <= readers
    assert granted == {step: everything for step in readers}


@pytest.mark.parametrize("fixture", ["securitylake_synth", "cloudwatch_synth"])
def test_security_lake_and_cloudwatch_stacks_pass_cdk_nag(request, fixture):
    report = json.loads((request.getfixturevalue(fixture).outdir / "validation-report.json").read_text())
    failures = [r for r in report["pluginReports"] if r.get("conclusion") != "success"]
    assert not failures, json.dumps(failures, indent=1)[:4000]


def test_security_lake_must_be_queried_from_its_own_region(tmp_path):
    from aws_cdk import App, Environment, Stack
    from aws_cdk import aws_s3 as s3

    from deployment.settings import StackSettings
    from stacks.constructs.query_engine import SecurityLakeQueryEngine

    stack = Stack(App(), "Elsewhere", env=Environment(account="111122223333", region="eu-west-1"))
    settings = StackSettings.from_mapping({"queryEngine": "securitylake", "securityLakeRegion": "us-east-1"})
    with pytest.raises(ValueError, match="securityLakeRegion"):
        SecurityLakeQueryEngine(stack, "QueryEngine", settings=settings, access_logs=s3.Bucket(stack, "Logs"))


# --- CloudWatch Logs ------------------------------------------------------------------------------


@pytest.mark.parametrize("step", QUERY_STEPS)
def test_cloudwatch_query_roles_reach_only_the_trails_log_group(cloudwatch_synth, step):
    assert not [r["Type"] for r in cloudwatch_synth.resources.values() if r["Type"].startswith(ENGINE_TYPES)]
    grants = _grants(cloudwatch_synth, step)
    group = _arn(
        "arn:", PARTITION, ":logs:", REGION, ":", ACCOUNT, ":log-group:aws-cloudtrail-logs-111122223333-org:*"
    )
    assert grants["logs:StartQuery"] == [group]
    assert grants["logs:GetQueryResults"] == grants["logs:StopQuery"] == ["*"]
    assert not [a for a in grants if a.startswith(("athena:", "glue:", "lakeformation:", "cloudtrail:"))]
    env = _environment(cloudwatch_synth, step)
    assert env["QUERY_ENGINE"] == "cloudwatch"
    assert env["CLOUDWATCH_LOG_GROUP"] == "aws-cloudtrail-logs-111122223333-org"


@pytest.mark.parametrize("fixture", ["securitylake_synth", "cloudwatch_synth", "athena_synth"])
def test_each_engines_template_passes_cfn_lint(request, fixture):
    """`make test` lints the default (Lake) template; the other engines' templates get the same
    check, with the repository's own cfn-lint configuration (.cfnlintrc.yaml)."""
    import yaml
    from cfnlint.api import ManualArgs, lint

    from tests.conftest import REPO

    ignored = yaml.safe_load((REPO / ".cfnlintrc.yaml").read_text())["ignore_checks"]
    synth = request.getfixturevalue(fixture)
    matches = lint(
        json.dumps(synth.template.to_json()),
        config=ManualArgs(ignore_checks=ignored, regions=["us-east-1"]),
    )
    assert not matches, [f"{m.rule.id} {m.message}" for m in matches][:20]
