"""CloudTrail Lake and Athena faults at the query steps (Stubber): throttling is retried by the state
machine and then succeeds; a 500 or AccessDenied ends in NotifyFailure through Investigate's Catch."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from responder.query.base import PollingEngine
from tests.lambdas.conftest import context
from tests.reliability.query_faults import EDS, HANDLE, STEPS, TASK, Step, run_step_fault
from workstation.demo.account import create_evidence_bucket

KINDS = ("throttle_once", "throttle_persistent", "internal_error", "access_denied")
BUCKET = "responder-evidence-query-faults"


@pytest.fixture
def evidence(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("QUERY_ENGINE", "lake")
    monkeypatch.setenv("LAKE_EVENT_DATA_STORE", EDS)
    monkeypatch.setenv("EVIDENCE_BUCKET", BUCKET)
    monkeypatch.setenv("POLL_SECONDS", "0")
    from responder.settings import get_settings

    get_settings.cache_clear()
    with mock_aws():
        create_evidence_bucket(boto3.client("s3", region_name="us-east-1"), BUCKET)
        yield
    get_settings.cache_clear()


def invoke(step: str, engine: PollingEngine) -> Any:
    module = importlib.import_module(f"lambdas.{step}.handler")
    payload = TASK if step == "start_query" else {**HANDLE, "engine": engine.name}
    with mock.patch.object(module, "engine", lambda: engine):
        return module.handler(payload, context(step))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("step", STEPS, ids=lambda s: f"{s.engine}-{s.step}")
def test_query_step_fault(step: Step, kind: str, evidence: None) -> None:
    got = run_step_fault(step, kind, invoke)
    if kind.startswith("throttle"):
        assert got.first_error == "Throttled" and got.retried
        assert got.then == (
            "succeeded on retry" if kind == "throttle_once" else "retried 5 times, then NotifyFailure"
        )
    elif kind == "access_denied":
        assert (got.first_error, got.retried) == ("QueryFailed", False)
        assert got.then == "NotifyFailure via Investigate's Catch"
    else:
        # The client's modeled class (InternalServerException): Lambda's errorType, retried by no Retry.
        assert got.first_error not in (None, "Throttled") and not got.retried
        assert got.then == "NotifyFailure via Investigate's Catch"
