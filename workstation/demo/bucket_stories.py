"""Bucket stories for `responder demo`: what the attacker did to a bucket, and what it did not.

Issue 12 (points 1, 8, 9): a bucket is fixed only by removing what the exposed key added, shown by the
before and after documents of its PutBucketPolicy; grants are internal only by value. These stories
add CloudTrail records to the default story's logs (copied from its own records, so that they carry
every field CloudTrail writes) and buckets to the emulated account:

- :func:`owner_policy_history`: the owner's own PutBucketPolicy of the victim bucket's policy, a few
  days before the attack, made with the same key before it leaked: the before-state of the
  attacker's change is in the window, so the responder can tell the attacker's statement apart;
- :func:`shared_bucket_read`: the finding names the partner share, which the attacker only read;
- :func:`org_condition_backdoor`: the attacker grants ``*`` under its own organization id, VPC
  endpoint and user id, beside the owner's grants under this account's own.
"""

from __future__ import annotations

import copy
import gzip
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from workstation.demo.cloudtrail import BACKDOOR_SID, log_file_name
from workstation.demo.setup import Setup, varied

SHARE_PARTNER = "444455556666"
ATTACKER_ORG = "o-attackr0rg01"
ATTACKER_VPCE = "vpce-0a77ac4e5f6071829"
ATTACKER_USERID = "AROAXATTACKERROLE0001"
SHARE_OBJECTS = ("partner/2024/q3-settlements.csv", "partner/2024/q4-settlements.csv")


def share_bucket(account_id: str) -> str:
    return f"acme-partner-share-{account_id}"


def analytics_bucket(account_id: str) -> str:
    return f"acme-analytics-{account_id}"


# ----------------------------------------------------------------------------------- the logs


def _records(root: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(root.rglob("*.json.gz")):
        yield from json.loads(gzip.decompress(path.read_bytes())).get("Records", [])


def _time(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["eventTime"]).replace("Z", "+00:00"))


def _by_key(root: Path, key: str) -> list[dict[str, Any]]:
    return sorted(
        (r for r in _records(root) if (r.get("userIdentity") or {}).get("accessKeyId") == key), key=_time
    )


def _attackers_put(root: Path, bucket: str) -> dict[str, Any]:
    for record in _records(root):
        named = (record.get("requestParameters") or {}).get("bucketName") == bucket
        if named and record["eventName"] == "PutBucketPolicy" and not record.get("errorCode"):
            return copy.deepcopy(record)
    raise LookupError(f"no PutBucketPolicy of {bucket} in the story's logs")


def _stamp(record: dict[str, Any], tag: str, n: int, when: datetime) -> dict[str, Any]:
    record["eventID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"responder-demo:{tag}:{n}"))
    record["requestID"] = f"{tag.upper()[:8]}{n:08d}"
    record["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return record


def _write(world: Any, tag: str, records: list[dict[str, Any]]) -> Path:
    """One more delivered log file, in the folder of its newest record's day."""
    last = max(_time(r) for r in records)
    suffix = (tag.upper().replace("-", "") + "0" * 16)[:16]
    path = world.log_root / log_file_name(str(world.account_id), "us-east-1", last, suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))
    return path


def _as_owner(template: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    """``template`` as the owner made it: the key's identity, the owner's address and client."""
    record = copy.deepcopy(template)
    record["userIdentity"] = copy.deepcopy(owner["userIdentity"])
    record["sourceIPAddress"] = owner["sourceIPAddress"]
    record["userAgent"] = owner["userAgent"]
    return record


def _put_record(template: dict[str, Any], bucket: str, policy: dict[str, Any]) -> dict[str, Any]:
    record = copy.deepcopy(template)
    params = dict(record.get("requestParameters") or {})
    host = str(params.get("Host", "s3.amazonaws.com")).split(".", 1)[-1]
    record["requestParameters"] = {
        "bucketName": bucket,
        "Host": f"{bucket}.{host}",
        "bucketPolicy": policy,
        "policy": [""],
    }
    record["resources"] = [
        {
            "accountId": record["recipientAccountId"],
            "type": "AWS::S3::Bucket",
            "ARN": f"arn:aws:s3:::{bucket}",
        }
    ]
    add = dict(record.get("additionalEventData") or {})
    add["bytesTransferredIn"] = len(json.dumps(policy))
    record["additionalEventData"] = add
    return record


def owner_policy_history(world: Any) -> Path:
    """The owner's PutBucketPolicy of the victim bucket's policy as it was, three days before the attack.

    Made with the exposed key (the owner's own, before it leaked): the report holds it, and it is the
    before-state of the attacker's PutBucketPolicy.
    """
    root: Path = world.log_root
    key = world.victim.exposed_key_id
    theirs = _attackers_put(root, world.victim_bucket)
    owner = _by_key(root, key)[0]  # the key's first call in the logs: the owner's own work
    document = copy.deepcopy(theirs["requestParameters"]["bucketPolicy"])
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != BACKDOOR_SID]
    record = _stamp(
        _as_owner(_put_record(theirs, world.victim_bucket, document), owner),
        "owner-policy",
        0,
        _time(theirs) - timedelta(days=3),
    )
    return _write(world, "ownerpolicy", [record])


# -------------------------------------------------------------------------------- the finding


def _finding_for(world: Any, bucket: str) -> dict[str, Any]:
    """The default finding, naming ``bucket`` (a new finding id: GuardDuty's is per resource)."""

    resource = copy.deepcopy(world.event["detail"]["resource"])
    for details in resource.get("s3BucketDetails") or []:
        details.update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    service = copy.deepcopy(world.event["detail"]["service"])
    call = (service.get("action") or {}).get("awsApiCallAction") or {}
    if call.get("affectedResources"):
        call["affectedResources"] = {"AWS::S3::Bucket": bucket}
    return varied(world.event, resource=resource, service=service)


# ---------------------------------------------------------------------------------- scenarios


def share_policy(bucket: str) -> str:
    """The partner share's policy, as its owner wrote it (indented: the bytes must stay the same)."""
    arn = f"arn:aws:s3:::{bucket}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PartnerRead",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{SHARE_PARTNER}:root"},
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [arn, f"{arn}/*"],
                },
                {
                    "Sid": "ElbAccessLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{arn}/elb-logs/AWSLogs/*",
                },
            ],
        },
        indent=2,
    )


def shared_bucket_read(world: Any) -> Any:
    """Scenario ``shared-bucket-read``: the finding names a partner share the attacker only read."""

    s3 = world.clients["s3"]
    bucket = share_bucket(str(world.account_id))
    s3.create_bucket(Bucket=bucket)
    for name in SHARE_OBJECTS:
        s3.put_object(Bucket=bucket, Key=name, Body=f"id,amount\n1,synthetic row for {name}\n".encode())
    s3.put_bucket_policy(Bucket=bucket, Policy=share_policy(bucket))
    root: Path = world.log_root
    key = world.victim.exposed_key_id
    reads = [r for r in _by_key(root, key) if r["eventName"] == "GetObject"]
    read, last = reads[-1], _time(reads[-1])
    records = []
    for n, name in enumerate(SHARE_OBJECTS):
        record = _stamp(copy.deepcopy(read), "share-read", n, last - timedelta(minutes=30 - n))
        params = record["requestParameters"]
        params.update(bucketName=bucket, key=name, Host=f"{bucket}.{str(params['Host']).split('.', 1)[-1]}")
        record["resources"] = [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{name}"},
            {
                "accountId": record["recipientAccountId"],
                "type": "AWS::S3::Bucket",
                "ARN": f"arn:aws:s3:::{bucket}",
            },
        ]
        records.append(record)
    _write(world, "shareread", records)
    return Setup(
        inputs=[_finding_for(world, bucket)],
        facts={"share_bucket": bucket, "share_policy": s3.get_bucket_policy(Bucket=bucket)["Policy"]},
        compare_account=True,
    )


def _star(sid: str, bucket: str, key: str, value: str) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"StringEquals": {key: value}},
    }


def org_condition_backdoor(world: Any) -> Any:
    """Scenario ``org-condition-backdoor``: '*' under the attacker's org id, VPC endpoint and user id."""
    import boto3

    s3 = world.clients["s3"]
    org_id = boto3.client("organizations", region_name="us-east-1").create_organization(FeatureSet="ALL")[
        "Organization"
    ]["Id"]
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    vpce = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3")["VpcEndpoint"][
        "VpcEndpointId"
    ]
    bucket = analytics_bucket(str(world.account_id))
    owners = [
        _star("OrgAnalystsRead", bucket, "aws:PrincipalOrgID", org_id),
        _star("PrivateLinkRead", bucket, "aws:SourceVpce", vpce),
    ]
    theirs = [
        _star("OrgReplication", bucket, "aws:PrincipalOrgID", ATTACKER_ORG),
        _star("EndpointReplication", bucket, "aws:SourceVpce", ATTACKER_VPCE),
        _star("RoleReplication", bucket, "aws:userid", f"{ATTACKER_USERID}:*"),
    ]
    before = {"Version": "2012-10-17", "Statement": owners}
    after = {"Version": "2012-10-17", "Statement": [*owners, *theirs]}
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(after))

    root: Path = world.log_root
    key = world.victim.exposed_key_id
    template = _attackers_put(root, world.victim_bucket)
    mine = _by_key(root, key)
    owner, attacker = mine[0], mine[-1]  # the owner's first call; the attacker's last, from its address
    put_before = _stamp(
        _as_owner(_put_record(template, bucket, before), owner),
        "org-owner",
        0,
        _time(template) - timedelta(days=2),
    )
    put_after = _stamp(
        _as_owner(_put_record(template, bucket, after), attacker),
        "org-backdoor",
        1,
        _time(attacker) - timedelta(minutes=25),
    )
    _write(world, "orgbackdoor", [put_before, put_after])
    return Setup(
        inputs=[_finding_for(world, bucket)],
        facts={
            "org_bucket": bucket,
            "org_id": org_id,
            "org_vpce": vpce,
            "owner_statements": json.dumps(owners),
            "attacker_sids": ",".join(s["Sid"] for s in theirs),
        },
        compare_account=True,
        may_change=[f"bucket/{bucket}"],
    )
