"""IP reputation sources: Tor exits, our threat list in S3, refresh and cache, their age, the order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from responder.analysis.ips import (
    AWS_RANGES_URL,
    TOR_EXITS_URL,
    AddressList,
    IpIntel,
    classify_ip,
    load_ip_intel,
    load_ip_ranges,
    load_threat_list,
    parse_ip,
    refresh,
    refresh_shared,
    source_ips,
)
from responder.report import build_report
from tests.analysis.helpers import KEY, row

NOW = datetime(2026, 12, 8, tzinfo=UTC)
THREAT_TEXT = """# source: soc threat intel
# as_of: 2026-11-01
45.155.205.0/24   # bulletproof hoster, campaign X
203.0.113.66
not-an-ip
2001:db8:bad::/48 # v6 too
"""


def threat() -> AddressList:
    return AddressList.from_text(THREAT_TEXT, name="threat-list")


def test_address_list_reads_entries_labels_header_and_counts_junk():
    found = threat()
    assert (len(found), found.skipped, found.source) == (3, 1, "soc threat intel")
    assert found.as_of == datetime(2026, 11, 1, tzinfo=UTC)
    assert found.match(parse_ip("45.155.205.200")) == "bulletproof hoster, campaign X"
    assert found.match(parse_ip("203.0.113.66")) == ""  # listed, no label
    assert found.match(parse_ip("203.0.113.67")) is None
    assert found.match(parse_ip("2001:db8:bad::1")) == "v6 too"
    again = AddressList.from_text(found.to_text(), name="threat-list")
    assert (len(again), again.as_of, again.source) == (3, found.as_of, found.source)


@pytest.mark.parametrize(
    ("value", "details", "expected"),
    [
        ("075.050.255.67", None, "invalid"),
        ("10.0.0.5", {"threat_list": True}, "private"),  # private beats every list
        ("192.0.2.1", None, "reserved"),
        ("s3.amazonaws.com", None, "aws-service"),
        ("45.155.205.9", None, "threat-list"),  # on our list
        ("185.220.101.47", None, "tor"),  # in the shipped Tor snapshot
        ("185.220.101.48", {"organization": {"asnOrg": "Hetzner Online GmbH"}}, "tor"),  # tor beats hosting
        ("18.236.253.47", {"organization": {"asnOrg": "Choopa, LLC"}}, "aws"),  # AWS range beats hosting org
        ("88.223.251.255", {"organization": {"asnOrg": "M247 Europe SRL"}}, "hosting"),
        ("88.223.251.255", {"organization": {"isp": "The Constant Company (Vultr)"}}, "hosting"),
        ("88.223.251.255", {"organization": {"asnOrg": "Deutsche Telekom AG"}}, "public"),
    ],
)
def test_classification_precedence(value, details, expected):
    intel = load_ip_intel()
    assert classify_ip(value, intel.ranges, details, tor=intel.tor, threat=threat()) == expected


def test_threat_list_beats_tor_when_both_hold_the_address():
    both = AddressList.from_text("185.220.101.47 # seen in our last incident", name="threat-list")
    intel = load_ip_intel()
    assert classify_ip("185.220.101.47", intel.ranges, tor=intel.tor, threat=both) == "threat-list"


def test_threat_list_from_s3_with_its_date_and_a_cache(aws_env, tmp_path: Path):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="soc-intel")
        s3.put_object(Bucket="soc-intel", Key="lists/bad.txt", Body=b"# no header\n198.51.100.7 # scanner\n")
        found = load_threat_list(s3, "soc-intel", "lists/bad.txt", cache_dir=tmp_path)
        assert found.source == "s3://soc-intel/lists/bad.txt"
        assert (
            found.as_of is not None and (datetime.now(UTC) - found.as_of).total_seconds() < 600
        )  # LastModified
        assert found.match(parse_ip("198.51.100.7")) == "scanner"
        s3.delete_object(Bucket="soc-intel", Key="lists/bad.txt")
        cached = load_threat_list(s3, "soc-intel", "lists/bad.txt", cache_dir=tmp_path)
        assert "cached copy" in cached.source and cached.match(parse_ip("198.51.100.7")) == "scanner"
        with pytest.raises(Exception, match="NoSuchKey"):
            load_threat_list(s3, "soc-intel", "lists/bad.txt")  # no cache: the error is the caller's


def test_refresh_fills_the_cache_and_load_prefers_it(tmp_path: Path):
    ranges_doc = {
        "createDate": "2026-12-01-00-00-00",
        "prefixes": [{"ip_prefix": "3.0.0.0/15", "service": "EC2"}],
    }
    bodies = {AWS_RANGES_URL: json.dumps(ranges_doc).encode(), TOR_EXITS_URL: b"192.0.2.200\n203.0.113.50\n"}
    asked: list[str] = []

    def fake_http(url: str) -> bytes:
        asked.append(url)
        return bodies[url]

    assert refresh(tmp_path, http=fake_http, now=NOW) == {
        "aws-ip-ranges": "refreshed",
        "tor-exits": "refreshed",
    }
    assert asked == [AWS_RANGES_URL, TOR_EXITS_URL]
    intel = load_ip_intel(tmp_path)
    assert classify_ip("3.1.2.3", intel.ranges) == "aws"
    assert intel.tor is not None and len(intel.tor) == 2
    sources = {s["name"]: s for s in intel.sources(NOW)}
    assert (sources["aws-ip-ranges"]["as_of"], sources["aws-ip-ranges"]["age_days"]) == (
        "2026-12-01T00:00:00Z",
        7,
    )
    assert (sources["tor-exits"]["source"], sources["tor-exits"]["age_days"]) == (TOR_EXITS_URL, 0)


def test_a_failed_source_keeps_its_previous_copy(tmp_path: Path):
    (tmp_path / "tor-exits.txt").write_text("# as_of: 2026-11-20\n203.0.113.50\n")

    def broken(url: str) -> bytes:
        raise OSError("network unreachable")

    result = refresh(tmp_path, http=broken, now=NOW)
    assert result["tor-exits"].startswith("failed: OSError") and result["aws-ip-ranges"].startswith("failed")
    intel = load_ip_intel(tmp_path)
    assert intel.tor is not None and intel.tor.source == str(tmp_path / "tor-exits.txt")  # the old copy
    assert intel.sources(NOW)[1]["age_days"] == 18
    assert intel.ranges.sample  # no cached ranges: the shipped sample


def test_report_says_how_old_each_source_is():
    rows = [row("ListBuckets", ip="185.220.101.47"), row("GetObject", ip="45.155.205.9")]
    intel = IpIntel(ranges=load_ip_ranges(), tor=load_ip_intel().tor, threat=threat())
    report = build_report(
        rows,
        access_key_id=KEY,
        window_start="2024-05-01T00:00:00Z",
        window_end="2024-05-02T00:00:00Z",
        ip_intel=intel,
        remote_ip_details=[{"ipAddressV4": "185.220.101.47", "organization": {"asnOrg": "x"}}],
        generated_at=NOW,
    )
    ages = {s["name"]: (s["as_of"], s["age_days"]) for s in report["ip_sources"]}
    assert ages == {
        "aws-ip-ranges": ("2021-01-27T21:34:18Z", 2140),
        "tor-exits": ("2026-11-28T00:00:00Z", 10),
        "threat-list": ("2026-11-01T00:00:00Z", 37),
        "guardduty": (None, None),
    }
    classes = {ip["ip"]: (ip["classification"], ip.get("threat_list")) for ip in report["source_ips"]}
    assert classes == {
        "185.220.101.47": ("tor", None),
        "45.155.205.9": ("threat-list", "bulletproof hoster, campaign X"),
    }


def test_source_ips_uses_the_intel_alone():
    ips = source_ips([row("ListBuckets", ip="185.220.101.47")], intel=load_ip_intel())
    assert ips[0]["classification"] == "tor"


# --------------------------------------------------------------- deployed runs: refreshed, shared daily


RECORDED = {
    # What the two sources answered, cut to a few entries (their shapes as published).
    AWS_RANGES_URL: json.dumps(
        {
            "syncToken": "1765152000",
            "createDate": "2026-12-07-22-13-08",
            "prefixes": [
                {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "AMAZON",
                 "network_border_group": "ap-northeast-2"},
                {"ip_prefix": "52.94.76.0/22", "region": "us-west-2", "service": "AMAZON",
                 "network_border_group": "us-west-2"},
            ],
            "ipv6_prefixes": [
                {"ipv6_prefix": "2600:1f00::/24", "region": "GLOBAL", "service": "AMAZON",
                 "network_border_group": "GLOBAL"}
            ],
        }
    ).encode(),
    TOR_EXITS_URL: b"185.220.101.47\n185.220.101.48\n204.8.96.84\n",
}  # fmt: skip


def _evidence_bucket() -> Any:
    from workstation.demo.account import create_evidence_bucket

    s3 = boto3.client("s3", region_name="us-east-1")
    create_evidence_bucket(s3, "responder-evidence-intel")
    return s3


def test_a_deployed_run_refreshes_once_a_day_for_every_container(aws_env, tmp_path: Path):
    asked: list[str] = []

    def recorded(url: str) -> bytes:
        asked.append(url)
        return RECORDED[url]

    with mock_aws():
        s3 = _evidence_bucket()
        first = refresh_shared(s3, "responder-evidence-intel", tmp_path / "a", http=recorded, now=NOW)
        assert first == {"aws-ip-ranges": "refreshed", "tor-exits": "refreshed"}
        assert asked == [AWS_RANGES_URL, TOR_EXITS_URL]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="responder-evidence-intel")["Contents"]]
        assert sorted(keys) == [
            "intel/ip-sources/2026-12-08/ip-ranges.json",
            "intel/ip-sources/2026-12-08/tor-exits.txt",
        ]
        # The same container: its own copy; another container the same day: the bucket's, no fetch.
        assert set(
            refresh_shared(s3, "responder-evidence-intel", tmp_path / "a", http=recorded, now=NOW).values()
        ) == {"cached"}
        other = refresh_shared(s3, "responder-evidence-intel", tmp_path / "b", http=recorded, now=NOW)
        assert other == {"aws-ip-ranges": "shared 2026-12-08", "tor-exits": "shared 2026-12-08"}
        assert len(asked) == 2
    intel = load_ip_intel(tmp_path / "b")
    assert not intel.ranges.sample and classify_ip("52.94.77.1", intel.ranges) == "aws"
    assert intel.tor is not None and intel.tor.match(parse_ip("204.8.96.84")) is not None
    sources = {s["name"]: s for s in intel.sources(NOW)}
    assert (
        sources["aws-ip-ranges"]["source"].endswith("ip-ranges.json")
        and sources["aws-ip-ranges"]["age_days"] == 0
    )


def test_a_source_that_cannot_be_had_leaves_the_snapshot_and_says_so(aws_env, tmp_path: Path):
    def answers(url: str) -> bytes:
        if url == AWS_RANGES_URL:
            return b"<html>captive portal</html>"  # not the document: refused, never cached
        raise OSError("network unreachable")

    with mock_aws():
        s3 = _evidence_bucket()
        result = refresh_shared(s3, "responder-evidence-intel", tmp_path, http=answers, now=NOW)
        assert result["aws-ip-ranges"].startswith("failed: JSONDecodeError")
        assert result["tor-exits"].startswith("failed: OSError")
        assert "Contents" not in s3.list_objects_v2(Bucket="responder-evidence-intel")
    intel = load_ip_intel(tmp_path)
    assert intel.ranges.sample, "the shipped sample, whose age the report shows"
    assert intel.ranges.describe(NOW)["age_days"] > 365


def test_the_report_step_refreshes_only_when_the_deployment_says_so(monkeypatch: pytest.MonkeyPatch):
    from responder.settings import Settings
    from responder.steps import report as step

    calls: list[str] = []
    monkeypatch.setattr(step, "refresh_shared", lambda s3, bucket, cache: calls.append(bucket))
    for refresh_on, expected in ((False, []), (True, ["evidence"])):
        monkeypatch.setattr(
            step,
            "get_settings",
            lambda on=refresh_on: Settings(evidence_bucket="evidence", ip_intel_refresh=on),
        )
        calls.clear()
        step._ip_intel(None)
        assert calls == expected
    assert Settings.from_env({"IP_INTEL_REFRESH": "true"}).ip_intel_refresh
    assert not Settings.from_env({}).ip_intel_refresh
