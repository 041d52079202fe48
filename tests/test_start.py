"""`responder start`: the manual input, the stack lookup, following the execution, exit codes.

The workflow is our real ASL on moto's Step Functions engine (the local runner), each step a stub
handler steering the path; CloudFormation's DescribeStacks (moto's CloudFormation needs a package
this environment lacks) is answered by botocore's Stubber in the real API shape.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.steps import STEPS
from responder import clients
from responder.errors import InvalidInput
from workstation.cli import main
from workstation.local import MOTO_CONFIG, LocalWorkflow
from workstation.start import (
    ProgressDisplay,
    ProgressStep,
    StackNotFound,
    console_url,
    manual_input,
    state_machine_arn,
    steps_of,
)

ASL = (Path(__file__).resolve().parent.parent / "statemachine" / "responder.asl.json").read_text()
KEY = "AKIAIOSFODNN7EXAMPLE"
STACK = "IncidentResponder"


# ----------------------------------------------------------------------------- the input


def test_manual_input_is_the_console_input():
    assert manual_input(KEY, 90) == {"accessKeyId": KEY, "lookbackDays": 90}
    assert manual_input(KEY, 30, dry_run=True) == {"accessKeyId": KEY, "lookbackDays": 30, "dryRun": True}
    assert manual_input(KEY) == {"accessKeyId": KEY}  # the stack's default window applies


@pytest.mark.parametrize(
    ("key", "days"),
    [("AKIA123", 7), ("akiaiosfodnn7example", 7), ("", 7), (KEY, -1), (KEY, 0), (KEY, 3651)],
)
def test_manual_input_refuses_bad_keys_and_windows(key, days):
    with pytest.raises(InvalidInput):
        manual_input(key, days)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--access-key", "not-a-key"], "--access-key must look like AKIA"),
        (["--access-key", KEY, "--lookback-days", "-5"], "between 1 and 3650, not -5"),
        (["--access-key", KEY, "--lookback-days", "3651"], "between 1 and 3650, not 3651"),
        (["--access-key", KEY, "--lookback-days", "ten"], "invalid int value"),
        (["--lookback-days", "7"], "--access-key"),
    ],
)
def test_bad_arguments_exit_2_before_any_aws_call(aws_env, capsys, argv, says):
    assert main(["start", *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1


def test_console_url_per_partition():
    arn = "arn:aws:states:eu-west-1:123456789012:execution:responder:run-1"
    assert console_url(arn) == (
        f"https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{arn}"
    )
    assert console_url(arn.replace("arn:aws:", "arn:aws-cn:")).startswith("https://console.amazonaws.cn/")


# ------------------------------------------------------------------------ the stack lookup


def _stack(outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/abc",
                "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


def _cfn(aws_env: None) -> Any:
    return clients.client("cloudformation")  # the very client the CLI will get (cached)


def test_state_machine_from_the_stack_output(aws_env):
    cfn = _cfn(aws_env)
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:Workflow"
    with Stubber(cfn) as stub:
        stub.add_response(
            "describe_stacks",
            _stack({"EvidenceBucketName": "ev", "StateMachineArn": machine}),
            {"StackName": STACK},
        )
        stub.add_response(
            "describe_stacks", _stack({"ResponderStateMachineArn0A1B": machine}), {"StackName": "x"}
        )
        assert state_machine_arn(cfn, STACK) == machine
        assert state_machine_arn(cfn, "x") == machine  # a key containing "StateMachine"


def test_a_missing_stack_or_output_is_a_bad_argument(aws_env, capsys):
    cfn = _cfn(aws_env)
    with Stubber(cfn) as stub:
        stub.add_client_error(
            "describe_stacks",
            "ValidationError",
            "Stack with id nope does not exist",
            400,
            {"StackName": "nope"},
        )
        stub.add_response("describe_stacks", _stack({"SocTopicArn": "arn:aws:sns:x"}), {"StackName": STACK})
        with pytest.raises(StackNotFound, match="does not exist"):
            state_machine_arn(cfn, "nope")
        stub.add_client_error(
            "describe_stacks",
            "ValidationError",
            "Stack with id nope does not exist",
            400,
            {"StackName": "nope"},
        )
        assert main(["start", "--access-key", KEY, "--stack", STACK]) == 2
        assert main(["start", "--access-key", KEY, "--stack", "nope"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"responder: stack '{STACK}' has no StateMachineArn output",
        "responder: stack 'nope' does not exist here (region? --stack?)",
    ]


# --------------------------------------------------------------------- against the real ASL


def _stubs(
    path: str, seen: list[dict[str, Any]], prefix: str = "responder"
) -> dict[str, tuple[str, Callable[..., Any]]]:
    """A stub handler per step; ``path`` picks what Triage returns (and so the route).

    The local runner finds a handler by function name, so each workflow gets its own ``prefix``: an
    execution a test left running (``--no-wait``) can never call the next test's stubs.
    """

    def triage(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        if path == "fail":
            raise InvalidInput("the input is not a finding")
        action = "ignore" if path == "ignore" else "notify_only"
        return {
            "incident": {"incident_id": "inc-1", "decision": {"action": action}},
            "owner": None,
            "containment": {"status": "not_attempted"},
        }

    results: dict[str, Any] = {
        "triage": triage,
        "plan_queries": lambda e, c: {"done": True, "round": 0, "batch": []},
    }
    return {
        step.placeholder: (f"{prefix}-{step.name}", results.get(step.name, lambda e, c: {"ok": True}))
        for step in STEPS
    }


@pytest.fixture
def workflow(aws_env: None) -> Iterator[Callable[[str], tuple[str, list[dict[str, Any]]]]]:
    """Deploys the real ASL with stub steps; yields a function path -> (state machine ARN, triage calls)."""
    opened: list[tuple[LocalWorkflow, Stubber]] = []

    def deploy(path: str) -> tuple[str, list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []
        wf = LocalWorkflow(
            ASL, _stubs(path, seen, f"{path}-{len(opened)}"), name=f"responder-{path}"
        ).__enter__()
        # After deploying: the runner resets the client cache; the CLI gets this client next.
        stub = Stubber(clients.client("cloudformation"))
        opened.append((wf, stub))
        arn = str(wf.state_machine_arn)
        stub.add_response("describe_stacks", _stack({"StateMachineArn": arn}), {"StackName": STACK})
        stub.activate()
        return arn, seen

    with mock_aws(config=MOTO_CONFIG):
        try:
            yield deploy
        finally:
            for wf, stub in reversed(opened):
                stub.deactivate()
                wf.__exit__(None, None, None)


def _progress(err: str) -> list[tuple[str, str]]:
    """(kind, name) of each progress line, the clock dropped."""
    out: list[tuple[str, str]] = []
    for line in err.splitlines():
        if line.startswith("["):
            kind, name = line.split("] ", 1)[1].split(None, 1)
            out.append((kind, name))
    return out


def test_start_sends_the_manual_input_and_follows_to_success(workflow, capsys):
    machine, seen = workflow("dry-run")

    code = main(
        ["start", "--access-key", KEY, "--lookback-days", "30", "--dry-run", "--poll-seconds", "0.01"]
    )

    out, err = capsys.readouterr()
    assert code == 0
    assert [call["input"] for call in seen] == [{"accessKeyId": KEY, "lookbackDays": 30, "dryRun": True}]
    lines = out.splitlines()
    assert lines[0].startswith(f"started: {machine.replace(':stateMachine:', ':execution:')}:manual-{KEY}-")
    assert lines[1].startswith(
        "console: https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#"
    )
    assert lines[-1] == "SUCCEEDED"
    progress = _progress(err)
    entered = [name for kind, name in progress if kind == "entered"]
    exited = [name for kind, name in progress if kind == "exited"]
    # This path (Triage said notify_only): no Validate, Disable or RevokeSessions; both branches of
    # Investigate run. Only the order is pinned: states after Report come and go with the workflow.
    assert entered[:3] == ["Triage", "Route", "Investigate"]
    assert not {"Validate", "Disable", "RevokeSessions", "NotifyFailure"} & set(entered)
    assert {"Snapshot", "FirstRound", "PlanQueries", "MoreQueries?", "QueriesDone"} <= set(entered)
    after = entered[entered.index("QueriesDone") :]
    assert after.index("Report") < after.index("Notify") and entered[-1] == "Done"
    assert sorted(exited) == sorted(entered)  # every state entered is seen to exit
    assert progress[-1] == ("SUCCEEDED", "execution")
    assert "not a dry run" not in err


def test_without_dry_run_the_input_has_no_dry_run_flag_and_a_warning_is_printed(workflow, capsys):
    _, seen = workflow("ignore")

    code = main(["start", "--access-key", KEY, "--poll-seconds", "0.01"])

    err = capsys.readouterr().err
    assert code == 0
    assert seen[0]["input"] == {"accessKeyId": KEY}
    assert f"not a dry run: the workflow disables {KEY} before it investigates" in err
    assert [n for k, n in _progress(err) if k == "entered"] == ["Triage", "Route", "Ignored"]


def test_a_failed_execution_exits_1_with_the_error(workflow, capsys):
    workflow("fail")

    code = main(["start", "--access-key", KEY, "--lookback-days", "7", "--poll-seconds", "0.01"])

    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[-1] == "FAILED: ResponderFailed: A step failed; the SOC was sent what is known."
    progress = _progress(err)
    assert ("failed", "InvalidInput") in progress
    assert [n for k, n in progress if k == "entered"] == ["Triage", "NotifyFailure", "Failed"]
    assert progress[-1] == ("FAILED", "ResponderFailed")


def test_no_wait_returns_after_starting(workflow, capsys):
    machine, seen = workflow("ignore")

    code = main(["start", "--access-key", KEY, "--dry-run", "--no-wait"])

    out, err = capsys.readouterr()
    assert code == 0
    assert [line.split(":", 1)[0] for line in out.splitlines()] == ["started", "console"]
    assert _progress(err) == []
    # The execution runs on after the CLI returns: let it end here, or its Triage call lands in the
    # next test's stubs (the local runner finds handlers by function name).
    sfn = clients.client("stepfunctions")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = sfn.list_executions(stateMachineArn=machine)["executions"]
        if runs and all(run["status"] != "RUNNING" for run in runs):
            break
        time.sleep(0.05)
    assert [call["input"] for call in seen] == [{"accessKeyId": KEY, "dryRun": True}]


def test_state_machine_arn_skips_the_stack(aws_env, capsys):
    with mock_aws(config=MOTO_CONFIG):
        seen: list[dict[str, Any]] = []
        with LocalWorkflow(ASL, _stubs("ignore", seen, "direct"), name="direct") as wf:
            code = main(
                [
                    "start",
                    "--access-key",
                    KEY,
                    "--state-machine",
                    str(wf.state_machine_arn),
                    "--poll-seconds",
                    "0.01",
                ]
            )
    assert code == 0 and seen[0]["input"] == {"accessKeyId": KEY}


def test_an_unknown_state_machine_exits_1(aws_env, capsys):
    with mock_aws(config=MOTO_CONFIG):
        arn = "arn:aws:states:us-east-1:123456789012:stateMachine:gone"
        assert main(["start", "--access-key", KEY, "--state-machine", arn]) == 1
    assert "StateMachineDoesNotExist" in capsys.readouterr().err


# ------------------------------------------------------------------------- the display


def test_a_terminal_gets_one_line_rewritten_in_place():
    stream = io.StringIO()
    display = ProgressDisplay(stream, tty=True, width=80)
    display(ProgressStep(2, "entered", "Triage", 0.4))
    display(ProgressStep(3, "exited", "Triage", 61.0))
    display.clear()
    assert stream.getvalue() == (
        "\r\x1b[K[00:00] entered  Triage" + "\r\x1b[K[01:01] exited   Triage" + "\r\x1b[K"
    )
    assert "\n" not in stream.getvalue()


def test_a_pipe_gets_plain_lines():
    stream = io.StringIO()
    display = ProgressDisplay(stream, tty=False)
    display(ProgressStep(2, "entered", "Validate", 3.0))
    display.clear()
    assert stream.getvalue() == "[00:03] entered  Validate\n"


def test_steps_of_reads_task_failures_and_the_end():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        {"id": 1, "type": "ExecutionStarted", "timestamp": t0},
        {"id": 2, "type": "TaskStateEntered", "timestamp": t0, "stateEnteredEventDetails": {"name": "Disable"}},
        {"id": 3, "type": "LambdaFunctionFailed", "timestamp": t0,
         "lambdaFunctionFailedEventDetails": {"error": "ContainmentFailed", "cause": "..."}},
        {"id": 4, "type": "ExecutionFailed", "timestamp": t0.replace(second=5),
         "executionFailedEventDetails": {"error": "ResponderFailed"}},
    ]  # fmt: skip
    assert [s.text() for s in steps_of(events)] == [
        "[00:00] entered  Disable",
        "[00:00] failed   ContainmentFailed",
        "[00:05] FAILED   ResponderFailed",
    ]
    assert json.dumps([s.kind for s in steps_of(events)]) == '["entered", "failed", "FAILED"]'
