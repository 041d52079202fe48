"""Faults injected into every AWS call the workflow makes (see tests/reliability/matrix.py).

The default run takes a fast subset (every service, every fault kind); RELIABILITY_FULL_MATRIX=1 runs
every recorded pair x every fault kind, as `python -m tests.reliability` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.harness import FAULT_KINDS, Pair, run_fault
from tests.reliability.matrix import PAIRS, full_matrix_requested, record_pairs

pytestmark = pytest.mark.e2e

FAST: list[tuple[Pair, str]] = [
    (("dynamodb", "UpdateItem"), "access_denied"),
    (("iam", "UpdateAccessKey"), "access_denied"),
    (("s3", "GetObject"), "throttle_once"),
    # The Security Hub write-back (Triage and Notify): refused, the run still succeeds and says so.
    (("securityhub", "BatchUpdateFindings"), "access_denied"),
    (("sns", "Publish"), "throttle_once"),
    (("sts", "GetAccessKeyInfo"), "internal_error"),
]
CASES = [(p, k) for p in PAIRS for k in FAULT_KINDS] if full_matrix_requested() else FAST


@pytest.mark.parametrize(("pair", "kind"), CASES, ids=[f"{p[0]}:{p[1]}-{k}" for p, k in CASES])
def test_fault(pair: Pair, kind: str, tmp_path: Path) -> None:
    got, _run = run_fault(tmp_path, PAIRS[pair], pair, kind)
    assert got.injected, f"{pair} was never called: re-record the pairs"
    assert got.problems == (), got.problems
    if kind == "throttle_once":
        assert got.status == "SUCCEEDED", got.label
    if got.status != "SUCCEEDED":
        assert got.soc_told or got.soc_unreachable, got.label


def test_recorded_pairs(tmp_path: Path) -> None:
    """The handlers still make exactly the calls matrix.PAIRS lists (else re-record and update it)."""
    assert record_pairs(tmp_path) == PAIRS
