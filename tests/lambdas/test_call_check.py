"""The check every handler test here runs under (conftest ``declared_calls_only``) sees the calls and
catches one its step does not declare."""

from __future__ import annotations

import pytest

from lambdas.snapshot import handler as snapshot
from lambdas.validate import handler as validate
from responder.clients import client
from tests.iam_actions import IAM_ACTION_OF
from tests.lambdas.conftest import Account, CallCheck, context, undeclared_calls
from tests.lambdas.saved import saved_input


def test_the_calls_a_handler_makes_are_recorded_as_iam_actions(
    account: Account, declared_calls_only: CallCheck
) -> None:
    snapshot.handler(saved_input("snapshot", account), context())
    calls = declared_calls_only.calls["snapshot"]
    # HeadObject and ListObjectsV2 would be s3:GetObject / s3:ListBucket: what IAM authorizes.
    assert {"s3:PutObject", "s3:GetBucketPolicy"} <= calls
    assert not undeclared_calls(declared_calls_only)


def test_an_undeclared_call_fails_the_test(
    account: Account, declared_calls_only: CallCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    import responder.steps.validate as service

    real = service.validate_key

    def also_lists_buckets(*args: object, **kwargs: object) -> object:
        client("s3").list_buckets()  # not in Validate's PERMISSIONS
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("lambdas.validate.handler.validate_key", also_lists_buckets)
    validate.handler(saved_input("validate", account), context())
    assert undeclared_calls(declared_calls_only) == [
        "lambdas/validate/handler.py calls s3:ListAllMyBuckets, not in its PERMISSIONS"
    ]
    declared_calls_only.calls["validate"].discard("s3:ListAllMyBuckets")  # this test's own, planted call


def test_the_operation_to_action_table_names_real_actions() -> None:
    from policyuniverse import all_permissions

    mapped = {action.lower() for table in IAM_ACTION_OF.values() for action in table.values()}
    assert mapped <= all_permissions
