"""The fault matrix: which (service, operation) pairs, which faults, and how to run them all.

The pairs are RECORDED from clean runs (``record_pairs``): iam-user-key (triage's fast containment,
revocation, the investigation, the report, the remediation of the backdoored bucket and the attacker's
user, notify) and approval-timeout (Validate: STS GetAccessKeyInfo and IAM GetAccessKeyLastUsed, then
Disable). ``PAIRS`` is what the last recording found; a test re-records and fails when they differ.
CloudTrail Lake and Athena are not called locally (the local engine is DuckDB): see
tests/reliability/test_query_faults.py.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tests.reliability.harness import FAULT_KINDS, Outcome, Pair, Recorder, run_fault, run_scenario

PRIMARY = "iam-user-key"
VALIDATE = "approval-timeout"
VALIDATE_ENV = {"APPROVAL_TIMEOUT_SECONDS": "1"}

# (service, operation) -> the scenario that makes the call (the first one recorded making it): what the
# last recording found; tests/reliability/test_fault_matrix.py::test_recorded_pairs re-records and compares.
PAIRS: dict[Pair, str] = {
    **{
        (s, o): PRIMARY
        for s, o in [
            ("dynamodb", "PutItem"),
            ("dynamodb", "UpdateItem"),
            ("ec2", "DescribeVpcEndpoints"),
            ("ec2", "DescribeVpcs"),
            ("iam", "AttachUserPolicy"),
            ("iam", "GetLoginProfile"),
            ("iam", "GetUser"),
            ("iam", "GetUserPolicy"),
            ("iam", "ListAccessKeys"),
            ("iam", "ListAttachedUserPolicies"),
            ("iam", "ListRoles"),
            ("iam", "ListUserTags"),
            ("iam", "ListUsers"),
            ("iam", "PutUserPolicy"),
            ("iam", "TagUser"),
            ("iam", "UpdateAccessKey"),
            ("macie2", "DescribeBuckets"),
            ("s3", "GetBucketAcl"),
            ("s3", "GetBucketOwnershipControls"),
            ("s3", "GetBucketPolicy"),
            ("s3", "GetBucketTagging"),
            ("s3", "GetBucketVersioning"),
            ("s3", "GetObject"),
            ("s3", "GetPublicAccessBlock"),
            ("s3", "HeadObject"),
            ("s3", "ListObjectsV2"),
            ("s3", "PutBucketPolicy"),
            ("organizations", "DescribeOrganization"),
            ("s3", "PutObject"),
            ("secretsmanager", "GetSecretValue"),
            ("securityhub", "BatchUpdateFindings"),
            ("sns", "Publish"),
        ]
    },
    ("iam", "GetAccessKeyLastUsed"): VALIDATE,
    ("sts", "GetAccessKeyInfo"): VALIDATE,
}

FULL_ENV = "RELIABILITY_FULL_MATRIX"


def record_pairs(tmp: Path) -> dict[Pair, str]:
    """Every (service, operation) the handlers call in clean runs, with the scenario that calls it."""
    pairs: dict[Pair, str] = {}
    for scenario in (PRIMARY, VALIDATE):
        recorder = Recorder()
        run = run_scenario(tmp / scenario, scenario, handlers=(recorder,))
        assert all(e.status == "SUCCEEDED" for e in run.executions), f"{scenario} did not succeed cleanly"
        for pair in sorted(recorder.calls):
            pairs.setdefault(pair, scenario)
    return pairs


def cases(pairs: dict[Pair, str], kinds: Iterable[str] = FAULT_KINDS) -> list[tuple[Pair, str, str]]:
    return [(pair, kind, scenario) for pair, scenario in sorted(pairs.items()) for kind in kinds]


def _one(case: tuple[Pair, str, str]) -> Outcome:
    pair, kind, scenario = case
    with tempfile.TemporaryDirectory() as tmp:
        return run_fault(Path(tmp), scenario, pair, kind)[0]


def run_matrix(pairs: dict[Pair, str], workers: int = 2) -> tuple[list[Outcome], float]:
    """Every pair x every fault kind, in ``workers`` processes; the outcomes and the wall time."""
    started = time.monotonic()
    todo = cases(pairs)
    # spawn: forking a process that already ran DuckDB and moto's threads aborts the child.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcomes = list(pool.map(_one, todo))
    return outcomes, time.monotonic() - started


def full_matrix_requested() -> bool:
    return os.environ.get(FULL_ENV, "") not in ("", "0")
