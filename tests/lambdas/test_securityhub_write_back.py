"""The Security Hub write-back through the handlers that make it (Triage, Notify, NotifyFailure), on
moto's Security Hub with BatchUpdateFindings emulated (workstation/demo/securityhub.py), every call
checked against the handlers' declared permissions (conftest's declared_calls_only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from lambdas.notify import handler as notify
from lambdas.notify_failure import handler as notify_failure
from lambdas.triage import handler as triage_step
from responder.securityhub import ACTION
from responder.settings import get_settings
from tests.lambdas.conftest import ACCOUNT, EXECUTION, REGION, Account, context
from tests.lambdas.saved import saved_input
from workstation.demo.securityhub import BatchUpdateFindings, emulated, workflow_of


@pytest.fixture
def hub(account: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[BatchUpdateFindings, Any]]:
    monkeypatch.setenv("SECURITYHUB_WRITE_BACK", "true")
    get_settings.cache_clear()
    event = saved_input("triage", account)["input"]
    with emulated(ACCOUNT, REGION, [event]) as emulator:
        yield emulator, event
    get_settings.cache_clear()


def _write_backs(out: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["status"], a["detail"]) for a in out["actions"] if a["action"] == ACTION]


def test_a_run_moves_the_finding_to_notified_then_resolved(
    account: Account, hub: tuple[BatchUpdateFindings, Any]
) -> None:
    emulator, event = hub
    [finding_id] = emulator.finding_ids
    triaged = triage_step.handler({"input": event, "execution_id": EXECUTION}, context("responder-triage"))
    assert triaged["containment"]["status"] == "done"  # the key first, Security Hub after
    [(status, detail)] = _write_backs(triaged["securityhub"])
    assert status == "done" and detail.startswith("workflow status NOTIFIED: ")
    assert workflow_of(emulator_client(), finding_id)[0] == "NOTIFIED"

    state = {k: triaged[k] for k in ("incident", "containment", "securityhub")}
    state["revocation"] = {"actions": [{"action": "revoke_sessions", "target": "user/x", "status": "done"}]}
    out = notify.handler({"state": state, "execution_id": EXECUTION}, context("responder-notify"))
    [(status, detail)] = _write_backs(out)
    assert status == "done" and detail.startswith("workflow status RESOLVED: ")
    status, note = workflow_of(emulator_client(), finding_id)
    assert status == "RESOLVED" and EXECUTION in note and "/final/report.json" in note
    assert [h["status"] for h in emulator.history] == ["NOTIFIED", "RESOLVED"]


def test_a_failed_run_puts_it_back_to_new_with_the_reason(
    account: Account, hub: tuple[BatchUpdateFindings, Any]
) -> None:
    emulator, event = hub
    [finding_id] = emulator.finding_ids
    triaged = triage_step.handler({"input": event, "execution_id": EXECUTION}, context("responder-triage"))
    state = {**triaged, "error": {"Error": "QueryFailed", "Cause": '{"errorMessage": "the lake said no"}'}}
    out = notify_failure.handler(
        {"state": state, "execution_id": EXECUTION, "execution_input": event},
        context("responder-notify-failure"),
    )
    [(status, _detail)] = _write_backs(out)
    assert status == "done"
    status, note = workflow_of(emulator_client(), finding_id)
    assert status == "NEW" and "QueryFailed: the lake said no" in note


def test_without_security_hub_the_run_skips_and_goes_on(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECURITYHUB_WRITE_BACK", "true")
    get_settings.cache_clear()
    with emulated(ACCOUNT, REGION) as emulator:
        emulator._backend().enabled = False  # an account that never enabled Security Hub
        out = triage_step.handler(saved_input("triage", account), context("responder-triage"))
    get_settings.cache_clear()
    assert out["containment"]["status"] == "done"
    [(status, detail)] = _write_backs(out["securityhub"])
    assert (status, detail) == ("skipped", "Security Hub is not enabled here (InvalidAccessException)")


def test_a_manual_input_has_no_finding_to_update(
    account: Account, hub: tuple[BatchUpdateFindings, Any]
) -> None:
    emulator, _event = hub
    manual = {"accessKeyId": account.exposed_key}
    triaged = triage_step.handler({"input": manual, "execution_id": EXECUTION}, context("responder-triage"))
    assert triaged["securityhub"] is None
    state = {k: triaged[k] for k in ("incident", "containment")}
    out = notify.handler({"state": state, "execution_id": EXECUTION}, context("responder-notify"))
    assert _write_backs(out) == [("skipped", "no finding: this input has no Security Hub finding")]
    assert emulator.history == []


def emulator_client() -> Any:
    return boto3.client("securityhub", region_name=REGION)
