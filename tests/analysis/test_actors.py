"""The attacker apart from the owner: labels, reasons, and what the analysis is about."""

from __future__ import annotations

import json
from typing import Any

from responder.analysis.actors import label_actors
from responder.analysis.agents import ua_family, ua_groups
from responder.report import build_report, render_markdown
from tests.analysis.helpers import KEY, row

WINDOW = {"window_start": "2024-05-01T00:00:00Z", "window_end": "2024-05-08T00:00:00Z"}
OFFICE, OFFICE_2 = "198.51.100.24", "198.51.100.77"  # the owner's office network
HOSTING = "207.154.221.87"  # GuardDuty says: hosting
MAC = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off command/s3.ls"
KALI = "aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off"


def _story() -> list[dict[str, Any]]:
    """The owner's routine for days, then the attacker from a hosting provider, then the owner again."""
    owner = [
        row("ListBuckets", time=f"2024-05-0{d}T09:{m:02d}:00Z", ip=OFFICE, agent=MAC, read_only=True)
        for d in (1, 2, 3)
        for m in range(5)
    ]
    owner.append(
        row("CreateTags", source="ec2.amazonaws.com", time="2024-05-02T10:00:00Z", ip=OFFICE, agent=MAC)
    )
    attacker = [
        row(
            "GetCallerIdentity",
            source="sts.amazonaws.com",
            time="2024-05-04T14:00:00Z",
            ip=HOSTING,
            agent=KALI,
        ),
        row("ListUsers", source="iam.amazonaws.com", time="2024-05-04T14:02:00Z", ip=HOSTING, agent=KALI),
        row("CreateUser", source="iam.amazonaws.com", time="2024-05-04T14:08:00Z", ip=HOSTING, agent=KALI),
    ]
    later = [row("ListBuckets", time="2024-05-05T09:00:00Z", ip=OFFICE_2, agent=MAC, read_only=True)]
    return owner + attacker + later


REMOTE = [{"ipAddressV4": HOSTING, "organization": {"asnOrg": "DIGITALOCEAN-ASN", "isp": "DigitalOcean"}}]


def test_sources_are_labelled_with_their_reasons():
    report = build_report(_story(), access_key_id=KEY, remote_ip_details=REMOTE, **WINDOW)
    actors = {a["ip"]: a for a in report["actors"]}
    assert actors[HOSTING]["label"] == "attacker" and "named by the finding" in actors[HOSTING]["reasons"]
    assert any("Kali Linux" in r for r in actors[HOSTING]["reasons"])
    assert actors[OFFICE]["label"] == "owner"
    assert actors[OFFICE]["reasons"][0].startswith(
        "used the key before the first anomalous call (2024-05-04T14:00:00Z)"
    )
    # After the attack, the same office network and tool: still the owner.
    assert actors[OFFICE_2]["label"] == "owner"
    assert {ip["ip"]: ip["actor"] for ip in report["source_ips"]}[HOSTING] == "attacker"


def test_findings_inventory_timing_and_timeline_are_about_the_attacker():
    report = build_report(_story(), access_key_id=KEY, remote_ip_details=REMOTE, **WINDOW)
    inventory = json.dumps(report["inventory"])
    assert "CreateUser" in inventory and "CreateTags" not in inventory, (
        "the owner's tagging is not the attacker's"
    )
    signals = report["attribution"]["signals"]
    assert signals["events"] == 3 and signals["minutes_to_first_write"] == 8.0, "the attacker's own clock"
    assert report["timeline"]["start"] == "2024-05-04T14:00:00Z", "the timeline zooms to the attack"
    owner = report["owner_activity"]
    assert (owner["event_count"], owner["source_ips"]) == (17, [OFFICE, OFFICE_2])
    assert owner["user_agent_families"] == ["aws-cli on darwin"]
    assert report["events"]["total"] == 20, "every event is still counted"
    markdown = render_markdown(report)
    assert "## Who used the key" in markdown and "The owner's activity, set apart" in markdown


def test_without_a_strong_signal_nothing_is_set_aside():
    quiet = [r for r in _story() if r["source_ip"] != HOSTING]
    report = build_report(quiet, access_key_id=KEY, **WINDOW)
    assert {a["label"] for a in report["actors"]} == {"unknown"}
    assert report["owner_activity"]["event_count"] == 0
    assert report["attribution"]["signals"]["events"] == len(quiet)


def test_user_agent_families():
    assert ua_family(MAC) == "aws-cli on darwin"
    assert ua_family(KALI) == "aws-cli on kali"
    assert ua_family("Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1 Python/3.11") == "boto3 on linux"
    assert ua_family(None) == "(none)"


def test_label_actors_needs_only_the_source_ips():
    ips = [
        {
            "ip": "185.220.101.47",
            "classification": "tor",
            "event_count": 1,
            "first_seen": "2024-05-04T00:00:00Z",
        },
        {"ip": OFFICE, "classification": "public", "event_count": 5, "first_seen": "2024-05-01T00:00:00Z"},
    ]
    labels = {a["ip"]: a["label"] for a in label_actors([], ips)}
    assert labels == {"185.220.101.47": "attacker", OFFICE: "owner"}


def test_user_agents_grouped_by_tool_version_and_platform():
    assert ua_groups([KALI, KALI, MAC, None]) == [
        "aws-cli 2.13.25 on Kali Linux (2 calls)",
        "(none) (1 call)",
        "aws-cli 2.15.30 on macOS (1 call)",
    ]
    report = build_report(_story(), access_key_id=KEY, remote_ip_details=REMOTE, **WINDOW)
    groups = {ip["ip"]: ip["user_agent_groups"] for ip in report["source_ips"]}
    assert groups[HOSTING] == ["aws-cli 2.13.25 on Kali Linux (3 calls)"]


def test_keys_seen_from_the_owners_office_are_no_lead_on_the_attacker():
    credentials = [
        {"access_key_id": KEY, "relation": "exposed", "parent": None, "via": None, "event_count": 20},
        {
            "access_key_id": "AKIACOLLEAGUE0000001",
            "relation": "same_ip",
            "parent": KEY,
            "via": OFFICE,
            "event_count": 9,
        },
        {
            "access_key_id": "AKIAOTHERLOOT0000001",
            "relation": "same_ip",
            "parent": KEY,
            "via": HOSTING,
            "event_count": 2,
        },
    ]
    report = build_report(
        _story(), access_key_id=KEY, remote_ip_details=REMOTE, credentials=credentials, **WINDOW
    )
    marked = {
        c["access_key_id"]: c.get("from_owner_address")
        for c in report["credentials"]
        if c["relation"] == "same_ip"
    }
    assert marked == {"AKIACOLLEAGUE0000001": True, "AKIAOTHERLOOT0000001": False}
    steps = " ".join(report["summary"]["next_steps"])
    assert "AKIAOTHERLOOT0000001 (from 207.154.221.87)" in steps and "AKIACOLLEAGUE0000001" not in steps
    markdown = render_markdown(report)
    assert "AKIAOTHERLOOT0000001" in markdown and "AKIACOLLEAGUE0000001" not in markdown
