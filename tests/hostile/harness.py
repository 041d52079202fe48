"""Run hostile cases through triage, the CLI and the real workflow; snapshot the emulated account.

Shared by the tests and by ``python -m tests.hostile.report`` (which writes the figures to
docs/reliability.md), so the figures and the tests measure the same thing.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from responder.errors import InvalidInput
from responder.models import dump
from responder.settings import Settings
from responder.steps.triage import triage
from tests.hostile.cases import ACCOUNT, STAND_IN_KEY, VICTIM_USER, Case
from workstation.cli import main as responder_cli
from workstation.demo.account import (
    ResponderResources,
    VictimUser,
    create_victim_bucket,
    create_victim_user,
    deploy_responder_resources,
    soc_inbox,
)
from workstation.local.responder import asl_text, step_functions
from workstation.local.runner import MOTO_CONFIG, ExecutionResult, LocalWorkflow

REGION = "us-east-1"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # triage's clock: the outcomes do not depend on the day
SETTINGS = Settings.from_env({})
VICTIM_BUCKET = "hostile-victim-exports"
VICTIM_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "PartnerRead",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{VICTIM_BUCKET}/*",
        }
    ],
}


def payload(case: Case, exposed_key: str = STAND_IN_KEY) -> bytes:
    """The bytes a file or request body holds (lone surrogates stand for bytes that are not UTF-8)."""
    return case.text_for(exposed_key).encode("utf-8", "surrogateescape")


# ------------------------------------------------------------------------------------------ triage


@dataclass(frozen=True)
class Outcome:
    """The decision action of a valid incident, or the class name of the named error."""

    name: str
    message: str
    incident: dict[str, Any] | None = None


def triage_outcome(raw: Any) -> Outcome:
    """Triage ``raw``; only the named errors are caught: anything else is a bug and propagates."""
    try:
        incident = triage(raw, SETTINGS, now=NOW, default_account_id=ACCOUNT)
    except InvalidInput as exc:  # UnsupportedFinding, LogsUnreadable... are InvalidInput too
        return Outcome(type(exc).__name__, str(exc))
    return Outcome(incident.decision.action, incident.decision.reason, dump(incident))


@dataclass(frozen=True)
class CliRun:
    code: int
    stdout: str
    stderr: str


def cli_run(case: Case, path: Path) -> CliRun:
    """``responder triage FILE`` in-process: an uncaught exception propagates (it would be a traceback)."""
    path.write_bytes(payload(case))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = responder_cli(["triage", str(path), "--account-id", ACCOUNT])
    return CliRun(code, out.getvalue(), err.getvalue())


# ---------------------------------------------------------------------------------------- workflow


@dataclass
class World:
    """The emulated account: a user with two keys, a bucket with a policy, the responder's resources."""

    clients: dict[str, Any]
    victim: VictimUser
    resources: ResponderResources
    flow: LocalWorkflow


def _write_logs(folder: Path, key: str) -> None:
    """One day of CloudTrail for the exposed key: the DuckDB engine has something to read."""
    day = folder / "AWSLogs" / ACCOUNT / "CloudTrail" / REGION / "2025" / "03" / "01"
    day.mkdir(parents=True, exist_ok=True)
    record = {
        "eventVersion": "1.09",
        "eventID": "00000000-0000-4000-8000-000000000001",
        "eventTime": "2025-03-01T11:00:00Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2",
        "userIdentity": {"type": "IAMUser", "userName": VICTIM_USER, "accessKeyId": key},
        "recipientAccountId": ACCOUNT,
        "readOnly": True,
        "eventType": "AwsApiCall",
    }
    (day / f"{ACCOUNT}_CloudTrail_{REGION}_20250301T1100Z_hostile.json").write_text(
        json.dumps({"Records": [record]})
    )


@contextlib.contextmanager
def hostile_world(log_dir: Path) -> Iterator[World]:
    """Build the account once (inside mock_aws), deploy the real workflow, yield; tear down after."""
    with mock_aws(config=MOTO_CONFIG):
        names = ("iam", "s3", "dynamodb", "sns", "sqs", "stepfunctions")
        clients = {n: boto3.client(n, region_name=REGION) for n in names}
        victim = create_victim_user(clients["iam"], VICTIM_USER, owner="dana.reyes@example.com")
        create_victim_bucket(clients["s3"], VICTIM_BUCKET, policy=VICTIM_POLICY, objects=["exports/a.csv"])
        resources = deploy_responder_resources(
            clients["s3"],
            clients["dynamodb"],
            clients["sns"],
            clients["sqs"],
            suffix="hostile",
            iam=clients["iam"],
        )
        _write_logs(log_dir, victim.exposed_key_id)
        environment = {
            **resources.environment(),
            "QUERY_ENGINE": "duckdb",
            "LOCAL_LOG_PATHS": str(log_dir),
            "POLL_SECONDS": "0",
            "AWS_DEFAULT_REGION": REGION,
        }
        moto_log = logging.getLogger("moto")
        level = moto_log.level
        moto_log.setLevel(logging.CRITICAL)  # moto logs each caught task failure with its whole AST
        try:
            with LocalWorkflow(
                asl_text(), step_functions(), environment=environment, retry_interval_scale=0.0
            ) as flow:
                yield World(clients, victim, resources, flow)
        finally:
            moto_log.setLevel(level)


def _or_none(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except ClientError:
        return None


def snapshot(world: World) -> dict[str, Any]:
    """IAM users, keys, policies, tags; roles; S3 buckets, policies, PAB: all but the responder's own."""
    iam, s3 = world.clients["iam"], world.clients["s3"]
    users: dict[str, Any] = {}
    for user in iam.list_users()["Users"]:
        name = user["UserName"]
        users[name] = {
            "keys": sorted(
                (k["AccessKeyId"], k["Status"])
                for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
            ),
            "inline": {
                p: iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"]
                for p in iam.list_user_policies(UserName=name)["PolicyNames"]
            },
            "attached": sorted(
                p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
            ),
            "tags": sorted((t["Key"], t["Value"]) for t in iam.list_user_tags(UserName=name)["Tags"]),
            "groups": sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]),
        }
    roles: dict[str, Any] = {}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        roles[name] = {
            "inline": {
                p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
                for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
            },
            "attached": sorted(
                p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            ),
        }
    buckets: dict[str, Any] = {}
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        if name == world.resources.evidence_bucket:
            continue  # the responder's own evidence store: writing there is its job
        policy = _or_none(s3.get_bucket_policy, Bucket=name)
        pab = _or_none(s3.get_public_access_block, Bucket=name)
        tags = _or_none(s3.get_bucket_tagging, Bucket=name)
        buckets[name] = {
            "policy": policy and policy["Policy"],
            "public_access_block": pab and pab["PublicAccessBlockConfiguration"],
            "tags": tags and tags["TagSet"],
            "acl": s3.get_bucket_acl(Bucket=name)["Grants"],
            "objects": sorted(o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])),
        }
    return {"users": users, "roles": roles, "buckets": buckets}


@dataclass
class FlowRun:
    """One case through the workflow: how it ended, what triage decided, what the SOC heard."""

    status: str
    decision: str | None
    error: str | None  # the error NotifyFailure reported, when it ran
    soc: list[dict[str, str]]
    states: list[str]
    unchanged: bool
    diff: list[str] = field(default_factory=list)
    execution_error: str | None = None


def _diff(before: Any, after: Any, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            out += _diff(before.get(key), after.get(key), f"{path}.{key}")
        return out
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"]


def _decision(result: ExecutionResult) -> str | None:
    for inv in result.invocations:
        if (
            inv.function_name.endswith("-triage")
            and inv.phase == "succeeded"
            and isinstance(inv.result, dict)
        ):
            return str(inv.result["incident"]["decision"]["action"])
    return None


def _reported_error(result: ExecutionResult) -> str | None:
    for inv in result.invocations:
        if inv.function_name.endswith("-notify-failure") and isinstance(inv.event, dict):
            state = inv.event.get("state") or {}
            # A Triage failure replaces the input with the error itself (the input may not be an object).
            error = state.get("error") or (state if "Error" in state else {})
            return str(error.get("Error")) if isinstance(error, dict) else None
    return None


def _forget_deliveries(world: World) -> None:
    """Each case is a finding of its own, though many share the base finding's id: an earlier case's
    delivery record would make this one a repeat, answered by recording only (responder/sightings.py)."""
    ddb, table = world.clients["dynamodb"], world.resources.incident_table
    for item in ddb.scan(TableName=table)["Items"]:
        if item["sk"]["S"] == "FINDING":
            ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})


def run_in_workflow(world: World, case: Case) -> FlowRun:
    _forget_deliveries(world)
    before = snapshot(world)
    result = world.flow.run(case.execution_input(world.victim.exposed_key_id), timeout=60)
    after = snapshot(world)
    diff = _diff(before, after)
    return FlowRun(
        status=result.status,
        decision=_decision(result),
        error=_reported_error(result),
        soc=soc_inbox(world.clients["sqs"], world.resources),
        states=result.states_entered(),
        unchanged=not diff,
        diff=diff,
        execution_error=result.error,
    )


def non_object_input(case: Case) -> bool:
    """The execution input is not a JSON object: the ASL's Catch cannot add ``$.error`` to it."""
    return not isinstance(case.execution_input(STAND_IN_KEY), dict)
