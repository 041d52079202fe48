"""RequestApproval (playbook step 3: "disable if approved by the owner"): ask the SOC for a yes or no,
with the exact commands to give it; Escalate: nobody answered in time.

The state machine holds the task token until the answer (``responder approve``/``deny``) comes back.
"""

from __future__ import annotations

from typing import Any

from responder.approval import approval_commands
from responder.errors import InvalidInput
from responder.messages import approval_message, escalation_message, publish
from responder.models import Action
from responder.state import StepResult, WorkflowState


def request_approval(
    sns: Any, topic_arn: str, state: WorkflowState, execution_id: str, task_token: str | None
) -> str:
    """Publish the approval request with its commands; returns the SNS message id (never log the token)."""
    if not task_token:
        raise InvalidInput("an approval request needs the task token")
    message = approval_message(state, execution_id, approval_commands(task_token))
    return publish(sns, topic_arn, message)


def escalate(sns: Any, topic_arn: str, state: WorkflowState, execution_id: str) -> StepResult:
    """The approval timed out: tell the SOC, as an action of the run."""
    message_id = publish(sns, topic_arn, escalation_message(state, execution_id))
    detail = f"escalation {message_id}: no answer to the approval request"
    return StepResult(actions=[Action.now("notify_soc", topic_arn, "done", detail)])
