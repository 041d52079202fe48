"""A small emulated account for the revoke and recover tests: a user with keys, a role, the incident table.

The user and the table come from the demo's builder (:mod:`workstation.demo.account`); the role and
the policies are this suite's own.

A test module makes its fixture from :func:`emulated_iam`::

    @pytest.fixture
    def iam_env(aws_env: None) -> Iterator[Env]:
        with emulated_iam() as env:
            yield env
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from responder.policy_doc import canonical
from workstation.demo.account import create_incident_table, create_victim_user

REGION = "us-east-1"
ACCOUNT = "123456789012"

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ],
}
APP_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::exports/*"]}],
}


@dataclass
class Env:
    iam: Any
    ddb: Any
    sts: Any
    table: str = "responder-incidents-test"
    user: str = "analytics-etl"
    role: str = "etl-runner"
    key: str = ""
    key_secret: str = ""
    other_key: str = ""

    def key_status(self, key: str | None = None) -> str:
        key = key or self.key
        keys = self.iam.list_access_keys(UserName=self.user)["AccessKeyMetadata"]
        return next(k["Status"] for k in keys if k["AccessKeyId"] == key)

    def user_policies(self, user: str | None = None) -> dict[str, str]:
        """Inline policies of the user: name -> canonical JSON."""
        user = user or self.user
        names = self.iam.list_user_policies(UserName=user)["PolicyNames"]
        return {
            n: canonical(self.iam.get_user_policy(UserName=user, PolicyName=n)["PolicyDocument"])
            for n in names
        }

    def role_policies(self, role: str | None = None) -> dict[str, str]:
        role = role or self.role
        names = self.iam.list_role_policies(RoleName=role)["PolicyNames"]
        return {
            n: canonical(self.iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"])
            for n in names
        }

    def snapshot(self) -> dict[str, Any]:
        """Everything revoke, tag and disable may change, and what they must not."""
        return {
            "keys": {
                k["AccessKeyId"]: k["Status"]
                for k in self.iam.list_access_keys(UserName=self.user)["AccessKeyMetadata"]
            },
            "user_policies": self.user_policies(),
            "role_policies": self.role_policies(),
            "role_attached": self.iam.list_attached_role_policies(RoleName=self.role)["AttachedPolicies"],
            "user_tags": self.iam.list_user_tags(UserName=self.user)["Tags"],
            "role_tags": self.iam.list_role_tags(RoleName=self.role)["Tags"],
        }

    def items(self) -> list[dict[str, Any]]:
        return sorted(
            self.ddb.scan(TableName=self.table)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"])
        )

    def actions(self, incident_id: str) -> list[dict[str, Any]]:
        """The incident's ACTION# records, before/after decoded."""
        out = []
        for item in self.items():
            if item["pk"]["S"] == f"INCIDENT#{incident_id}" and item["sk"]["S"].startswith("ACTION#"):
                row = {k: next(iter(v.values())) for k, v in item.items()}
                row["before"], row["after"] = json.loads(row["before"]), json.loads(row["after"])
                out.append(row)
        return out


@contextlib.contextmanager
def emulated_iam() -> Iterator[Env]:
    """Inside mock_aws: the user (two keys, an inline policy, a tag), the role and the incident table."""
    with mock_aws():
        env = Env(
            iam=boto3.client("iam", region_name=REGION),
            ddb=boto3.client("dynamodb", region_name=REGION),
            sts=boto3.client("sts", region_name=REGION),
        )
        victim = create_victim_user(env.iam, env.user, owner="data-platform@example.com", team=None)
        env.key, env.key_secret = victim.exposed_key_id, victim.exposed_secret
        env.other_key = victim.innocent_key_id
        env.iam.put_user_policy(UserName=env.user, PolicyName="app", PolicyDocument=json.dumps(APP_POLICY))
        env.iam.create_role(
            RoleName=env.role,
            AssumeRolePolicyDocument=json.dumps(TRUST),
            Tags=[{"Key": "team", "Value": "data"}],
        )
        env.iam.put_role_policy(RoleName=env.role, PolicyName="app", PolicyDocument=json.dumps(APP_POLICY))
        managed = env.iam.create_policy(PolicyName="etl-read", PolicyDocument=json.dumps(APP_POLICY))
        env.iam.attach_role_policy(RoleName=env.role, PolicyArn=managed["Policy"]["Arn"])
        create_incident_table(env.ddb, env.table)
        yield env
