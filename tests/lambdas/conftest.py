"""An emulated account for the step handlers: evidence bucket, incident table, SOC topic, a user."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.iam_actions import UNGOVERNED, iam_action
from workstation.demo.account import (
    create_evidence_bucket,
    create_incident_table,
    create_soc_topic,
    create_victim_bucket,
    create_victim_user,
)
from workstation.demo.cloudtrail import LogSet, generate_logs
from workstation.demo.scenario import default_scenario
from workstation.local.lambdas import LocalLambdaContext

ACCOUNT = "123456789012"
REGION = "us-east-1"
EXPOSED = "AKIAEXPOSEDKEY000001"
NOW = datetime.now(UTC).replace(microsecond=0)
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
        victim = create_victim_user(iam, acct.user, owner="data-platform@example.com", team=None)
        acct.exposed_key, acct.innocent_key = victim.exposed_key_id, victim.innocent_key_id
        create_evidence_bucket(s3, acct.evidence_bucket)
        create_victim_bucket(
            s3, acct.bucket, policy=json.dumps(BACKDOORED_POLICY), classification=None, versioned=False
        )
        create_incident_table(ddb, acct.table)
        topic, acct.queue_url = create_soc_topic(sns, sqs, topic="soc", inbox="soc-inbox")
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


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> LogSet:
    story = default_scenario(
        NOW,
        account_id=ACCOUNT,
        exposed_key_id=EXPOSED,
        innocent_key_id="AKIAINNOCENTKEY00001",
        user_name="analytics-etl",
        backdoor_key_id="AKIABACKDOORKEY00001",
    )
    return generate_logs(story, tmp_path_factory.mktemp("trail") / "logs", days=8, background_per_day=20)


@pytest.fixture
def queries(account: Account, logs: LogSet, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    monkeypatch.setenv("LOCAL_LOG_PATHS", str(logs.root))
    monkeypatch.setenv("POLL_SECONDS", "3")
    from responder.settings import get_settings

    get_settings.cache_clear()  # a new settings object: lambdas.query_engine builds a new engine
    yield account
    get_settings.cache_clear()


# ------------------------------------------------------------------ declared calls only (all 15 steps)


@dataclass
class CallCheck:
    """AWS calls (as IAM actions) made while each step's handler ran, and what each step declares."""

    calls: dict[str, set[str]]
    declared: dict[str, set[str]]


def undeclared_calls(check: CallCheck) -> list[str]:
    """One line per call a step made that its PERMISSIONS do not declare."""
    return [
        f"lambdas/{name}/handler.py calls {action}, not in its PERMISSIONS"
        for name, actions in sorted(check.calls.items())
        for action in sorted(actions - UNGOVERNED)
        if action.lower() not in check.declared[name]
    ]


@pytest.fixture(autouse=True)
def declared_calls_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[CallCheck]:
    """Every handler a test here runs may call only what its module's PERMISSIONS declare.

    botocore's ``_make_api_call`` (every client call goes through it) records the IAM action of each
    call made while a step's handler is on the stack; the test fails at teardown when one of them is
    not declared. moto enforces no IAM, so this is what catches a call a deployed role would refuse.
    """
    import importlib

    import botocore.client

    from lambdas.steps import STEPS
    from responder.permissions import actions_of

    check = CallCheck(calls={}, declared={})
    running: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: Any) -> Any:
        if running:
            action = iam_action(self.meta.service_model.signing_name, operation_name)
            check.calls.setdefault(running[-1], set()).add(action)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    for step in STEPS:
        module = importlib.import_module(f"lambdas.{step.name}.handler")
        check.declared[step.name] = {a.lower() for a in actions_of(module.PERMISSIONS)}

        def checked(event: Any, context: Any, _inner: Any = module.handler, _name: str = step.name) -> Any:
            running.append(_name)
            try:
                return _inner(event, context)
            finally:
                running.pop()

        monkeypatch.setattr(module, "handler", checked)
    yield check
    problems = undeclared_calls(check)
    assert not problems, "\n".join(problems)
