"""Snapshot, evidence write-once, and the SOC notifications under moto."""

from __future__ import annotations

import json

import pytest

from lambdas.notify import handler as notify
from lambdas.notify_failure import handler as notify_failure
from lambdas.snapshot import handler as snapshot
from responder.errors import EvidenceConflict
from responder.evidence import put_evidence, read_evidence, sha256_hex
from tests.lambdas.conftest import BACKDOORED_POLICY, EXECUTION, Account, context
from tests.lambdas.test_containment_steps import incident_for

FINDING = {"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {"id": "abc"}}


def test_snapshot_saves_finding_and_policy_with_hashes(account: Account) -> None:
    result = snapshot.handler(
        {
            "incident": incident_for(account.exposed_key),
            "execution_input": FINDING,
            "execution_id": EXECUTION,
        },
        context(),
    )
    kinds = {e["kind"]: e for e in result["evidence"]}
    assert set(kinds) == {"finding", "incident", "bucket"}
    saved = json.loads(read_evidence(account.s3, kinds["bucket"]["uri"]))
    live = account.s3.get_bucket_policy(Bucket=account.bucket)["Policy"]
    assert saved["policy"] == live  # byte-exact, for a later restore
    assert json.loads(saved["policy"]) == BACKDOORED_POLICY
    assert saved["policy_sha256"] == sha256_hex(live.encode())
    assert kinds["bucket"]["sha256"] == sha256_hex(read_evidence(account.s3, kinds["bucket"]["uri"]))
    assert json.loads(read_evidence(account.s3, kinds["finding"]["uri"])) == FINDING
    [action] = result["actions"]
    assert (action["action"], action["target"], action["status"]) == (
        "snapshot_bucket_policy",
        account.bucket,
        "done",
    )


def test_snapshot_of_bucket_without_policy_says_so(account: Account) -> None:
    account.s3.create_bucket(Bucket="no-policy-bucket")
    incident = incident_for(account.exposed_key, buckets=["no-policy-bucket"])
    result = snapshot.handler(
        {"incident": incident, "execution_input": {}, "execution_id": EXECUTION}, context()
    )
    assert "no bucket policy" in result["actions"][0]["detail"]


def test_evidence_is_never_overwritten(account: Account) -> None:
    ref = put_evidence(account.s3, account.evidence_bucket, "incidents/x/a.json", b'{"a":1}')
    again = put_evidence(account.s3, account.evidence_bucket, "incidents/x/a.json", b'{"a":1}')
    assert again == ref  # a retried step writes the same bytes: fine
    with pytest.raises(EvidenceConflict, match="not overwritten"):
        put_evidence(account.s3, account.evidence_bucket, "incidents/x/a.json", b'{"a":2}')
    assert read_evidence(account.s3, ref.uri) == b'{"a":1}'


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


def test_failure_notice_carries_what_is_known(account: Account) -> None:
    state = {
        "incident": incident_for(account.exposed_key),
        "error": {
            "Error": "ContainmentFailed",
            "Cause": json.dumps(
                {"errorMessage": "could not set key Inactive (AccessDenied)", "errorType": "X"}
            ),
        },
    }
    out = notify_failure.handler({"state": state, "execution_id": EXECUTION}, context())
    assert out["subject"].startswith("[Responder] FAILED ContainmentFailed")
    [message] = account.soc_messages()
    assert "could not set key Inactive (AccessDenied)" in message["Message"]
    assert "nothing changed" in message["Message"]


def test_failure_notice_for_untriaged_input(account: Account) -> None:
    state = {
        "garbage": True,
        "error": {"Error": "InvalidInput", "Cause": '{"errorMessage": "not a finding"}'},
    }
    out = notify_failure.handler({"state": state, "execution_id": EXECUTION}, context())
    assert "not established" in out["body"]
