"""Answering a workflow's approval request (a ``.waitForTaskToken`` task) from the SOC.

The SOC message carries :func:`approval_commands`; ``responder approve|deny --token`` run
:func:`approve` / :func:`deny`. An approval is ``SendTaskSuccess`` with output
``{"approved": true, "by": <who>, "reason": <text or null>}``; a denial is ``SendTaskFailure`` with
error ``ApprovalDenied`` and, as cause, the JSON ``{"approved": false, "by": ..., "reason": ...}``
(the ASL's Catch sees it in ``$.Cause``).
"""

from __future__ import annotations

import getpass
import json
import os
import shlex
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from responder.errors import InvalidInput, ResponderError, error_code
from responder.operators import refusal
from responder.permissions import Permission

DENIED_ERROR = "ApprovalDenied"
MAX_TOKEN = 2048  # SendTaskSuccess/SendTaskFailure: taskToken is 1..2048 characters
MAX_REASON = 1000

PERMISSIONS_APPROVE: tuple[Permission, ...] = (
    Permission(
        ("states:SendTaskSuccess", "states:SendTaskFailure"),
        ("*",),
        "a callback task is named by its token, not by an ARN a policy could scope to",
    ),
)
"""What the approver (a person's role, not a Lambda) needs; sts:GetCallerIdentity needs no permission."""

# Token errors are the answerer's mistake or too late: exit 2 with the reason.
_TOKEN_ERRORS = {
    "InvalidToken": "the task token is not valid (copied whole, from this account and region?)",
    "TaskDoesNotExist": "no execution is waiting on that token (answered already, timed out or stopped)",
    "TaskTimedOut": "the approval request timed out before this answer",
}


class ApprovalNotSent(ResponderError):
    """Step Functions refused the answer for a reason other than the token (e.g. AccessDenied)."""


def approval_commands(token: str) -> str:
    """The exact text a SOC message carries to approve or deny: responder and AWS CLI forms."""
    quoted = shlex.quote(token)
    output = shlex.quote(json.dumps({"approved": True, "by": "aws-cli", "reason": None}))
    cause = shlex.quote(json.dumps({"approved": False, "by": "aws-cli", "reason": "denied with the AWS CLI"}))
    return "\n".join(
        [
            "To approve:",
            f"  responder approve --token {quoted} --reason 'owner confirmed'",
            "To deny:",
            f"  responder deny --token {quoted} --reason 'why not'",
            "Or with the AWS CLI:",
            f"  aws stepfunctions send-task-success --task-token {quoted} --task-output {output}",
            f"  aws stepfunctions send-task-failure --task-token {quoted} --error {DENIED_ERROR} --cause {cause}",
        ]
    )


def check_token(token: str) -> str:
    token = token.strip()
    if not token or len(token) > MAX_TOKEN:
        raise InvalidInput(f"--token must be 1 to {MAX_TOKEN} characters")
    return token


def caller(sts: Any) -> str:
    """Who answers: the caller's ARN, or $USER when there are no usable credentials."""
    try:
        return str(sts.get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError):
        return os.environ.get("USER") or getpass.getuser()


def _send(call: Any, **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except ClientError as exc:
        code = error_code(exc)
        if code in _TOKEN_ERRORS:
            raise InvalidInput(f"{exc.operation_name}: {_TOKEN_ERRORS[code]} ({code})") from exc
        command = "approve" if exc.operation_name == "SendTaskSuccess" else "deny"
        refused = refusal(command, exc)
        if refused:
            raise ApprovalNotSent(f"the workflow is still waiting: {refused}") from exc
        raise ApprovalNotSent(f"{exc.operation_name} failed ({code}); the workflow is still waiting") from exc


def _reason(reason: str | None) -> str | None:
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInput(f"--reason is longer than {MAX_REASON} characters")
    return reason


def approve(sfn: Any, token: str, *, by: str, reason: str | None = None) -> dict[str, Any]:
    """SendTaskSuccess with ``{"approved": true, "by": by, "reason": reason}``; returns that output."""
    output = {"approved": True, "by": by, "reason": _reason(reason)}
    _send(sfn.send_task_success, taskToken=check_token(token), output=json.dumps(output))
    return output


def deny(sfn: Any, token: str, *, by: str, reason: str | None = None) -> dict[str, Any]:
    """SendTaskFailure with error ``ApprovalDenied`` and the JSON answer as cause; returns the answer."""
    answer = {"approved": False, "by": by, "reason": _reason(reason)}
    _send(sfn.send_task_failure, taskToken=check_token(token), error=DENIED_ERROR, cause=json.dumps(answer))
    return answer
