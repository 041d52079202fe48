"""The default demo investigated over Security Lake's copy of its logs (OCSF Parquet) tells the same
story as over CloudTrail's own files: same containment, same findings, same events and data access."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from workstation.demo.run import DemoResult, run_demo

pytestmark = pytest.mark.e2e


def _story(result: DemoResult) -> dict[str, Any]:
    assert result.status == "SUCCEEDED" and result.report_path is not None
    report = json.loads(result.report_path.read_text())
    # Keys and times differ between two runs (each builds its own account): compare what they did.
    return {
        "actions": Counter((a["action"], a["status"]) for a in report["response"]["actions"]),
        "findings": sorted(
            (f["severity"], tuple(f.get("event_names", [])), f.get("count"), f.get("failed"))
            for f in report["findings"]
        ),
        "events_by_name": report["events"]["by_name"],
        "events_by_error": report["events"]["by_error"],
        "events_per_credential": sorted(report["events"]["by_credential"].values()),
        "credentials": len(report["credentials"]),
        "source_ips": sorted(
            (s["ip"], s["classification"], s["event_count"], s["errors"]) for s in report["source_ips"]
        ),
        "data_access_objects": len(report["data_access"]),
        "coverage_status": report["coverage"]["status"],
    }


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, DemoResult, list[str]]:
    lines: list[str] = []
    cloudtrail = run_demo(tmp_path_factory.mktemp("cloudtrail"), narrate=lambda _line: None)
    lake = run_demo(tmp_path_factory.mktemp("securitylake"), narrate=lines.append, log_format="securitylake")
    return cloudtrail, lake, lines


def test_security_lake_files_tell_the_same_story(both):
    cloudtrail, lake, _ = both
    ours, theirs = _story(cloudtrail), _story(lake)
    assert ours == theirs
    assert ours["events_by_name"] and ours["findings"] and ("disable_access_key", "done") in ours["actions"]


def test_the_demo_reads_the_parquet_files_it_says(both):
    _, lake, lines = both
    (said,) = [line for line in lines if line.startswith("Logs as Amazon Security Lake stores them")]
    files = sorted((lake.out_dir / "security-lake").rglob("*.gz.parquet"))
    assert files and f"{len(files)} Parquet files" in said
    assert {p.relative_to(lake.out_dir / "security-lake").parts[0] for p in files} == {
        "cloud_trail_mgmt_2_0",
        "s3_data_2_0",
    }
