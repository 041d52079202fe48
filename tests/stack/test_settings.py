"""A wrong context value fails synth with a message naming the key."""

from __future__ import annotations

import pytest
from aws_cdk import App

from app import build, cli_context
from stacks.settings import COMMERCIAL_REGIONS, DEFAULT_FINDING_TYPE_PREFIXES, SettingsError, StackSettings

LAKE = {
    "lakeEventDataStore": "arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/EXAMPLE-f852-4e8f-8bd1"
}

ATHENA = {"queryEngine": "athena", "cloudTrailBucket": "org-trail-logs"}


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
    with pytest.raises(SettingsError, match="responder:queryEngine must be 'lake' or 'athena', not 'splunk'"):
        build(app)
