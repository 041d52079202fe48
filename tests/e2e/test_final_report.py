"""The final report of a run: written after its last action, over a manifest of every object the run
wrote (listed from the evidence bucket, not remembered), verifiable from its root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from responder.bundle import verify_bundle
from responder.evidence import read_evidence
from workstation.demo.run import DemoHooks, run_demo

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("scenario", ["iam-user-key", "bucket-backdoor", "foreign-key"])
def test_the_final_manifest_lists_every_object_the_run_wrote(scenario: str, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def after_run(world: Any, executions: Any) -> None:
        s3, bucket = world.clients["s3"], world.resources.evidence_bucket
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="incidents/")
            for o in page.get("Contents", [])
        ]
        roots = [k for k in keys if k.endswith("/final/manifest.final.json")]
        seen["keys"], seen["roots"] = keys, roots
        seen["problems"] = [verify_bundle(s3, f"s3://{bucket}/{k}") for k in roots]
        seen["manifests"] = {
            k: json.loads(read_evidence(s3, f"s3://{bucket}/{k.removesuffix('.final.json')}.json"))
            for k in roots
        }
        seen["bucket"] = bucket

    result = run_demo(
        tmp_path, scenario=scenario, narrate=lambda _l: None, hooks=DemoHooks(after_run=after_run)
    )
    assert result.status == "SUCCEEDED"
    assert len(seen["roots"]) == len(result.executions) == 1
    assert seen["problems"] == [[]], "every hash matches from the root"
    (root,) = seen["roots"]
    run_prefix = root.removesuffix("final/manifest.final.json")
    final_files = {
        f"{run_prefix}final/{n}" for n in ("manifest.json", "report.json", "report.md", "report.html")
    }
    listed = {a["uri"].removeprefix(f"s3://{seen['bucket']}/") for a in seen["manifests"][root]["artifacts"]}
    written = {k for k in seen["keys"] if k.startswith(run_prefix)} - final_files - {root}
    assert listed == written
    assert f"{run_prefix}response.json" in listed
    if scenario == "bucket-backdoor":
        assert any("/before-fix-" in k for k in listed), "the bucket's state before the fix is evidence"
    if scenario != "foreign-key":
        assert any(k.endswith(".meta.json") for k in listed) and any(k.endswith(".jsonl") for k in listed)
    report = json.loads((tmp_path / "report.json").read_text())
    # The run's last actions are its deliveries: the SOC message, then the Security Hub write-back.
    assert [a["action"] for a in report["response"]["actions"][-2:]] == [
        "notify_soc",
        "update_securityhub_finding",
    ]
