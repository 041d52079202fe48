"""Exactly once under load: one finding ten times in sequence, ten times at once, and ten different
findings for one key at once, through the real workflow (moto runs concurrent executions in threads)."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responder.steps.revoke_sessions import USER_POLICY_PREFIX
from tests.reliability.harness import Run, custom_scenario, evidence_problems, record_problems, run_scenario
from workstation.demo.setup import Setup

RUNS = 10
MODES = {
    "sequential": "the same finding 10 times in sequence",
    "concurrent": "the same finding 10 times at once",
    "distinct": "10 different findings for one key at once",
}


def _distinct(event: dict[str, Any], n: int) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["detail"]["id"] = hashlib.sha256(f"{event['detail']['id']}:{n}".encode()).hexdigest()[:32]
    out["id"] = f"{out['detail']['id'][:8]}-0000-4000-8000-{out['detail']['id'][8:20]}"
    return out


def _setup(mode: str) -> Any:
    def prepare(world: Any) -> Setup:
        if mode == "distinct":
            inputs = [_distinct(world.event, n) for n in range(RUNS)]
        else:
            inputs = [copy.deepcopy(world.event) for _ in range(RUNS)]
        return Setup(inputs=inputs, concurrent=mode != "sequential")

    return prepare


@dataclass
class Load:
    mode: str
    run: Run
    statuses: Counter[str]
    disable: Counter[str]  # status of disable_access_key across the executions' reports
    revoke: Counter[str]
    disable_records: int  # done disable_access_key records in the incident table
    revocation_policies: list[str]
    incidents: int
    report_prefixes: int
    evidence_conflicts: int
    subjects: Counter[str]  # the outcome part of each SOC subject
    problems: list[str]
    repeats: int = 0  # executions that ended at UpdateRecorded (a delivery recorded, no response)


def run_load(tmp: Path, mode: str) -> Load:
    with custom_scenario(f"reliability-{mode}", _setup(mode)) as name:
        run = run_scenario(tmp, name)
    actions = [r["response"]["actions"] for r in run.reports]
    disable = Counter(a["status"] for acts in actions for a in acts if a["action"] == "disable_access_key")
    revoke = Counter(a["status"] for acts in actions for a in acts if a["action"] == "revoke_sessions")
    user = run.account_after["users"][run.exposed_user]
    prefixes = {
        r["evidence_manifest"]["uri"].rsplit("/", 1)[0] for r in run.reports if r.get("evidence_manifest")
    }
    conflicts = sum(1 for e in run.executions for i in e.invocations if i.error_type == "EvidenceConflict")
    return Load(
        mode=mode,
        run=run,
        statuses=Counter(e.status for e in run.executions),
        disable=disable,
        revoke=revoke,
        disable_records=sum(
            1 for r in run.records if r["action"] == "disable_access_key" and r["status"] == "done"
        ),
        revocation_policies=sorted(p for p in user["inline"] if p.startswith(USER_POLICY_PREFIX)),
        incidents=len({r["incident"]["incident_id"] for r in run.reports}),
        report_prefixes=len(prefixes),
        evidence_conflicts=conflicts,
        subjects=Counter(m["Subject"].rsplit(" - ", 1)[-1] for m in run.messages),
        problems=[*evidence_problems(run), *record_problems(run)],
        repeats=sum(1 for e in run.executions if e.states_entered()[-1:] == ["UpdateRecorded"]),
    )
