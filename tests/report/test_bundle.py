"""The evidence manifest and the report bundle in a write-once bucket (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from responder.bundle import build_manifest, verify_bundle, write_report_bundle
from responder.errors import EvidenceConflict, InvalidInput
from responder.evidence import put_json_evidence, read_evidence, sha256_hex
from tests.report.test_html import report
from workstation.demo.account import create_evidence_bucket

BUCKET = "responder-evidence-test"
PREFIX = "incidents/inc-1/run-1"


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        create_evidence_bucket(client, BUCKET)
        yield client


def test_manifest_is_sorted_deduplicated_and_strict():
    a = {"uri": "s3://b/x/query.jsonl", "sha256": "a" * 64, "kind": "query"}
    f = {"uri": "s3://b/x/finding.json", "sha256": "f" * 64, "kind": "finding"}
    manifest = build_manifest(
        [a, f, a], incident_id="inc-1", execution_id="arn:exec", created_at="2024-05-01T12:00:00Z"
    )
    assert manifest == {
        "manifest_version": 1,
        "role": "artifacts",
        "incident_id": "inc-1",
        "execution_id": "arn:exec",
        "created_at": "2024-05-01T12:00:00Z",
        "algorithm": "sha256",
        "artifact_count": 2,
        "artifacts": [f, a],
    }
    with pytest.raises(EvidenceConflict):
        build_manifest([a, {**a, "sha256": "b" * 64}], incident_id="i", execution_id=None, created_at="t")
    with pytest.raises(InvalidInput):
        build_manifest(
            [{"uri": "s3://b/k", "sha256": "ABC"}], incident_id="i", execution_id=None, created_at="t"
        )


def test_bundle_writes_report_files_and_both_manifests_and_verifies(s3: Any):
    finding = put_json_evidence(s3, BUCKET, f"{PREFIX}/finding.json", {"id": "f1"}, kind="finding")
    doc = report()
    doc["evidence"] = [finding.model_dump(mode="json")]
    refs = write_report_bundle(s3, BUCKET, PREFIX, doc)
    names = [r.uri.rsplit("/", 1)[-1] for r in refs]
    assert names == ["manifest.json", "report.json", "report.md", "report.html", "manifest.final.json"]
    for ref in refs:  # each stored object hashes to its ref
        assert sha256_hex(read_evidence(s3, ref.uri)) == ref.sha256

    manifest = json.loads(read_evidence(s3, refs[0].uri))
    assert [a["uri"] for a in manifest["artifacts"]] == [finding.uri]  # the report files are not in it
    saved_report = json.loads(read_evidence(s3, refs[1].uri))
    assert saved_report["evidence_manifest"] == {"uri": refs[0].uri, "sha256": refs[0].sha256}
    assert doc["evidence_manifest"] == saved_report["evidence_manifest"]
    assert refs[0].sha256 in read_evidence(s3, refs[3].uri).decode()  # the page shows it too
    final = json.loads(read_evidence(s3, refs[4].uri))
    assert final["role"] == "final"
    assert {a["uri"]: a["sha256"] for a in final["artifacts"]} == {r.uri: r.sha256 for r in refs[:4]}

    assert verify_bundle(s3, refs[4].uri, final_sha256=refs[4].sha256) == []
    # A retried step writes the same bytes: accepted, same refs.
    assert write_report_bundle(s3, BUCKET, PREFIX, doc) == refs


def test_verify_bundle_names_an_altered_artifact(s3: Any):
    finding = put_json_evidence(s3, BUCKET, f"{PREFIX}/finding.json", {"id": "f1"}, kind="finding")
    doc = report()
    doc["evidence"] = [finding.model_dump(mode="json")]
    refs = write_report_bundle(s3, BUCKET, PREFIX, doc)
    # Without Object Lock retention (moto), a raw overwrite is possible: verification must catch it.
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/finding.json", Body=b'{"id":"forged"}')
    problems = verify_bundle(s3, refs[4].uri)
    assert len(problems) == 1 and problems[0].startswith(finding.uri)
