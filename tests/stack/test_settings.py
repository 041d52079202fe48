"""A wrong context value fails synth with a message naming the key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from aws_cdk import App

from app import build, cli_context
from deployment.settings import (
    COMMERCIAL_REGIONS,
    DEFAULT_FINDING_TYPE_PREFIXES,
    KEYS,
    PREFIX,
    SettingsError,
    StackSettings,
    main,
    markdown,
)
from responder.settings import Settings

REPO = Path(__file__).resolve().parents[2]

LAKE = {
    "lakeEventDataStore": "arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/EXAMPLE-f852-4e8f-8bd1"
}

ATHENA = {"queryEngine": "athena", "cloudTrailBucket": "org-trail-logs"}

OPTIONAL = {
    "threatListUri": "s3://intel-bucket/lists/ips.txt",
    "chatWebhookSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:soc/slack-AbC123",
    "chatWebhookKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/0000abcd-12ab-34cd-56ef-1234567890ab",
}


def test_defaults_with_a_lake_data_store():
    settings = StackSettings.from_mapping(LAKE)
    assert settings.query_engine == "lake"
    assert settings.finding_type_prefixes == DEFAULT_FINDING_TYPE_PREFIXES
    assert (settings.min_severity, settings.contain_min_severity) == (4, 7)
    assert settings.lake_event_data_store_id == "EXAMPLE-f852-4e8f-8bd1"
    assert settings.evidence_retention_mode == "GOVERNANCE"


def test_command_line_strings_are_parsed():
    settings = StackSettings.from_mapping(
        {
            **LAKE,
            "minSeverity": "5.5",
            "socEmails": "soc@example.com, oncall@example.com",
            "lookbackDays": "14",
        }
    )
    assert settings.min_severity == 5.5
    assert settings.soc_emails == ("soc@example.com", "oncall@example.com")
    assert settings.lookback_days == 14
    assert StackSettings.from_mapping({**LAKE, "socEmails": '["a@example.com"]'}).soc_emails == (
        "a@example.com",
    )


def test_athena_defaults_cover_every_commercial_region_and_the_deploying_account():
    settings = StackSettings.from_mapping(ATHENA)
    assert settings.trail_regions == COMMERCIAL_REGIONS and len(COMMERCIAL_REGIONS) >= 34
    assert settings.trail_accounts == () and settings.organization_id == ""
    assert settings.athena_projection_start == "2020/01/01"
    assert settings.cloudtrail_kms_key_arn == ""


def test_athena_keys_from_the_command_line_are_parsed():
    settings = StackSettings.from_mapping(
        {
            **ATHENA,
            "trailRegions": "us-east-1,eu-west-1",
            "trailAccounts": '["111122223333"]',
            "organizationId": "o-a1b2c3d4e5",
            "athenaBytesScannedCutoff": "10000000",
        }
    )
    assert settings.trail_regions == ("us-east-1", "eu-west-1")
    assert settings.trail_accounts == ("111122223333",)
    assert settings.organization_id == "o-a1b2c3d4e5"
    assert settings.athena_bytes_scanned_cutoff == 10_000_000


def test_athena_needs_the_trail_bucket_not_a_data_store():
    settings = StackSettings.from_mapping({"queryEngine": "athena", "cloudTrailBucket": "org-trail-logs"})
    assert settings.cloudtrail_bucket == "org-trail-logs"


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"queryEngine": "splunk"}, "responder:queryEngine"),
        ({}, "responder:lakeEventDataStore"),
        ({"lakeEventDataStore": "not a store!"}, "responder:lakeEventDataStore"),
        ({"queryEngine": "athena"}, "responder:cloudTrailBucket"),
        ({"queryEngine": "athena", "cloudTrailBucket": "Bad_Bucket"}, "responder:cloudTrailBucket"),
        ({**LAKE, "evidenceRetentionDays": -1}, "responder:evidenceRetentionDays"),
        ({**LAKE, "evidenceRetentionDays": "a year"}, "responder:evidenceRetentionDays"),
        ({**LAKE, "evidenceRetentionMode": "LEGAL_HOLD"}, "responder:evidenceRetentionMode"),
        ({**LAKE, "socEmails": ["soc@example.com", "not-an-email"]}, "responder:socEmails"),
        ({**LAKE, "minSeverity": 11}, "responder:minSeverity"),
        ({**LAKE, "containMinSeverity": "high"}, "responder:containMinSeverity"),
        ({**LAKE, "findingTypePrefixes": []}, "responder:findingTypePrefixes"),
        ({**LAKE, "findingTypePrefixes": "UnauthorizedAccess:IAMUser/ bad"}, "responder:findingTypePrefixes"),
        ({**LAKE, "lookbackDays": 0}, "responder:lookbackDays"),
        ({**LAKE, "lookbackDays": 30, "maxLookbackDays": 7}, "responder:maxLookbackDays"),
        ({**LAKE, "pollSeconds": 3600}, "responder:pollSeconds"),
        ({**LAKE, "logRetentionDays": 42}, "responder:logRetentionDays"),
        ({**LAKE, "ownerTagKeys": []}, "responder:ownerTagKeys"),
        ({**LAKE, "protectedPrincipals": ["arn:aws:s3:::bucket"]}, "responder:protectedPrincipals"),
        ({**LAKE, "minSeverty": 5}, "responder:minSeverty"),
        ({**ATHENA, "athenaProjectionStart": "2020-01-01"}, "responder:athenaProjectionStart"),
        ({**ATHENA, "athenaProjectionStart": "2023/02/30"}, "responder:athenaProjectionStart"),
        ({**ATHENA, "trailRegions": ["us-east-1", "Mars"]}, "responder:trailRegions"),
        ({**ATHENA, "trailRegions": []}, "responder:trailRegions"),
        ({**ATHENA, "trailAccounts": "12345"}, "responder:trailAccounts"),
        ({**ATHENA, "organizationId": "r-abcd"}, "responder:organizationId"),
        (
            {**ATHENA, "cloudTrailKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/trail"},
            "responder:cloudTrailKmsKeyArn",
        ),
        ({**ATHENA, "athenaBytesScannedCutoff": 1000}, "responder:athenaBytesScannedCutoff"),
        ({**ATHENA, "athenaResultsRetentionDays": 0}, "responder:athenaResultsRetentionDays"),
        ({**LAKE, "protectedPrincipals": '["ops,admin"]'}, "responder:protectedPrincipals"),
        ({**LAKE, "approvalTimeoutSeconds": 59}, "responder:approvalTimeoutSeconds"),
        ({**LAKE, "approvalTimeoutSeconds": 604801}, "responder:approvalTimeoutSeconds"),
        ({**LAKE, "approvalTimeoutSeconds": "an hour"}, "responder:approvalTimeoutSeconds"),
        ({**LAKE, "approvalOnTimeout": "escalate"}, "responder:approvalOnTimeout"),
        ({**LAKE, "maxAutoContain": -1}, "responder:maxAutoContain"),
        ({**LAKE, "maxAutoContain": 5000}, "responder:maxAutoContain"),
        ({**LAKE, "trustedIdentityPools": ["my-pool"]}, "responder:trustedIdentityPools"),
        ({**LAKE, "trustedOidcSubjects": ["repo:*"]}, "responder:trustedOidcSubjects"),
        ({**LAKE, "trustedOidcSubjects": "repo:acme/a,repo:acme/b c"}, "responder:trustedOidcSubjects"),
        ({**LAKE, "threatListUri": "https://intel.example.com/ips.txt"}, "responder:threatListUri"),
        ({**LAKE, "threatListUri": "s3://intel-bucket"}, "responder:threatListUri"),
        ({**LAKE, "threatListUri": "s3://intel-bucket/lists/"}, "responder:threatListUri"),
        ({**LAKE, "threatListUri": "s3://Intel_Bucket/ips.txt"}, "responder:threatListUri"),
        ({**LAKE, "threatListUri": "s3://intel-bucket/lists/*.txt"}, "responder:threatListUri"),
        ({**LAKE, "threatListUri": "s3://intel-bucket/${aws:username}"}, "responder:threatListUri"),
        ({**LAKE, "threatListUri": ["s3://intel-bucket/ips.txt"]}, "responder:threatListUri"),
        (
            {
                **LAKE,
                "chatWebhookSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:soc/slack",
            },
            "responder:chatWebhookSecretArn",
        ),
        ({**LAKE, "chatWebhookSecretArn": "soc/slack"}, "responder:chatWebhookSecretArn"),
        (
            {**LAKE, **{k: v for k, v in OPTIONAL.items() if k != "chatWebhookSecretArn"}},
            "responder:chatWebhookKmsKeyArn",
        ),
        (
            {**LAKE, **OPTIONAL, "chatWebhookKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/chat"},
            "responder:chatWebhookKmsKeyArn",
        ),
        ({"queryEngine": "securitylake"}, "responder:securityLakeRegion is required"),
        ({"queryEngine": "securitylake", "securityLakeRegion": "virginia"}, "responder:securityLakeRegion"),
        (
            {"queryEngine": "securitylake", "securityLakeRegion": "us-east-1", "securityLakeDatabase": "x;y"},
            "responder:securityLakeDatabase",
        ),
        (
            {
                "queryEngine": "securitylake",
                "securityLakeRegion": "us-east-1",
                "securityLakeRegions": ["mars-1"],
            },
            "responder:securityLakeRegions",
        ),
        (
            {
                "queryEngine": "securitylake",
                "securityLakeRegion": "us-east-1",
                "securityLakeS3DataEvents": "maybe",
            },
            "responder:securityLakeS3DataEvents",
        ),
        ({"queryEngine": "cloudwatch"}, "responder:cloudWatchLogGroup is required"),
        ({"queryEngine": "cloudwatch", "cloudWatchLogGroup": "trail logs*"}, "responder:cloudWatchLogGroup"),
    ],
)
def test_wrong_value_names_its_key(context, key):
    with pytest.raises(SettingsError, match=key):
        StackSettings.from_mapping(context)


def test_settings_are_frozen():
    settings = StackSettings.from_mapping(LAKE)
    with pytest.raises(AttributeError):
        settings.min_severity = 0  # type: ignore[misc]


@pytest.mark.synth
def test_a_wrong_context_value_fails_synth_naming_the_key(tmp_path):
    app = App(outdir=str(tmp_path), context={**cli_context(), "responder:queryEngine": "splunk"})
    with pytest.raises(
        SettingsError,
        match="responder:queryEngine must be 'lake' or 'athena' or 'securitylake' or 'cloudwatch', not 'splunk'",
    ):
        build(app)


@pytest.mark.synth
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("approvalTimeoutSeconds", "30", "responder:approvalTimeoutSeconds must be a whole number from 60"),
        ("approvalOnTimeout", "escalate", "responder:approvalOnTimeout must be 'leave' or 'contain'"),
        ("threatListUri", "intel-bucket/ips.txt", "responder:threatListUri must be an S3 object URI"),
        ("chatWebhookSecretArn", "soc/slack", "responder:chatWebhookSecretArn must be the complete ARN"),
        (
            "chatWebhookKmsKeyArn",
            OPTIONAL["chatWebhookKmsKeyArn"],
            "responder:chatWebhookKmsKeyArn is the key",
        ),
        ("protectedTag", "", "responder:protectedTag must be a tag key"),
    ],
)
def test_a_wrong_optional_value_fails_synth_naming_the_key(tmp_path, key, value, message):
    app = App(outdir=str(tmp_path), context={**cli_context(), PREFIX + key: value})
    with pytest.raises(SettingsError, match=message):
        build(app)


def test_approval_and_optional_keys_default_to_off():
    settings = StackSettings.from_mapping(LAKE)
    assert (settings.approval_timeout_seconds, settings.approval_on_timeout) == (3600, "leave")
    assert settings.threat_list_uri == settings.threat_list_bucket == settings.threat_list_key == ""
    assert settings.chat_webhook_secret_arn == settings.chat_webhook_kms_key_arn == ""
    env = settings.function_environment()
    assert env["APPROVAL_TIMEOUT_SECONDS"] == "3600" and env["APPROVAL_ON_TIMEOUT"] == "leave"
    assert env["THREAT_LIST_BUCKET"] == env["THREAT_LIST_KEY"] == env["WEBHOOK_SECRET_ID"] == ""
    assert cli_context()[PREFIX + "threatListUri"] == "", "cdk.json lists the key, unset"


def test_optional_keys_from_the_command_line_are_parsed():
    settings = StackSettings.from_mapping(
        {**LAKE, **OPTIONAL, "approvalTimeoutSeconds": "604800", "approvalOnTimeout": "contain"}
    )
    assert settings.approval_timeout_seconds == 604800 and settings.approval_on_timeout == "contain"
    assert (settings.threat_list_bucket, settings.threat_list_key) == ("intel-bucket", "lists/ips.txt")
    assert settings.chat_webhook_secret_arn == OPTIONAL["chatWebhookSecretArn"]
    assert settings.chat_webhook_kms_key_arn == OPTIONAL["chatWebhookKmsKeyArn"]


def test_what_the_stack_sets_the_functions_read_back():
    """Context -> the functions' environment -> responder.settings: the same values arrive."""
    settings = StackSettings.from_mapping(
        {
            **LAKE,
            **OPTIONAL,
            "approvalTimeoutSeconds": 900,
            "approvalOnTimeout": "contain",
            "protectedPrincipals": [
                "break-glass",
                "AIDAEXAMPLEID",
                "arn:aws:iam::111122223333:user/ops/admin",
            ],
            "protectedTag": "security:do-not-contain",
            "ownerTagKeys": "team,owner",
            "containMinSeverity": 8.5,
            "maxAutoContain": 40,
            "trustedIdentityPools": ["eu-west-1:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"],
            "trustedOidcSubjects": "repo:acme-corp/,repo:acme-labs/site:",
        }
    )
    runtime = Settings.from_env(settings.function_environment())
    assert runtime.max_auto_contain == 40
    assert runtime.trusted_identity_pools == settings.trusted_identity_pools
    assert runtime.trusted_oidc_subjects == ("repo:acme-corp/", "repo:acme-labs/site:")
    assert runtime.query_engine == "lake" and runtime.lake_event_data_store == "EXAMPLE-f852-4e8f-8bd1"
    assert (runtime.approval_timeout_seconds, runtime.approval_on_timeout) == (900, "contain")
    assert runtime.protected_principals == settings.protected_principals
    assert runtime.protected_tag == "security:do-not-contain"
    assert runtime.owner_tag_keys == ("team", "owner") and runtime.contain_min_severity == 8.5
    assert (runtime.threat_list_bucket, runtime.threat_list_key) == ("intel-bucket", "lists/ips.txt")
    assert runtime.webhook_secret_id == OPTIONAL["chatWebhookSecretArn"]
    assert (runtime.lookback_days, runtime.max_lookback_days, runtime.poll_seconds) == (7, 3650, 5)


def test_the_key_table_describes_every_setting_and_every_variable():
    names = [k.name for k in KEYS]
    assert len(names) == len(set(names))
    assert {k.field for k in KEYS} == {f.name for f in dataclasses.fields(StackSettings)}
    assert all(k.description.endswith(".") and k.kind for k in KEYS)
    every = StackSettings.from_mapping({**LAKE, **OPTIONAL}).function_environment()
    assert set(every) == {e for k in KEYS for e in k.env}, "a variable the table does not name, or vice versa"
    cdk_json = json.loads((REPO / "cdk.json").read_text())["context"]
    assert {k.removeprefix(PREFIX) for k in cdk_json if k.startswith(PREFIX)} <= set(names)


def test_docs_configuration_is_up_to_date(capsys):
    """docs/configuration.md is `python -m deployment.settings --markdown`: regenerate it after a key changes."""
    assert main(["--markdown"]) == 0
    generated = capsys.readouterr().out
    assert generated == markdown()
    assert (REPO / "docs" / "configuration.md").read_text() == generated, (
        "docs/configuration.md is stale: run `python -m deployment.settings --markdown > docs/configuration.md`"
    )
    for key in KEYS:
        assert f"`{key.key}`" in generated
