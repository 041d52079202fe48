"""Snapshot's handler: the finding and bucket policies preserved with their hashes, never overwritten."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from lambdas.snapshot import handler as snapshot
from responder.errors import EvidenceConflict
from responder.evidence import put_evidence, read_evidence, sha256_hex
from tests.lambdas.conftest import BACKDOORED_POLICY, EXECUTION, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import incident_for

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


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_preserves_finding_incident_and_bucket(account: Account) -> None:
    out = snapshot.handler(saved_input("snapshot", account), context())
    kinds = sorted(e["kind"] for e in out["evidence"])
    assert kinds == ["bucket", "finding", "incident"]
    assert all(
        e["uri"].startswith(f"s3://{account.evidence_bucket}/incidents/inc-d27a4be1d0bfd73d/")
        for e in out["evidence"]
    )


def test_broken_twin_is_refused_before_anything_is_written(account: Account) -> None:
    # A bucket name that would climb out of the evidence prefix: refused when the state is read.
    before = account_state(account)
    with pytest.raises(ValidationError, match="buckets"):
        snapshot.handler(saved_input("snapshot", account, broken=True), context())
    assert account_state(account) == before
