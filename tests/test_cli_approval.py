"""`responder approve|deny` against a waiting workflow, the SOC message's commands, and `responder recover`."""

from __future__ import annotations

import io
import json
import queue
import shlex
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from responder import clients
from responder.approval import approval_commands
from tests.iam_env import REGION, Env, emulated_iam
from tests.local.conftest import load_asl
from tests.test_recover import INC, contain
from workstation.cli import main
from workstation.local import MOTO_CONFIG
from workstation.local.runner import LocalWorkflow

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAb+/v7+/Zm9vYmFyJ2AnIjsgcm0gLXJmIC8=" * 3


@pytest.fixture
def iam_env(aws_env: None) -> Iterator[Env]:
    with emulated_iam() as env:
        yield env


# ------------------------------------------------------------------------------ the SOC message


def test_approval_commands_carry_the_token_safely_for_a_shell():
    nasty = 'tok\'en $(rm -rf /) `x` "q" ;|&'
    text = approval_commands(nasty)
    lines = [line.strip() for line in text.splitlines() if line.startswith("  ")]
    assert len(lines) == 4
    for line in lines:
        argv = shlex.split(line)
        assert argv[argv.index("--token" if argv[0] == "responder" else "--task-token") + 1] == nasty
    approve, deny, success, failure = (shlex.split(line) for line in lines)
    assert approve[:2] == ["responder", "approve"] and deny[:2] == ["responder", "deny"]
    assert success[:3] == ["aws", "stepfunctions", "send-task-success"]
    assert json.loads(success[success.index("--task-output") + 1])["approved"] is True
    assert failure[:3] == ["aws", "stepfunctions", "send-task-failure"]
    assert failure[failure.index("--error") + 1] == "ApprovalDenied"


def test_approval_commands_exact_text_for_a_plain_token():
    assert approval_commands("abc") == (
        "To approve:\n"
        "  responder approve --token abc --reason 'owner confirmed'\n"
        "To deny:\n"
        "  responder deny --token abc --reason 'why not'\n"
        "Or with the AWS CLI:\n"
        "  aws stepfunctions send-task-success --task-token abc"
        ' --task-output \'{"approved": true, "by": "aws-cli", "reason": null}\'\n'
        "  aws stepfunctions send-task-failure --task-token abc --error ApprovalDenied"
        ' --cause \'{"approved": false, "by": "aws-cli", "reason": "denied with the AWS CLI"}\''
    )


# ------------------------------------------------------------------- against a waiting workflow


@pytest.fixture
def emulated_sfn(aws_env: None) -> Iterator[None]:
    with mock_aws(config=MOTO_CONFIG):
        yield


def _waiting(tokens: queue.Queue):
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        tokens.put(event["token"])
        return {"asked": True}

    return handler


def _run(argv: list[str]) -> tuple[LocalWorkflow, Any, int]:
    tokens: queue.Queue = queue.Queue()
    with LocalWorkflow(
        load_asl("approval"), {"AskFunctionArn": ("ask", _waiting(tokens))}, name="approval"
    ) as wf:
        arn = wf.start({"keyId": "AKIAEXAMPLE"})
        token = tokens.get(timeout=5)
        code = main([*argv[:1], "--token", token, *argv[1:]])
        result = wf.wait(arn, timeout=10)
    return wf, result, code


def test_approve_resumes_the_workflow_with_who_and_why(emulated_sfn, capsys):
    _, result, code = _run(["approve", "--reason", "owner confirmed the leak"])

    assert code == 0
    caller = "arn:aws:sts::123456789012:user/moto"  # moto's GetCallerIdentity
    assert result.status == "SUCCEEDED"
    assert result.output == {"approved": True, "by": caller}
    succeeded = [e for e in result.history if e["type"] == "TaskSucceeded"]
    assert json.loads(succeeded[-1]["taskSucceededEventDetails"]["output"]) == {
        "approved": True,
        "by": caller,
        "reason": "owner confirmed the leak",
    }
    assert json.loads(capsys.readouterr().out)["approved"] is True


def test_deny_fails_the_task_with_approval_denied(emulated_sfn):
    _, result, code = _run(["deny", "--reason", "change freeze"])

    assert code == 0
    assert result.status == "FAILED"  # the test ASL catches only "Rejected"
    assert result.error == "ApprovalDenied"
    # moto 5.2.5 drops SendTaskFailure's cause (the history says null); the exact cause sent is
    # checked with Stubber in test_deny_without_credentials_names_the_local_user.


# ------------------------------------------------------------------------ exact API parameters


@pytest.fixture
def stubbed(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Stubber]]:
    made = {name: boto3.client(name, region_name=REGION) for name in ("stepfunctions", "sts")}

    class Fixed:  # stands in for the cached factory (aws_env's teardown calls its cache_clear)
        def __call__(self, service: str, region: str | None = None) -> Any:
            return made[service]

        def cache_clear(self) -> None:
            pass

    monkeypatch.setattr(clients, "client", Fixed())
    with Stubber(made["stepfunctions"]) as sfn, Stubber(made["sts"]) as sts:
        yield {"stepfunctions": sfn, "sts": sts}
        sfn.assert_no_pending_responses()


def test_approve_sends_exactly_this(stubbed, monkeypatch):
    arn = "arn:aws:sts::111122223333:assumed-role/SOC/alice"
    stubbed["sts"].add_response(
        "get_caller_identity", {"UserId": "AROAEXAMPLE:alice", "Account": "111122223333", "Arn": arn}
    )
    stubbed["stepfunctions"].add_response(
        "send_task_success",
        {},
        {"taskToken": TOKEN, "output": json.dumps({"approved": True, "by": arn, "reason": "ok"})},
    )
    assert main(["approve", "--token", TOKEN, "--reason", "ok"]) == 0


def test_deny_without_credentials_names_the_local_user(stubbed, monkeypatch):
    monkeypatch.setenv("USER", "bob")
    stubbed["sts"].add_client_error(
        "get_caller_identity", service_error_code="ExpiredToken", http_status_code=403
    )
    stubbed["stepfunctions"].add_response(
        "send_task_failure",
        {},
        {
            "taskToken": TOKEN,
            "error": "ApprovalDenied",
            "cause": json.dumps({"approved": False, "by": "bob", "reason": "change freeze"}),
        },
    )
    assert main(["deny", "--token", TOKEN, "--reason", "change freeze"]) == 0


@pytest.mark.parametrize(
    ("code", "exit_code", "said"),
    [
        ("TaskTimedOut", 2, "timed out"),
        ("TaskDoesNotExist", 2, "no execution is waiting"),
        ("InvalidToken", 2, "not valid"),
        ("AccessDeniedException", 1, "still waiting"),
    ],
)
def test_refused_answers_exit_with_one_line(stubbed, capsys, code, exit_code, said):
    stubbed["sts"].add_response(
        "get_caller_identity",
        {"UserId": "u", "Account": "111122223333", "Arn": "arn:aws:iam::111122223333:user/u"},
    )
    stubbed["stepfunctions"].add_client_error(
        "send_task_success", service_error_code=code, http_status_code=400
    )
    assert main(["approve", "--token", TOKEN]) == exit_code
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and "Traceback" not in err


def test_an_empty_token_is_invalid_input(capsys):
    assert main(["approve", "--token", "  "]) == 2
    assert "--token" in capsys.readouterr().err


# -------------------------------------------------------------------------------------- recover


class _Stdin(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__("")
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_recover_needs_a_table(iam_env: Env, monkeypatch, capsys):
    monkeypatch.delenv("INCIDENT_TABLE", raising=False)
    assert main(["recover", "--incident", INC, "--yes"]) == 2
    assert "--table or INCIDENT_TABLE" in capsys.readouterr().err


def test_recover_without_a_tty_or_yes_refuses_and_changes_nothing(iam_env: Env, monkeypatch, capsys):
    contain(iam_env)
    state, items = iam_env.snapshot(), iam_env.items()
    monkeypatch.setattr("sys.stdin", _Stdin(tty=False))

    assert main(["recover", "--incident", INC, "--table", iam_env.table]) == 2

    assert "refusing to undo 5 change(s) without a TTY; pass --yes" in capsys.readouterr().err
    assert (iam_env.snapshot(), iam_env.items()) == (state, items)


def test_recover_dry_run_lists_and_changes_nothing(iam_env: Env, monkeypatch, capsys):
    contain(iam_env)
    state, items = iam_env.snapshot(), iam_env.items()
    monkeypatch.setenv("INCIDENT_TABLE", iam_env.table)

    assert main(["recover", "--incident", INC, "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert out.count("would_do") == 5 and "nothing changed" in out
    assert (iam_env.snapshot(), iam_env.items()) == (state, items)


def test_recover_asks_on_a_tty(iam_env: Env, monkeypatch, capsys):
    contain(iam_env)
    state = iam_env.snapshot()
    monkeypatch.setattr("sys.stdin", _Stdin(tty=True))
    prompts: list[str] = []
    answers = iter(["n", "y"])

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", answer)

    assert main(["recover", "--incident", INC, "--table", iam_env.table]) == 1
    assert iam_env.snapshot() == state
    assert main(["recover", "--incident", INC, "--table", iam_env.table]) == 0
    assert prompts == ["Undo 5 changes? [y/N] "] * 2
    assert iam_env.key_status() == "Active"


def test_recover_yes_undoes_and_a_second_run_has_nothing_to_do(iam_env: Env, monkeypatch, capsys):
    contain(iam_env)
    monkeypatch.setattr("sys.stdin", _Stdin(tty=False))

    assert main(["recover", "--incident", INC, "--table", iam_env.table, "--yes"]) == 0
    assert iam_env.key_status() == "Active"
    capsys.readouterr()
    assert main(["recover", "--incident", INC, "--table", iam_env.table]) == 0
    out = capsys.readouterr().out
    assert "nothing to undo" in out and out.count("already_done") == 5


def test_recover_unknown_incident_exits_2(iam_env: Env, capsys):
    assert main(["recover", "--incident", "inc-nope", "--table", iam_env.table, "--yes"]) == 2
    assert "inc-nope has no recorded actions" in capsys.readouterr().err
