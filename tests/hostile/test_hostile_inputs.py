"""Hostile and broken input: a named error or a quiet decision, the SOC told, the account unchanged.

Cases come from tests/hostile/cases.py (fixtures, CloudTrail events claiming another source, and
mutations). Each goes through ``triage()`` and ``responder triage FILE``; a subset covering every
kind of mutation goes through the real workflow on moto, with the account snapshotted around it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO, shared_fixture_path
from tests.hostile.cases import ERRORS, KINDS, QUIET, Case, all_cases, fixtures_present, workflow_cases
from tests.hostile.harness import World, cli_run, hostile_world, payload, run_in_workflow
from tests.hostile.harness import triage_outcome as outcome_of

INCIDENT_SCHEMA = json.loads((REPO / "responder" / "schemas" / "incident.schema.json").read_text())
CASES = all_cases() if fixtures_present() else []
FLOW_CASES = workflow_cases() if fixtures_present() else []


def _parses(case: Case) -> bool:
    try:
        json.loads(payload(case))
    except (ValueError, RecursionError):
        return False
    return True


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


@pytest.fixture(autouse=True)
def _needs_fixtures() -> None:
    shared_fixture_path()  # skips, saying why, where ../shared/fixtures is absent


def test_generator_makes_at_least_100_named_cases_of_every_kind():
    assert len(CASES) >= 100
    assert {c.kind for c in CASES} == set(KINDS)
    assert {c.kind for c in FLOW_CASES} == set(KINDS)
    assert 20 <= len(FLOW_CASES) <= 40
    assert _ids(all_cases()) == _ids(CASES)  # deterministic


# -------------------------------------------------------------------------------------- triage()


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_triage_gives_a_named_error_or_a_valid_incident(case: Case):
    got = outcome_of(payload(case))
    assert got.name in case.expect, f"{case.name}: {got.name}: {got.message}"
    if got.incident is None:
        assert got.message and "\n" not in got.message and len(got.message) < 600
        return
    jsonschema.validate(got.incident, INCIDENT_SCHEMA)
    # Whatever the input, containment is only ever decided for a well-formed key id.
    if got.name == "contain":
        assert re.fullmatch(r"(AKIA|ASIA)[A-Z0-9]{16}", got.incident["access_key_id"] or "")
    # Display strings are cut: no field of the incident carries a 5,000-character name.
    assert all(len(v) <= 512 for v in _strings(got.incident))


@pytest.mark.parametrize("case", [c for c in CASES if _parses(c)] if CASES else [], ids=lambda c: c.name)
def test_parsed_and_text_inputs_agree(case: Case):
    """The handler gets parsed JSON, the CLI gets bytes: the outcome must not depend on which."""
    assert outcome_of(json.loads(payload(case))).name == outcome_of(payload(case)).name


# ------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_cli_exits_0_or_2_with_one_line(case: Case, tmp_path: Path):
    run = cli_run(case, tmp_path / "input.json")
    expected = outcome_of(payload(case))
    if expected.incident is None:
        assert run.code == 2 and run.stdout == ""
        assert run.stderr.startswith("responder: ") and run.stderr.count("\n") == 1, run.stderr
        assert "Traceback" not in run.stderr
    else:
        assert run.code == 0 and run.stderr == ""
        assert json.loads(run.stdout)["decision"]["action"] == expected.name


@pytest.mark.parametrize(
    "name",
    ["truncated/real-event-at-10", "oversized/description-256kb", "malformed-key/manual/sql-injection"],
)
def test_cli_in_a_real_process_prints_no_traceback(name: str, tmp_path: Path):
    case = next(c for c in CASES if c.name == name)
    path = tmp_path / "input.json"
    path.write_bytes(payload(case))
    proc = subprocess.run(
        [sys.executable, "-m", "workstation", "triage", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("responder: ") and proc.stderr.count("\n") == 1, proc.stderr


# -------------------------------------------------------------------------------------- workflow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    shared_fixture_path()
    with hostile_world(tmp_path_factory.mktemp("hostile-logs")) as built:
        yield built


def _flow_params() -> list[object]:
    # Inputs that are not even JSON objects included: Triage's Catch replaces the input with the error.
    return [pytest.param(case, id=case.name) for case in FLOW_CASES]


@pytest.mark.e2e
@pytest.mark.parametrize("case", _flow_params())
def test_workflow_changes_nothing_and_tells_the_soc(world: World, case: Case):
    run = run_in_workflow(world, case)
    assert run.unchanged, f"{case.name} changed the account: {run.diff}"
    if set(case.expect) <= ERRORS:
        assert run.status == "FAILED", run.states
        assert run.states[-2:] == ["NotifyFailure", "Failed"], run.states
        assert run.error in case.expect
        assert len(run.soc) == 1 and run.error in run.soc[0]["Subject"] + run.soc[0]["Message"]
        assert "Disable" not in run.states and "RevokeSessions" not in run.states
        return
    assert set(case.expect) <= QUIET, "only errors and quiet decisions belong in the workflow subset"
    assert run.decision in case.expect
    assert "Disable" not in run.states and "RevokeSessions" not in run.states
    if run.decision == "ignore":
        assert run.status == "SUCCEEDED" and run.states[-1] == "Ignored" and run.soc == []
    else:
        # notify_only without a queryable key id (a sample finding): nothing to query, still reported.
        assert run.status == "SUCCEEDED" and run.soc, run.states
