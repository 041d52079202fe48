"""Notify's handler: the SOC hears what was done and where the evidence is; response.json recorded."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from lambdas.notify import handler as notify
from responder.bundle import verify_bundle
from responder.evidence import read_evidence
from tests.lambdas.conftest import EXECUTION, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import incident_for


def test_notify_tells_what_was_done_and_where_evidence_is(account: Account) -> None:
    state = {
        "incident": incident_for(
            account.exposed_key, finding={"id": "f1", "type": "Policy:S3/X", "severity": 8}
        ),
        "containment": {
            "actions": [{"action": "disable_access_key", "target": account.exposed_key, "status": "done"}]
        },
        "investigation": [
            {"evidence": [{"uri": "s3://responder-evidence-test/incidents/i/f.json", "sha256": "a" * 64}]},
            {"plan": {"done": True, "round": 2}},
        ],
        "report": {
            "uri": "s3://responder-evidence-test/incidents/i/report.json",
            "coverage_status": "no_data",
        },
    }
    out = notify.handler({"state": state, "execution_id": EXECUTION}, context())
    assert len(out["subject"]) <= 100
    assert account.exposed_key in out["subject"] and "key disabled" in out["subject"]
    [message] = account.soc_messages()
    assert message["Subject"] == out["subject"]
    assert "s3://responder-evidence-test/incidents/i/f.json sha256 " + "a" * 64 in message["Message"]
    assert "coverage of the window is no_data" in message["Message"]
    assert out["actions"][0]["action"] == "notify_soc"


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_tells_the_soc_and_records_the_response(account: Account) -> None:
    out = notify.handler(saved_input("notify", account), context())
    assert [(a["action"], a["status"]) for a in out["actions"]] == [("notify_soc", "done")]
    # response.json, then the final bundle: this run ended before any report, so one is built from
    # what is known, over a manifest of every object the run wrote.
    kinds = ["response", "manifest", "report", "report-md", "report-html", "manifest-final"]
    assert [e["kind"] for e in out["evidence"]] == kinds
    [message] = account.soc_messages()
    assert account.exposed_key in message["Message"]
    final = json.loads(read_evidence(account.s3, out["evidence"][2]["uri"]))
    assert [(a["action"], a["status"]) for a in final["response"]["actions"]][-1] == ("notify_soc", "done")
    assert final["summary"]["what_was_done"][-1].startswith("notify_soc on ")
    assert verify_bundle(account.s3, out["evidence"][-1]["uri"]) == []


def test_broken_twin_is_a_named_error_and_sends_nothing(account: Account) -> None:
    before = account_state(account)
    with pytest.raises(ValidationError, match="state"):
        notify.handler(saved_input("notify", account, broken=True), context())
    assert account_state(account) == before
