"""Exactly once per remediation change: :func:`responder.remediate.record.claim_once` under moto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from responder.actions import claim_once, settle_once
from tests.iam_env import Env, emulated_iam

SCOPE = "bucket/acme-customer-exports/0123abcd"
T0 = 1_800_000_000.0  # a fixed clock: staleness is about the claim's age, not the test's speed


@pytest.fixture
def env(aws_env: None) -> Iterator[Env]:
    with emulated_iam() as e:
        yield e


def _claim(env: Env, execution: str, *, at: float, stale: int = 900, scope: str = SCOPE) -> bool:
    return claim_once(
        env.ddb,
        env.table,
        scope=scope,
        incident_id="inc-1",
        execution_id=execution,
        stale_after_seconds=stale,
        now=at,
    )


def _claim_item(env: Env, scope: str = SCOPE) -> dict[str, str]:
    item = env.ddb.get_item(TableName=env.table, Key={"pk": {"S": f"ONCE#{scope}"}, "sk": {"S": "CLAIM"}})
    return {k: next(iter(v.values())) for k, v in item["Item"].items()}


def test_first_claim_wins_and_is_recorded(env: Env) -> None:
    assert _claim(env, "exec-a", at=T0) is True
    item = _claim_item(env)
    assert (item["status"], item["execution_id"], item["incident_id"]) == ("in_progress", "exec-a", "inc-1")
    assert item["claimed_at"] == "2027-01-15T08:00:00Z"


def test_a_retry_of_the_same_execution_keeps_its_claim(env: Env) -> None:
    assert _claim(env, "exec-a", at=T0) is True
    assert _claim(env, "exec-a", at=T0 + 5) is True
    assert _claim_item(env)["execution_id"] == "exec-a"


def test_a_concurrent_execution_is_refused_while_the_claim_is_fresh(env: Env) -> None:
    assert _claim(env, "exec-a", at=T0) is True
    assert _claim(env, "exec-b", at=T0 + 1) is False
    assert _claim(env, "exec-b", at=T0 + 899) is False
    assert _claim_item(env)["execution_id"] == "exec-a"


def test_other_scopes_are_independent(env: Env) -> None:
    assert _claim(env, "exec-a", at=T0) is True
    assert _claim(env, "exec-b", at=T0, scope="user/svc-backup") is True
    assert _claim(env, "exec-a", at=T0, scope="user/svc-backup") is False


def test_a_stale_claim_is_taken_over(env: Env) -> None:
    assert _claim(env, "exec-dead", at=T0) is True
    assert _claim(env, "exec-b", at=T0 + 901) is True
    assert _claim_item(env)["execution_id"] == "exec-b"
    # The dead attempt, should it wake up, no longer holds the change and cannot mark it.
    assert _claim(env, "exec-c", at=T0 + 902) is False
    settle_once(env.ddb, env.table, scope=SCOPE, execution_id="exec-dead")
    assert _claim_item(env)["status"] == "in_progress"


def test_a_done_claim_is_never_taken_over(env: Env) -> None:
    assert _claim(env, "exec-a", at=T0) is True
    settle_once(env.ddb, env.table, scope=SCOPE, execution_id="exec-a")
    assert _claim_item(env)["status"] == "done"
    assert _claim(env, "exec-b", at=T0 + 86_400) is False


def test_a_failed_claim_may_be_retried_by_another_execution(env: Env) -> None:
    assert _claim(env, "exec-a", at=T0) is True
    settle_once(env.ddb, env.table, scope=SCOPE, execution_id="exec-a", status="failed")
    assert _claim(env, "exec-b", at=T0 + 1) is True
    assert _claim_item(env)["execution_id"] == "exec-b"
