"""The speed claim, counted (not timed): on the automatic path the exposed key is Inactive after at
most one Lambda invocation and at most four AWS API calls from the execution's start, before any
query runs; an analyst's run is contained by that same first Lambda, and a human's yes by one Lambda
and three calls. The same measurement as ``python -m bench.containment`` (bench/CONTAINMENT.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.containment import MAX_CALLS, MAX_INVOCATIONS, measure

pytestmark = pytest.mark.e2e


def test_key_inactive_after_one_invocation_and_four_calls(tmp_path: Path) -> None:
    found = measure(tmp_path)
    assert found.workflow_status == "SUCCEEDED"
    assert found.disabled_key == found.exposed_key
    assert found.invocations == ["responder-triage"]
    assert len(found.invocations) <= MAX_INVOCATIONS
    assert found.calls == [
        "iam:ListUserTags",
        "iam:ListAccessKeys",
        "dynamodb:PutItem",
        "iam:UpdateAccessKey",
    ]
    assert len(found.calls) <= MAX_CALLS
    assert not found.query_started
    assert found.key_status == {found.exposed_key: "Inactive", found.innocent_key: "Active"}
    assert found.meets


def test_an_analysts_run_with_the_key_only_is_contained_by_the_first_lambda(tmp_path: Path) -> None:
    found = measure(tmp_path, "manual")
    assert found.workflow_status == "SUCCEEDED"
    assert found.invocations == ["responder-triage"]
    # One call more than a finding's path: the input names no user, IAM names it.
    assert found.calls == [
        "iam:GetAccessKeyLastUsed",
        "iam:ListUserTags",
        "iam:ListAccessKeys",
        "dynamodb:PutItem",
        "iam:UpdateAccessKey",
    ]
    assert found.key_status == {found.exposed_key: "Inactive", found.innocent_key: "Active"}
    assert found.meets


def test_after_a_yes_one_lambda_and_three_calls_disable_the_key(tmp_path: Path) -> None:
    found = measure(tmp_path, "approved")
    assert found.workflow_status == "SUCCEEDED"
    # Triage confirmed the owner before the human was asked: no Validate after the answer.
    assert found.invocations == ["responder-disable"]
    assert found.calls == ["iam:ListAccessKeys", "dynamodb:PutItem", "iam:UpdateAccessKey"]
    assert len(found.calls) <= MAX_CALLS
    assert found.key_status == {found.exposed_key: "Inactive", found.innocent_key: "Active"}
    assert found.meets


@pytest.mark.parametrize(
    ("path", "first"), [("aws-health", ["iam:GetAccessKeyLastUsed"]), ("attack-sequence", [])]
)
def test_aws_s_other_signals_are_contained_by_the_first_lambda(
    tmp_path: Path, path: str, first: list[str]
) -> None:
    """AWS Health's event names the key only (IAM names its user first); an attack sequence's first
    key is contained as a finding's, before the sequence's other keys."""
    found = measure(tmp_path, path)
    assert found.workflow_status == "SUCCEEDED"
    assert found.invocations == ["responder-triage"]
    assert found.calls == [
        *first,
        "iam:ListUserTags",
        "iam:ListAccessKeys",
        "dynamodb:PutItem",
        "iam:UpdateAccessKey",
    ]
    assert found.disabled_key == found.exposed_key and not found.query_started
    assert found.meets
