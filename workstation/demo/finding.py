"""The GuardDuty finding for the demo incident, as EventBridge delivers it ("GuardDuty Finding").

The finding is derived from the generated logs (times, counts, address, key, bucket), so the two
always agree. Supported types are the ones GuardDuty raises for this story's calls.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from workstation.demo.cloudtrail import AttackCall, LogSet
from workstation.demo.scenario import Scenario

_S3_DISCOVERY_APIS = frozenset(
    {
        "ListBuckets",
        "ListObjects",
        "GetBucketPolicy",
        "GetBucketAcl",
        "GetBucketLocation",
        "GetBucketVersioning",
        "GetBucketPublicAccessBlock",
    }
)


@dataclass(frozen=True)
class _Spec:
    family: str  # "S3" (resource S3Bucket) or "IAM" (resource AccessKey)
    severity: float  # GuardDuty's default for the type: 8 High, 5 Medium
    ip_index: int  # which of the scenario's attacker addresses the type is about
    selects: Callable[[AttackCall], bool]
    title: str
    description: str
    threat_list: str | None = None


def _mgmt(call: AttackCall) -> bool:
    # S3 calls raise S3 protection findings; IAM-user findings are about the other APIs.
    return call.category == "Management" and call.event_source != "s3.amazonaws.com"


FINDING_TYPES: dict[str, _Spec] = {
    "Exfiltration:S3/MaliciousIPCaller": _Spec(
        family="S3",
        severity=8.0,
        ip_index=0,
        selects=lambda c: c.event_source == "s3.amazonaws.com" and c.event_name == "GetObject",
        title="S3 API {api} was invoked from a known malicious IP address.",
        description=(
            "An API commonly used to collect data from S3, {api}, was invoked on the S3 bucket "
            "{bucket} from the known malicious IP address {ip}. Unauthorized actors use it to "
            "exfiltrate data."
        ),
        threat_list="ProofPoint",
    ),
    "Discovery:S3/MaliciousIPCaller": _Spec(
        family="S3",
        severity=8.0,
        ip_index=0,
        selects=lambda c: c.event_source == "s3.amazonaws.com" and c.event_name in _S3_DISCOVERY_APIS,
        title="S3 API {api} was invoked from a known malicious IP address.",
        description=(
            "An API commonly used to discover S3 resources, {api}, was invoked on the S3 bucket "
            "{bucket} from the known malicious IP address {ip}."
        ),
        threat_list="ProofPoint",
    ),
    "UnauthorizedAccess:IAMUser/MaliciousIPCaller": _Spec(
        family="IAM",
        severity=5.0,
        ip_index=0,
        selects=_mgmt,
        title="API {api} was invoked from a known malicious IP address.",
        description=(
            "API {api} was invoked from the known malicious IP address {ip} with the access key "
            "{key} of the IAM user {user}."
        ),
        threat_list="ProofPoint",
    ),
    "PenTest:IAMUser/KaliLinux": _Spec(
        family="IAM",
        severity=5.0,
        ip_index=0,
        selects=lambda c: _mgmt(c) and "kali" in c.user_agent,
        title="API {api} was invoked from a Kali Linux computer.",
        description=(
            "API {api} was invoked from a remote host with IP address {ip} that is potentially running "
            "the Kali Linux penetration testing tool, with the access key {key} of the IAM user {user}."
        ),
    ),
    "UnauthorizedAccess:IAMUser/TorIPCaller": _Spec(
        family="IAM",
        severity=5.0,
        ip_index=1,
        selects=_mgmt,
        title="API {api} was invoked from a Tor exit node IP address.",
        description=(
            "API {api} was invoked from the Tor exit node IP address {ip} with the access key {key} "
            "of the IAM user {user}."
        ),
    ),
}
DEFAULT_FINDING_TYPE = "Exfiltration:S3/MaliciousIPCaller"


def guardduty_event(
    scenario: Scenario, logset: LogSet, *, finding_type: str = DEFAULT_FINDING_TYPE
) -> dict[str, Any]:
    """The EventBridge event GuardDuty sends for ``finding_type``, consistent with ``logset``.

    The default, an S3 exfiltration finding, names both the exposed key and the victim bucket.
    """
    spec = FINDING_TYPES.get(finding_type)
    if spec is None:
        raise ValueError(f"unsupported finding type {finding_type!r}; supported: {', '.join(FINDING_TYPES)}")
    remote = scenario.attacker_ips[spec.ip_index]
    calls = [
        c
        for c in logset.attack_calls
        if c.access_key_id == scenario.exposed_key_id and c.source_ip == remote.address and spec.selects(c)
    ]
    if not calls:
        raise ValueError(f"the logs hold no call that would raise {finding_type}")
    first, last = calls[0], calls[-1]
    api = Counter(c.event_name for c in calls).most_common(1)[0][0]
    sample = next(c for c in calls if c.event_name == api)
    bucket = scenario.victim_bucket
    digest = hashlib.sha256(
        f"{scenario.account_id}:{finding_type}:{scenario.exposed_key_id}:{remote.address}".encode()
    ).hexdigest()
    finding_id = digest[:32]
    detector_id = hashlib.sha256(f"detector:{scenario.account_id}:{scenario.region}".encode()).hexdigest()[
        :32
    ]
    created = first.event_time + timedelta(minutes=6, seconds=41, milliseconds=207)
    updated = max(created, last.event_time + timedelta(minutes=4, seconds=12, milliseconds=918))
    updated = min(updated, scenario.now)
    created = min(created, updated)
    words = {
        "api": api,
        "ip": remote.address,
        "key": scenario.exposed_key_id,
        "user": scenario.user_name,
        "bucket": bucket,
    }

    resource: dict[str, Any] = {
        "resourceType": "S3Bucket" if spec.family == "S3" else "AccessKey",
        "accessKeyDetails": {
            "accessKeyId": scenario.exposed_key_id,
            "principalId": scenario.user_id,
            "userName": scenario.user_name,
            "userType": "IAMUser",
        },
    }
    if spec.family == "S3":
        resource["s3BucketDetails"] = [_bucket_details(scenario)]
    api_call: dict[str, Any] = {
        "api": api,
        "serviceName": sample.event_source,
        "callerType": "Remote IP",
        "remoteIpDetails": {
            "ipAddressV4": remote.address,
            "organization": {
                "asn": remote.asn,
                "asnOrg": remote.asn_org,
                "isp": remote.isp,
                "org": remote.org,
            },
            "country": {"countryName": remote.country},
            "city": {"cityName": remote.city},
            "geoLocation": {"lat": remote.lat, "lon": remote.lon},
        },
        "affectedResources": {"AWS::S3::Bucket": bucket} if spec.family == "S3" else {},
    }
    if sample.error_code:
        api_call["errorCode"] = sample.error_code
    service: dict[str, Any] = {
        "serviceName": "guardduty",
        "detectorId": detector_id,
        "action": {"actionType": "AWS_API_CALL", "awsApiCallAction": api_call},
        "resourceRole": "TARGET",
        "additionalInfo": {"apiCalls": _api_calls(calls), "sample": False},
        "eventFirstSeen": _iso_ms(first.event_time),
        "eventLastSeen": _iso_ms(last.event_time),
        "archived": False,
        "count": len(calls),
        "featureName": "S3DataEvents" if spec.family == "S3" else "CloudTrail",
    }
    if spec.threat_list:
        service["evidence"] = {
            "threatIntelligenceDetails": [{"threatListName": spec.threat_list, "threatNames": []}]
        }
    detail = {
        "schemaVersion": "2.0",
        "accountId": scenario.account_id,
        "region": scenario.region,
        "partition": "aws",
        "id": finding_id,
        "arn": (
            f"arn:aws:guardduty:{scenario.region}:{scenario.account_id}:detector/{detector_id}"
            f"/finding/{finding_id}"
        ),
        "type": finding_type,
        "resource": resource,
        "service": service,
        "severity": spec.severity,
        "createdAt": _iso_ms(created),
        "updatedAt": _iso_ms(updated),
        "title": spec.title.format(**words),
        "description": spec.description.format(**words),
    }
    event_id = uuid.UUID(
        hex=hashlib.sha256(f"event:{finding_id}:{detail['updatedAt']}".encode()).hexdigest()[:32]
    )
    return {
        "version": "0",
        "id": str(event_id),
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": scenario.account_id,
        "time": updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": scenario.region,
        "resources": [],
        "detail": detail,
    }


def _iso_ms(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _api_calls(calls: list[AttackCall]) -> list[dict[str, Any]]:
    by_name: dict[str, list[AttackCall]] = {}
    for call in calls:
        by_name.setdefault(call.event_name, []).append(call)
    return [
        {
            "name": name,
            "count": len(group),
            "firstSeen": int(group[0].event_time.timestamp()),
            "lastSeen": int(group[-1].event_time.timestamp()),
        }
        for name, group in by_name.items()
    ]


def _bucket_details(scenario: Scenario) -> dict[str, Any]:
    no_public = {"allowsPublicReadAccess": False, "allowsPublicWriteAccess": False}
    blocked = {
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
    }
    created = scenario.now - timedelta(days=412, hours=5, minutes=17)
    return {
        "arn": scenario.victim_bucket_arn,
        "name": scenario.victim_bucket,
        "type": "Destination",
        "createdAt": round(created.timestamp(), 3),
        # The canonical user id is 64 hex digits; derived, so it is stable for a scenario.
        "owner": {"id": hashlib.sha256(f"owner:{scenario.account_id}".encode()).hexdigest()},
        "tags": [{"key": "DataClassification", "value": "confidential"}],
        "defaultServerSideEncryption": {"encryptionType": "AES256"},
        "publicAccess": {
            "permissionConfiguration": {
                "bucketLevelPermissions": {
                    "accessControlList": dict(no_public),
                    "bucketPolicy": dict(no_public),
                    "blockPublicAccess": dict(blocked),
                },
                "accountLevelPermissions": {"blockPublicAccess": dict(blocked)},
            },
            # A grant to one named external account is not "public": GuardDuty says NOT_PUBLIC.
            "effectivePermission": "NOT_PUBLIC",
        },
    }
