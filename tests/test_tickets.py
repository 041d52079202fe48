"""The ticket webhook: what a tracker receives (a real HTTP server on 127.0.0.1), that the URL and its
Authorization header stay secret, that attacker-written strings arrive as bounded plain values, and
that a failed post is a failed action, never a failed run."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws

from responder.messages import http_post
from responder.settings import Settings
from responder.state import WorkflowState
from responder.steps.triage import triage
from responder.tickets import ACTION, open_ticket, ticket_payload
from tests.test_securityhub import EXECUTION, REPORT, event

AUTH = "Bearer s3cr3t-token-never-logged"


class Tracker:
    """A tracker's webhook endpoint: records each request, answers ``status``."""

    def __init__(self, status: int = 201) -> None:
        self.status = status
        self.requests: list[dict[str, Any]] = []
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                tracker.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(tracker.status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"https://127.0.0.1:{self.server.server_port}/rest/api/2/issue"

    def http(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The real poster, over plain HTTP to this local server (the https check stays as it is)."""
        return http_post(url.replace("https://", "http://", 1), body, headers)


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    t = Tracker()
    thread = threading.Thread(target=t.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield t
    finally:
        t.server.shutdown()
        t.server.server_close()


@pytest.fixture
def secrets(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def contained_state(**finding: Any) -> WorkflowState:
    raw = event("gd_iam_exfiltration_event.json")
    raw["detail"].update(finding)
    inc = triage(raw, Settings())
    return WorkflowState.model_validate(
        {
            "incident": inc.model_dump(mode="json"),
            "containment": {
                "actions": [{"action": "disable_access_key", "target": inc.access_key_id, "status": "done"}]
            },
            "remediation": {
                "actions": [{"action": "contain_principal", "target": "user/x", "status": "done"}]
            },
        }
    )


def test_the_tracker_gets_the_incident_outcome_and_report(
    tracker: Tracker, secrets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = secrets.create_secret(
        Name="ticket", SecretString=json.dumps({"url": tracker.url, "authorization": AUTH})
    )
    state = contained_state()
    payload = ticket_payload(state, execution_id=EXECUTION, workflow_status="SUCCEEDED", report=REPORT)
    with caplog.at_level(logging.DEBUG, logger="responder"):
        action = open_ticket(secrets, secret["ARN"], payload, http=tracker.http)
    assert (action.action, action.status) == (ACTION, "done")
    [request] = tracker.requests
    assert request["path"] == "/rest/api/2/issue"
    assert request["headers"]["Authorization"] == AUTH
    assert request["headers"]["Content-Type"] == "application/json"
    got = json.loads(request["body"])
    inc = state.incident
    assert inc is not None and inc.finding is not None
    assert got["incident_id"] == inc.incident_id
    assert got["severity"] == inc.finding.severity
    assert (got["account_id"], got["access_key_id"]) == (inc.account_id, inc.access_key_id)
    assert got["outcome"]["containment"] == "done" and got["outcome"]["remediation"] == "done"
    assert got["outcome"]["decision"] == "contain" and got["outcome"]["workflow_status"] == "SUCCEEDED"
    assert (got["report"], got["execution_id"]) == (REPORT, EXECUTION)
    # The secret's values are credentials: not in the payload, the action or the logs.
    for text in (request["body"].decode(), action.model_dump_json(), caplog.text):
        assert AUTH not in text and str(tracker.server.server_port) not in text


def test_attacker_strings_arrive_plain_and_bounded(tracker: Tracker, secrets: Any) -> None:
    hostile = "[click](https://evil.example) <script>x</script>\n\x1b[31m" + "A" * 5000
    state = contained_state(title=hostile)
    inc = state.incident
    assert inc is not None
    inc.principal.user_name = hostile
    payload = ticket_payload(state, execution_id=EXECUTION, workflow_status="SUCCEEDED", report=REPORT)
    secret = secrets.create_secret(Name="ticket", SecretString=tracker.url)
    assert open_ticket(secrets, secret["ARN"], payload, http=tracker.http).status == "done"
    got = json.loads(tracker.requests[0]["body"])
    assert len(got["user_name"]) <= 128 and "\n" not in got["user_name"] and "\x1b" not in got["user_name"]
    assert all(len(v) <= 2048 for v in _strings(got))
    assert "Authorization" not in tracker.requests[0]["headers"]  # none in the secret, none sent


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("status", [401, 500])
def test_a_refused_post_is_a_failed_action(tracker: Tracker, secrets: Any, status: int) -> None:
    tracker.status = status
    secret = secrets.create_secret(Name="ticket", SecretString=tracker.url)
    payload = ticket_payload(contained_state(), execution_id=EXECUTION, workflow_status="FAILED", report="")
    action = open_ticket(secrets, secret["ARN"], payload, http=tracker.http)
    assert action.status == "failed"
    assert tracker.url not in (action.detail or "")


def test_no_https_no_post(tracker: Tracker, secrets: Any) -> None:
    secret = secrets.create_secret(Name="ticket", SecretString=tracker.url.replace("https://", "http://"))
    payload = ticket_payload(
        contained_state(), execution_id=EXECUTION, workflow_status="SUCCEEDED", report=""
    )
    action = open_ticket(secrets, secret["ARN"], payload, http=tracker.http)
    assert action.status == "failed" and "no https URL" in (action.detail or "")
    assert tracker.requests == []


def test_a_missing_secret_is_a_failed_action(secrets: Any) -> None:
    payload = ticket_payload(
        contained_state(), execution_id=EXECUTION, workflow_status="SUCCEEDED", report=""
    )
    action = open_ticket(secrets, "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf", payload)
    assert action.status == "failed" and "ResourceNotFoundException" in (action.detail or "")
