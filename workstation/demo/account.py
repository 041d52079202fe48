"""The emulated account a demo or end-to-end test runs in (inside an active ``mock_aws``).

Two parts: the responder's own resources (what the stack deploys: evidence bucket, incident
table, SOC topic) and the victim's side (the user and keys, the backdoored bucket and its data).
The one builder of both: the demo, the test fixtures (tests/lambdas, tests/iam_env.py,
tests/remediation_env.py) and the reliability suites compose these functions rather than
creating the same resources themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
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
    deny_all_policy_arn: str = ""  # the stack's managed deny-all policy (containment attaches it)
    # The per-deployment HMAC key of redaction digests (the stack's RedactionKey secret).
    redaction_key_secret_arn: str = ""

    def environment(self) -> dict[str, str]:
        env = {
            "EVIDENCE_BUCKET": self.evidence_bucket,
            "INCIDENT_TABLE": self.incident_table,
            "SOC_TOPIC_ARN": self.soc_topic_arn,
        }
        if self.deny_all_policy_arn:
            env["DENY_ALL_POLICY_ARN"] = self.deny_all_policy_arn
        if self.redaction_key_secret_arn:
            env["REDACTION_KEY_SECRET_ARN"] = self.redaction_key_secret_arn
        return env


# The stack's evidence lock and incident table keys, as cdk.json and stacks/constructs/evidence.py
# deploy them: tests/demo/test_account_builder.py holds the builder and the stack equal.
EVIDENCE_RETENTION_DAYS = 365
EVIDENCE_RETENTION_MODE = "GOVERNANCE"
INCIDENT_TABLE_KEYS = (("pk", "HASH"), ("sk", "RANGE"))


def deploy_responder_resources(
    s3: Any, ddb: Any, sns: Any, sqs: Any, *, suffix: str = "local", iam: Any = None
) -> ResponderResources:
    """Create the evidence bucket (Object Lock, versioned), the incident table and the SOC topic;
    with ``iam``, also the managed deny-all policy the stack owns (``DENY_ALL_POLICY_ARN``)."""
    bucket = create_evidence_bucket(s3, f"responder-evidence-{ACCOUNT_ID}-{suffix}")
    table = create_incident_table(ddb, f"responder-incidents-{suffix}")
    topic, inbox = create_soc_topic(sns, sqs, topic=f"responder-soc-{suffix}", inbox=f"soc-inbox-{suffix}")
    deny_all = create_deny_all_policy(iam, f"responder-deny-all-{suffix}") if iam is not None else ""
    return ResponderResources(
        evidence_bucket=bucket,
        incident_table=table,
        soc_topic_arn=topic,
        soc_inbox_url=inbox,
        deny_all_policy_arn=deny_all,
        # As the stack does: every redaction digest keyed with a per-deployment secret.
        redaction_key_secret_arn=create_redaction_key(
            boto3.client("secretsmanager", region_name=REGION), suffix
        ),
    )


def create_evidence_bucket(s3: Any, bucket: str) -> str:
    """The evidence bucket as the stack makes it: Object Lock with its default retention (which
    versions the bucket) and Block Public Access. Without the write-once policy: moto's opt-in
    policy checks would refuse every write (see ``stacks.constructs.evidence.EvidenceStore``)."""
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": EVIDENCE_RETENTION_MODE, "Days": EVIDENCE_RETENTION_DAYS}},
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
    return bucket


def create_incident_table(ddb: Any, table: str) -> str:
    """The incident table with the stack's keys, billing, encryption and point-in-time recovery."""
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in INCIDENT_TABLE_KEYS],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name, _ in INCIDENT_TABLE_KEYS
        ],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True},
        DeletionProtectionEnabled=True,
    )
    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return table


def create_soc_topic(sns: Any, sqs: Any, *, topic: str, inbox: str) -> tuple[str, str]:
    """The SOC topic and an SQS queue subscribed to it, standing in for the SOC's mailbox:
    ``(topic ARN, inbox queue URL)``."""
    topic_arn = str(sns.create_topic(Name=topic)["TopicArn"])
    inbox_url = str(sqs.create_queue(QueueName=inbox)["QueueUrl"])
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
    return topic_arn, inbox_url


def create_deny_all_policy(iam: Any, name: str) -> str:
    """The stack's managed deny-all policy, which containment attaches to rogue principals; its ARN."""
    from responder.remediate.record import DENY_ALL

    return str(
        iam.create_policy(
            PolicyName=name,
            PolicyDocument=json.dumps(DENY_ALL),
            Description="Deny-all containment the responder attaches to rogue principals",
        )["Policy"]["Arn"]
    )


def create_redaction_key(secrets: Any, suffix: str = "local") -> str:
    """The redaction key secret, as the stack generates it (64 letters and digits); its ARN."""
    value = secrets.get_random_password(PasswordLength=64, ExcludePunctuation=True, IncludeSpace=False)
    secret = secrets.create_secret(
        Name=f"responder-redaction-key-{suffix}", SecretString=value["RandomPassword"]
    )
    return str(secret["ARN"])


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


def create_victim_user(iam: Any, user_name: str, *, owner: str, team: str | None = "data") -> VictimUser:
    """The user whose key leaked, tagged with its owner (and team), holding a second, innocent key."""
    tags = [{"Key": "owner", "Value": owner}]
    if team is not None:
        tags.append({"Key": "team", "Value": team})
    iam.create_user(UserName=user_name, Tags=tags)
    exposed = iam.create_access_key(UserName=user_name)["AccessKey"]
    innocent = iam.create_access_key(UserName=user_name)["AccessKey"]["AccessKeyId"]
    return VictimUser(
        user_name=user_name,
        exposed_key_id=exposed["AccessKeyId"],
        innocent_key_id=innocent,
        exposed_secret=exposed["SecretAccessKey"],
    )


def create_victim_bucket(
    s3: Any,
    bucket: str,
    *,
    policy: Mapping[str, Any] | str,
    objects: Iterable[str] = (),
    classification: str | None = "confidential",
    versioned: bool = True,
) -> None:
    """The bucket as the attacker left it: the backdoored policy in place, the data they read.

    A ``policy`` given as text is put as it is (a restore must give back the owner's very bytes);
    ``classification=None`` leaves the bucket untagged.
    """
    s3.create_bucket(Bucket=bucket)
    if classification is not None:
        s3.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": [{"Key": "DataClassification", "Value": classification}]}
        )
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for key in objects:
        # Fake, obviously synthetic content: never real customer data in a demo.
        s3.put_object(Bucket=bucket, Key=key, Body=f"id,name\n1,synthetic row for {key}\n".encode())
    # Last: moto enforces the policy's TLS-only Deny on its own plain-HTTP requests.
    text = policy if isinstance(policy, str) else json.dumps(policy, indent=2)
    s3.put_bucket_policy(Bucket=bucket, Policy=text)


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


def resources_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """An :func:`account_state` by resource, as ``account-changes.json`` names them.

    ``user/NAME`` (inline and attached policies, tags), ``access-key/ID`` (its user and status),
    ``login-profile/USER``, ``role/NAME`` (trust, inline and attached policies) and ``bucket/NAME``
    (policy, Block Public Access, ACL): one entry per thing a person would say "was changed".
    """
    out: dict[str, Any] = {}
    for name, user in (state.get("users") or {}).items():
        out[f"user/{name}"] = {k: user[k] for k in ("inline", "attached", "tags") if k in user}
        for key_id, status in (user.get("keys") or {}).items():
            out[f"access-key/{key_id}"] = {"user": name, "status": status}
        if user.get("login_profile"):
            out[f"login-profile/{name}"] = {"create_date": user["login_profile"]}
    for name, role in (state.get("roles") or {}).items():
        out[f"role/{name}"] = role
    for name, bucket in (state.get("buckets") or {}).items():
        out[f"bucket/{name}"] = bucket
    return out


def resource_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every resource that differs between two account states: ``{"resource", "before", "after"}``.

    ``before`` or ``after`` is None where the resource did not exist then (created or deleted).
    """
    old, new = resources_of(before), resources_of(after)
    return [
        {"resource": r, "before": old.get(r), "after": new.get(r)}
        for r in sorted(set(old) | set(new))
        if old.get(r) != new.get(r)
    ]


def backdate_iam(
    account_id: str,
    *,
    users: Mapping[str, Any] | None = None,
    roles: Mapping[str, Any] | None = None,
    keys: Mapping[str, Any] | None = None,
) -> None:
    """Set the CreateDate moto gives users, roles and access keys (by id) to when the story made them.

    moto stamps everything with the moment the demo builds the account; CloudTrail's records say when
    each was really created, and the responder checks one against the other (issue 12: records are
    checked against the live account). Times are datetimes (UTC). moto's login profile shares its
    user's CreateDate.
    """
    from datetime import UTC

    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["global"]

    def naive(when: Any) -> Any:
        return when.astimezone(UTC).replace(tzinfo=None, microsecond=0)

    for name, when in (users or {}).items():
        backend.users[name].create_date = naive(when)
    by_name = {role.name: role for role in backend.roles.values()}  # moto keys roles by id
    for name, when in (roles or {}).items():
        by_name[name].create_date = naive(when)
    for key_id, when in (keys or {}).items():
        for user in backend.users.values():
            for key in user.access_keys:
                if key.access_key_id == key_id:
                    key.create_date = naive(when)
