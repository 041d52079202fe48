"""The SOC notification: a subject that fits a phone screen and a plain-text body.

Built only from chosen fields of the state (never whole findings or CloudTrail records, which may
carry session tokens).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from responder.models import Action
from responder.state import WorkflowState

SUBJECT_MAX = 100


class Message(BaseModel):
    subject: str
    body: str


def console_url(execution_id: str) -> str:
    region = execution_id.split(":")[3] if execution_id.count(":") >= 6 else "us-east-1"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_id}"


def _subject(*parts: str) -> str:
    subject = " ".join(p for p in parts if p)
    # SNS rejects subjects over 100 characters or with line breaks.
    subject = " ".join(subject.split())
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 1] + "…"


def _outcome(actions: list[Action]) -> str:
    disable = [a for a in actions if a.action == "disable_access_key"]
    if any(a.status == "done" for a in disable):
        return "key disabled"
    if any(a.status == "already_done" for a in disable):
        return "already contained"
    if any(a.status == "failed" for a in actions):
        return "ACTION FAILED"
    return "no change made"


def _action_lines(actions: list[Action]) -> list[str]:
    return [
        f"  - {a.action} {a.target}: {a.status}" + (f" ({a.detail})" if a.detail else "") for a in actions
    ]


def _incident_lines(state: WorkflowState) -> list[str]:
    inc = state.incident
    if inc is None:
        return ["Incident: not established (the input could not be triaged)."]
    lines = [
        f"Incident: {inc.incident_id} ({inc.source})",
        f"Account: {inc.account_id}  Region: {inc.region or '-'}",
        f"Access key: {inc.access_key_id or '-'}  Principal: {inc.principal.type or '-'} "
        f"{inc.principal.user_name or ''}".rstrip(),
        f"Decision: {inc.decision.action} ({inc.decision.reason})",
    ]
    if inc.finding:
        lines.insert(1, f"Finding: {inc.finding.type} severity {inc.finding.severity} id {inc.finding.id}")
    if state.owner and (state.owner.owner or state.owner.user_name):
        lines.append(f"Owner: {state.owner.owner or 'unknown'} (user {state.owner.user_name})")
    if inc.remote_ips:
        lines.append("Remote IPs in the finding: " + ", ".join(inc.remote_ips[:10]))
    return lines


def success_message(state: WorkflowState, execution_id: str) -> Message:
    inc = state.incident
    actions = state.actions()
    kind = inc.finding.type if inc and inc.finding else (inc.source if inc else "input")
    key = inc.access_key_id if inc else None
    subject = _subject("[Responder]", kind, key or "", "-", _outcome(actions))
    body = ["What happened", *_incident_lines(state)]
    if state.validation_error:
        body += ["", f"Not contained: {state.validation_error.Error}: {state.validation_error.message}"]
    body += ["", "What was done", *(_action_lines(actions) or ["  - nothing changed"])]
    report = state.report
    if report:
        if report.headline:
            body += ["", "Investigation", f"  {report.headline}"]
        if report.top_source_ips:
            body.append("  Top source IPs: " + ", ".join(report.top_source_ips[:5]))
        if report.findings_by_tactic:
            body.append(
                "  Findings by tactic: "
                + ", ".join(f"{t} {n}" for t, n in sorted(report.findings_by_tactic.items()))
            )
    if report and report.coverage_status in ("no_data", "partial"):
        body.append(
            f"  Log coverage of the window is {report.coverage_status}: absence of activity is not proven."
        )
    if inc and inc.decision.action == "await_approval":
        body += ["", "Approval needed: containment waits for a human decision."]
    body += ["", "Evidence"]
    body += [f"  {e.uri} sha256 {e.sha256}" for e in state.evidence()] or ["  none written"]
    body += ["", "Links", f"  Execution: {console_url(execution_id)}"]
    if report and report.uri:
        body.append(f"  Report: {report.uri}")
    return Message(subject=subject, body="\n".join(body) + "\n")


def failure_message(state: WorkflowState, execution_id: str) -> Message:
    err = state.error
    inc = state.incident
    name = err.Error if err else "Unknown"
    subject = _subject(
        "[Responder] FAILED", name, "-", inc.access_key_id if inc and inc.access_key_id else ""
    )
    actions = state.actions()
    body = [
        f"The responder stopped on {name}: {err.message if err else 'no detail'}",
        "",
        "What is known",
        *_incident_lines(state),
        "",
        "What was done before the failure",
        *(_action_lines(actions) or ["  - nothing changed"]),
        "",
        "What was NOT done: every step after the failure (containment, queries, report, as applicable).",
        "Check the key's status in IAM now and contain by hand if it is still Active.",
        "",
        "Evidence",
        *([f"  {e.uri} sha256 {e.sha256}" for e in state.evidence()] or ["  none written"]),
        "",
        f"Execution: {console_url(execution_id)}",
    ]
    return Message(subject=subject, body="\n".join(body) + "\n")


def publish(sns: Any, topic_arn: str, message: Message) -> str:
    """Send the message to the SOC topic; returns the SNS message id."""
    response = sns.publish(TopicArn=topic_arn, Subject=message.subject, Message=message.body)
    return str(response["MessageId"])
