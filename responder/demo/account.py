"""The emulated account a demo or end-to-end test runs in (inside an active ``mock_aws``).

Two parts: the responder's own resources (what the stack deploys: evidence bucket, incident
table, SOC topic) and the victim's side (the user and keys, the backdoored bucket and its data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

ACCOUNT_ID = DEFAULT_ACCOUNT_ID
REGION = "us-east-1"


@dataclass(frozen=True)
class ResponderResources:
    """What the stack would have deployed, named as the functions' environment expects."""

    evidence_bucket: str
    incident_table: str
    soc_topic_arn: str
    soc_inbox_url: str  # an SQS queue subscribed to the topic, standing in for the SOC's mailbox

    def environment(self) -> dict[str, str]:
        return {
            "EVIDENCE_BUCKET": self.evidence_bucket,
            "INCIDENT_TABLE": self.incident_table,
            "SOC_TOPIC_ARN": self.soc_topic_arn,
        }


def deploy_responder_resources(
    s3: Any, ddb: Any, sns: Any, sqs: Any, *, suffix: str = "local"
) -> ResponderResources:
    """Create the evidence bucket (Object Lock, versioned), the incident table and the SOC topic."""
    bucket = f"responder-evidence-{ACCOUNT_ID}-{suffix}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 365}},
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    table = f"responder-incidents-{suffix}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    topic = sns.create_topic(Name=f"responder-soc-{suffix}")["TopicArn"]
    inbox = sqs.create_queue(QueueName=f"soc-inbox-{suffix}")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    return ResponderResources(
        evidence_bucket=bucket, incident_table=table, soc_topic_arn=topic, soc_inbox_url=inbox
    )


def soc_inbox(sqs: Any, resources: ResponderResources) -> list[dict[str, str]]:
    """The SOC messages delivered so far: ``[{"Subject", "Message"}]``, oldest first."""
    out: list[dict[str, str]] = []
    while True:
        got = sqs.receive_message(QueueUrl=resources.soc_inbox_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not got:
            return out
        for m in got:
            body = json.loads(m["Body"])
            out.append({"Subject": body.get("Subject", ""), "Message": body.get("Message", "")})
            sqs.delete_message(QueueUrl=resources.soc_inbox_url, ReceiptHandle=m["ReceiptHandle"])


@dataclass(frozen=True)
class VictimUser:
    user_name: str
    exposed_key_id: str
    innocent_key_id: str
    # The exposed key's secret, as the attacker holds it: a scenario signs with it (GetSessionToken).
    exposed_secret: str = field(default="", repr=False)


def create_victim_user(iam: Any, user_name: str, *, owner: str) -> VictimUser:
    """The user whose key leaked, tagged with its owner, holding a second, innocent key."""
    iam.create_user(
        UserName=user_name, Tags=[{"Key": "owner", "Value": owner}, {"Key": "team", "Value": "data"}]
    )
    exposed = iam.create_access_key(UserName=user_name)["AccessKey"]
    innocent = iam.create_access_key(UserName=user_name)["AccessKey"]["AccessKeyId"]
    return VictimUser(
        user_name=user_name,
        exposed_key_id=exposed["AccessKeyId"],
        innocent_key_id=innocent,
        exposed_secret=exposed["SecretAccessKey"],
    )


def create_victim_bucket(
    s3: Any, bucket: str, *, policy: dict[str, Any], objects: list[str], classification: str = "confidential"
) -> None:
    """The bucket as the attacker left it: the backdoored policy in place, the data they read."""
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": "DataClassification", "Value": classification}]}
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for key in objects:
        # Fake, obviously synthetic content: never real customer data in a demo.
        s3.put_object(Bucket=bucket, Key=key, Body=f"id,name\n1,synthetic row for {key}\n".encode())
    # Last: moto enforces the policy's TLS-only Deny on its own plain-HTTP requests.
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy, indent=2))


def key_status(iam: Any, user_name: str, key_id: str) -> str | None:
    for key in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]:
        if key["AccessKeyId"] == key_id:
            return str(key["Status"])
    return None


def account_state(iam: Any, s3: Any, *, exclude_buckets: tuple[str, ...] = ()) -> dict[str, Any]:
    """Everything a responder could change in the account, read-only, for before/after comparisons.

    Users (keys and their status, inline and attached policies, tags, login profile), roles (trust,
    inline and attached policies, tags) and buckets (policy, Block Public Access, ACL), minus the
    responder's own buckets, which it writes evidence to by design.
    """
    state: dict[str, Any] = {"users": {}, "roles": {}, "buckets": {}}
    for user in iam.list_users()["Users"]:
        name = user["UserName"]
        try:
            login = iam.get_login_profile(UserName=name)["LoginProfile"]["CreateDate"].isoformat()
        except iam.exceptions.NoSuchEntityException:
            login = None
        state["users"][name] = {
            "keys": {
                k["AccessKeyId"]: k["Status"]
                for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
            },
            "inline": {
                p: iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"]
                for p in iam.list_user_policies(UserName=name)["PolicyNames"]
            },
            "attached": sorted(
                p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
            ),
            "tags": {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name).get("Tags", [])},
            "login_profile": login,
        }
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        state["roles"][name] = {
            "trust": role.get("AssumeRolePolicyDocument"),
            "inline": {
                p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
                for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
            },
            "attached": sorted(
                p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            ),
        }
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        if name in exclude_buckets:
            continue
        entry: dict[str, Any] = {}
        for key, call, part in (
            ("policy", s3.get_bucket_policy, "Policy"),
            ("public_access_block", s3.get_public_access_block, "PublicAccessBlockConfiguration"),
            ("acl", s3.get_bucket_acl, "Grants"),
        ):
            try:
                entry[key] = call(Bucket=name).get(part)
            except s3.exceptions.ClientError:
                entry[key] = None
        state["buckets"][name] = entry
    return json.loads(json.dumps(state, sort_keys=True, default=str))


def state_differences(before: dict[str, Any], after: dict[str, Any], path: str = "") -> list[str]:
    """Where two account states differ, as readable paths."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after)):
            out += state_differences(before.get(key), after.get(key), f"{path}/{key}")  # type: ignore[arg-type]
        return out
    return [] if before == after else [path or "/"]
