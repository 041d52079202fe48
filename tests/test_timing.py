"""Time to contain, from what a run recorded: the finding's creation (or the event, or the request) to
the action that contained the key; None whenever this run contained nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from responder.messages import success_message
from responder.models import Action, Incident
from responder.settings import get_settings
from responder.state import WorkflowState, response_of
from responder.steps.triage import triage
from responder.timing import contain_sentence, time_to_contain

REPO = Path(__file__).resolve().parents[1]
KEY = "AKIAIOSFODNN7EXAMPLE"
SESSION = "ASIAIOSFODNN7EXAMPLE"


def _incident(key: str = KEY, **extra: Any) -> Incident:
    data: dict[str, Any] = {
        "incident_id": "inc-0123456789abcdef",
        "source": "guardduty",
        "finding": {
            "id": "f" * 32,
            "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            "severity": 8.0,
            "created_at": "2026-12-01T10:00:00Z",
        },
        "access_key_id": key,
        "principal": {"type": "IAMUser", "user_name": "dana.reyes"},
        "account_id": "123456789012",
        "event_time": "2026-12-01T10:05:00Z",
        "received_at": "2026-12-01T10:06:58Z",
        "decision": {"action": "contain", "reason": "severity 8.0 >= 7.0"},
    }
    data.update(extra)
    return Incident.model_validate(data)


def _done(action: str, at: str, status: str = "done") -> Action:
    return Action(action=action, target=KEY, status=status, at=at)  # type: ignore[arg-type]


def test_from_the_findings_creation_to_the_key_inactive() -> None:
    timing = time_to_contain(_incident(), [_done("disable_access_key", "2026-12-01T10:07:00Z")])
    assert timing is not None
    assert timing["seconds"] == 420.0 and timing["since"] == "the finding was created"
    assert timing["seconds_after_received"] == 2.0
    assert contain_sentence(timing) == (
        "Time to contain: 7 min 0 s after the finding was created (2026-12-01T10:00:00Z), "
        "2 s after the responder received it."
    )


def test_a_session_key_is_contained_by_its_revocation() -> None:
    actions = [
        _done("disable_access_key", "2026-12-01T10:07:00Z", "skipped"),
        _done("revoke_sessions", "2026-12-01T10:07:04Z"),
    ]
    timing = time_to_contain(
        _incident(SESSION, principal={"type": "AssumedRole", "user_name": "app"}), actions
    )
    assert timing is not None and timing["action"] == "revoke_sessions" and timing["seconds"] == 424.0


@pytest.mark.parametrize("status", ["already_done", "would_do", "skipped", "failed", "awaiting_approval"])
def test_a_run_that_contained_nothing_has_no_time(status: str) -> None:
    assert time_to_contain(_incident(), [_done("disable_access_key", "2026-12-01T10:07:00Z", status)]) is None
    assert contain_sentence(None) is None


def test_a_signal_dated_after_the_containment_is_not_a_measure() -> None:
    incident = _incident(
        finding={"id": "f" * 32, "type": "t", "severity": 8.0, "created_at": "2027-01-01T00:00:00Z"}
    )
    timing = time_to_contain(incident, [_done("disable_access_key", "2026-12-01T10:07:00Z")])
    assert timing is not None and timing["seconds"] is None and "not measured" in timing["note"]
    assert contain_sentence(timing) is not None and "not measured" in str(contain_sentence(timing))


def test_an_analysts_run_is_timed_from_its_request() -> None:
    incident = triage({"accessKeyId": KEY}, get_settings(), default_account_id="123456789012")
    assert incident.received_at and incident.finding is None
    later = incident.received_at[:-3] + "59Z"  # the same minute, 59 s
    timing = time_to_contain(incident, [_done("disable_access_key", later)])
    assert timing is not None and timing["since"] == "the request reached the responder"
    assert timing["from"] == incident.received_at
    assert "after the responder received it" not in str(contain_sentence(timing))  # said once


def test_the_response_the_report_and_the_soc_message_carry_it() -> None:
    state = WorkflowState.model_validate(
        {
            "incident": json.loads(_incident().model_dump_json()),
            "containment": {"actions": [_done("disable_access_key", "2026-12-01T10:07:00Z").model_dump()]},
        }
    )
    response = response_of(state, "SUCCEEDED")
    assert response["time_to_contain_seconds"] == 420.0
    schema = json.loads((REPO / "responder" / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(response, schema["properties"]["response"])
    message = success_message(state, "arn:aws:states:us-east-1:123456789012:execution:responder:run-1")
    assert "  Time to contain: 7 min 0 s after the finding was created" in message.body


def test_a_guardduty_finding_keeps_its_creation_time() -> None:
    event = json.loads((REPO / "tests" / "events" / "gd_iam_exfiltration_event.json").read_text())
    incident = triage(event, get_settings())
    assert incident.finding is not None and incident.received_at
    created = event["detail"]["createdAt"]
    assert incident.finding.created_at == created.split(".")[0].removesuffix("Z") + "Z"
