"""End to end: the real ASL on moto's Step Functions engine, every step's real handler, over
generated CloudTrail logs (what `make demo` runs)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO
from workstation.demo.run import DemoResult, run_demo

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    lines: list[str] = []
    result = run_demo(tmp_path_factory.mktemp("demo"), narrate=lines.append)
    result.narration = lines  # type: ignore[attr-defined]
    return result


def test_workflow_succeeds_through_every_step(demo: DemoResult) -> None:
    assert demo.status == "SUCCEEDED"
    for state in (
        "Triage",
        "Route",
        "RevokeSessions",
        "Investigate",
        "Snapshot",
        "PlanQueries",
        "StartQuery",
    ):
        assert state in demo.steps
    # The automatic path: the key is Inactive when Triage ends; no Validate/Disable detour.
    assert "Disable" not in demo.steps
    assert demo.steps.index("RevokeSessions") < demo.steps.index("Investigate") < demo.steps.index("Report")
    assert demo.steps[-2:] == ["Notify", "Done"]


def test_exposed_key_inactive_innocent_key_untouched(demo: DemoResult) -> None:
    exposed, innocent = demo.key_status
    assert demo.key_status[exposed] == "Inactive"
    assert demo.key_status[innocent] == "Active"


def test_report_validates_and_tells_the_story(demo: DemoResult) -> None:
    assert demo.report_path is not None
    report = json.loads(demo.report_path.read_text())
    for schema in ("report.schema.json",):
        jsonschema.validate(report, json.loads((REPO / "responder" / "schemas" / schema).read_text()))
    assert report["response"]["workflow_status"] == "SUCCEEDED"
    assert report["response"]["decision"] == "contain"
    done = {(a["action"], a["status"]) for a in report["response"]["actions"]}
    assert {
        ("disable_access_key", "done"),
        ("revoke_sessions", "done"),
        ("snapshot_bucket_policy", "done"),
        ("notify_soc", "done"),
    } <= done
    kinds = {e.get("kind") for e in report["response"]["evidence"]}
    assert {"finding", "bucket", "query:key_activity", "report"} <= kinds
    # The pivot: the backdoor was put in place by the session the exposed key minted.
    [change] = [c for c in report["bucket_policy_changes"] if c["grants_external"]]
    assert change["access_key_id"] == demo.session_key_id
    assert change["external_principals"] == [f"arn:aws:iam::{demo.attacker_account_id}:root"]
    queried = {(q["access_key_id"], q["name"]) for q in report["queries"]}
    # The exposed key's seven (the playbook's six and key_provenance), four per minted credential.
    assert (demo.session_key_id, "key_activity") in queried and len(queried) == 7 + 4 + 4
    assert (report["provenance"]["access_key_id"], "key_provenance") in queried
    # The snapshotted live policy still grants the attacker's account: flagged with the statement.
    [live] = report["current_bucket_policies"]
    assert live["grants_external"]
    assert live["external_principals"] == [f"arn:aws:iam::{demo.attacker_account_id}:root"]
    assert live["offending_statements"][0]["sid"]
    relations = {(c["access_key_id"], c["relation"]) for c in report["credentials"]}
    assert (demo.session_key_id, "derived") in relations
    assert (demo.backdoor_key_id, "created") in relations
    assert report["data_access"], "the attacker's GetObject calls are in the report"


def test_soc_was_told_with_evidence_locations(demo: DemoResult) -> None:
    [message] = demo.soc_messages
    assert len(message["Subject"]) <= 100 and "key disabled" in message["Subject"]
    assert "sha256" in message["Message"] and "s3://" in message["Message"]


def test_no_session_token_reaches_any_output(demo: DemoResult) -> None:
    assert demo.planted_secrets
    outputs = [demo.out_dir / n for n in ("report.json", "report.md", "soc-message.txt", "lambda-logs.jsonl")]
    text = "\n".join(p.read_text() for p in outputs) + "\n".join(demo.narration)  # type: ignore[attr-defined]
    for token in demo.planted_secrets:
        assert token not in text


def test_logs_are_laid_out_as_cloudtrail_writes_them(demo: DemoResult) -> None:
    files = list((demo.out_dir / "logs").rglob("*.json.gz"))
    assert files
    assert all("/AWSLogs/" in str(f) for f in files)
    logs = [f for f in files if "/CloudTrail/" in str(f)]
    digests = [f for f in files if "/CloudTrail-Digest/" in str(f)]
    # Every file is a log or a digest of one, each in the folder CloudTrail delivers it to.
    assert logs and digests and len(logs) + len(digests) == len(files)
    assert all(f.name.split("_")[1] == "CloudTrail" for f in logs)
    assert all(f.name.split("_")[1] == "CloudTrail-Digest" for f in digests)


def test_cli_demo_list_names_the_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    from workstation.cli import main

    assert main(["demo", "--list"]) == 0
    assert "iam-user-key" in capsys.readouterr().out


def test_cli_demo_rejects_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    from workstation.cli import main

    assert main(["demo", "--scenario", "nope", "--out", str(Path("/nonexistent"))]) == 2
    assert "unknown scenario" in capsys.readouterr().err


def test_the_owner_is_told_apart_from_the_attacker(demo: DemoResult) -> None:
    """The default story: the owner's office (aws-cli on macOS) for days, then the attacker from a
    hosting provider and Tor (Kali): the analysis is about the attacker's calls."""
    assert demo.report_path is not None
    report = json.loads(demo.report_path.read_text())
    labels = {a["ip"]: a["label"] for a in report["actors"]}
    assert labels == {"203.0.113.24": "owner", "207.154.221.87": "attacker", "185.220.101.47": "attacker"}
    assert report["owner_activity"]["source_ips"] == ["203.0.113.24"]
    signals = report["attribution"]["signals"]
    assert 0 < signals["minutes_to_first_write"] < 30, "minutes after the attacker's first call, not days"
    assert (
        report["timeline"]["start"]
        >= min(ip["first_seen"] for ip in report["source_ips"] if ip["actor"] == "attacker")[:16]
    ), "the timeline starts with the attack"
    assert "CreateTags" not in json.dumps(report["inventory"]), "the owner's tagging is not the attacker's"
