"""Ten runs for one key, in sequence, at once, and from ten different findings: one containment."""

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
    assert load.revoke == {"done": 1, "already_done": RUNS - 1}
    assert load.disable_records == 1
    assert len(load.revocation_policies) == 1
    assert load.subjects == {"key disabled": 1, "already contained": RUNS - 1}
    # One evidence set per execution, under its own prefix; nothing overwritten, no conflict.
    assert load.report_prefixes == RUNS and load.evidence_conflicts == 0
    assert load.incidents == (RUNS if mode == "distinct" else 1)
    assert load.problems == []
