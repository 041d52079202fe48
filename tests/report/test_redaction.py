"""Keyed redaction digests, redacted logs, and redacted Markdown/HTML of an unredacted report."""

from __future__ import annotations

import json
import logging

import pytest

from responder.redact import KEYED_PREFIX, RedactingFilter, hmac_text, redact, sha256_text
from responder.report import render_markdown
from responder.report_html import render_html
from tests.report.test_html import TOKEN, report

PEPPER = b"a-secret-pepper-from-secrets-manager"


def test_keyed_digest_is_an_hmac_not_a_guessable_sha256():
    clean, removed = redact({"loginProfile": {"password": "hunter2"}}, key=PEPPER)
    digest = hmac_text("hunter2", PEPPER)
    assert clean["loginProfile"]["password"] == f"{KEYED_PREFIX}{digest}>"
    assert removed == [{"path": "$.loginProfile.password", "hmac_sha256": digest}]
    assert sha256_text("hunter2") not in json.dumps(clean)
    again, more = redact(clean)  # already redacted (keyed): left alone
    assert again == clean and more == []


def test_report_built_with_a_key_uses_hmac_everywhere():
    from responder.report import build_report
    from tests.report.test_html import WINDOW, rows

    keyed = build_report(
        rows(),
        access_key_id="AKIAEXPOSEDKEY000001",
        principal={"user_name": "dev", "sessionToken": TOKEN},
        redaction_key=PEPPER,
        **WINDOW,
    )
    assert keyed["redactions"] and all("hmac_sha256" in r for r in keyed["redactions"])
    assert TOKEN not in json.dumps(keyed)


def test_markdown_and_html_redact_a_report_that_was_not():
    raw = report()
    raw["response"]["actions"][0]["detail"] = f"session {TOKEN}"
    raw["incident"] = {"note": {"sessionToken": TOKEN}}
    assert TOKEN not in render_markdown(raw)
    assert TOKEN not in render_html(raw)


def test_logs_are_redacted_in_message_args_and_extra(caplog: pytest.LogCaptureFixture):
    log = logging.getLogger("responder.test.redaction")
    log.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="responder.test.redaction"):
        log.info("token %s", TOKEN, extra={"sessionToken": TOKEN, "detail": {"password": "hunter2"}})
        log.info({"credentials": {"secretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}})
    (first, second) = caplog.records
    assert TOKEN not in first.getMessage() and "<redacted sha256:" in first.getMessage()
    assert first.sessionToken.startswith("<redacted sha256:")  # type: ignore[attr-defined]
    assert first.detail["password"].startswith("<redacted")  # type: ignore[attr-defined]
    assert "wJalrXUtnFEMI" not in str(second.msg)
