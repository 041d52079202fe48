import json

import pytest

from responder.analysis.ips import classify_ip, load_ip_ranges, source_ips
from tests.analysis.helpers import row, stratus_rows


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("075.050.255.67", "invalid"),  # anonymized: leading zeros are not an address
        ("255.090.254.5", "invalid"),
        ("not an ip", "invalid"),
        ("", "invalid"),
        ("10.1.2.3", "private"),
        ("100.64.0.9", "private"),
        ("fd00::1", "private"),
        ("253.234.5.234", "reserved"),  # 240.0.0.0/4
        ("192.0.2.10", "reserved"),  # documentation range
        ("127.0.0.1", "reserved"),
        ("s3.amazonaws.com", "aws-service"),
        ("AWS Internal", "aws-service"),
        ("18.236.253.47", "aws"),  # in the shipped sample (us-west-2 EC2)
        ("2600:1f14::10", "aws"),
        ("88.223.251.255", "public"),
    ],
)
def test_classify(value, expected):
    assert classify_ip(value, load_ip_ranges()) == expected


def test_guardduty_enrichment_names_hosting_vpn_and_tor():
    ranges = load_ip_ranges()
    hosting = {
        "organization": {"asn": "14061", "asnOrg": "DIGITALOCEAN-ASN", "isp": "DigitalOcean", "org": "x"}
    }
    vpn = {"organization": {"asnOrg": "M247 Europe SRL", "isp": "M247", "org": "NordVPN"}}
    assert classify_ip("88.223.251.255", ranges, hosting) == "hosting"
    assert classify_ip("88.223.251.255", ranges, vpn) == "vpn"
    assert classify_ip("88.223.251.255", ranges, {"tor": True}) == "tor"


def test_full_ranges_file_can_be_loaded_and_its_age_reported(tmp_path):
    doc = {
        "syncToken": "1",
        "createDate": "2024-05-01-00-00-00",
        "prefixes": [{"ip_prefix": "198.51.100.0/24", "region": "eu-west-1", "service": "EC2"}],
        "ipv6_prefixes": [],
    }
    path = tmp_path / "ip-ranges.json"
    path.write_text(json.dumps(doc))
    ranges = load_ip_ranges(path)
    assert not ranges.sample
    assert ranges.prefix_count == 1
    from datetime import UTC, datetime

    assert ranges.describe(datetime(2024, 5, 11, tzinfo=UTC))["age_days"] == 10
    assert load_ip_ranges().describe()["sample"] is True


def test_source_ips_counts_times_agents_and_enrichment():
    rows = [
        row("ListBuckets", ip="88.223.251.255", time="2024-05-01T10:00:00Z", agent="a"),
        row("GetObject", ip="88.223.251.255", time="2024-05-01T10:05:00Z", agent="b"),
        row("GetObject", ip="075.050.255.67", time="2024-05-01T10:01:00Z"),
    ]
    details = [
        {
            "ipAddressV4": "88.223.251.255",
            "organization": {"asn": "16276", "asnOrg": "OVH SAS", "isp": "OVH SAS", "org": "OVH"},
            "country": {"countryName": "France"},
        }
    ]
    ips = source_ips(rows, load_ip_ranges(), details)
    first = ips[0]
    assert first["ip"] == "88.223.251.255"
    assert first["event_count"] == 2
    assert (first["first_seen"], first["last_seen"]) == ("2024-05-01T10:00:00Z", "2024-05-01T10:05:00Z")
    assert first["user_agents"] == ["a", "b"]
    assert first["classification"] == "hosting"
    assert (first["asn"], first["org"], first["country"]) == ("16276", "OVH SAS", "France")
    assert ips[1]["classification"] == "invalid"


def test_stratus_anonymized_ips_do_not_break_anything():
    ips = source_ips(stratus_rows("aws.persistence.iam-create-admin-user"), load_ip_ranges())
    assert [(i["ip"], i["classification"], i["event_count"]) for i in ips] == [
        ("075.050.255.67", "invalid", 3)
    ]
