"""In-process Lambda dispatch: invoking an emulated function runs our handler, errors as in AWS."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

from responder.errors import ForeignAccessKey
from workstation.local import (
    Invocation,
    MotoNotConfigured,
    create_functions,
    ensure_role,
    install_dispatch,
)

logger = Logger(service="local-runner-test")


@logger.inject_lambda_context
def describe_context(event, context):
    return {
        "name": context.function_name,
        "arn": context.invoked_function_arn,
        "request_id": context.aws_request_id,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "log_group": context.log_group_name,
        "event": event,
    }


def foreign_key(event, context):
    raise ForeignAccessKey(f"key {event['keyId']} belongs to 999999999999")


def invoke(name: str, payload: object) -> tuple[dict, Any]:
    client = boto3.client("lambda", region_name="us-east-1")
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload))
    return response, json.loads(response["Payload"].read())


@pytest.fixture
def functions(emulated_aws):
    role = ensure_role(boto3.client("iam", region_name="us-east-1"))
    return create_functions(
        boto3.client("lambda", region_name="us-east-1"), ["describe", "foreign", "bad-result"], role
    )


def test_handler_gets_event_and_a_powertools_ready_context(functions):
    with install_dispatch({"describe": describe_context}) as dispatch:
        response, body = invoke(functions["describe"], {"keyId": "AKIA1"})

    assert "FunctionError" not in response
    assert body["event"] == {"keyId": "AKIA1"}
    assert body["name"] == "describe"
    assert body["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:describe"
    assert body["memory"] == 256
    assert 0 < body["remaining_ms"] <= 60_000
    assert body["log_group"] == "/aws/lambda/describe"
    [record] = dispatch.invocations
    assert (record.function_name, record.phase, record.request_id) == (
        "describe",
        "succeeded",
        body["request_id"],
    )
    assert record.execution_arn is None  # not called by Step Functions


def test_exception_is_an_unhandled_function_error_named_by_class(functions):
    with install_dispatch({"foreign": foreign_key}) as dispatch:
        response, body = invoke("foreign", {"keyId": "AKIA2"})

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ForeignAccessKey"
    assert body["errorMessage"] == "key AKIA2 belongs to 999999999999"
    assert any("foreign_key" in line for line in body["stackTrace"])
    assert not any("workstation/local" in line for line in body["stackTrace"])
    assert [(i.phase, i.error_type) for i in dispatch.invocations] == [("failed", "ForeignAccessKey")]


def test_unserialisable_result_is_the_runtime_marshal_error(functions):
    with install_dispatch({"bad-result": lambda event, context: {"when": object()}}):
        response, body = invoke("bad-result", {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.MarshalError"


def test_decimal_results_are_marshalled_as_the_runtime_does(functions):
    with install_dispatch(
        {"bad-result": lambda event, context: {"severity": Decimal("8.5"), "n": Decimal(3)}}
    ):
        _, body = invoke("bad-result", {})
    assert body == {"severity": 8.5, "n": 3}


def test_registered_but_never_created_function_is_not_found(emulated_aws):
    client = boto3.client("lambda", region_name="us-east-1")
    with (
        install_dispatch({"ghost": lambda event, context: {}}),
        pytest.raises(client.exceptions.ResourceNotFoundException),
    ):
        client.invoke(FunctionName="ghost", Payload=b"{}")


def test_on_invoke_narrates_start_and_end_and_patch_is_undone(functions):
    seen: list[Invocation] = []
    original = LambdaSimpleBackend.invoke
    with install_dispatch({"describe": describe_context}, on_invoke=seen.append):
        invoke("describe", {"n": 1})
    assert LambdaSimpleBackend.invoke is original
    assert [i.phase for i in seen] == ["started", "succeeded"]
    assert seen[1].ended_at is not None and seen[1].duration_ms is not None

    # Outside the dispatch, moto's own echo is back.
    _, body = invoke("describe", {"n": 2})
    assert body == {"n": 2}


def test_failing_narration_callback_surfaces_at_exit_without_failing_the_step(functions):
    def broken(invocation: Invocation) -> None:
        raise RuntimeError("narrator fell over")

    with (
        pytest.raises(RuntimeError, match="narrator"),
        install_dispatch({"describe": describe_context}, on_invoke=broken),
    ):
        response, _ = invoke("describe", {})
        assert "FunctionError" not in response


def test_dispatch_refuses_docker_lambda(aws_env):
    with mock_aws(), pytest.raises(MotoNotConfigured), install_dispatch({"x": describe_context}):
        pass
