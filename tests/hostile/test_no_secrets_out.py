"""Nothing secret leaves: no session token, secret key or password reaches any output.

Secrets: every one in ../shared/fixtures (tests/hostile/secrets.py says how they are found) and the
session tokens each demo plants in its CloudTrail logs. Outputs: everything a demo writes but its
input logs (report.json/.md/.html, soc-message.txt, lambda-logs.jsonl: the handlers' CloudWatch
lines), the SOC messages, every object in the evidence bucket (read inside the emulated account,
before the demo tears it down), and everything ``responder investigate`` writes over the Stratus
and Panther fixture logs.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_fixture_path
from tests.hostile.secrets import (
    fixture_records,
    fixture_secrets,
    keys_near_secrets,
    needles,
    scan_text,
    scan_tree,
    secrets_in,
    write_cloudtrail_layout,
)
from workstation.cli import main as responder_cli
from workstation.demo.run import DemoHooks, run_demo
from workstation.demo.scenarios import SCENARIOS
from workstation.local.runner import ExecutionResult

pytestmark = pytest.mark.e2e


def evidence_reader(store: dict[str, str]) -> DemoHooks:
    """Read every evidence object before the account is torn down (run_demo closes moto at return)."""

    def after_run(world: Any, executions: list[ExecutionResult]) -> None:
        s3 = world.clients["s3"]
        bucket = world.resources.evidence_bucket
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                store[obj["Key"]] = body.decode("utf-8", "replace")

    return DemoHooks(after_run=after_run, environment={"POLL_SECONDS": "0"}, retry_interval_scale=0.0)


def test_the_fixtures_hold_secrets_to_look_for():
    shared_fixture_path()
    secrets = fixture_secrets()
    assert len(secrets) >= 5, secrets  # the Stratus logs carry real-shaped STS session tokens
    assert any(s.startswith("IQoJb3JpZ2lu") for s in secrets)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_demo_outputs_carry_no_secret(scenario: str, tmp_path: Path):
    shared_fixture_path()
    evidence: dict[str, str] = {}
    result = run_demo(
        tmp_path, scenario=scenario, narrate=lambda _line: None, hooks=evidence_reader(evidence)
    )
    assert result.planted_secrets, "the demo plants session tokens in its logs: there must be some to find"
    lookup = needles({*fixture_secrets(), *result.planted_secrets})
    files, hits = scan_tree(tmp_path, lookup, skip=[tmp_path / "logs"])
    assert files >= 2 and (tmp_path / "lambda-logs.jsonl").is_file()
    assert evidence, "the evidence bucket was read"
    for key, body in evidence.items():
        hits += scan_text(f"s3://evidence/{key}", body, lookup)
    for n, message in enumerate(result.soc_messages):
        hits += scan_text(f"soc message {n}", message["Subject"] + "\n" + message["Message"], lookup)
    assert hits == []


@pytest.fixture(scope="module")
def fixture_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    shared_fixture_path()
    records = fixture_records()
    return write_cloudtrail_layout(records, tmp_path_factory.mktemp("fixture-trail")), records


def test_investigate_over_fixture_logs_writes_no_secret(
    fixture_logs: tuple[Path, list[dict[str, Any]]], tmp_path: Path
):
    logs, records = fixture_logs
    targets = keys_near_secrets(records)
    assert targets, "some fixture records carry secrets: their callers are investigated"
    # The investigated keys' records really carry secrets: the scan below is not vacuous.
    carried = set().union(
        *(
            secrets_in(r)
            for r in records
            if (r.get("userIdentity") or {}).get("accessKeyId") in dict.fromkeys(k for k, _, _ in targets)
        )
    )
    assert carried
    lookup = needles(fixture_secrets())
    total_hits = []
    for key, start, end in targets:
        out = tmp_path / key
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = responder_cli(
                [
                    "investigate",
                    "--logs",
                    str(logs),
                    "--access-key",
                    key,
                    "--start",
                    start,
                    "--end",
                    end,
                    "--out",
                    str(out),
                ]
            )
        assert code == 0, stderr.getvalue()
        files, hits = scan_tree(out, lookup)
        assert files >= 2
        total_hits += (
            hits
            + scan_text("stdout", stdout.getvalue(), lookup)
            + scan_text("stderr", stderr.getvalue(), lookup)
        )
    assert total_hits == []
