"""The SOC message (subject, body, approval command, links) and the optional chat webhook."""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from responder.messages import SUBJECT_MAX, Message, failure_message, post_webhook, success_message
from responder.state import WorkflowState

KEY = "AKIAEXPOSEDKEY000001"
EXECUTION = "arn:aws:states:eu-west-1:111122223333:execution:responder:run-1"
REPORT = "s3://evidence/incidents/inc-1/run-1/report.json"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAe+/token=="


def state(
    decision: str = "contain", finding_type: str = "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom"
) -> WorkflowState:
    return WorkflowState.model_validate(
        {
            "incident": {
                "incident_id": "inc-1",
                "source": "guardduty",
                "finding": {"id": "f1", "type": finding_type, "severity": 8},
                "access_key_id": KEY,
                "principal": {"type": "IAMUser", "user_name": "dev"},
                "account_id": "111122223333",
                "decision": {"action": decision, "reason": "because"},
            },
            "containment": {
                "actions": [{"action": "disable_access_key", "target": KEY, "status": "done"}]
                if decision == "contain"
                else []
            },
            "report": {
                "uri": REPORT,
                "markdown_uri": REPORT.replace(".json", ".md"),
                "html_uri": REPORT.replace(".json", ".html"),
                "manifest_uri": REPORT.replace("report.json", "manifest.final.json"),
                "headline": f"{KEY}: 12 events",
                "top_source_ips": ["185.220.101.47", "207.154.221.87"],
                "findings_by_tactic": {"Persistence": 3, "Discovery": 7},
                "evidence": [{"uri": REPORT, "sha256": "c" * 64, "kind": "report"}],
            },
        }
    )


def test_subject_has_type_key_and_outcome_within_100_ascii_characters():
    message = success_message(state(finding_type="Exfiltration:S3/" + "VeryLong" * 15), EXECUTION)
    assert len(message.subject) <= SUBJECT_MAX and message.subject.isascii()
    assert message.subject.startswith("[Responder] Exfiltration:S3/")
    assert message.subject.endswith(f"... {KEY} - key disabled")  # the long type is cut, not key or outcome
    short = success_message(state(), EXECUTION).subject
    assert short == f"[Responder] UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom {KEY} - key disabled"


def test_body_says_what_was_done_ips_tactics_and_links():
    body = success_message(state(), EXECUTION).body
    assert f"disable_access_key {KEY}: done" in body
    assert "Top source IPs: 185.220.101.47, 207.154.221.87" in body
    assert "Findings by tactic: Discovery 7, Persistence 3" in body
    assert (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/"
        in body
    )
    # The links are the final report's, which Notify writes once the message is out (with every
    # action of the run); the draft the Report step wrote is linked as such.
    assert (
        "Report: s3://evidence/incidents/inc-1/run-1/final/report.json" in body
        and "Report (HTML): s3://evidence/incidents/inc-1/run-1/final/report.html" in body
    )
    assert "Evidence manifest: s3://evidence/incidents/inc-1/run-1/final/manifest.final.json" in body
    assert (
        "https://s3.console.aws.amazon.com/s3/object/evidence?prefix=incidents/inc-1/run-1/final/report.html"
        in body
    )
    assert f"Draft (written before remediation): {REPORT}" in body
    assert "Approval needed" not in body


def test_pending_approval_gives_the_commands_and_says_so_in_the_subject():
    message = success_message(state("await_approval"), EXECUTION, task_token=TOKEN)
    assert message.subject.endswith(f"{KEY} - APPROVAL NEEDED")
    token = shlex.quote(TOKEN)
    assert f"responder approve --token {token}" in message.body
    assert f"aws stepfunctions send-task-success --task-token {token} --task-output" in message.body
    quoted = success_message(state("await_approval"), EXECUTION, task_token="a'b; rm -rf /").body
    assert "--token 'a'\"'\"'b; rm -rf /'" in quoted  # a hostile token stays one shell word
    no_token = success_message(state("await_approval"), EXECUTION).body
    assert "Approval needed" in no_token and "console.aws.amazon.com/states" in no_token
    answered = WorkflowState.model_validate(
        {
            **state("await_approval").model_dump(mode="json"),
            "approval": {"approved": True, "by": "arn:aws:iam::1:user/soc"},
        }
    )
    assert "Approval: approved by arn:aws:iam::1:user/soc." in success_message(answered, EXECUTION).body


def test_failure_subject_keeps_the_key():
    failed = WorkflowState.model_validate(
        {**state().model_dump(mode="json"), "error": {"Error": "ContainmentFailed" * 8, "Cause": None}}
    )
    subject = failure_message(failed, EXECUTION).subject
    assert len(subject) <= SUBJECT_MAX and subject.startswith("[Responder] FAILED ContainmentFailed")
    assert subject.endswith(KEY)


@pytest.fixture
def secrets(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


MESSAGE = Message(subject="[Responder] X - key disabled", body="What happened\n...\n")


def test_webhook_posts_slack_and_chime_payloads(secrets: Any):
    secrets.create_secret(Name="slack", SecretString="https://hooks.slack.com/services/T0/B0/xyz")
    secrets.create_secret(
        Name="chime", SecretString=json.dumps({"url": "https://hooks.chime.aws/incomingwebhooks/abc?token=t"})
    )
    sent: list[tuple[str, dict[str, Any]]] = []

    def fake_http(url: str, body: bytes, headers: dict[str, str]) -> int:
        assert headers["Content-Type"] == "application/json"
        sent.append((url, json.loads(body)))
        return 200

    assert post_webhook(secrets, "slack", MESSAGE, http=fake_http) is True
    assert post_webhook(secrets, "chime", MESSAGE, http=fake_http) is True
    text = "[Responder] X - key disabled\n\nWhat happened\n...\n"
    assert sent == [
        ("https://hooks.slack.com/services/T0/B0/xyz", {"text": text}),
        ("https://hooks.chime.aws/incomingwebhooks/abc?token=t", {"Content": text}),
    ]


def test_webhook_failures_are_logged_not_raised(secrets: Any, caplog: pytest.LogCaptureFixture):
    secrets.create_secret(Name="slack", SecretString="https://hooks.slack.com/services/T0/B0/secretpart")
    secrets.create_secret(Name="plain-http", SecretString="http://example.com/hook")

    def down(url: str, body: bytes, headers: dict[str, str]) -> int:
        raise OSError("connection refused")

    with caplog.at_level(logging.WARNING, logger="responder.messages"):
        assert post_webhook(secrets, "slack", MESSAGE, http=down) is False
        assert post_webhook(secrets, "slack", MESSAGE, http=lambda *a: 500) is False
        assert post_webhook(secrets, "missing", MESSAGE, http=down) is False
        assert post_webhook(secrets, "plain-http", MESSAGE, http=down) is False
    logged = caplog.text
    assert "OSError" in logged and "HTTP 500" in logged and "ResourceNotFoundException" in logged
    assert "no https URL" in logged
    assert "secretpart" not in logged  # the URL is a credential
