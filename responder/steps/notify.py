"""Notify: tell the SOC what happened and where the evidence is, then record the final response."""

from __future__ import annotations

from typing import Any

from responder.evidence import incident_prefix, put_json_evidence
from responder.messages import post_webhook, publish
from responder.models import Action
from responder.permissions import Permission
from responder.state import StepResult, WorkflowState, response_of

# What deliver calls: the SOC topic (and its key), the chat webhook's secret, response.json.
PERMISSIONS_DELIVER: tuple[Permission, ...] = (
    Permission(("sns:Publish",), ("@soc_topic",)),
    Permission(("kms:GenerateDataKey", "kms:Decrypt"), ("@soc_key",)),
    Permission(("secretsmanager:GetSecretValue",), ("@webhook_secret",)),
    # response.json: the run's final record (GetObject backs the write-once check).
    Permission(("s3:PutObject", "s3:GetObject"), ("@evidence_bucket/*",)),
)


def deliver(
    sns: Any,
    s3: Any,
    secrets: Any,
    settings: Any,
    state: WorkflowState,
    message: Any,
    *,
    execution_id: str,
    workflow_status: str,
) -> StepResult:
    """Send the SOC message (and the chat webhook, best effort), then record the final response.

    ``response.json`` in evidence holds every action of the run, the SOC message's included, so the
    record is complete even for steps that ran after the report (Remediate) or instead of it.
    """

    message_id = publish(sns, settings.soc_topic_arn, message)
    actions = [Action.now("notify_soc", settings.soc_topic_arn, "done", f"SNS message {message_id}")]
    if settings.webhook_secret_id:
        posted = post_webhook(secrets, settings.webhook_secret_id, message)
        # A chat outage never fails the workflow: the email went out, the status says what happened.
        actions.append(Action.now("notify_chat", "webhook", "done" if posted else "failed", None))
    inc = state.incident
    if inc is not None and settings.evidence_bucket:
        response = response_of(state, workflow_status)
        response["actions"] += [a.model_dump(mode="json") for a in actions]
        response["execution_id"] = execution_id
        ref = put_json_evidence(
            s3,
            settings.evidence_bucket,
            f"{incident_prefix(inc.incident_id, execution_id)}/response.json",
            response,
            kind="response",
        )
        return StepResult(actions=actions, evidence=[ref])
    return StepResult(actions=actions)
