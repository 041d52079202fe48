"""`responder triage FILE`: the contract's exit codes on saved events and on every shared fixture."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import EVENTS, REPO, SHARED_FIXTURES, shared_fixture_path
from workstation.cli import main

SCHEMA = json.loads((REPO / "responder" / "schemas" / "incident.schema.json").read_text())
HANDLED = {"IAMUser", "IAM", "S3"}
TYPE_RE = re.compile(r"^[A-Za-z0-9]+:(?P<resource>[A-Za-z0-9]+)/")


def triage_main(path: Path | str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["triage", str(path), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("responder: ")


# ----------------------------------------------------------------------------------- saved events


@pytest.mark.parametrize(
    ("event", "action"),
    [
        ("gd_iam_exfiltration_event", "contain"),
        ("gd_s3_anonymous_access_event", "contain"),
        ("gd_ec2_finding_event", "ignore"),
        ("gd_get_findings_response", "contain"),
        ("securityhub_imported_event", "contain"),
    ],
)
def test_triage_prints_a_schema_valid_incident(
    event: str, action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = triage_main(EVENTS / f"{event}.json", capsys)
    assert (code, err) == (0, "")
    incident = json.loads(out)
    jsonschema.validate(incident, SCHEMA)
    assert incident["decision"]["action"] == action


def test_manual_input_needs_an_account(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = triage_main(EVENTS / "manual_input.json", capsys)
    assert (code, out) == (2, "")
    assert_one_line_error(err)
    assert "accountId" in err

    code, out, err = triage_main(EVENTS / "manual_input.json", capsys, "--account-id", "111122223333")
    assert code == 0
    assert json.loads(out)["account_id"] == "111122223333"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"Findings": [{"Id": "x"', "not valid JSON"),
        (b"\x89PNG\r\n\x1a\n", "not UTF-8"),
        (b"", "not valid JSON"),
        (b'{"accessKeyId": "AKIA4EXAMPLEKEY7X2QZ", "lookbackDayz": 3}', "unknown keys: 'lookbackDayz'"),
        (b"[" * 100_000, "nested"),
        (b" " * (256 * 1024 + 1), "larger than 256 KB"),
    ],
)
def test_invalid_files_exit_2_with_one_line(
    content: bytes, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    code, out, err = triage_main(path, capsys)
    assert (code, out) == (2, "")
    assert_one_line_error(err)
    assert reason in err


def test_unreadable_paths_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (tmp_path / "missing.json", tmp_path):
        code, out, err = triage_main(path, capsys)
        assert (code, out) == (2, "")
        assert_one_line_error(err)
        assert "cannot read" in err


def test_bad_arguments_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["triage"], ["no-such-command"], ["triage", "a", "b"]):
        assert main(argv) == 2
        assert_one_line_error(capsys.readouterr().err)
    assert main(["--help"]) == 0
    assert "triage" in capsys.readouterr().out


# ------------------------------------------------------------------------- every shared fixture


@dataclass(frozen=True)
class Case:
    id: str
    source: Path
    line: int | None = None  # jsonl: line number; yml: Tests[] index

    def content(self) -> bytes:
        if self.source.suffix == ".json":
            return self.source.read_bytes()  # verbatim: a broken file must stay broken
        if self.source.suffix == ".jsonl":
            text = self.source.read_text().splitlines()[self.line or 0]
            record = json.loads(text)
            # Panther's derived lines wrap the finding with the rule's expectations.
            return json.dumps(record.get("finding", record.get("event", record))).encode()
        import yaml

        tests = yaml.safe_load(self.source.read_text())["Tests"]
        return json.dumps(tests[self.line or 0]["Log"], default=str).encode()


def fixture_cases() -> list[Case]:
    root = SHARED_FIXTURES / "guardduty"
    if not root.is_dir():
        return []
    cases: list[Case] = []
    with_yaml = importlib.util.find_spec("yaml") is not None  # .yml cases need pyyaml
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.suffix == ".json":
            cases.append(Case(name, path))
        elif path.suffix == ".jsonl":
            lines = path.read_text().splitlines()
            cases += [Case(f"{name}:{i + 1}", path, i) for i, line in enumerate(lines) if line.strip()]
        elif path.suffix == ".yml" and with_yaml:
            import yaml

            tests = yaml.safe_load(path.read_text()).get("Tests", [])
            cases += [Case(f"{name}#{i}", path, i) for i in range(len(tests))]
    return cases


CASES = fixture_cases()


def run_both(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Triage one fixture in-process and as a real process; both must agree."""
    path = tmp_path / "input.json"
    path.write_bytes(case.content())
    code, out, err = triage_main(path, capsys)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "workstation", "triage", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == code, proc.stderr
    if code == 0:
        assert json.loads(proc.stdout)["incident_id"] == json.loads(out)["incident_id"]
    else:
        assert proc.stdout == ""
        assert_one_line_error(proc.stderr)
    return code, out, err


@pytest.mark.fixtures
@pytest.mark.parametrize("case", CASES or [None], ids=[c.id for c in CASES] or ["absent"])
def test_every_fixture_gives_an_incident_or_a_clean_exit_2(
    case: Case | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared_fixture_path("guardduty")  # skips, saying why, where the fixtures are absent
    assert case is not None
    code, out, err = run_both(case, tmp_path, capsys)
    assert code in (0, 2)
    if code == 2:
        assert out == ""
        assert_one_line_error(err)
        return
    assert err == ""
    incident: dict[str, Any] = json.loads(out)
    jsonschema.validate(incident, SCHEMA)
    m = TYPE_RE.match(incident["finding"]["type"])
    assert m is not None
    if m.group("resource") in HANDLED:
        assert incident["decision"]["action"] != "ignore", case.id
    if m.group("resource") == "EC2":
        assert incident["decision"]["action"] == "ignore", case.id


@pytest.mark.fixtures
@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("aws-cli/get-findings.output.json", "contain"),  # ASIA key of a role session
        ("aws-samples-automated-response/guardduty_iam_event.json", "notify_only"),  # sample
        ("aws-samples-automated-response/guardduty_s3_event.json", "notify_only"),
        ("aws-samples-automated-response/guardduty_ec2_event.json", "ignore"),
        ("cloud-custodian/iam-duty-event.json", "notify_only"),
        ("cloud-custodian/ec2-duty-event.json", "ignore"),
        ("cloud-custodian/event-securityhub-iamkey-finding-action.json", "notify_only"),  # no key named
        ("onug-csnf/aws_gd_s3_malicousIP.json", "notify_only"),
        ("onug-csnf/aws_gd_s3_torexitnode.fixed.json", "notify_only"),
    ],
)
def test_known_fixtures_get_the_expected_decision(
    name: str, action: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shared_fixture_path("guardduty", name)
    code, out, err = run_both(Case(name, path), tmp_path, capsys)
    assert (code, err) == (0, "")
    assert json.loads(out)["decision"]["action"] == action


@pytest.mark.fixtures
def test_truncated_onug_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shared_fixture_path("guardduty", "onug-csnf", "aws_gd_s3_torexitnode.json")
    code, out, err = run_both(Case("torexitnode", path), tmp_path, capsys)
    assert (code, out) == (2, "")
    assert_one_line_error(err)
    assert "not valid JSON" in err


@pytest.mark.fixtures
def test_foxsec_line_with_a_short_account_id_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shared_fixture_path("guardduty", "foxsec-pipeline", "guardduty-sample-findings.jsonl")
    code, _, err = run_both(Case("foxsec:1", path, 0), tmp_path, capsys)
    assert code == 2
    assert "12-digit" in err


@pytest.mark.fixtures
def test_most_fixtures_are_usable() -> None:
    shared_fixture_path("guardduty")
    assert len(CASES) >= 50
