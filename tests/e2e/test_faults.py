"""Faults injected into the real workflow (our ASL on moto's engine, every handler in-process).

Faults are botocore ``before-parameter-build`` hooks on boto3's default session, which every
handler's client (``responder.clients.client``) is built from. Raising there happens before the
request is built and sent, so the SDK's own retries (standard mode, 3 attempts) never see it: the
raise is what the SDK hands back once its attempts are spent. Whatever recovers from it is the
state machine's Retry.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.exceptions import ClientError

from responder import clients
from tests.conftest import REPO
from workstation.demo.run import DemoHooks, DemoResult, run_demo
from workstation.local.runner import ExecutionResult

pytestmark = pytest.mark.e2e

SCHEMA = json.loads((REPO / "responder" / "schemas" / "report.schema.json").read_text())


class Fault:
    """Fail the first ``times`` calls of one IAM operation on the exposed key with ``code``.

    Counts those calls and their successes (the Remediate step may call the same operation on other
    principals: those are not counted and never failed).
    """

    def __init__(self, operation: str, code: str, *, times: int) -> None:
        self.operation, self.code, self.times = operation, code, times
        self.calls = 0
        self.succeeded = 0
        self.user = ""
        self._mine = threading.local()  # after-call carries no API params: remember, per thread

    def install(self, world: Any) -> None:
        self.user = world.victim.user_name
        events = boto3._get_default_session().events  # what boto3.client() builds clients from
        # before-parameter-build: once per API call, with its parameters, before the SDK's retries.
        events.register(f"before-parameter-build.iam.{self.operation}", self._before)
        events.register(f"after-call.iam.{self.operation}", self._after)
        clients.reset()  # a cached client copied the session's handlers before they were registered

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        self._mine.value = params.get("UserName") == self.user
        if not self._mine.value:
            return
        self.calls += 1
        if self.calls <= self.times:
            raise ClientError(
                {"Error": {"Code": self.code, "Message": f"injected {self.code}"}}, self.operation
            )

    def _after(self, http_response: Any, **_: Any) -> None:
        if getattr(self._mine, "value", False) and http_response.status_code == 200:
            self.succeeded += 1


def run_with_fault(
    tmp: Path, fault: Fault, inspect: Callable[[Any, list[ExecutionResult]], None]
) -> tuple[DemoResult, list[str]]:
    lines: list[str] = []
    hooks = DemoHooks(
        before_run=fault.install,
        after_run=inspect,
        environment={"POLL_SECONDS": "0"},
        retry_interval_scale=0.0,
    )
    return run_demo(tmp, scenario="iam-user-key", narrate=lines.append, hooks=hooks), lines


def incident_items(world: Any) -> list[dict[str, str]]:
    items = world.clients["dynamodb"].scan(TableName=world.resources.incident_table)["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # Two throttles in a row: the first Triage attempt and the ASL's first retry both fail.
    fault = Fault("UpdateAccessKey", "Throttling", times=2)
    seen: dict[str, Any] = {"fault": fault}

    def inspect(world: Any, executions: list[ExecutionResult]) -> None:
        seen["executions"] = executions
        seen["items"] = incident_items(world)
        seen["exposed_key"] = world.victim.exposed_key_id

    seen["result"], seen["narration"] = run_with_fault(tmp_path_factory.mktemp("throttle"), fault, inspect)
    return seen


def test_throttled_update_access_key_is_retried_by_the_state_machine(throttled: dict[str, Any]) -> None:
    result: DemoResult = throttled["result"]
    [execution] = throttled["executions"]
    assert result.status == "SUCCEEDED"
    triage = [i for i in execution.invocations if i.state_name == "Triage"]
    assert [(i.phase, i.error_type) for i in triage] == [
        ("failed", "Throttled"),
        ("failed", "Throttled"),
        ("succeeded", None),
    ]
    assert [i.retry_count for i in triage] == [0, 1, 2]
    failures = [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in execution.history
        if "lambdaFunctionFailedEventDetails" in e
    ]
    assert failures == ["Throttled", "Throttled"]
    # No Catch fired: the run went on as on the happy path.
    assert "NotifyFailure" not in result.steps and result.steps[-1] == "Done"


def test_throttled_key_is_disabled_exactly_once(throttled: dict[str, Any]) -> None:
    fault: Fault = throttled["fault"]
    key = throttled["exposed_key"]
    assert (fault.calls, fault.succeeded) == (3, 1)
    assert result_key_status(throttled["result"]) == ("Inactive", "Active")
    # The incident table: one recorded change, and the claim a failed attempt left was taken over.
    actions = [
        i for i in throttled["items"] if i["pk"].startswith("INCIDENT#") and i["sk"].startswith("ACTION#")
    ]
    assert [(a["action"], a["status"]) for a in actions if a["action"] == "disable_access_key"] == [
        ("disable_access_key", "done")
    ]
    [claim] = [i for i in throttled["items"] if i["pk"] == f"KEY#{key}"]
    assert claim["status"] == "done"
    report = json.loads(throttled["result"].report_path.read_text())
    jsonschema.validate(report, SCHEMA)
    pairs = [(a["action"], a["status"]) for a in report["response"]["actions"]]
    assert pairs.count(("disable_access_key", "done")) == 1


def result_key_status(result: DemoResult) -> tuple[str | None, ...]:
    return tuple(result.key_status.values())


@pytest.fixture(scope="module")
def denied(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # AccessDenied is not transient: it is never retried, whatever the number of attempts.
    fault = Fault("PutUserPolicy", "AccessDenied", times=10**6)
    seen: dict[str, Any] = {"fault": fault}

    def inspect(world: Any, executions: list[ExecutionResult]) -> None:
        seen["executions"] = executions
        seen["items"] = incident_items(world)
        seen["exposed_key"] = world.victim.exposed_key_id
        seen["user_policies"] = world.clients["iam"].list_user_policies(UserName=world.victim.user_name)[
            "PolicyNames"
        ]

    seen["result"], seen["narration"] = run_with_fault(tmp_path_factory.mktemp("denied"), fault, inspect)
    return seen


def test_access_denied_on_revocation_ends_failed_via_notify_failure(denied: dict[str, Any]) -> None:
    result: DemoResult = denied["result"]
    [execution] = denied["executions"]
    assert result.status == "FAILED"
    assert execution.error == "ResponderFailed"
    assert result.steps == ["Triage", "Route", "RevokeSessions", "NotifyFailure", "Failed"]
    assert denied["fault"].calls == 1  # not retried: AccessDenied is not Throttled
    revoke = [i for i in execution.invocations if i.state_name == "RevokeSessions"]
    assert [(i.phase, i.error_type) for i in revoke] == [("failed", "ContainmentFailed")]


def test_soc_is_told_the_key_was_disabled_and_sessions_were_not_revoked(denied: dict[str, Any]) -> None:
    result: DemoResult = denied["result"]
    key = denied["exposed_key"]
    [message] = result.soc_messages
    subject, body = message["Subject"], message["Message"]
    assert subject == f"[Responder] FAILED ContainmentFailed - {key}"
    # What failed, and exactly what is missing because of it.
    assert body.startswith("The responder stopped on ContainmentFailed: PutUserPolicy AccessDenied: ")
    assert "sessions of user/dana.reyes issued before " in body and " are NOT revoked " in body
    # What was done before it.
    done = body.split("What was done before the failure\n", 1)[1].split("\n\n", 1)[0]
    assert done.splitlines()[0] == (
        f"  - disable_access_key {key}: done (dana.reyes's key {key}: Active -> Inactive (read back Inactive); other keys untouched)"
    )
    # ... and the Security Hub finding marked NOTIFIED by Triage, nothing else.
    assert [line.split(" ", 4)[3] for line in done.splitlines()[1:]] == ["update_securityhub_finding"]
    assert "What was NOT done" in body
    assert result_key_status(result) == ("Inactive", "Active")
    assert denied["user_policies"] == []


def test_incident_table_and_report_record_the_failure(denied: dict[str, Any]) -> None:
    result: DemoResult = denied["result"]
    actions = sorted(
        (i["action"], i["status"])
        for i in denied["items"]
        if i["pk"].startswith("INCIDENT#") and i["sk"].startswith("ACTION#")  # not the delivery record
    )
    # The revocation was recorded before it was tried, then marked failed: recover will skip it.
    assert actions == [("disable_access_key", "done"), ("revoke_sessions", "failed")]
    report = json.loads(result.report_path.read_text())  # type: ignore[union-attr]
    jsonschema.validate(report, SCHEMA)
    response = report["response"]
    assert response["workflow_status"] == "FAILED"
    assert [(a["action"], a["status"]) for a in response["actions"]] == [
        ("disable_access_key", "done"),
        ("update_securityhub_finding", "done"),
        ("notify_soc", "done"),
        ("update_securityhub_finding", "done"),
    ]
    assert response["error"]["name"] == "ContainmentFailed"
    assert "are NOT revoked" in response["error"]["message"]


def test_a_failed_run_leaves_the_security_hub_finding_new_with_the_reason(denied: dict[str, Any]) -> None:
    """NOTIFIED when the run started, back to NEW when it failed: a person must pick it up."""
    result: DemoResult = denied["result"]
    [(arn, (status, note))] = result.securityhub_findings.items()
    assert [h["status"] for h in result.securityhub_history if h["id"] == arn] == ["NOTIFIED", "NEW"]
    assert status == "NEW"
    assert note.startswith("The incident responder failed (ContainmentFailed: PutUserPolicy AccessDenied")
    assert denied["executions"][0].execution_arn in note and "/final/report.json" in note
