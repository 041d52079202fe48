"""The real-ASL runner: moto's Step Functions engine, our handlers in-process."""

from __future__ import annotations

import json
import queue
import threading
import time

import boto3
import pytest
from moto import mock_aws

from responder.errors import ForeignAccessKey
from tests.local.conftest import load_asl
from workstation.local import (
    ExecutionDidNotFinish,
    LocalWorkflow,
    MotoNotConfigured,
    PlaceholderMismatch,
    placeholders,
    run_execution,
    substitute,
)

SOC_TOPIC = "arn:aws:sns:us-east-1:123456789012:soc"


class FlakyError(Exception):
    """Fails the first two calls of each key, like a throttled API."""


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, event, context):
        with self.lock:
            attempt = self.calls[event["keyId"]] = self.calls.get(event["keyId"], 0) + 1
        if attempt <= self.failures:
            raise FlakyError(f"attempt {attempt} throttled")
        return {"attempts": attempt}


def check_key(event, context):
    if event["foreign"]:
        raise ForeignAccessKey(f"{event['keyId']} belongs to another account")
    return {"owned": True}


def retry_catch(flaky: Flaky) -> dict:
    return {
        "FlakyFunctionArn": ("flaky", flaky),
        "CheckKeyFunctionArn": ("check-key", check_key),
    }


def test_custom_error_is_retried_by_name_until_success(emulated_aws):
    result = run_execution(
        load_asl("retry_catch"),
        retry_catch(Flaky(failures=2)),
        {"keyId": "AKIA1", "foreign": False},
        values={"SocTopicArn": SOC_TOPIC},
        retry_interval_scale=0.0,
    )

    assert result.status == "SUCCEEDED"
    assert result.output["flaky"] == {"attempts": 3}
    flaky_calls = [i for i in result.invocations if i.function_name == "flaky"]
    assert [(i.phase, i.error_type, i.retry_count) for i in flaky_calls] == [
        ("failed", "FlakyError", 0),
        ("failed", "FlakyError", 1),
        ("succeeded", None, 2),
    ]
    assert all(i.state_name == "Flaky" for i in flaky_calls)
    assert result.states_entered() == ["Flaky", "CheckKey", "Contained"]


def test_retries_exhausted_fail_the_execution_with_the_error_name(emulated_aws):
    result = run_execution(
        load_asl("retry_catch"),
        retry_catch(Flaky(failures=10)),
        {"keyId": "AKIA1", "foreign": False},
        values={"SocTopicArn": SOC_TOPIC},
        retry_interval_scale=0.0,
    )
    assert result.status == "FAILED"
    assert result.error == "FlakyError"
    assert json.loads(result.cause or "")["errorMessage"] == "attempt 4 throttled"
    assert len(result.invocations) == 4  # 1 + MaxAttempts 3


def test_retry_intervals_are_real_unless_scaled(emulated_aws):
    started = time.monotonic()
    result = run_execution(
        load_asl("retry_catch"),
        retry_catch(Flaky(failures=1)),
        {"keyId": "AKIA1", "foreign": False},
        values={"SocTopicArn": SOC_TOPIC},
    )
    assert result.succeeded
    assert time.monotonic() - started >= 1.0  # IntervalSeconds 1 really slept


def test_responder_error_is_caught_by_name_into_result_path(emulated_aws):
    result = run_execution(
        load_asl("retry_catch"),
        retry_catch(Flaky(failures=0)),
        {"keyId": "AKIA2", "foreign": True},
        values={"SocTopicArn": SOC_TOPIC},
    )

    assert result.status == "SUCCEEDED"
    assert result.states_entered() == ["Flaky", "CheckKey", "NotifyOnly"]
    assert result.output["message"] == "key AKIA2 is not ours: ForeignAccessKey"
    assert result.output["topic"] == SOC_TOPIC
    error = result.output["error"]
    assert error["Error"] == "ForeignAccessKey"
    assert json.loads(error["Cause"])["errorMessage"] == "AKIA2 belongs to another account"


def test_wait_seconds_path_and_choice_loop_poll_until_finished(emulated_aws):
    def status(event, context):
        polls = event["polls"] + 1
        done = polls >= event["ready_after"]
        return {"polls": polls, "status": "FINISHED" if done else "RUNNING", "wait": event["wait"]}

    result = run_execution(
        load_asl("poll_loop"), {"StatusFunctionArn": ("status", status)}, {"ready_after": 3, "wait": 0}
    )

    assert result.status == "SUCCEEDED"
    assert result.output["poll"] == {"polls": 3, "status": "FINISHED", "wait": 0}
    assert result.states_entered().count("Sleep") == 2
    assert len(result.invocations) == 3
    # The Wait read its seconds from the state (SecondsPath), not a constant: 0 each time. No wall-clock
    # bound here: speed belongs in bench/, and a loaded CI machine makes timing assertions flaky.
    waits = [
        json.loads(e["stateEnteredEventDetails"]["input"])
        for e in result.history
        if e.get("stateEnteredEventDetails", {}).get("name") == "Sleep"
    ]
    assert [w["poll"]["wait"] for w in waits] == [0, 0]


def test_fail_state_error_name_reaches_the_execution(emulated_aws):
    def never(event, context):
        return {"polls": event["polls"] + 1, "status": "RUNNING", "wait": 0}

    result = run_execution(
        load_asl("poll_loop"), {"StatusFunctionArn": ("status", never)}, {"ready_after": 99, "wait": 0}
    )
    assert (result.status, result.error, result.cause) == ("FAILED", "QueryStillRunning", "gave up polling")


def test_parallel_map_and_intrinsic_functions(emulated_aws):
    def echo(event, context):
        return event

    result = run_execution(
        load_asl("fan_out"),
        {"EchoFunctionArn": ("echo", echo)},
        {"keyId": "AKIA3", "regions": ["us-east-1", "eu-west-1", "ap-south-1"]},
    )

    assert result.status == "SUCCEEDED"
    assert result.output["branches"] == 2
    assert result.output["regions"] == 3
    assert result.output["title"] == "incident for AKIA3"
    assert result.output["steps"] == ["snapshot", "query"]
    assert result.output["regionResults"] == [
        {"step": "region", "region": "us-east-1", "index": 0},
        {"step": "region", "region": "eu-west-1", "index": 1},
        {"step": "region", "region": "ap-south-1", "index": 2},
    ]
    assert len(result.invocations) == 5  # attributed to the execution from branch and item threads


def ask_for_approval(tokens: queue.Queue):
    def handler(event, context):
        tokens.put(event["token"])
        return {"asked": True}

    return handler


def test_wait_for_task_token_resumes_on_send_task_success(emulated_aws):
    tokens: queue.Queue = queue.Queue()
    with LocalWorkflow(
        load_asl("approval"), {"AskFunctionArn": ("ask", ask_for_approval(tokens))}, name="approval"
    ) as workflow:
        arn = workflow.start({"keyId": "AKIA4"})
        token = tokens.get(timeout=5)
        assert boto3.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
        boto3.client("stepfunctions").send_task_success(
            taskToken=token, output=json.dumps({"approved": True, "by": "soc-oncall"})
        )
        result = workflow.wait(arn, timeout=5)

    assert result.status == "SUCCEEDED"
    assert result.output == {"approved": True, "by": "soc-oncall"}


def test_wait_for_task_token_failure_is_caught_by_its_error_name(emulated_aws):
    tokens: queue.Queue = queue.Queue()
    with LocalWorkflow(
        load_asl("approval"), {"AskFunctionArn": ("ask", ask_for_approval(tokens))}, name="approval"
    ) as workflow:
        arn = workflow.start({"keyId": "AKIA5"})
        boto3.client("stepfunctions").send_task_failure(
            taskToken=tokens.get(timeout=5), error="Rejected", cause="not during the freeze"
        )
        result = workflow.wait(arn, timeout=5)

    assert result.output == {"approved": False, "error": "Rejected"}


def test_wait_timeout_stops_the_execution_and_says_so(emulated_aws):
    def slow(event, context):
        return {"polls": event["polls"] + 1, "status": "RUNNING", "wait": 30}

    with LocalWorkflow(load_asl("poll_loop"), {"StatusFunctionArn": ("status", slow)}) as workflow:
        arn = workflow.start({"ready_after": 99, "wait": 30})
        started = time.monotonic()
        with pytest.raises(ExecutionDidNotFinish, match="still RUNNING"):
            workflow.wait(arn, timeout=0.3)
        status = boto3.client("stepfunctions").describe_execution(executionArn=arn)["status"]
    assert status == "ABORTED"  # the 30 s Wait state was interrupted
    assert time.monotonic() - started < 25  # well short of the 30 s Wait, even on a loaded machine


def test_concurrent_executions_each_get_their_own_invocations(emulated_aws):
    flaky = Flaky(failures=1)
    keys = [f"AKIA{n:02d}" for n in range(8)]
    with LocalWorkflow(
        load_asl("retry_catch"),
        retry_catch(flaky),
        {"SocTopicArn": SOC_TOPIC},
        retry_interval_scale=0.0,
    ) as workflow:
        results = workflow.run_many([{"keyId": key, "foreign": False} for key in keys], timeout=20)
        total = len(workflow.invocations)

    assert [r.status for r in results] == ["SUCCEEDED"] * len(keys)
    assert flaky.calls == dict.fromkeys(keys, 2)
    for result, key in zip(results, keys, strict=True):
        assert {i.event.get("keyId") for i in result.invocations} == {key}
        assert [i.function_name for i in result.invocations] == ["flaky", "flaky", "check-key"]
    assert total == 3 * len(keys)


def test_placeholder_without_value_is_a_named_error(emulated_aws):
    with pytest.raises(PlaceholderMismatch, match="SocTopicArn"):
        LocalWorkflow(load_asl("retry_catch"), retry_catch(Flaky(0)))


def test_value_without_placeholder_is_a_named_error(emulated_aws):
    with pytest.raises(PlaceholderMismatch, match="EvidenceBucket"):
        LocalWorkflow(
            load_asl("retry_catch"),
            retry_catch(Flaky(0)),
            {"SocTopicArn": SOC_TOPIC, "EvidenceBucket": "b"},
        )


def test_substitute_is_strict_and_keeps_json_valid():
    text = '{"A": "${One}", "B": "${Two}"}'
    assert placeholders(text) == {"One", "Two"}
    assert json.loads(substitute(text, {"One": "x", "Two": 'say "hi"'})) == {"A": "x", "B": 'say "hi"'}
    with pytest.raises(PlaceholderMismatch):
        substitute(text, {"One": "x"})
    with pytest.raises(PlaceholderMismatch):
        substitute('{"A": "${}"}', {})


def test_runner_refuses_moto_without_state_machine_execution(aws_env):
    with mock_aws(config={"lambda": {"use_docker": False}}), pytest.raises(MotoNotConfigured):
        LocalWorkflow(load_asl("poll_loop"), {"StatusFunctionArn": ("status", check_key)}).__enter__()


def test_string_output_is_returned_as_the_string(emulated_aws):
    # moto hands a JSON-string output back unencoded; the result still carries the string.
    definition = json.dumps(
        {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": "done", "End": True}}}
    )
    assert run_execution(definition, {}, {}).output == "done"
