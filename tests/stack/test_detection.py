"""The rule starts the workflow for IAM and S3 findings only, checked with EventBridge's own semantics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from deployment.patterns import event_pattern
from stacks.constructs import detection
from tests.conftest import shared_fixture_path

pytestmark = pytest.mark.synth

SAMPLES = ("guardduty", "aws-samples-automated-response")
FOXSEC = ("guardduty", "foxsec-pipeline")


def _rule(synth) -> dict[str, Any]:
    """The GuardDuty rule (the CloudTrail detections and quarantine trigger are tests/stack/test_detections.py's)."""
    (rule,) = [
        r
        for r in synth.of_type("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.guardduty"]
    ]
    return rule["Properties"]


@pytest.fixture(scope="module")
def matches(synth):
    """``matches(event) -> bool``: the template's pattern, evaluated by moto's EventBridge engine.

    moto 5.2's TestEventPattern API is a stub, so this calls the pattern engine moto routes
    PutEvents with (prefix and numeric matching included).
    """
    pattern = EventPattern.load(json.dumps(_rule(synth)["EventPattern"]))
    return pattern.matches_event


def _envelope(finding: dict[str, Any]) -> dict[str, Any]:
    """A raw GuardDuty finding as EventBridge delivers it."""
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": finding.get("accountId", "123456789012"),
        "time": "2024-03-12T00:00:00Z",
        "region": finding.get("region", "us-east-1"),
        "resources": [],
        "detail": finding,
    }


def _foxsec_events() -> list[dict[str, Any]]:
    folder: Path = shared_fixture_path(*FOXSEC)
    return [
        json.loads(line)
        for f in sorted(folder.glob("*.jsonl"))
        for line in f.read_text().splitlines()
        if line
    ]


def test_rule_uses_the_pattern_event_pattern_builds(synth):
    assert detection.event_pattern is event_pattern, "one definition, in deployment.patterns"
    assert _rule(synth)["EventPattern"] == event_pattern(synth.stack.settings)


@pytest.mark.fixtures
@pytest.mark.parametrize(("name", "expected"), [("guardduty_iam_event", True), ("guardduty_s3_event", True), ("guardduty_ec2_event", False)])  # fmt: skip
def test_sample_findings_iam_and_s3_match_ec2_does_not(matches, name, expected):
    finding = json.loads(shared_fixture_path(*SAMPLES, f"{name}.json").read_text())
    assert matches(_envelope(finding)) is expected


@pytest.mark.fixtures
def test_foxsec_events_iam_and_s3_above_severity_match_ec2_never(matches, synth):
    settings = synth.stack.settings
    results: dict[str, list[bool]] = {}
    for event in _foxsec_events():
        kind, severity = event["detail"]["type"], event["detail"]["severity"]
        family = kind.split(":", 1)[1].split("/", 1)[0]
        result = matches(event)
        results.setdefault(family, []).append(result)
        acted_on = kind.startswith(settings.finding_type_prefixes) and severity >= settings.min_severity
        assert result is acted_on, f"{kind} (severity {severity}): matched {result}, expected {acted_on}"
        if family == "EC2":
            assert not result, kind
    assert sum(results["IAMUser"]) > len(results["IAMUser"]) / 2, "most IAM findings start the responder"
    assert results["EC2"] and not any(results["EC2"]), "EC2 findings are present and none match"


@pytest.mark.fixtures
def test_low_severity_iam_finding_does_not_match(matches):
    finding = json.loads(shared_fixture_path(*SAMPLES, "guardduty_iam_event.json").read_text())
    assert not matches(_envelope({**finding, "severity": 2}))


def test_target_is_the_state_machine_with_retries_and_an_encrypted_tls_only_dead_letter_queue(synth):
    (target,) = _rule(synth)["Targets"]
    (machine_id,) = synth.of_type("AWS::StepFunctions::StateMachine")
    assert target["Arn"] == {"Ref": machine_id}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert 0 < target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 24 * 3600
    (queue_id,) = synth.of_type("AWS::SQS::Queue")
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    queue = synth.resources[queue_id]["Properties"]
    assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue
    (policy,) = synth.of_type("AWS::SQS::QueuePolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    assert any(
        s["Effect"] == "Allow" and s["Principal"] == {"Service": "events.amazonaws.com"} for s in statements
    )
