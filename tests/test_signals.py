"""AWS Health's exposed-key event and GuardDuty's attack sequences: parsed from their real shapes,
refused by name when broken, and said in the report and the SOC message with every value inert."""

from __future__ import annotations

import copy
import gzip
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import botocore
import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser

from responder.errors import InvalidInput, UnsupportedFinding
from responder.report import build_report, render_markdown
from responder.report_html import render_html
from responder.settings import Settings
from responder.signals import view
from responder.signals.health import exposed_urls, health_time, parse_exposure
from responder.signals.sequence import parse_sequence
from responder.steps.triage import triage
from tests.conftest import EVENTS

ACCOUNT = "123456789012"
KEY = "AKIAIOSFODNN7EXAMPLE"
SECOND = "AKIAI44QH8DHBEXAMPLE"


def _filled(name: str, **values: str) -> dict[str, Any]:
    text = (EVENTS / name).read_text()
    defaults = {
        "ACCOUNT": ACCOUNT,
        "KEY": KEY,
        "USER": "dana.reyes",
        "BUCKET": "acme-customer-exports",
        "SECOND_KEY": SECOND,
        "SECOND_USER": "svc-reporting",
    }
    for key, value in (defaults | values).items():
        text = text.replace("{{" + key + "}}", value)
    return json.loads(text)


def health() -> dict[str, Any]:
    return _filled("health_exposed_credentials.json")


def sequence_event() -> dict[str, Any]:
    return _filled("gd_attack_sequence_event.json")


# ------------------------------------------------------------------------------------ AWS Health


def test_the_health_event_names_the_key_where_it_was_found_and_when() -> None:
    exposure = parse_exposure(health())
    assert exposure.access_keys == [KEY] and exposure.account_id == ACCOUNT
    assert exposure.exposed_urls == [
        "https://github.com/example-org/billing-exporter/blob/4f1c2e9/config/settings.py"
    ]
    assert exposure.start_time == "2026-12-01T09:58:12Z"  # from "Tue, 01 Dec 2026 09:58:12 GMT"
    incident = triage(health(), Settings())
    assert (incident.source, incident.decision.action, incident.access_key_id) == (
        "detection-rule",
        "contain",
        KEY,
    )
    assert triage(health(), Settings()).incident_id == incident.incident_id  # stable


def test_other_health_events_are_not_handled_and_broken_ones_are_named() -> None:
    maintenance = health()
    maintenance["detail"]["eventTypeCode"] = "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED"
    with pytest.raises(UnsupportedFinding, match="not AWS_RISK_CREDENTIALS_EXPOSED"):
        triage(maintenance, Settings())
    no_key = health()
    no_key["detail"]["affectedEntities"] = []
    with pytest.raises(InvalidInput, match="names no access key"):
        triage(no_key, Settings())
    many = health()
    many["detail"]["affectedEntities"] = [{"entityValue": f"AKIA{n:016d}"} for n in range(11)]
    with pytest.raises(InvalidInput, match="at most 10"):
        triage(many, Settings())
    bad_arn = health()
    bad_arn["detail"]["eventArn"] = "arn:aws:iam::123456789012:user/x"
    with pytest.raises(InvalidInput, match="eventArn"):
        triage(bad_arn, Settings())
    with pytest.raises(InvalidInput, match="affected entity"):
        triage(_filled("health_exposed_credentials.broken.json"), Settings())


def test_only_web_urls_are_taken_from_the_description() -> None:
    text = (
        "Found at https://gist.github.com/u/abc123. Also at http://paste.example/raw/9, "
        "javascript:alert(1) and (https://host.test/path_(x)) <https://x.test/<b>> ftp://files.test/k"
    )
    assert exposed_urls(text) == [
        "https://gist.github.com/u/abc123",
        "http://paste.example/raw/9",
        "https://host.test/path_",
        "https://x.test/",
    ]
    assert health_time("Tue, 01 Dec 2026 09:58:12 GMT") == "2026-12-01T09:58:12Z"
    assert health_time("2026-12-01T09:58:12Z") == "2026-12-01T09:58:12Z"
    assert health_time("not a time, really") is None


# --------------------------------------------------------------------------- attack sequences


def _guardduty_model() -> ServiceModel:
    root = Path(botocore.__file__).parent / "data" / "guardduty"
    [version] = sorted(p.name for p in root.iterdir())
    return ServiceModel(json.loads(gzip.decompress((root / version / "service-2.json.gz").read_bytes())))


def test_the_sample_sequence_has_guardduty_s_own_shape() -> None:
    """The saved finding, as GetFindings returns it on the wire, parsed by botocore with GuardDuty's
    published model: every field of the sequence is one the API defines (an unknown name would be
    dropped by the parser, a wrong type refused)."""
    finding = sequence_event()["detail"]
    operation = _guardduty_model().operation_model("GetFindings")
    body = json.dumps({"findings": [finding]}).encode()
    parsed = create_parser("rest-json").parse(
        {"status_code": 200, "headers": {}, "body": body}, operation.output_shape
    )
    sequence = parsed["Findings"][0]["Service"]["Detection"]["Sequence"]
    raw = finding["service"]["detection"]["sequence"]
    for name in ("Actors", "Resources", "Endpoints", "Signals", "SequenceIndicators"):
        assert len(sequence[name]) == len(raw[name[0].lower() + name[1:]])
    assert sequence["Actors"][0]["User"]["CredentialUid"] == KEY
    assert sequence["Resources"][2]["ResourceType"] == "S3_BUCKET"
    assert sequence["Resources"][0]["Data"]["AccessKey"]["UserName"] == "dana.reyes"
    assert sequence["Endpoints"][0]["AutonomousSystem"]["Number"] == 208294
    assert sequence["Signals"][1]["Activities"][0]["Api"]["Operation"] == "iam:CreateUser"
    assert {i["Key"] for i in sequence["SequenceIndicators"]} == {
        "TOR_IP",
        "HIGH_RISK_API",
        "ATTACK_TACTIC",
        "UNUSUAL_ASN_FOR_USER",
    }


def test_every_key_principal_address_and_bucket_of_the_sequence_seeds_the_incident() -> None:
    incident = triage(sequence_event(), Settings())
    assert incident.access_key_id == KEY and incident.principal.user_name == "dana.reyes"
    assert incident.related_key_ids == (SECOND,)
    assert incident.buckets == ["acme-customer-exports"]
    extra = incident.model_extra or {}
    assert extra["sequence"]["principals"] == ["IAMUser dana.reyes", "IAMUser svc-reporting"]
    assert set(extra["sequence"]["addresses"]) <= set(incident.remote_ips)
    assert {"CreateUser", "CreateAccessKey", "PutBucketPolicy"} <= set(incident.api_calls)


def test_a_broken_sequence_is_a_named_error() -> None:
    broken = _filled("gd_attack_sequence_event.broken.json")
    with pytest.raises(InvalidInput):
        triage(broken, Settings())
    forged = sequence_event()
    forged["detail"]["service"]["detection"]["sequence"]["actors"][0]["user"]["credentialUid"] = (
        "AKIA\nINJECTED"
    )
    with pytest.raises(InvalidInput, match="not an AKIA/ASIA"):
        triage(forged, Settings())
    flood = copy.deepcopy(forged["detail"]["service"])
    flood["detection"]["sequence"]["signals"] = [{}] * 101
    with pytest.raises(InvalidInput, match="at most 100"):
        parse_sequence(flood)


# ------------------------------------------------------------------- in the report and message

HOSTILE = "<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold** `tick`"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)


def _report_with(incident: dict[str, Any]) -> dict[str, Any]:
    report = build_report(
        [], access_key_id=KEY, window_start="2026-11-24T00:00:00Z", window_end="2026-12-01T10:00:00Z"
    )
    report["incident"] = incident
    return report


def test_what_aws_reported_is_shown_inert_in_markdown_and_html() -> None:
    event = health()
    event["detail"]["eventDescription"][0]["latestDescription"] += (
        " " + HOSTILE + " https://evil.test/a_*b*_<x>"
    )
    incident = triage(event, Settings()).model_dump(mode="json")
    report = _report_with(incident)
    markdown = render_markdown(report)
    assert "## What AWS reported" in markdown
    # No live markup: the tag is escaped, the link's brackets are literal text.
    assert "<img" not in markdown and "[click](javascript:" not in markdown
    assert "\\[click\\](javascript:" in markdown
    assert "evil.test" in markdown
    page = render_html(report)
    parser = _Text()
    parser.feed(page)
    assert "img" not in parser.tags and 'id="signal"' in page
    assert any("Remove the key from where AWS found it" in s for s in view.next_steps(incident))


def test_the_sequence_s_indicators_and_signals_are_tables() -> None:
    incident = triage(sequence_event(), Settings()).model_dump(mode="json")
    markdown = render_markdown(_report_with(incident))
    assert "### GuardDuty's indicators" in markdown and "### Signals in the sequence" in markdown
    assert "TOR\\_IP" in markdown or "TOR_IP" in markdown
    lines = view.message_lines(incident)
    assert any(line.startswith("GuardDuty indicators: TOR_IP") for line in lines)
    # A key of the sequence this run did not contain is a next step; a contained one is not.
    assert any(SECOND in s for s in view.next_steps(incident, [KEY]))
    assert not any(SECOND in s for s in view.next_steps(incident, [KEY, SECOND]))


def test_an_s3_data_sequence_seeds_its_buckets_and_its_key() -> None:
    """AttackSequence:S3/CompromisedData: the sequence's buckets (and the objects' buckets) are the
    run's, its actor's key the one contained."""
    event = sequence_event()
    detail = event["detail"]
    detail["type"] = "AttackSequence:S3/CompromisedData"
    sequence = detail["service"]["detection"]["sequence"]
    sequence["actors"] = sequence["actors"][:1]
    sequence["resources"] = [
        sequence["resources"][0],
        {
            **sequence["resources"][2],
            "uid": "arn:aws:s3:::acme-payroll-archive",
            "name": "acme-payroll-archive",
        },
        {
            "uid": "arn:aws:s3:::acme-customer-exports/exports/2026-11.csv",
            "resourceType": "S3_OBJECT",
            "accountId": ACCOUNT,
            "data": {"s3Object": {"key": "exports/2026-11.csv", "eTag": "9b2cf535f27731c974343645a3985328"}},
        },
        sequence["resources"][2],
    ]
    sequence["sequenceIndicators"].append({"key": "SENSITIVE_DATA", "values": ["exports/2026-11.csv"]})
    incident = triage(event, Settings())
    assert incident.access_key_id == KEY and incident.related_key_ids == ()
    assert incident.buckets == ["acme-payroll-archive", "acme-customer-exports"]
    assert incident.decision.action == "contain"
    keys = {i["key"] for i in (incident.model_extra or {})["sequence"]["indicators"]}
    assert "SENSITIVE_DATA" in keys
