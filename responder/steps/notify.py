"""Notify: tell the SOC what happened and where the evidence is, then record the final response and
the final report: the report re-rendered after the run's last action, with every action and what a
person must still do, over a manifest of every object the run wrote."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from responder.bundle import FINAL_FOLDER, run_objects, write_report_bundle
from responder.errors import ResponderError
from responder.evidence import incident_prefix, put_json_evidence, read_evidence
from responder.messages import HttpPost, http_post, post_webhook, publish
from responder.models import Action, EvidenceRef
from responder.permissions import Permission
from responder.redact import deployment_key, keyed
from responder.report import build_report, summarize, validate_report
from responder.securityhub import (
    PERMISSIONS_WRITE_BACK,
    WorkflowStatus,
    failure_note,
    final_status,
    report_uri,
    update_finding,
)
from responder.state import StepResult, WorkflowState, response_of
from responder.tickets import PERMISSIONS_TICKET, open_ticket, ticket_payload

# What deliver calls: the SOC topic (and its key), the chat and ticket webhooks' secrets, the finding's
# Security Hub workflow status, response.json and the final report bundle (the draft read back, the
# run's objects listed and hashed, the final files written).
PERMISSIONS_DELIVER: tuple[Permission, ...] = (
    Permission(("sns:Publish",), ("@soc_topic",)),
    Permission(("kms:GenerateDataKey", "kms:Decrypt"), ("@soc_key",)),
    Permission(("secretsmanager:GetSecretValue",), ("@webhook_secret",)),
    *PERMISSIONS_TICKET,
    *PERMISSIONS_WRITE_BACK,
    # response.json and the final bundle (GetObject backs the write-once check and HeadObject).
    Permission(("s3:PutObject", "s3:GetObject"), ("@evidence_bucket/*",)),
    Permission(("s3:ListBucket",), ("@evidence_bucket",)),
    # The final report's digests are keyed as the draft's were (the deployment's redaction key).
    Permission(("secretsmanager:GetSecretValue",), ("@redaction_key_secret",)),
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
    securityhub: Any = None,
    http: HttpPost = http_post,
) -> StepResult:
    """Send the SOC message (and, best effort, the chat webhook, the ticket and the Security Hub
    workflow status), then record the final response.

    ``response.json`` in evidence holds every action of the run, the SOC message's included, so the
    record is complete even for steps that ran after the report (Remediate) or instead of it.
    ``securityhub`` is the client for the write-back (``settings.securityhub_write_back``);
    ``http`` posts the webhooks (tests point it at a local server).
    """

    message_id = publish(sns, settings.soc_topic_arn, message)
    actions = [Action.now("notify_soc", settings.soc_topic_arn, "done", f"SNS message {message_id}")]
    if settings.webhook_secret_id:
        posted = post_webhook(secrets, settings.webhook_secret_id, message, http=http)
        # A chat outage never fails the workflow: the email went out, the status says what happened.
        actions.append(Action.now("notify_chat", "webhook", "done" if posted else "failed", None))
    inc = state.incident
    report = (
        report_uri(settings.evidence_bucket, inc.incident_id, execution_id)
        if inc is not None and settings.evidence_bucket
        else ""
    )
    if settings.ticket_secret_id:
        payload = ticket_payload(
            state, execution_id=execution_id, workflow_status=workflow_status, report=report
        )
        actions.append(open_ticket(secrets, settings.ticket_secret_id, payload, http=http))
    if settings.securityhub_write_back:
        status: WorkflowStatus
        if workflow_status == "FAILED":
            status, note = "NEW", failure_note(state, report=report, execution_id=execution_id)
        else:
            status, note = final_status(state, report=report, execution_id=execution_id)
        actions.append(update_finding(securityhub, inc, status, note))
    if inc is not None and settings.evidence_bucket:
        response = response_of(state, workflow_status)
        response["actions"] += [a.model_dump(mode="json") for a in actions]
        response["execution_id"] = execution_id
        prefix = incident_prefix(inc.incident_id, execution_id)
        ref = put_json_evidence(
            s3, settings.evidence_bucket, f"{prefix}/response.json", response, kind="response"
        )
        try:
            with keyed(deployment_key(settings.redaction_key_secret_arn, lambda: secrets)):
                final = write_final_report(s3, settings.evidence_bucket, prefix, state, response)
        except (ClientError, BotoCoreError, ResponderError) as exc:
            # The SOC has its message and the draft report; a failed re-render must not send it twice
            # (a retried Notify publishes again), so it is said, not raised.
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            failed = Action.now("write_final_report", f"{prefix}/{FINAL_FOLDER}", "failed", why)
            return StepResult(actions=[*actions, failed], evidence=[ref])
        return StepResult(actions=actions, evidence=[ref, *final])
    return StepResult(actions=actions)


def final_report(
    s3: Any, state: WorkflowState, response: dict[str, Any], *, ended_at: datetime | None = None
) -> dict[str, Any]:
    """The draft report (or, for a run that ended before its report, one built from what is known,
    its window ending at ``ended_at``, default now) with the run's whole response, and its summary
    derived again from it."""
    inc = state.incident
    assert inc is not None
    if state.report is not None and state.report.uri:
        report: dict[str, Any] = json.loads(read_evidence(s3, state.report.uri))
    else:
        end = ended_at or datetime.now(UTC).replace(microsecond=0)
        report = build_report(
            [],
            access_key_id=inc.access_key_id or "",
            window_start=end - timedelta(days=inc.lookback_days),
            window_end=end,
            principal=inc.principal.model_dump(mode="json"),
            account_id=inc.account_id,
        )
        report["incident"] = inc.model_dump(mode="json")
        report["note"] = "the investigation did not run to its end; see response.actions for what was done"
    # Every piece of evidence either record names: the draft's (its query results) and the run's.
    named = [*((report.get("response") or {}).get("evidence") or []), *(response.get("evidence") or [])]
    report["response"] = {**response, "evidence": list({e["uri"]: e for e in named}.values())}
    report["summary"] = summarize(report)
    report.pop("evidence_manifest", None)  # the final bundle's own is set when it is written
    validate_report(report)
    return report


def write_final_report(
    s3: Any, bucket: str, prefix: str, state: WorkflowState, response: dict[str, Any]
) -> list[EvidenceRef]:
    """``<prefix>/final/``: report.json/.md/.html after the last action, over a manifest of every
    object the run wrote (listed, not remembered: a step that wrote something and said nothing is in
    it too), rooted in manifest.final.json. The draft under ``<prefix>`` is left as it was."""
    report = final_report(s3, state, response)
    recorded = {e["uri"]: e["sha256"] for e in report["response"]["evidence"]}
    objects = run_objects(s3, bucket, prefix, recorded)
    stamp = datetime.now(UTC).replace(microsecond=0)
    return write_report_bundle(
        s3, bucket, f"{prefix}/{FINAL_FOLDER}", report, artifacts=objects, created_at=stamp
    )
