"""A human command refused by IAM says which of the playbook's roles it needs (and changes nothing)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from responder.approval import ApprovalNotSent, approve, deny
from responder.operators import BREAK_GLASS_ROLE, refusal
from workstation.start import StartFailed, start_run

ARN = "arn:aws:states:us-east-1:111111111111:stateMachine:responder"
DENIED = "User: arn:aws:sts::111111111111:assumed-role/SecurityAnalyst/ana is not authorized"


def _sfn() -> tuple[object, Stubber]:
    sfn = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return sfn, Stubber(sfn)


@pytest.mark.parametrize(
    ("answer", "operation"), [(approve, "send_task_success"), (deny, "send_task_failure")]
)
def test_an_approval_answer_refused_by_iam_names_the_break_glass_role(answer, operation) -> None:
    sfn, stub = _sfn()
    stub.add_client_error(operation, service_error_code="AccessDeniedException", service_message=DENIED)
    with stub, pytest.raises(ApprovalNotSent) as raised:
        answer(sfn, "token-123", by="ana")
    message = str(raised.value)
    assert BREAK_GLASS_ROLE in message and "MFA" in message and "still waiting" in message
    stub.assert_no_pending_responses()


def test_a_containing_start_refused_names_the_role_and_a_dry_run_keeps_the_plain_error() -> None:
    sfn, stub = _sfn()
    stub.add_client_error(
        "start_execution", service_error_code="AccessDeniedException", service_message=DENIED
    )
    stub.add_client_error(
        "start_execution", service_error_code="AccessDeniedException", service_message=DENIED
    )
    with stub:
        with pytest.raises(StartFailed, match=f"needs the {BREAK_GLASS_ROLE} role"):
            start_run(sfn, ARN, {"accessKeyId": "AKIAIOSFODNN7EXAMPLE"})
        with pytest.raises(StartFailed) as plain:
            start_run(sfn, ARN, {"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "dryRun": True})
    assert BREAK_GLASS_ROLE not in str(plain.value)  # a dry run is the analyst's: not a role problem


def test_only_refusals_get_the_role_message() -> None:
    from botocore.exceptions import ClientError

    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "SendTaskSuccess")
    assert refusal("approve", throttled) is None
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "UpdateAccessKey")
    assert f"`responder recover` needs the {BREAK_GLASS_ROLE} role" in (refusal("recover", denied) or "")
