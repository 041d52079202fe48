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
from datetime import timedelta
from typing import Any, Literal

from responder.models import iso

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
    # Compare the account (IAM, buckets; not the responder's own) before and after the runs.
    compare_account: bool = False
    # Credentials the scenario minted: they must reach no output (the demo checks its outputs for them).
    secrets: list[str] = field(default_factory=list, repr=False)


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


SESSION_SECONDS = 3600


def iam_user_key(world: Any) -> Setup:
    # The attacker mints a session with the exposed key before the responder runs: disabling the key
    # does not end it; the revocation policy must (the outcome narration checks it).
    victim = world.victim
    sts = world.client_as(
        "sts", {"AccessKeyId": victim.exposed_key_id, "SecretAccessKey": victim.exposed_secret}
    )
    creds = sts.get_session_token(DurationSeconds=SESSION_SECONDS)["Credentials"]
    issued = creds["Expiration"] - timedelta(seconds=SESSION_SECONDS)
    return Setup(
        inputs=[world.event],
        facts={"session_minted_key": creds["AccessKeyId"], "session_minted_at": iso(issued)},
        secrets=[creds["SessionToken"], creds["SecretAccessKey"]],
    )


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


def bucket_backdoor(world: Any) -> Setup:
    # The finding's bucket carries the attacker's statement; the owner's statements must survive.
    return Setup(inputs=[world.event], facts={"bucket": world.victim_bucket}, compare_account=True)


def persistence(world: Any) -> Setup:
    return Setup(inputs=[world.event], facts={"backdoor_user": "svc-backup-sync"}, compare_account=True)


def eradicate_without_approval(world: Any) -> Setup:
    from responder.settings import Settings
    from responder.triage import triage

    incident = triage(world.event, Settings()).incident_id
    ask = {"accessKeyId": world.victim.exposed_key_id, "eradicate": True, "incidentId": incident}
    # Nobody answers the eradication request: it must refuse and say what it would have deleted.
    return Setup(
        inputs=[world.event, ask],
        environment={"APPROVAL_TIMEOUT_SECONDS": "2"},
        facts={"backdoor_user": "svc-backup-sync"},
        compare_account=True,
    )


def quarantine_policy(world: Any) -> Setup:
    iam = world.clients["iam"]
    iam.create_user(UserName="ci-deployer", Tags=[{"Key": "owner", "Value": "platform@example.com"}])
    key = iam.create_access_key(UserName="ci-deployer")["AccessKey"]["AccessKeyId"]
    # What the quarantine rule's input transformer sends when AWS attaches its policy to the user.
    event = {
        "source": "quarantine-policy",
        "userName": "ci-deployer",
        "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3",
        "accountId": world.account_id,
        "region": "us-east-1",
        "eventTime": world.event["time"],
        "eventId": "0f3c4b2a-5d6e-4f70-8a9b-aquarantine01",
    }
    return Setup(inputs=[event], facts={"quarantined_user": "ci-deployer", "quarantined_key": key})


def dry_run(world: Any) -> Setup:
    ask = {
        "accessKeyId": world.victim.exposed_key_id,
        "dryRun": True,
        "reason": "what would the responder do?",
    }
    return Setup(inputs=[ask], compare_account=True)


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
            "bucket-backdoor",
            "the attacker's external-account statement is removed, the owner's stay, the snapshot is evidence",
            bucket_backdoor,
        ),
        DemoScenario(
            "persistence",
            "the attacker-made user and key are contained, the rest of the account untouched",
            persistence,
        ),
        DemoScenario(
            "eradicate-without-approval",
            "deleting rogue resources is a separate run that refuses without approval and lists its plan",
            eradicate_without_approval,
        ),
        DemoScenario(
            "quarantine-policy",
            "AWS attached its compromised-key quarantine policy: the user's one active key is contained",
            quarantine_policy,
        ),
        DemoScenario(
            "dry-run", "every action computed and reported as would_do; the account is unchanged", dry_run
        ),
        DemoScenario(
            "concurrent-findings",
            "two findings for one key at once: exactly one containment",
            concurrent_findings,
        ),
    )
}
DEFAULT_SCENARIO = "iam-user-key"
