"""An emulated account after a backdoor incident, for the remediation and recover tests.

:func:`emulated_incident` extends :func:`tests.iam_env.emulated_iam` with S3 (the evidence bucket with
Object Lock, the customer bucket with the owner's policy: both from :mod:`workstation.demo.account`,
as is the stack's deny-all policy) and applies what the attacker did: a
cross-account statement appended to the bucket policy, a user with a key, a console password and
the owner's admin policy, a second key for another user, and the role's trust opened to their
account. :func:`attacker_rows` are the CloudTrail rows of those calls (the row contract), from
which the tests build the report's sections with the real analysis functions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from responder.analysis.buckets import bucket_policy_changes
from responder.analysis.inventory import iam_changes
from responder.policy_doc import canonical, decode_policy
from tests.iam_env import ACCOUNT, REGION, TRUST, Env, emulated_iam
from workstation.demo.account import (
    backdate_iam,
    create_deny_all_policy,
    create_evidence_bucket,
    create_victim_bucket,
)

ATTACKER_ACCOUNT = "444455556666"
BUCKET = "acme-customer-exports"
EVIDENCE = "responder-evidence-test"
ROGUE_USER = "svc-backup"
OTHER_USER = "reporting"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:policy/break-glass-admin"  # the owner's, attached by the attacker
DENY_ALL_NAME = "responder-deny-all"  # the stack's managed deny-all policy
DENY_ALL_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{DENY_ALL_NAME}"

OWNER_STATEMENTS = [
    {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    },
    {
        "Sid": "EtlRead",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/etl-runner"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    },
]
BACKDOOR = {
    "Sid": "Backup",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ATTACKER_ACCOUNT}:root"},
    "Action": ["s3:GetObject", "s3:ListBucket"],
    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
}
# The owner's text, as they wrote it (indented, keys in their order): restores must give back these bytes.
OWNER_POLICY = json.dumps({"Version": "2012-10-17", "Statement": OWNER_STATEMENTS}, indent=2)
BACKDOORED_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [*OWNER_STATEMENTS, BACKDOOR]})
OPEN_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        *TRUST["Statement"],
        {
            "Sid": "Partner",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ATTACKER_ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        },
    ],
}


@dataclass
class Incident:
    env: Env
    s3: Any
    rogue_key: str = ""
    rogue_user_key: str = ""
    rogue_user_id: str = ""
    other_user_key: str = ""

    @property
    def iam(self) -> Any:
        return self.env.iam

    @property
    def ddb(self) -> Any:
        return self.env.ddb

    @property
    def table(self) -> str:
        return self.env.table

    def policy(self, bucket: str = BUCKET) -> str | None:
        try:
            return str(self.s3.get_bucket_policy(Bucket=bucket)["Policy"])
        except ClientError:
            return None

    def pab(self, bucket: str = BUCKET) -> Any:
        try:
            return self.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except ClientError:
            return None

    def evidence_keys(self) -> list[str]:
        return sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=EVIDENCE).get("Contents", []))

    def iam_state(self) -> dict[str, Any]:
        """Every user and role: keys, inline policies (canonical), attached policies, login profile, trust."""
        users: dict[str, Any] = {}
        for user in self.iam.list_users()["Users"]:
            name = user["UserName"]
            try:
                self.iam.get_login_profile(UserName=name)
                login = True
            except ClientError:
                login = False
            users[name] = {
                "keys": {
                    k["AccessKeyId"]: k["Status"]
                    for k in self.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
                },
                "inline": self.env.user_policies(name),
                "attached": sorted(
                    p["PolicyArn"]
                    for p in self.iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
                ),
                "login_profile": login,
            }
        roles: dict[str, Any] = {}
        for role in self.iam.list_roles()["Roles"]:
            name = role["RoleName"]
            found = self.iam.get_role(RoleName=name)["Role"]
            roles[name] = {
                "inline": self.env.role_policies(name),
                "trust": canonical(decode_policy(found["AssumeRolePolicyDocument"])),
            }
        return {"users": users, "roles": roles}

    def state(self) -> dict[str, Any]:
        """Everything remediation may change: bucket policy and BPA, IAM, evidence, the incident table."""
        return {
            "policy": self.policy(),
            "pab": self.pab(),
            "iam": self.iam_state(),
            "evidence": self.evidence_keys(),
            "items": self.env.items(),
        }


def _row(
    name: str, source: str, params: dict[str, Any], key: str, at: str, response: Any = None
) -> dict[str, Any]:
    return {
        "event_id": f"ev-{name}-{at}",
        "event_time": at,
        "event_source": f"{source}.amazonaws.com",
        "event_name": name,
        "aws_region": REGION,
        "source_ip": "203.0.113.50",
        "error_code": None,
        "identity_type": "IAMUser",
        "user_name": "analytics-etl",
        "access_key_id": key,
        "account_id": ACCOUNT,
        "read_only": "false",
        "event_type": "AwsApiCall",
        "request_parameters": json.dumps(params),
        "response_elements": json.dumps(response) if response is not None else None,
    }


def attacker_rows(inc: Incident) -> list[dict[str, Any]]:
    """The attacker's calls as CloudTrail rows, signed with the exposed key."""
    key = inc.env.key
    return [
        _row(
            "PutBucketPolicy",
            "s3",
            {"bucketName": BUCKET, "bucketPolicy": json.loads(BACKDOORED_POLICY)},
            key,
            "2024-05-01T10:00:00Z",
        ),
        _row(
            "CreateUser",
            "iam",
            {"userName": ROGUE_USER},
            key,
            "2024-05-01T10:01:00Z",
            {
                "user": {
                    "userName": ROGUE_USER,
                    "userId": inc.rogue_user_id,
                    "arn": _arn(ROGUE_USER),
                    "createDate": "May 1, 2024 10:01:00 AM",
                }
            },
        ),
        _row(
            "CreateAccessKey",
            "iam",
            {"userName": ROGUE_USER},
            key,
            "2024-05-01T10:02:00Z",
            {
                "accessKey": {
                    "accessKeyId": inc.rogue_user_key,
                    "userName": ROGUE_USER,
                    "createDate": "May 1, 2024 10:02:00 AM",
                }
            },
        ),
        _row(
            "CreateLoginProfile",
            "iam",
            {"userName": ROGUE_USER},
            key,
            "2024-05-01T10:03:00Z",
            {"loginProfile": {"userName": ROGUE_USER, "createDate": "May 1, 2024 10:01:00 AM"}},
        ),
        _row(
            "AttachUserPolicy",
            "iam",
            {"userName": ROGUE_USER, "policyArn": ADMIN_ARN},
            key,
            "2024-05-01T10:04:00Z",
        ),
        _row(
            "CreateAccessKey",
            "iam",
            {"userName": OTHER_USER},
            key,
            "2024-05-01T10:05:00Z",
            {
                "accessKey": {
                    "accessKeyId": inc.rogue_key,
                    "userName": OTHER_USER,
                    "createDate": "2024-05-01T10:05:00Z",
                }
            },
        ),
        _row(
            "UpdateAssumeRolePolicy",
            "iam",
            {"roleName": inc.env.role, "policyDocument": json.dumps(OPEN_TRUST)},
            key,
            "2024-05-01T10:06:00Z",
        ),
    ]


def _arn(user: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{user}"


def report_of(inc: Incident, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report's sections remediation reads, built by the real analysis functions.

    Each ``iam_changes`` entry also carries its row's parameters and response, as the Remediate step
    joins them from the saved query rows by event id (the live-account check needs them).
    """
    rows = rows if rows is not None else attacker_rows(inc)
    by_id = {r["event_id"]: r for r in rows}
    changes = [
        {
            **c,
            "request_parameters": by_id.get(c["event_id"], {}).get("request_parameters"),
            "response_elements": by_id.get(c["event_id"], {}).get("response_elements"),
        }
        for c in iam_changes(rows)
    ]
    return {
        "account_id": ACCOUNT,
        "subject": {"access_key_id": inc.env.key, "principal": {"user_name": inc.env.user}},
        "bucket_policy_changes": bucket_policy_changes(rows, ACCOUNT),
        "iam_changes": changes,
    }


@contextlib.contextmanager
def emulated_incident(*, backdoor: bool = True) -> Iterator[Incident]:
    """The account as the responder finds it (inside mock_aws)."""
    with emulated_iam() as env:
        s3 = boto3.client("s3", region_name=REGION)
        create_evidence_bucket(s3, EVIDENCE)
        create_victim_bucket(
            s3,
            BUCKET,
            policy=BACKDOORED_POLICY if backdoor else OWNER_POLICY,
            classification=None,
            versioned=False,
        )
        inc = Incident(env=env, s3=s3)
        env.iam.create_user(UserName=OTHER_USER)
        admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        env.iam.create_policy(PolicyName="break-glass-admin", PolicyDocument=json.dumps(admin))
        inc.other_user_key = env.iam.create_access_key(UserName=OTHER_USER)["AccessKey"]["AccessKeyId"]
        create_deny_all_policy(env.iam, DENY_ALL_NAME)
        if backdoor:
            inc.rogue_user_id = env.iam.create_user(UserName=ROGUE_USER)["User"]["UserId"]
            inc.rogue_user_key = env.iam.create_access_key(UserName=ROGUE_USER)["AccessKey"]["AccessKeyId"]
            env.iam.create_login_profile(UserName=ROGUE_USER, Password="Backdoor-Passw0rd!")
            env.iam.attach_user_policy(UserName=ROGUE_USER, PolicyArn=ADMIN_ARN)
            inc.rogue_key = env.iam.create_access_key(UserName=OTHER_USER)["AccessKey"]["AccessKeyId"]
            env.iam.update_assume_role_policy(RoleName=env.role, PolicyDocument=json.dumps(OPEN_TRUST))
            # When the attacker's calls made them (the records' times): the live check compares them.
            backdate_iam(
                ACCOUNT,
                users={ROGUE_USER: _at("2024-05-01T10:01:00Z")},
                keys={
                    inc.rogue_user_key: _at("2024-05-01T10:02:00Z"),
                    inc.rogue_key: _at("2024-05-01T10:05:00Z"),
                },
            )
        yield inc


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
