"""Security Hub write-back: the finding's identifiers from each input form, the BatchUpdateFindings
request as the API takes it (botocore's Stubber: moto does not implement the operation), each answer's
action, and when a run counts as resolved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from responder.models import Action
from responder.securityhub import (
    ACTION,
    NOTE_MAX,
    UPDATED_BY,
    asff_identifiers,
    failure_note,
    final_status,
    guardduty_identifiers,
    mark_notified,
    open_items,
    update_finding,
)
from responder.settings import Settings
from responder.state import WorkflowState
from responder.steps.triage import triage

EVENTS = Path(__file__).resolve().parent / "events"
ARN = (
    "arn:aws:guardduty:eu-west-1:111122223333:detector/12c4a6e8b0d2f4a6c8e0a2c4e6a8c0e2/"
    "finding/a6c7b0e1d2f34a5b8c9d0e1f2a3b4c5d"
)
PRODUCT = "arn:aws:securityhub:eu-west-1::product/aws/guardduty"
EXECUTION = "arn:aws:states:eu-west-1:111122223333:execution:responder:run-1"
REPORT = "s3://evidence/incidents/inc-0123456789abcdef/run-1/final/report.json"


def event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def incident(**finding: Any) -> Any:
    return triage(event("gd_iam_exfiltration_event.json"), Settings()).model_copy(
        update={
            "finding": triage(event("gd_iam_exfiltration_event.json"), Settings()).finding.model_copy(
                update=finding
            )
        }  # type: ignore[union-attr]
    )


def stubbed() -> tuple[Any, Stubber]:
    client = boto3.client(
        "securityhub", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


# ------------------------------------------------------------------ identifiers, from every form


@pytest.mark.parametrize(
    "name",
    ["gd_iam_exfiltration_event.json", "securityhub_imported_event.json", "gd_get_findings_response.json"],
)
def test_triage_keeps_the_findings_security_hub_identifiers(name: str) -> None:
    finding = triage(event(name), Settings()).finding
    assert finding is not None
    if name == "gd_get_findings_response.json":
        raw = event(name)["Findings"][0]
        assert (finding.arn, finding.product_arn) == (raw.get("Arn"), PRODUCT if raw.get("Arn") else None)
    else:
        assert (finding.arn, finding.product_arn) == (ARN, PRODUCT)


@pytest.mark.parametrize(
    "arn",
    [
        ARN + "\n",  # a trailing newline must not pass
        ARN.replace("guardduty", "securityhub", 1),
        ARN + "/../../other",
        "arn:aws:guardduty:eu-west-1:111122223333:detector/x y/finding/z",
        7,
        None,
    ],
)
def test_a_malformed_arn_is_not_kept(arn: Any) -> None:
    assert guardduty_identifiers({"arn": arn}) == (None, None)


def test_asff_identifiers_only_in_guardduty_shapes() -> None:
    assert asff_identifiers({"Id": ARN, "ProductArn": PRODUCT}) == (ARN, PRODUCT)
    assert asff_identifiers({"Id": ARN, "ProductArn": PRODUCT.replace("guardduty", "inspector")}) == (
        None,
        None,
    )
    assert asff_identifiers({"Id": "x", "ProductArn": PRODUCT}) == (None, None)
    gov = ARN.replace("arn:aws:", "arn:aws-us-gov:").replace("eu-west-1", "us-gov-west-1")
    assert (
        guardduty_identifiers({"arn": gov})[1]
        == "arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/guardduty"
    )


# ------------------------------------------------------------------ the call and its answers


def test_update_sends_the_identifiers_status_and_note() -> None:
    client, stub = stubbed()
    stub.add_response(
        "batch_update_findings",
        {"ProcessedFindings": [{"Id": ARN, "ProductArn": PRODUCT}], "UnprocessedFindings": []},
        {
            "FindingIdentifiers": [{"Id": ARN, "ProductArn": PRODUCT}],
            "Workflow": {"Status": "RESOLVED"},
            "Note": {"Text": "done " + "x" * (NOTE_MAX - 8) + "...", "UpdatedBy": UPDATED_BY},
        },
    )
    with stub:
        action = update_finding(client, incident(), "RESOLVED", "done\n" + "x" * 1000)
    stub.assert_no_pending_responses()
    assert (action.action, action.target, action.status) == (ACTION, ARN, "done")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InvalidAccessException", "skipped"),
        ("ResourceNotFoundException", "skipped"),
        ("AccessDeniedException", "failed"),
        ("LimitExceededException", "failed"),
    ],
)
def test_an_error_is_an_action_never_a_raise(code: str, status: str) -> None:
    client, stub = stubbed()
    stub.add_client_error("batch_update_findings", service_error_code=code, http_status_code=400)
    with stub:
        action = update_finding(client, incident(), "NOTIFIED", "note")
    assert action.status == status
    assert code in (action.detail or "")


def test_an_unprocessed_finding_is_failed_with_its_code() -> None:
    client, stub = stubbed()
    stub.add_response(
        "batch_update_findings",
        {
            "ProcessedFindings": [],
            "UnprocessedFindings": [
                {
                    "FindingIdentifier": {"Id": ARN, "ProductArn": PRODUCT},
                    "ErrorCode": "FindingNotFound",
                    "ErrorMessage": "no such finding",
                }
            ],
        },
    )
    with stub:
        action = update_finding(client, incident(), "NOTIFIED", "note")
    assert action.status == "failed" and (action.detail or "").startswith("FindingNotFound")


def test_no_finding_no_call() -> None:
    client, stub = stubbed()  # no response queued: any call would fail the test
    manual = triage({"accessKeyId": "AKIAIOSFODNN7EXAMPLE"}, Settings(), default_account_id="111122223333")
    with stub:
        assert update_finding(client, manual, "RESOLVED", "n").status == "skipped"
        assert update_finding(client, incident(arn=None), "RESOLVED", "n").status == "skipped"
        assert mark_notified(lambda _s: client, True, manual, "done", EXECUTION) is None
        assert mark_notified(lambda _s: client, False, incident(), "done", EXECUTION) is None


# ------------------------------------------------------------------ when a run is resolved


def state_with(*actions: tuple[str, str, str], decision: str = "contain") -> WorkflowState:
    inc = incident()
    inc = inc.model_copy(update={"decision": inc.decision.model_copy(update={"action": decision})})
    return WorkflowState(
        incident=inc,
        containment={"actions": [Action.now(a, "t", s, d).model_dump() for a, s, d in actions]},  # type: ignore[arg-type]
    )


def test_contained_and_remediated_is_resolved() -> None:
    state = state_with(
        ("disable_access_key", "done", ""),
        ("revoke_sessions", "done", ""),
        ("contain_principal", "done", ""),
        (ACTION, "failed", "AccessDeniedException"),  # our own delivery: says nothing of the incident
    )
    status, note = final_status(state, report=REPORT, execution_id=EXECUTION)
    assert status == "RESOLVED"
    assert REPORT in note and EXECUTION in note


@pytest.mark.parametrize(
    ("actions", "decision", "says"),
    [
        ([("disable_access_key", "skipped", "notify only")], "notify_only", "decision notify_only"),
        (
            [("disable_access_key", "done", ""), ("contain_principal", "awaiting_approval", "")],
            "contain",
            "approval",
        ),
        ([("disable_access_key", "would_do", "")], "contain", "dry run"),
        (
            [("disable_access_key", "done", ""), ("block_public_access", "skipped", "not approved (x)")],
            "contain",
            "not approved",
        ),
        ([("disable_access_key", "done", ""), ("snapshot_bucket_policy", "failed", "")], "contain", "failed"),
        ([], "await_approval", "not contained"),
    ],
)
def test_what_is_left_keeps_it_notified(
    actions: list[tuple[str, str, str]], decision: str, says: str
) -> None:
    state = state_with(*actions, decision=decision)
    assert open_items(state)
    status, note = final_status(state, report=REPORT, execution_id=EXECUTION)
    assert status == "NOTIFIED"
    assert says in note and "a person must still act" in note and REPORT in note


def test_a_failure_note_names_the_error_and_the_run() -> None:
    state = WorkflowState.model_validate(
        {"incident": incident().model_dump(mode="json"), "error": {"Error": "QueryFailed", "Cause": "{}"}}
    )
    note = failure_note(state, report=REPORT, execution_id=EXECUTION)
    assert "QueryFailed" in note and "back to NEW" in note and EXECUTION in note


def test_a_long_reason_never_pushes_the_links_out_of_the_note() -> None:
    state = WorkflowState.model_validate(
        {"incident": incident().model_dump(mode="json"), "error": {"Error": "X", "Cause": "y" * 5000}}
    )
    note = failure_note(state, report=REPORT, execution_id=EXECUTION)
    client, stub = stubbed()
    stub.add_response("batch_update_findings", {"ProcessedFindings": [], "UnprocessedFindings": []})
    with stub:
        action = update_finding(client, incident(), "NEW", note)
    assert len(note) <= NOTE_MAX and REPORT in note and EXECUTION in note and action.status == "done"
