"""Report's handler: every saved result analysed into a valid report bundle with the run's response."""

from __future__ import annotations

import json

import jsonschema
import pytest

from lambdas.report import handler as report_step
from lambdas.snapshot import handler as snapshot
from responder.errors import InvalidInput
from responder.evidence import read_evidence, sha256_hex
from tests.conftest import REPO
from tests.lambdas.conftest import EXECUTION, EXPOSED, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import incident, investigated, plan, query_values, run_all_rounds
from workstation.demo.cloudtrail import LogSet


def test_report_writes_a_valid_report_with_the_response(queries: Account, logs: LogSet) -> None:
    run_all_rounds()
    snap = snapshot.handler(
        {"incident": incident(), "execution_input": {"detail": {}}, "execution_id": EXECUTION}, context()
    )
    last = plan(99)
    containment = {
        "actions": [
            {"action": "disable_access_key", "target": EXPOSED, "status": "done", "at": None, "detail": "x"}
        ]
    }
    state = {"incident": incident(), "containment": containment, "investigation": [snap, last]}
    ref = report_step.handler({"state": state, "execution_id": EXECUTION, "started_at": None}, context())
    body = read_evidence(queries.s3, ref["uri"])
    assert ref["sha256"] == sha256_hex(body)
    report = json.loads(body)
    schema = json.loads((REPO / "responder" / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(report, schema)
    response = report["response"]
    assert response["decision"] == "contain"
    assert [(a["action"], a["status"]) for a in response["actions"]] == [
        ("disable_access_key", "done"),
        ("snapshot_bucket_policy", "done"),
    ]
    assert logs.session_key_id in {c["access_key_id"] for c in report["credentials"]}
    assert ref["headline"] and ref["markdown_uri"] and ref["manifest_uri"]


def test_report_without_the_primary_query_is_a_named_error(queries: Account) -> None:
    state = {"incident": incident(), "investigation": [{}, {}]}
    with pytest.raises(InvalidInput, match="key_activity"):
        report_step.handler({"state": state, "execution_id": EXECUTION}, context())


def test_report_rejects_a_state_without_incident(queries: Account) -> None:
    with pytest.raises(InvalidInput):
        report_step.handler({"state": {}, "execution_id": EXECUTION}, context())


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_writes_the_report_bundle(queries: Account) -> None:
    values = query_values()
    ref = report_step.handler(saved_input("report", **values, **investigated(values)), context())
    report = json.loads(read_evidence(queries.s3, ref["uri"]))
    assert report["incident"]["incident_id"] == "inc-d27a4be1d0bfd73d"
    assert report["response"]["decision"] == "contain" and ref["manifest_uri"] and ref["html_uri"]


def test_broken_twin_is_a_named_error_and_writes_nothing(queries: Account) -> None:
    values = query_values()
    before_report = investigated(values)
    before = account_state(queries)
    with pytest.raises(InvalidInput, match="triaged incident"):
        report_step.handler(saved_input("report", broken=True, **values, **before_report), context())
    assert account_state(queries) == before
