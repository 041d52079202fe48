"""The demo's incident data: CloudTrail layout and schema, the attack story, and its GuardDuty finding."""

from __future__ import annotations

import gzip
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from workstation.demo import FINDING_TYPES, LogSet, Scenario, default_scenario, generate_logs, guardduty_event

NOW = datetime(2026, 3, 4, 18, 30, tzinfo=UTC)
FILE_RE = re.compile(
    r"^AWSLogs/(?P<account>\d{12})/CloudTrail/(?P<region>[a-z]{2}-[a-z]+-\d)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/"
    r"(?P=account)_CloudTrail_(?P=region)_(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
REQUIRED = (
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "eventID",
    "readOnly",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
)


@dataclass
class Generated:
    scenario: Scenario
    logset: LogSet
    records: list[dict[str, Any]]
    texts: list[str]


def _read(files: list[Path]) -> Iterator[tuple[Path, str]]:
    for path in files:
        yield path, gzip.decompress(path.read_bytes()).decode()


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    scenario = default_scenario(NOW, account_id="123456789012")
    logset = generate_logs(scenario, tmp_path_factory.mktemp("logs"), seed=7)
    texts = [text for _, text in _read(logset.files)]
    records = [r for text in texts for r in json.loads(text)["Records"]]
    records.sort(key=lambda r: r["eventTime"])  # stable: file order breaks ties
    return Generated(scenario, logset, records, texts)


def _by_key(gen: Generated, key: str) -> list[dict[str, Any]]:
    return [r for r in gen.records if r["userIdentity"].get("accessKeyId") == key]


# ----------------------------------------------------------------------------------------- layout


def test_files_are_laid_out_as_cloudtrail_delivers_them(gen: Generated) -> None:
    regions: set[str] = set()
    for path in gen.logset.files:
        rel = path.relative_to(gen.logset.root).as_posix()
        match = FILE_RE.match(rel)
        assert match, rel
        assert match["account"] == gen.scenario.account_id
        assert match["stamp"].startswith(match["y"] + match["m"] + match["d"]), (
            "folder date is the file's date"
        )
        regions.add(match["region"])
    assert regions == {gen.scenario.region, gen.scenario.other_region}


def test_every_file_is_gzip_json_of_records_of_its_region_delivered_after_them(gen: Generated) -> None:
    for path, text in _read(gen.logset.files):
        body = json.loads(text)
        assert list(body) == ["Records"] and body["Records"], path.name
        match = FILE_RE.match(path.relative_to(gen.logset.root).as_posix())
        assert match
        delivered = datetime.strptime(match["stamp"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        for record in body["Records"]:
            assert record["awsRegion"] == match["region"]
            assert datetime.fromisoformat(record["eventTime"]) <= delivered
    assert sum(len(json.loads(t)["Records"]) for t in gen.texts) == gen.logset.total_events


# ----------------------------------------------------------------------------------------- schema


def test_every_record_carries_the_cloudtrail_fields(gen: Generated) -> None:
    ids = set()
    for r in gen.records:
        missing = [f for f in REQUIRED if f not in r]
        assert not missing, (r["eventName"], missing)
        assert r["eventVersion"] in ("1.08", "1.09")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["eventTime"])
        assert r["eventType"] in ("AwsApiCall", "AwsServiceEvent", "AwsConsoleSignIn")
        assert r["recipientAccountId"] == gen.scenario.account_id
        assert r["eventCategory"] == ("Management" if r["managementEvent"] else "Data")
        assert str(uuid.UUID(r["eventID"])) == r["eventID"]
        ids.add(r["eventID"])
        if r["eventType"] == "AwsApiCall":
            assert r["requestID"] and r["userIdentity"]["type"]
        if "errorCode" in r:
            assert r["errorMessage"] and r["responseElements"] is None
        if r["sourceIPAddress"][0].isdigit():
            assert r["tlsDetails"]["tlsVersion"].startswith("TLSv")
        identity = r["userIdentity"]
        if identity.get("type") == "IAMUser":
            assert {"principalId", "arn", "accountId", "userName"} <= set(identity)
        if identity.get("type") == "AssumedRole":
            assert identity["sessionContext"]["sessionIssuer"]["type"] == "Role"
        if r["eventCategory"] == "Data":
            assert r["eventSource"] == "s3.amazonaws.com" and r["resources"]
            assert {"bytesTransferredIn", "bytesTransferredOut"} <= set(r["additionalEventData"])
    assert len(ids) == len(gen.records), "eventIDs are unique"


def test_volume_spans_the_days_and_scales_with_the_parameter(gen: Generated, tmp_path: Path) -> None:
    span = gen.logset.last_event_time - gen.logset.first_event_time
    assert span.days >= 13
    assert 500 <= gen.logset.total_events <= 5000
    small = generate_logs(gen.scenario, tmp_path, days=3, background_per_day=20)
    assert small.total_events < gen.logset.total_events / 3
    assert small.attack_events == gen.logset.attack_events, "the attack is whole in any window"


def test_background_is_the_owner_and_others_from_the_office(gen: Generated) -> None:
    sc = gen.scenario
    innocent = _by_key(gen, sc.innocent_key_id)
    assert len(innocent) > 50 and {r["sourceIPAddress"] for r in innocent} == {sc.office_ip}
    legit_exposed = [r for r in _by_key(gen, sc.exposed_key_id) if r["sourceIPAddress"] == sc.office_ip]
    assert legit_exposed, "the exposed key had an ordinary past"
    assert max(r["eventTime"] for r in legit_exposed) < sc.incident_start.strftime("%Y-%m-%dT%H:%M:%SZ")
    types = {r["userIdentity"].get("type") for r in gen.records}
    assert {"IAMUser", "AssumedRole", "AWSService", "WebIdentityUser", "AWSAccount"} <= types
    assert any(r["eventType"] == "AwsServiceEvent" for r in gen.records)
    assert any(r["sourceIPAddress"] == "cloudtrail.amazonaws.com" for r in gen.records)


# ----------------------------------------------------------------------------------------- attack


def _in_order(names: list[str], expected: list[str]) -> bool:
    it = iter(names)
    return all(name in it for name in expected)


def test_attack_sequence_with_the_exposed_key_in_order(gen: Generated) -> None:
    sc = gen.scenario
    attack = [r for r in _by_key(gen, sc.exposed_key_id) if r["sourceIPAddress"] in gen.logset.attack_ips]
    names = [r["eventName"] for r in attack]
    assert names[0] == "GetCallerIdentity"
    assert _in_order(
        names,
        [
            "GetCallerIdentity",
            "GetAccountAuthorizationDetails",
            "ListUsers",
            "ListRoles",
            "ListBuckets",
            "GetBucketPolicy",
            "GetSessionToken",
            "CreateUser",
            "CreateAccessKey",
            "ListObjects",
            "GetObject",
        ],
    ), names
    denied = [r["eventName"] for r in attack if r.get("errorCode") == "AccessDenied"]
    assert "GetAccountAuthorizationDetails" in denied and len(denied) >= 3
    assert {r["sourceIPAddress"] for r in attack} == set(gen.logset.attack_ips[:2]), "two attacker IPs"
    assert all(r["userAgent"].startswith("aws-cli/2.") and "kali" in r["userAgent"] for r in attack)
    assert sc.incident_start.strftime("%Y-%m-%dT%H:%M:%SZ") == attack[0]["eventTime"]


def test_minted_session_and_backdoor_key_where_the_queries_look(gen: Generated) -> None:
    sc, ls = gen.scenario, gen.logset
    (gst,) = [r for r in gen.records if r["eventName"] == "GetSessionToken"]
    creds = gst["responseElements"]["credentials"]
    assert creds["accessKeyId"] == ls.session_key_id and ls.session_key_id.startswith("ASIA")
    assert len(creds["sessionToken"]) > 500 and creds["sessionToken"] in ls.session_tokens
    (cak,) = [r for r in gen.records if r["eventName"] == "CreateAccessKey"]
    assert cak["responseElements"]["accessKey"]["accessKeyId"] == ls.backdoor_key_id
    assert cak["requestParameters"]["userName"] == ls.backdoor_user_name
    assert cak["userIdentity"]["accessKeyId"] == sc.exposed_key_id
    session = _by_key(gen, ls.session_key_id)
    assert {r["eventName"] for r in session} >= {"PutBucketPolicy", "GetObject", "ListBuckets"}
    for r in session:
        assert r["userIdentity"]["type"] == "IAMUser"
        assert r["userIdentity"]["sessionContext"]["attributes"]["creationDate"] == gst["eventTime"]
        assert r["eventTime"] >= gst["eventTime"]
    assert _by_key(gen, ls.backdoor_key_id), "the backdoor key was tried"


def test_no_record_carries_a_secret_access_key(gen: Generated) -> None:
    for text in gen.texts:
        assert "secretaccesskey" not in text.lower()


def test_bucket_policy_backdoor_then_exfiltration(gen: Generated) -> None:
    sc, ls = gen.scenario, gen.logset
    (put,) = [r for r in gen.records if r["eventName"] == "PutBucketPolicy"]
    assert put["requestParameters"]["bucketName"] == sc.victim_bucket
    assert put["requestParameters"]["bucketPolicy"] == ls.bucket_policy_after
    before, after = ls.bucket_policy_before["Statement"], ls.bucket_policy_after["Statement"]
    assert after[: len(before)] == before, "the owner's statements are kept"
    (grant,) = after[len(before) :]
    assert grant["Principal"] == {"AWS": f"arn:aws:iam::{sc.attacker_account_id}:root"}
    assert set(grant["Action"]) == {"s3:GetObject", "s3:ListBucket"}
    reads = [
        r for r in gen.records if r["eventName"] == "GetObject" and r["sourceIPAddress"] in ls.attack_ips
    ]
    assert all(r["eventTime"] > put["eventTime"] for r in reads)
    assert [r["requestParameters"]["key"] for r in reads if r["requestParameters"]["key"] in ls.objects_read]
    assert {r["requestParameters"]["key"] for r in reads} == set(ls.objects_read)
    assert len(ls.objects_read) >= 20 and all(k.startswith("customers/") for k in ls.objects_read)
    assert sum(r["additionalEventData"]["bytesTransferredOut"] for r in reads) == ls.bytes_exfiltrated
    external = [r for r in reads if r["userIdentity"]["type"] == "AWSAccount"]
    assert external and all(r["userIdentity"]["accountId"] == sc.attacker_account_id for r in external)
    assert all(r["sharedEventID"] for r in external)


def test_same_seed_same_bytes_other_seed_other_logs(gen: Generated, tmp_path: Path) -> None:
    def snapshot(root: Path, seed: int) -> dict[str, bytes]:
        ls = generate_logs(gen.scenario, root, days=2, background_per_day=30, seed=seed)
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in ls.files}

    first = snapshot(tmp_path / "a", 1)
    assert first == snapshot(tmp_path / "b", 1)
    assert first != snapshot(tmp_path / "c", 2)


def test_scenario_takes_the_ids_the_emulated_account_created() -> None:
    sc = default_scenario(NOW, account_id="123456789012", exposed_key_id="AKIA" + "X" * 16,
                          innocent_key_id="AKIA" + "Y" * 16)  # fmt: skip
    assert (sc.exposed_key_id, sc.innocent_key_id) == ("AKIA" + "X" * 16, "AKIA" + "Y" * 16)
    assert sc.attacker_account_id != sc.account_id
    assert default_scenario(NOW) == default_scenario(NOW)
    with pytest.raises(ValueError):
        default_scenario(datetime(2026, 3, 4))


# ---------------------------------------------------------------------------------------- finding


def test_default_finding_matches_the_logs(gen: Generated) -> None:
    sc, ls = gen.scenario, gen.logset
    event = guardduty_event(sc, ls)
    assert (event["source"], event["detail-type"], event["account"]) == (
        "aws.guardduty",
        "GuardDuty Finding",
        sc.account_id,
    )
    d = event["detail"]
    assert re.fullmatch(r"[0-9a-f]{32}", d["id"]) and d["arn"].endswith(f"/finding/{d['id']}")
    assert d["type"] == "Exfiltration:S3/MaliciousIPCaller" and d["severity"] >= 7
    assert d["resource"]["accessKeyDetails"] == {
        "accessKeyId": sc.exposed_key_id,
        "principalId": sc.user_id,
        "userName": sc.user_name,
        "userType": "IAMUser",
    }
    assert d["resource"]["s3BucketDetails"][0]["name"] == sc.victim_bucket
    action = d["service"]["action"]["awsApiCallAction"]
    ip = action["remoteIpDetails"]["ipAddressV4"]
    matching = [
        r
        for r in _by_key(gen, sc.exposed_key_id)
        if r["sourceIPAddress"] == ip and r["eventName"] == action["api"] == "GetObject"
    ]
    assert ip in ls.attack_ips and matching
    assert d["service"]["count"] == len(matching)
    assert d["service"]["eventFirstSeen"] == matching[0]["eventTime"].replace("Z", ".000Z")
    assert d["service"]["eventLastSeen"] == matching[-1]["eventTime"].replace("Z", ".000Z")
    assert d["service"]["eventFirstSeen"] <= d["createdAt"] <= d["updatedAt"]
    assert event["time"] <= NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("finding_type", sorted(FINDING_TYPES))
def test_every_supported_type_names_the_exposed_key_and_an_attacker_ip(
    gen: Generated, finding_type: str
) -> None:
    d = guardduty_event(gen.scenario, gen.logset, finding_type=finding_type)["detail"]
    assert d["type"] == finding_type
    assert d["resource"]["accessKeyDetails"]["accessKeyId"] == gen.scenario.exposed_key_id
    assert (
        d["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]["ipAddressV4"] in gen.logset.attack_ips
    )
    assert ("s3BucketDetails" in d["resource"]) == (d["resource"]["resourceType"] == "S3Bucket")
    assert d["service"]["count"] >= 1


def test_unsupported_finding_type_is_refused(gen: Generated) -> None:
    with pytest.raises(ValueError, match="unsupported finding type"):
        guardduty_event(gen.scenario, gen.logset, finding_type="Backdoor:EC2/Spambot")


def test_triage_reads_the_finding_as_the_exposed_key_and_bucket(gen: Generated) -> None:
    from responder.settings import Settings
    from responder.steps.triage import triage

    incident = triage(guardduty_event(gen.scenario, gen.logset), Settings.from_env({}), now=NOW)
    assert incident.access_key_id == gen.scenario.exposed_key_id
    assert gen.scenario.victim_bucket in incident.buckets
    assert incident.decision.action == "contain"
