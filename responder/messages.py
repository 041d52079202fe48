"""The SOC notification: a subject that fits a phone screen and a plain-text body.

Built only from chosen fields of the state (never whole findings or CloudTrail records, which may
carry session tokens). :func:`post_webhook` also sends it to a Slack or Chime channel whose webhook
URL lives in Secrets Manager; a failed post is logged, never raised (SNS already carried the news).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlparse

from pydantic import BaseModel

from responder.approval import approval_commands
from responder.bundle import final_uris
from responder.encode import EMAIL_TEXT_MAX, cap, chat_text, defang, email_list, email_value, plain
from responder.errors import error_code
from responder.models import Action, Incident
from responder.next_steps import credential_kind, credential_steps
from responder.signals import view as signal_view
from responder.state import WorkflowState
from responder.timing import contain_sentence, time_to_contain

SUBJECT_MAX = 100
WEBHOOK_TEXT_MAX = 3900  # Chime rejects more than 4096 characters; Slack accepts more
PLAN_LINES_MAX = 50  # eradication plan lines in an approval request; the rest is in the plan evidence
# Every value below may come from the finding, the logs or the account: each goes through
# email_value (one line, no control characters, URLs defanged, capped) before it joins a line.
_v = email_value
log = logging.getLogger(__name__)


class Message(BaseModel):
    subject: str
    body: str


def _link(url: str) -> str:
    """One of our own links (console, evidence): kept clickable, but on one line and capped."""
    return cap(plain(url), 2048)


def _text(lines: list[str]) -> str:
    """The body: our lines joined; any control character a value still carried is stripped."""
    return "\n".join(plain(part) for line in lines for part in line.split("\n")) + "\n"


def console_url(execution_id: str) -> str:
    region = execution_id.split(":")[3] if execution_id.count(":") >= 6 else "us-east-1"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_id}"


def s3_console_url(uri: str) -> str:
    """The S3 console page of an ``s3://bucket/key`` object (the URI itself for anything else)."""
    if not uri.startswith("s3://"):
        return uri
    bucket, _, key = uri[5:].partition("/")
    return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={quote(key, safe='/')}"


def _ascii(text: str) -> str:
    if not text:
        return ""
    return " ".join(defang(plain(text)).encode("ascii", "replace").decode().replace("?", " ").split())


def _subject(*parts: str, keep: str = "") -> str:
    """SNS subjects: ASCII, one line, at most 100 characters; ``keep`` (key, outcome) is never cut."""
    subject = _ascii(" ".join(p for p in parts if p))
    tail = f" {_ascii(keep)}" if keep else ""
    room = SUBJECT_MAX - len(tail)
    if len(subject) > room:
        subject = subject[: room - 3].rstrip() + "..."
    return (subject + tail)[:SUBJECT_MAX]


def _outcome(actions: list[Action]) -> str:
    disable = [a for a in actions if a.action == "disable_access_key"]
    if any(a.status == "done" for a in disable):
        return "key disabled"
    if any(a.status == "already_done" for a in disable):
        return "already contained"
    if any(a.status == "failed" for a in actions):
        return "ACTION FAILED"
    if any(a.action == "revoke_sessions" and a.status == "done" for a in actions):
        return "sessions revoked"  # a role session's key (ASIA) cannot be disabled; its sessions can
    return "no change made"


def _action_lines(actions: list[Action]) -> list[str]:
    return [
        f"  - {_v(a.action)} {_v(a.target)}: {_v(a.status)}"
        + (f" ({_v(a.detail, limit=EMAIL_TEXT_MAX)})" if a.detail else "")
        for a in actions
    ]


def _incident_lines(state: WorkflowState) -> list[str]:
    inc = state.incident
    if inc is None:
        return ["Incident: not established (the input could not be triaged)."]
    lines = [
        f"Incident: {_v(inc.incident_id)} ({_v(inc.source)})",
        f"Account: {_v(inc.account_id)}  Region: {_v(inc.region or '-')}",
        f"Access key: {_v(inc.access_key_id or '-')}  Principal: {_v(inc.principal.type or '-')} "
        f"{_v(inc.principal.user_name or '')}".rstrip(),
        "Decision: {} ({})".format(*(_v(v, limit=EMAIL_TEXT_MAX) for v in state.decision())),
    ]
    if inc.finding:
        lines.insert(
            1,
            f"Finding: {_v(inc.finding.type)} severity {_v(inc.finding.severity)} id {_v(inc.finding.id)}",
        )
    if state.owner and (state.owner.owner or state.owner.user_name):
        lines.append(f"Owner: {_v(state.owner.owner or 'unknown')} (user {_v(state.owner.user_name)})")
    if inc.remote_ips:
        lines.append("Remote IPs in the finding: " + email_list(inc.remote_ips, limit=10, each=64))
    lines += [
        _v(line, limit=EMAIL_TEXT_MAX) for line in signal_view.message_lines(inc.model_dump(mode="json"))
    ]
    return lines


def human_steps(state: WorkflowState) -> list[str]:
    """What a person must do now that the responder could not or would not do (the report's first
    steps too: responder/next_steps.py)."""
    inc = state.incident
    if inc is None:
        return []
    key = inc.access_key_id or ""
    kind = credential_kind(
        key, inc.principal.type, state.validation_error.Error if state.validation_error else None
    )
    done = {a.action for a in state.actions() if a.status in ("done", "already_done")}
    steps = credential_steps(
        kind,
        key,
        disabled="disable_access_key" in done,
        sessions_revoked="revoke_sessions" in done,
        incident_id=inc.incident_id,
    )
    disabled = sorted(
        {
            a.target
            for a in state.actions()
            if a.action == "disable_access_key" and a.status in ("done", "already_done")
        }
    )
    steps += signal_view.next_steps(inc.model_dump(mode="json"), disabled)
    if kind in ("root", "session", "user_key"):
        steps.append("Review the backdoors and data access in the report; remove what the attacker added.")
    return ["", "What a human must do now", *[f"  - {_v(s, limit=EMAIL_TEXT_MAX)}" for s in steps]]


def approval_lines(state: WorkflowState, execution_id: str, task_token: str | None) -> list[str]:
    """The approval section: the commands while a token is pending, else the answer or the console."""
    if state.approval is not None:
        return ["", f"Approval: approved by {_v(state.approval.get('by') or 'unknown')}."]
    if state.approval_error is not None:
        return ["", f"Approval: not given ({_v(state.approval_error.Error)}): containment was not approved."]
    lines = ["", "Approval needed: containment waits for a human decision."]
    if task_token:
        lines += ["  " + line for line in approval_commands(task_token).splitlines()]
    else:
        lines.append(
            f"  The approval request carries the commands; or decide in the console: {_link(console_url(execution_id))}"
        )
    return lines


def _kind(inc: Incident | None) -> str:
    """What started the run, as the subject names it: the finding's type, AWS Health's event, the source."""
    if inc is None:
        return "input"
    if inc.finding:
        return inc.finding.type
    if (inc.model_extra or {}).get("signal") == "aws-health":
        return "AWS Health AWS_RISK_CREDENTIALS_EXPOSED"
    return inc.source


def success_message(state: WorkflowState, execution_id: str, *, task_token: str | None = None) -> Message:
    """What happened, what was done, the investigation, the approval command when pending, links.

    ``task_token``: the Step Functions task token of a pending approval, to print its commands.
    """
    inc = state.incident
    actions = state.actions()
    kind = _kind(inc)
    key = inc.access_key_id if inc else None
    outcome = _outcome(actions)
    # Approval is also asked after Validate finds the real owner protected (decision still contain).
    asked = inc is not None and (inc.decision.action == "await_approval" or state.approval_error is not None)
    if asked and outcome == "no change made":
        # Only a pending request needs the SOC's answer; a denial or a timeout was the answer.
        if state.approval_error is None:
            outcome = "APPROVAL NEEDED"
        elif state.approval_error.Error == "States.Timeout":
            outcome = "no answer - no change made"
        else:
            outcome = "approval denied - no change made"
    subject = _subject("[Responder]", kind, keep=f"{key} - {outcome}" if key else f"- {outcome}")
    body = ["What happened", *_incident_lines(state)]
    if state.validation_error:
        error = state.validation_error
        body += ["", f"Not contained: {_v(error.Error)}: {_v(error.message, limit=EMAIL_TEXT_MAX)}"]
    body += ["", "What was done", *(_action_lines(actions) or ["  - nothing changed"])]
    timing = contain_sentence(time_to_contain(inc, actions))
    if timing:
        body.append(f"  {_v(timing, limit=EMAIL_TEXT_MAX)}")
    body += human_steps(state)
    report = state.report
    if report:
        if report.headline:
            # Labelled: no line of the message is the data alone (a headline "All clear" stays a value).
            body += ["", "Investigation", f"  Headline: {_v(report.headline, limit=EMAIL_TEXT_MAX)}"]
        if report.top_source_ips:
            body.append("  Top source IPs: " + email_list(report.top_source_ips, limit=5, each=64))
        if report.findings_by_tactic:
            body.append(
                "  Findings by tactic: "
                + email_list(f"{t} {n}" for t, n in sorted(report.findings_by_tactic.items()))
            )
    if report and report.coverage_status in ("no_data", "partial"):
        body.append(
            f"  Log coverage of the window is {_v(report.coverage_status)}: absence of activity is not proven."
        )
    if inc and inc.decision.action == "await_approval":
        body += approval_lines(state, execution_id, task_token)
    body += ["", "Evidence"]
    evidence = state.evidence()
    headline = [e for e in evidence if not (e.kind or "").startswith("query")]
    body += [f"  {_link(e.uri)} sha256 {_v(e.sha256)}" for e in headline] or ["  none written"]
    if len(evidence) > len(headline):
        body.append(f"  + {len(evidence) - len(headline)} query result files, each hashed in the manifest")
    body += ["", "Links", f"  Execution: {_link(console_url(execution_id))}"]
    if report and report.uri:
        # The final report, written once this message is sent: every action of the run is in it.
        final = final_uris(report.uri)
        body.append(f"  Report: {_link(final['report.json'])}")
        for label, uri in (
            ("Report (HTML)", final["report.html"]),
            ("Report (Markdown)", final["report.md"]),
            ("Evidence manifest", final["manifest.final.json"]),
        ):
            body.append(f"  {label}: {_link(uri)}")
        body.append(f"  Report in the S3 console: {_link(s3_console_url(final['report.html']))}")
        body.append(f"  Draft (written before remediation): {_link(report.uri)}")
    return Message(subject=subject, body=_text(body))


def _key_not_disabled(inc: Incident | None, actions: list[Action]) -> list[str]:
    """Said outright when the exposed key was not disabled by this run (nor found contained by another)."""
    key = inc.access_key_id if inc else None
    contained = any(
        a.action == "disable_access_key" and a.status in ("done", "already_done") for a in actions
    )
    if not key or contained:
        return []
    return [f"The exposed key {_v(key)} was NOT disabled by the responder."]


def failure_message(state: WorkflowState, execution_id: str) -> Message:
    err = state.error
    inc = state.incident
    name = err.Error if err else "Unknown"
    subject = _subject(
        "[Responder] FAILED", name, keep=f"- {inc.access_key_id}" if inc and inc.access_key_id else ""
    )
    actions = state.actions()
    body = [
        f"The responder stopped on {_v(name)}: {_v(err.message, limit=EMAIL_TEXT_MAX) if err else 'no detail'}",
        "",
        "What is known",
        *_incident_lines(state),
        "",
        "What was done before the failure",
        *(_action_lines(actions) or ["  - nothing changed"]),
        "",
        "What was NOT done: every step after the failure (containment, queries, report, as applicable).",
        *_key_not_disabled(inc, actions),
        "Check the key's status in IAM now and contain by hand if it is still Active.",
        "",
        "Evidence",
        *([f"  {_link(e.uri)} sha256 {_v(e.sha256)}" for e in state.evidence()] or ["  none written"]),
        "",
        f"Execution: {_link(console_url(execution_id))}",
    ]
    return Message(subject=subject, body=_text(body))


def publish(sns: Any, topic_arn: str, message: Message) -> str:
    """Send the message to the SOC topic; returns the SNS message id."""
    response = sns.publish(TopicArn=topic_arn, Subject=message.subject, Message=message.body)
    return str(response["MessageId"])


HttpPost = Callable[[str, bytes, dict[str, str]], int]
"""(url, body, headers) -> HTTP status; raises on a transport error."""


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (https only)
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        status: int = response.status
    return status


def webhook_payload(url: str, message: Message) -> dict[str, str]:
    """The body a Slack or Chime incoming webhook expects (by the URL's host).

    The text is :func:`responder.encode.chat_text`: ``&`` ``<`` ``>`` escaped, so no value can
    mention a channel or disguise a link, and no ``@All``/``@here`` mention.
    """
    text = chat_text(f"{message.subject}\n\n{message.body}")
    if len(text) > WEBHOOK_TEXT_MAX:
        cut = text[: WEBHOOK_TEXT_MAX - 40]
        amp = cut.rfind("&")
        if amp > cut.rfind(";"):
            cut = cut[:amp]  # never half an entity
        text = cut + "\n... (truncated; the e-mail has it all)"
    host = (urlparse(url).hostname or "").lower()
    if host.endswith("chime.aws") or "chime" in host:
        return {"Content": text}
    return {"text": text}


class WebhookRefused(RuntimeError):
    """The webhook answered, but not with a 2xx status (the message names only the status)."""


class WebhookMisconfigured(ValueError):
    """The webhook secret holds no https URL (the message never quotes it)."""


def webhook_target(secret: str) -> tuple[str, str]:
    """``(url, authorization)`` from a webhook secret: the URL itself, or JSON with a ``url`` (or
    ``webhook_url``) field and an optional ``authorization`` (the Authorization header's value)."""
    secret = secret.strip()
    if secret.startswith("{"):
        doc = json.loads(secret)
        url = str(doc.get("url") or doc.get("webhook_url") or "")
        return url, str(doc.get("authorization") or "")
    return secret, ""


def post_json(
    secrets_client: Any,
    secret_id: str,
    payload: Callable[[str], Any],
    *,
    http: HttpPost = http_post,
    what: str = "chat webhook",
) -> str | None:
    """POST ``payload(url)`` as JSON to the https URL held by the secret ``secret_id`` (with its
    Authorization header, if it holds one); None when accepted, else the name of what went wrong.

    Never raises, and never logs or returns the URL or the header: both are credentials. Only the
    exception's class is said, with the message of our own (a library's may quote the URL).
    """
    try:
        secret = secrets_client.get_secret_value(SecretId=secret_id)["SecretString"]
        url, authorization = webhook_target(secret)
        if urlparse(url).scheme != "https" or not urlparse(url).hostname:
            raise WebhookMisconfigured(f"the {what} secret holds no https URL")
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        body = json.dumps(payload(url)).encode()
        status = http(url, body, headers)
        if not 200 <= status < 300:
            raise WebhookRefused(f"{what} answered HTTP {status}")
    except Exception as exc:  # the SOC already has the SNS message; an outage must not fail the run
        why = type(exc).__name__
        if isinstance(exc, WebhookRefused | WebhookMisconfigured):
            why = f"{why}: {exc}"
        elif error_code(exc):
            why = f"{why}: {error_code(exc)}"
        log.warning("%s not posted: %s", what, why, extra={"secret_id": secret_id})
        return why
    return None


def post_webhook(
    secrets_client: Any,
    secret_id: str,
    message: Message,
    *,
    http: HttpPost = http_post,
) -> bool:
    """Post the message to the chat webhook named by ``secret_id``; True when it was accepted.

    Never raises: a missing secret, a bad URL or an HTTP error is logged (without the URL, which
    is a credential) and returns False.
    """
    return post_json(secrets_client, secret_id, lambda url: webhook_payload(url, message), http=http) is None


def approval_message(state: WorkflowState, execution_id: str, commands: str) -> Message:
    """The approval request: why a human must decide, and the exact commands to answer."""
    inc = state.incident
    key = inc.access_key_id if inc and inc.access_key_id else ""
    kind = inc.finding.type if inc and inc.finding else (inc.source if inc else "input")
    approval = (inc.model_extra or {}).get("approval", {}) if inc else {}
    timeout = approval.get("timeout_seconds", "?")
    plan = state.eradication_plan
    if plan:
        subject = _subject("[Responder] APPROVAL NEEDED to delete", key, inc.incident_id if inc else "")
        intro = ["Deleting the rogue resources of this incident waits for your decision."]
        lines = list(plan.get("lines", []))
        deletes = [f"  - {_v(line, limit=EMAIL_TEXT_MAX)}" for line in lines[:PLAN_LINES_MAX]] or [
            "  - nothing"
        ]
        if len(lines) > PLAN_LINES_MAX:
            deletes.append(
                f"  - ... and {len(lines) - PLAN_LINES_MAX} more (the plan in evidence lists them all)"
            )
        what = ["What an approved run deletes:", *deletes, ""]
        after = f"Without an answer in {_v(timeout)} s nothing is deleted and the SOC is told so."
    else:
        subject = _subject("[Responder] APPROVAL NEEDED", kind, key)
        intro = ["Containment waits for your decision."]
        what = []
        after = (
            f"Without an answer in {_v(timeout)} s the SOC is alerted and the default applies:"
            f" {_v(approval.get('on_timeout', 'leave'))} (a protected principal is never contained without a yes)."
        )
    body = [
        *intro,
        f"Why: {_v(inc.decision.reason, limit=EMAIL_TEXT_MAX)}" if inc else "",
        "",
        "What happened",
        *_incident_lines(state),
        "",
        *what,
        "Answer with one of these (the token is single-use; keep it out of tickets and chat):",
        commands,
        "",
        after,
        "",
        f"Execution: {_link(console_url(execution_id))}",
    ]
    return Message(subject=subject, body=_text(body))


def escalation_message(state: WorkflowState, execution_id: str) -> Message:
    """Nobody answered the approval request in time."""
    inc = state.incident
    key = inc.access_key_id if inc and inc.access_key_id else ""
    on_timeout = (inc.model_extra or {}).get("approval", {}).get("on_timeout", "leave") if inc else "leave"
    protected = bool(state.owner and state.owner.protected)
    outcome = "left as is" if on_timeout != "contain" or protected else "contained by the default"
    subject = _subject("[Responder] ESCALATION no approval", key, "-", outcome)
    body = [
        "The approval request got no answer in time.",
        f"Configured default: {_v(on_timeout)}; the credential will be {outcome}.",
        *(["The principal is protected: it is never contained without a human's yes."] if protected else []),
        # The owner is not known yet on this path: Validate checks its protection before any change.
        *(
            ["Unless its real owner turns out to be protected: then it is left as is."]
            if state.owner is None and outcome == "contained by the default"
            else []
        ),
        "",
        *_incident_lines(state),
        "",
        f"Execution: {_link(console_url(execution_id))}",
    ]
    return Message(subject=subject, body=_text(body))
