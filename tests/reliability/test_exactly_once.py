"""Ten runs for one key, in sequence, at once, and from ten different findings: one containment;
ten deliveries of one finding: one response, the other deliveries recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.exactly_once import MODES, RUNS, run_load
from tests.reliability.matrix import full_matrix_requested

pytestmark = pytest.mark.e2e


# ~30-50 s each: the default run takes the concurrent one; RELIABILITY_FULL_MATRIX=1 all three.
@pytest.mark.parametrize("mode", list(MODES) if full_matrix_requested() else ["concurrent"])
def test_one_containment_under_load(mode: str, tmp_path: Path) -> None:
    load = run_load(tmp_path, mode)
    assert load.statuses == {"SUCCEEDED": RUNS}
    # Exactly one run disabled the key and revoked its sessions; every other says already_done.
    assert load.disable == {"done": 1, "already_done": RUNS - 1}
    assert load.disable_records == 1
    assert len(load.revocation_policies) == 1
    assert load.incidents == (RUNS if mode == "distinct" else 1)
    assert load.problems == [] and load.evidence_conflicts == 0
    if mode == "distinct":
        # Ten findings: ten responses, one evidence set each, under its own prefix.
        assert load.revoke == {"done": 1, "already_done": RUNS - 1}
        assert load.subjects == {"key disabled": 1, "already contained": RUNS - 1}
        assert load.report_prefixes == RUNS
        return
    # One finding delivered ten times: the delivery recorded first, and the one whose Triage won the
    # key's claim (they may be one run or two), respond; every other delivery is recorded only
    # (responder/sightings.py) and tells the SOC nothing.
    responses = sum(load.subjects.values())
    assert responses in (1, 2) and load.subjects["key disabled"] == 1
    assert load.revoke["done"] == 1 and sum(load.revoke.values()) == responses
    assert load.repeats == RUNS - responses
    assert load.report_prefixes == responses
