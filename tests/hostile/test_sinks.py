"""Every output encodes what it carries: the generated hostile corpus through every sink (issue 12, 5).

Each string of tests/hostile/strings.py goes into every value a sink shows (the report's every text
field; the incident, actions, errors and investigation of a SOC message), then each sink is held to
its property (tests/hostile/sinks.py): report.md renders no markup but ours and keeps exactly its own
headings; report.html has no element that runs, loads or links, and keeps its CSP; the terminal gets
no control or escape sequence; the e-mail keeps one line per value, capped, no control characters and
no live URL from data; Slack and Chime payloads carry no ``<``/``>`` (mentions, ``<url|label>``
links), no bare ``&`` and no ``@here``-style mention, with the approval commands unchanged.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from responder.encode import (
    EMAIL_VALUE_MAX,
    email_value,
    md_code,
    md_text,
    terminal,
    terminal_line,
)
from responder.messages import (
    Message,
    approval_message,
    escalation_message,
    failure_message,
    success_message,
    webhook_payload,
)
from responder.report import render_markdown
from responder.report_html import CSP, render_html
from responder.state import WorkflowState
from tests.analysis.test_report import build, response
from tests.hostile.sinks import (
    chat_problems,
    email_problems,
    headings,
    html_problems,
    markdown_problems,
    terminal_problems,
)
from tests.hostile.strings import FAMILIES, corpus
from workstation.cli import main as responder_cli
from workstation.offline import ProgressLine, summary_lines

SLACK = "https://hooks.slack.com/services/T000/B000/XXXX"
CHIME = "https://hooks.chime.aws/incomingwebhooks/abc?token=xyz"
EXECUTION = "arn:aws:states:eu-west-1:111122223333:execution:responder:run-1"
FAKE_LINES = ("All clear", "# All clear", "What you must do now", "## What you must do now")
BY_FAMILY = {f: [(n, s) for n, s in corpus() if n.startswith(f + "-")] for f in FAMILIES}


def test_the_corpus_covers_every_family():
    assert len(corpus()) > 200
    assert all(len(v) >= 3 for v in BY_FAMILY.values()), {f: len(v) for f, v in BY_FAMILY.items()}


# --- report.md and report.html: every text field of a real report replaced by the hostile string


def _poison(value: Any, hostile: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "statement" and isinstance(item, str):
                doc = json.loads(item)
                doc["Sid"] = hostile
                out[key] = json.dumps(doc)
            else:
                out[key] = _poison(item, hostile)
        return out
    if isinstance(value, list):
        return [_poison(v, hostile) for v in value]
    return hostile if isinstance(value, str) else value


@pytest.fixture(scope="module")
def base_report() -> dict[str, Any]:
    report = build(response=response())
    report["evidence_manifest"] = {"uri": "s3://evidence/inc-1/manifest.json", "sha256": "b" * 64}
    return report


@pytest.mark.parametrize("family", list(FAMILIES))
def test_markdown_renders_no_markup_but_its_own(family: str, base_report: dict[str, Any]):
    ours = headings(render_markdown(_poison(base_report, "ordinary value")))
    failures = {}
    for name, hostile in BY_FAMILY[family]:
        markdown = render_markdown(_poison(base_report, hostile))
        found = headings(markdown)
        problems = markdown_problems(markdown)
        # Exactly our sections: the same headings, at the same levels, no more and no fewer.
        if [h.split(" ")[0] for h in found] != [h.split(" ")[0] for h in ours]:
            problems.append(f"headings {found[:12]}")
        if problems:
            failures[name] = problems[:3]
    assert not failures


@pytest.mark.parametrize("family", list(FAMILIES))
def test_html_has_nothing_that_runs_loads_or_links(family: str, base_report: dict[str, Any]):
    failures = {}
    for name, hostile in BY_FAMILY[family]:
        page = render_html(_poison(base_report, hostile))
        problems = html_problems(page, CSP)
        if problems:
            failures[name] = problems[:3]
    assert not failures


def test_markdown_shows_the_attackers_text_rather_than_dropping_it():
    # Inert, but there: an analyst must see what the attacker wrote.
    assert md_text("<script>") == "&lt;script&gt;"
    assert md_text("[APPROVE HERE](http://x.example)") == "\\[APPROVE HERE\\](http\\://x.example)"
    assert md_code("a`b") == "``a`b``" and md_code("`x") == "`` `x ``"
    assert md_code("a|b", table=True) == "`a\\|b`"
    assert md_text("x\r\n# All clear") == "x  \\# All clear"
    assert md_text("1. step").startswith("1\\.") and md_text("- item").startswith("\\-")


def test_a_long_value_is_capped_in_markdown_and_says_where_the_rest_is():
    text = md_text("A" * 100_000)
    assert len(text) < 1100 and text.endswith("\\[99000 more characters in report.json\\]")


# --- the terminal -----------------------------------------------------------------------------


def test_terminal_encoders_send_no_control_from_any_hostile_string():
    failures = {}
    for name, hostile in corpus():
        shown, line = terminal(hostile), terminal_line(hostile)
        problems = terminal_problems(shown) + terminal_problems(line)
        if "\n" in line:
            problems.append("newline in a redrawn line")
        if problems:
            failures[name] = problems[:3]
    assert not failures
    assert terminal("\x1b[2Jok") == "\\x1b[2Jok"  # shown as text, so the analyst sees it was there


def test_cli_lines_and_progress_carry_no_escape_from_the_input(
    base_report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    for name, hostile in BY_FAMILY["ansi"] + BY_FAMILY["bidi"] + BY_FAMILY["line_breaks"]:
        for line in summary_lines(_poison(base_report, hostile)):
            assert not terminal_problems(line) and "\n" not in line, name
        stream = io.StringIO()
        progress = ProgressLine(stream, tty=True, width=200)
        progress(1, 2, f"key_activity {hostile}")
        progress.clear()
        ours = stream.getvalue().replace("\r\x1b[K", "")  # the progress line's own redraw
        assert not terminal_problems(ours), name
        # A file the CLI refuses: the one-line reason quotes the input, but never its escapes.
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"accessKeyId": hostile, "lookbackDays": 7}))
        code = responder_cli(["triage", str(bad)])
        out, err = capsys.readouterr()
        assert code in (0, 2), name
        assert not terminal_problems(out) and not terminal_problems(err), (name, err[:200])


# --- the SOC e-mail ---------------------------------------------------------------------------


def _state(hostile: str, *, decision: str = "contain") -> WorkflowState:
    return WorkflowState.model_validate(
        {
            "incident": {
                "incident_id": "inc-1",
                "source": "guardduty",
                "finding": {"id": hostile, "type": hostile, "severity": 8, "title": hostile},
                # The one field a state cannot carry attacker text in: the model refuses a non-key
                # (test_a_state_naming_no_real_key_is_refused).
                "access_key_id": "AKIAEXPOSEDKEY000001",
                "principal": {"type": hostile, "user_name": hostile},
                "account_id": hostile,
                "region": hostile,
                "remote_ips": [hostile, hostile],
                "decision": {"action": decision, "reason": hostile},
                "approval": {"timeout_seconds": hostile, "on_timeout": hostile},
            },
            "owner": {
                "owner": hostile,
                "user_name": hostile,
                "access_key_id": "AKIAEXPOSEDKEY000001",
                "account_id": "111122223333",
            },
            "containment": {
                "actions": [
                    {"action": "disable_access_key", "target": hostile, "status": "done", "detail": hostile}
                ]
            },
            "validation_error": {"Error": hostile, "Cause": json.dumps({"errorMessage": hostile})},
            "error": {"Error": hostile, "Cause": json.dumps({"errorMessage": hostile})},
            "eradication_plan": {"lines": [hostile, hostile]},
            "report": {
                "uri": "s3://evidence/incidents/inc-1/run-1/report.json",
                "headline": hostile,
                "top_source_ips": [hostile, hostile],
                "findings_by_tactic": {hostile: 3},
                "coverage_status": "partial",
            },
        }
    )


def test_a_state_naming_no_real_key_is_refused() -> None:
    from pydantic import ValidationError

    for hostile in ("AKIA\r\nBcc: attacker@example.com", "<script>", "AKIAEXPOSEDKEY000001 @channel"):
        with pytest.raises(ValidationError, match="access_key_id"):
            WorkflowState.model_validate(
                {
                    "incident": {
                        "incident_id": "inc-1",
                        "source": "guardduty",
                        "access_key_id": hostile,
                        "principal": {"type": "IAMUser", "user_name": "u"},
                        "account_id": "111122223333",
                        "decision": {"action": "contain", "reason": "r"},
                    }
                }
            )


def _messages(hostile: str) -> list[Message]:
    # A lone surrogate never reaches a state (pydantic refuses it): its nearest form does.
    hostile = hostile.encode("utf-8", "replace").decode("utf-8")
    state = _state(hostile)
    pending = _state(hostile, decision="await_approval")
    return [
        success_message(state, EXECUTION),
        success_message(pending, EXECUTION, task_token="AAAAKgAAAAIAAAAAAAAAAf+token/=="),
        failure_message(state, EXECUTION),
        approval_message(pending, EXECUTION, "To approve:\n  responder approve --token 'T'"),
        escalation_message(pending, EXECUTION),
    ]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_email_keeps_each_value_on_its_line_capped_and_inert(family: str):
    ordinary = [len(m.body.split("\n")) for m in _messages("ordinary value")]
    failures = {}
    for name, hostile in BY_FAMILY[family]:
        messages = _messages(hostile)
        problems = [p for m in messages for p in email_problems(m.subject, m.body, fake_lines=FAKE_LINES)]
        # One line per value: the data added no line to any message.
        if [len(m.body.split("\n")) for m in messages] != ordinary:
            problems.append("the data changed the number of lines")
        if any(
            "approve.evil.example/ok" in m.body.replace("[:]//", "") and "http://approve" in m.body
            for m in messages
        ):
            problems.append("a live URL from the data")
        if problems:
            failures[name] = problems[:3]
    assert not failures


def test_an_email_value_is_capped_and_says_what_was_cut():
    value = email_value("A" * 5000)
    assert len(value) < EMAIL_VALUE_MAX + 40 and value.endswith("[4800 more characters]")
    assert (
        email_value("see http://evil.example and www.evil.example")
        == "see http[:]//evil.example and www[.]evil.example"
    )


# --- Slack and Chime --------------------------------------------------------------------------


@pytest.mark.parametrize("url", [SLACK, CHIME], ids=["slack", "chime"])
def test_chat_payloads_carry_no_mention_link_or_markup_from_data(url: str):
    failures = {}
    for name, hostile in corpus():
        payloads = [webhook_payload(url, m) for m in _messages(hostile)]
        # Even a message that bypassed the e-mail encoding: the payload encoder holds on its own.
        payloads.append(webhook_payload(url, Message(subject=hostile[:200], body=hostile)))
        problems = [p for body in payloads for text in body.values() for p in chat_problems(text)]
        if problems:
            failures[name] = problems[:3]
    assert not failures


def test_the_real_approval_commands_reach_the_chat_intact():
    from responder.approval import approval_commands

    token = "AAAAKgAAAAIAAAAAAAAAAf+token/=="
    message = success_message(
        _state("dev", decision="await_approval").model_copy(update={"approval_error": None}),
        EXECUTION,
        task_token=token,
    )
    [text] = webhook_payload(SLACK, message).values()
    for line in approval_commands(token).splitlines():
        assert line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in text


def test_a_long_chat_payload_is_cut_outside_an_entity():
    body = "&" * 10_000
    [text] = webhook_payload(SLACK, Message(subject="s", body=body)).values()
    assert len(text) <= 3900 and not chat_problems(text)
