"""The built-in incident scenarios of `responder demo --scenario NAME`.

Each one starts from the same emulated account (a user whose key leaked, a backdoored bucket, two
weeks of CloudTrail logs) and changes what the responder is sent or what the account looks like,
to show one branch of the containment policy. The names are part of the command-line contract.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Answer = Literal["approve", "deny"]


@dataclass
class Setup:
    """What a scenario sends and how the responder is configured for it."""

    inputs: list[Any]
    environment: dict[str, str] = field(default_factory=dict)
    concurrent: bool = False
    answer: Answer | None = None  # a human answering the approval request
    notes: list[str] = field(default_factory=list)
    # Extra facts for the outcome narration (role names, foreign key ids...)
    facts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoScenario:
    name: str
    summary: str
    prepare: Callable[[Any], Setup]


def _with(event: dict[str, Any], **detail: Any) -> dict[str, Any]:
    """A copy of a GuardDuty event with detail fields replaced (a new finding id each time)."""
    out = copy.deepcopy(event)
    out["detail"].update(detail)
    seed = f"{out['detail']['id']}:{sorted(detail)}:{detail.get('type', '')}:{detail.get('severity', '')}"
    out["detail"]["id"] = hashlib.sha256(seed.encode()).hexdigest()[:32]
    out["id"] = out["detail"]["id"][:8] + "-0000-4000-8000-" + out["detail"]["id"][8:20]
    return out


def _key_details(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
    details = copy.deepcopy(event["detail"]["resource"]["accessKeyDetails"])
    details.update(fields)
    resource = {**copy.deepcopy(event["detail"]["resource"]), "accessKeyDetails": details}
    return _with(event, resource=resource)


def iam_user_key(world: Any) -> Setup:
    return Setup(inputs=[world.event])


def assumed_role(world: Any) -> Setup:
    iam, sts = world.clients["iam"], world.clients["sts"]
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},'
        '"Action":"sts:AssumeRole"}]}'
    )
    role = iam.create_role(RoleName="app-deploy", AssumeRolePolicyDocument=trust)["Role"]
    session = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="i-0a1b2c3d4e5f60718")
    key = session["Credentials"]["AccessKeyId"]
    event = _key_details(
        world.event,
        accessKeyId=key,
        principalId=session["AssumedRoleUser"]["AssumedRoleId"],
        userName="app-deploy",
        userType="AssumedRole",
    )
    event = _with(event, type="UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")
    return Setup(inputs=[event], facts={"role": "app-deploy", "session_key": key})


def root(world: Any) -> Setup:
    event = _key_details(
        world.event,
        accessKeyId="AKIAROOTKEYEXPOSED01",  # root keys are not IAM keys: no IAM API lists them
        principalId=world.account_id,
        userName="Root",
        userType="Root",
    )
    return Setup(inputs=[event])


def foreign_key(world: Any) -> Setup:
    sts = world.clients["sts"]
    creds = sts.assume_role(
        RoleArn="arn:aws:iam::999988887777:role/OrganizationAccountAccessRole",
        RoleSessionName="partner-admin",
    )["Credentials"]
    other = world.client_as("iam", creds)
    other.create_user(UserName="contractor")
    key = other.create_access_key(UserName="contractor")["AccessKey"]["AccessKeyId"]
    # What an analyst types in the console: a key seen in a paste site, with no account named.
    return Setup(inputs=[{"accessKeyId": key, "lookbackDays": 7}], facts={"foreign_key": key})


def deleted_key(world: Any) -> Setup:
    iam = world.clients["iam"]
    iam.create_user(UserName="old-ci-runner")
    key = iam.create_access_key(UserName="old-ci-runner")["AccessKey"]["AccessKeyId"]
    # Rotated away before the finding arrived: the leaked copy no longer works.
    iam.delete_access_key(UserName="old-ci-runner", AccessKeyId=key)
    event = _key_details(world.event, accessKeyId=key, userName="old-ci-runner")
    return Setup(inputs=[event], facts={"deleted_key": key})


def protected_user(world: Any) -> Setup:
    world.clients["iam"].tag_user(
        UserName=world.victim.user_name, Tags=[{"Key": "responder:protected", "Value": "true"}]
    )
    # Even with "contain" as the timeout default, a protected principal is never contained unasked.
    return Setup(
        inputs=[world.event],
        environment={"APPROVAL_TIMEOUT_SECONDS": "2", "APPROVAL_ON_TIMEOUT": "contain"},
    )


def _low_severity(world: Any) -> dict[str, Any]:
    return _with(world.event, severity=5.0, type="UnauthorizedAccess:IAMUser/MaliciousIPCaller")


def approval_granted(world: Any) -> Setup:
    return Setup(inputs=[_low_severity(world)], answer="approve")


def approval_denied(world: Any) -> Setup:
    return Setup(inputs=[_low_severity(world)], answer="deny")


def approval_timeout(world: Any) -> Setup:
    return Setup(
        inputs=[_low_severity(world)],
        environment={"APPROVAL_TIMEOUT_SECONDS": "2", "APPROVAL_ON_TIMEOUT": "contain"},
    )


def duplicate_finding(world: Any) -> Setup:
    return Setup(inputs=[world.event, copy.deepcopy(world.event)])


def concurrent_findings(world: Any) -> Setup:
    second = _with(world.event, type="UnauthorizedAccess:IAMUser/TorIPCaller")
    return Setup(inputs=[world.event, second], concurrent=True)


SCENARIOS: dict[str, DemoScenario] = {
    s.name: s
    for s in (
        DemoScenario(
            "iam-user-key",
            "an IAM user's key leaked: contained in seconds, sessions revoked, investigated",
            iam_user_key,
        ),
        DemoScenario(
            "assumed-role",
            "a role session's key (ASIA) leaked: the role's older sessions are revoked",
            assumed_role,
        ),
        DemoScenario("root", "a root access key: notify only, with the steps a human must take", root),
        DemoScenario("foreign-key", "a key of another account: notify only, nothing changed", foreign_key),
        DemoScenario("deleted-key", "a key that no longer exists: notify only, nothing changed", deleted_key),
        DemoScenario(
            "protected-user", "a protected user: never contained without a human's yes", protected_user
        ),
        DemoScenario(
            "approval-granted",
            "below the auto-contain severity: the SOC approves, the key is disabled",
            approval_granted,
        ),
        DemoScenario(
            "approval-denied",
            "below the auto-contain severity: the SOC denies, nothing changes",
            approval_denied,
        ),
        DemoScenario(
            "approval-timeout",
            "nobody answers: escalation, then the configured default (contain)",
            approval_timeout,
        ),
        DemoScenario(
            "duplicate-finding",
            "the same finding delivered twice: one containment, then already_done",
            duplicate_finding,
        ),
        DemoScenario(
            "concurrent-findings",
            "two findings for one key at once: exactly one containment",
            concurrent_findings,
        ),
    )
}
DEFAULT_SCENARIO = "iam-user-key"
