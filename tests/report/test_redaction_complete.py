"""Redaction complete (issue 12, point 12): free-text secrets in saved results, keyed digests everywhere.

Free text that looks like a secret (``password=...``, tokens, private keys, AWS secret key shapes) is
replaced in the rows saved to evidence as well as in reports; each digest is an HMAC with the
deployment's key (Secrets Manager, read once per container); offline runs key with a random key.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest
from moto import mock_aws

from responder.errors import RedactionKeyUnavailable
from responder.redact import (
    RedactingFilter,
    current_key,
    deployment_key,
    hmac_text,
    keyed,
    redact,
    redact_text,
    sha256_text,
)
from responder.report import build_report, render_markdown
from responder.report_html import render_html
from responder.steps.query_results import rows_to_jsonl
from tests.analysis.helpers import KEY, row
from tests.analysis.test_report import WINDOW, build, scenario

PEPPER = b"p" * 32
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

# (free text, the secret in it)
FREE_TEXT = [
    ("password=hunter2-correct-horse", "hunter2-correct-horse"),
    ("DB_PASSWORD: s3cr3t-value", "s3cr3t-value"),
    ("mysql -u app --password Zx9!q2 -h db", "Zx9!q2"),
    (f"aws_secret_access_key = {SECRET_ACCESS_KEY}", SECRET_ACCESS_KEY),
    (f"AKIAIOSFODNN7EXAMPLE {SECRET_ACCESS_KEY}", SECRET_ACCESS_KEY),
    ('{"client_secret": "abc123def456"', "abc123def456"),
    ("x-amz-security-token: FwoGZXIvYXdzEXAMPLEtokenEXAMPLEtoken", "FwoGZXIvYXdzEXAMPLEtokenEXAMPLEtoken"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz", "eyJhbGciOiJIUzI1NiJ9"),
    ("postgres://app:pa55word@db.internal:5432/app", "pa55word"),
    ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 in CI", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAexample\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEAexample",
    ),
    (
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC (cut short)",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    ),
]
# Ordinary text that names secrets without holding one: left as it is.
NOT_SECRETS = [
    "User: arn:aws:iam::1:user/x is not authorized to perform: secretsmanager:ListSecrets",
    "deny on aws:TokenIssueTime for the user or role",
    "The security token included in the request is invalid",
    "InvalidClientTokenId: The security token included in the request is invalid.",
    "password: true",
    "the token is single-use; keep it out of tickets and chat",
    "secretsmanager.amazonaws.com GetSecretValue",
]


@pytest.mark.parametrize(("text", "secret"), FREE_TEXT, ids=[t[:24] for t, _ in FREE_TEXT])
def test_free_text_secrets_are_replaced_by_a_keyed_digest(text: str, secret: str):
    clean = redact_text(text, key=PEPPER)
    assert secret not in clean
    assert "<redacted hmac-sha256:" in clean and "<redacted sha256:" not in clean


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_text_that_only_names_a_secret_is_kept(text: str):
    assert redact_text(text, key=PEPPER) == text


def test_an_ssm_string_parameter_never_reaches_the_saved_rows():
    """PutParameter of a String (CloudTrail logs its value) and a parameter named like a password."""
    rows = [
        row(
            "PutParameter",
            source="ssm.amazonaws.com",
            params={
                "name": "/prod/app/config",
                "type": "String",
                "value": "password=hunter2-horse",
                "overwrite": True,
            },
        ),
        row(
            "PutParameter",
            source="ssm.amazonaws.com",
            params={"name": "/prod/db/password", "type": "String", "value": "hunter2"},
        ),
        row(
            "RegisterTaskDefinition",
            source="ecs.amazonaws.com",
            params={
                "containerDefinitions": [{"environment": [{"name": "API_TOKEN", "value": "tok-12345678"}]}]
            },
        ),
    ]
    with keyed(PEPPER):
        saved = rows_to_jsonl(rows).decode()
    for secret in ("hunter2-horse", '"hunter2"', "tok-12345678"):
        assert secret not in saved
    lines = [json.loads(line) for line in saved.splitlines()]
    # Each line lists what it lost, by path and keyed digest: matchable by whoever holds the key.
    assert lines[0]["_redacted"] == [
        {"path": "$.request_parameters.value", "hmac_sha256": hmac_text("hunter2-horse", PEPPER)}
    ]
    assert lines[1]["_redacted"][0]["hmac_sha256"] == hmac_text("hunter2", PEPPER)
    assert sha256_text("hunter2") not in saved
    assert "/prod/db/password" in saved  # the parameter's name is evidence, not a secret


def test_keyed_applies_to_nested_calls_and_the_log_filter_and_ends_with_the_block(
    caplog: pytest.LogCaptureFixture,
):
    log = logging.getLogger("responder.test.keyed")
    log.addFilter(RedactingFilter())
    with keyed(PEPPER):
        assert current_key() == PEPPER
        _, removed = redact({"password": "hunter2"})
        with caplog.at_level(logging.INFO, logger="responder.test.keyed"):
            log.info("got password=hunter2-in-a-log-line")
    assert removed == [{"path": "$.password", "hmac_sha256": hmac_text("hunter2", PEPPER)}]
    assert caplog.records[0].getMessage() == (
        f"got password=<redacted hmac-sha256:{hmac_text('hunter2-in-a-log-line', PEPPER)}>"
    )
    assert current_key() is None and redact({"password": "x"})[1][0].keys() == {"path", "sha256"}


def test_a_report_built_under_the_key_has_only_keyed_digests():
    token = "IQoJb3JpZ2luX2VjEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtoken+/=="
    with keyed(PEPPER):
        report = build_report(
            scenario(), access_key_id=KEY, principal={"user_name": "dev", "sessionToken": token}, **WINDOW
        )
        markdown, page = render_markdown(report), render_html(report)
    assert report["redactions"] and all(r.keys() == {"path", "hmac_sha256"} for r in report["redactions"])
    for text in (json.dumps(report), markdown, page):
        assert token not in text and "<redacted sha256:" not in text


def test_a_placeholder_added_to_finished_text_is_not_read_as_a_tag():
    """A secret only the final pass finds: its placeholder is escaped for Markdown and HTML."""
    report: dict[str, Any] = build()
    report["summary"]["what_happened"] = "split " + "pass" + "word=hunter2-horse"
    # Bypass the structural pass (as a value assembled at render time would): render what it holds.
    from responder import report as report_module
    from responder import report_html as html_module

    originals = report_module.redacted, html_module.redacted
    report_module.redacted = html_module.redacted = lambda obj, key=None: obj  # type: ignore[assignment]
    try:
        markdown = render_markdown(report, redaction_key=PEPPER)
        page = render_html(report, redaction_key=PEPPER)
    finally:
        report_module.redacted, html_module.redacted = originals  # type: ignore[assignment]
    for text in (markdown, page):
        assert "hunter2-horse" not in text
        assert "&lt;redacted hmac-sha256:" in text and "<redacted" not in text


# --- the deployment's key ---------------------------------------------------------------------


@pytest.fixture
def secrets() -> Any:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_the_deployment_key_is_read_once_per_container(secrets: Any):
    arn = secrets.create_secret(Name="redaction-key-a", SecretString="k" * 64)["ARN"]
    calls: list[str] = []

    def factory() -> Any:
        calls.append("client")
        return secrets

    assert deployment_key(arn, factory) == b"k" * 64
    assert deployment_key(arn, factory) == b"k" * 64
    assert calls == ["client"]
    assert deployment_key("", factory) is None  # not configured (offline, tests): no key


def test_an_unreadable_or_short_key_is_a_named_error_never_a_plain_digest(secrets: Any):
    short = secrets.create_secret(Name="redaction-key-short", SecretString="too-short")["ARN"]
    with pytest.raises(RedactionKeyUnavailable, match="fewer than 16 bytes"):
        deployment_key(short, lambda: secrets)
    missing = short.replace("redaction-key-short", "redaction-key-gone")
    with pytest.raises(RedactionKeyUnavailable, match="unreadable"):
        deployment_key(missing, lambda: secrets)


def test_the_handlers_that_redact_declare_the_key_secret():
    from lambdas.query_results.handler import PERMISSIONS as QUERY_RESULTS
    from lambdas.report.handler import PERMISSIONS as REPORT

    for permissions in (QUERY_RESULTS, REPORT):
        assert any(
            p.actions == ("secretsmanager:GetSecretValue",) and p.resources == ("@redaction_key_secret",)
            for p in permissions
        )


def test_settings_read_the_key_secret_from_the_environment():
    from responder.settings import Settings

    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redaction-AbCdEf"
    assert Settings.from_env({"REDACTION_KEY_SECRET_ARN": arn}).redaction_key_secret_arn == arn
    assert Settings.from_env({}).redaction_key_secret_arn == ""
