"""The built-in incident scenarios of `responder demo --scenario NAME`.

Each one starts from the same emulated account (a user whose key leaked, a backdoored bucket, two
weeks of CloudTrail logs) and changes what the responder is sent or what the account looks like,
to show one branch of the containment policy. The names are part of the command-line contract.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from datetime import timedelta
from typing import Any

from responder.models import iso
from workstation.demo.account import backdate_iam
from workstation.demo.cloudtrail import log_file_name
from workstation.demo.setup import DemoScenario, Setup, varied


def _key_details(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
    details = copy.deepcopy(event["detail"]["resource"]["accessKeyDetails"])
    details.update(fields)
    resource = {**copy.deepcopy(event["detail"]["resource"]), "accessKeyDetails": details}
    return varied(event, resource=resource)


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
    event = varied(event, type="UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")
    return Setup(
        inputs=[event], facts={"role": "app-deploy", "session_key": key}, may_change=["role/app-deploy"]
    )


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
    return varied(world.event, severity=5.0, type="UnauthorizedAccess:IAMUser/MaliciousIPCaller")


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
    second = varied(world.event, type="UnauthorizedAccess:IAMUser/TorIPCaller")
    return Setup(inputs=[world.event, second], concurrent=True)


def bucket_backdoor(world: Any) -> Setup:
    # The finding's bucket carries the attacker's statement; the owner's statements must survive.
    return Setup(inputs=[world.event], facts={"bucket": world.victim_bucket}, compare_account=True)


def persistence(world: Any) -> Setup:
    return Setup(inputs=[world.event], facts={"backdoor_user": "svc-backup-sync"}, compare_account=True)


def eradicate_without_approval(world: Any) -> Setup:
    from responder.settings import Settings
    from responder.steps.triage import triage

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
        # AWS itself is the caller: no principal ARN, AWS Internal (what makes it the quarantine signal).
        "userIdentity": {"accountId": world.account_id, "invokedBy": "AWS Internal"},
        "sourceIPAddress": "AWS Internal",
    }
    return Setup(
        inputs=[event],
        facts={"quarantined_user": "ci-deployer", "quarantined_key": key},
        may_change=["user/ci-deployer", f"access-key/{key}"],
    )


def manual_key(world: Any) -> Setup:
    # The console's simple input: the key, and why. No user named: IAM says whose it is.
    ask = {"accessKeyId": world.victim.exposed_key_id, "reason": "seen in a public repository"}
    return Setup(inputs=[ask])


def dry_run(world: Any) -> Setup:
    ask = {
        "accessKeyId": world.victim.exposed_key_id,
        "dryRun": True,
        "reason": "what would the responder do?",
    }
    return Setup(inputs=[ask], compare_account=True)


# -- issue 17, every signal AWS gives: AWS Health's exposed key, GuardDuty's attack sequences


EXPOSED_URL = "https://github.com/example-org/billing-exporter/blob/4f1c2e9/config/settings.py"


def health_event(account_id: str, key: str, when: str) -> dict[str, Any]:
    """AWS Health's AWS_RISK_CREDENTIALS_EXPOSED as EventBridge delivers it (AWS Health's EventBridge
    schema: RFC 2822 times in detail, the key as the affected entity, the location in the text)."""
    from email.utils import format_datetime

    from responder.models import parse_time

    stamp = parse_time(when)
    assert stamp is not None
    rfc = format_datetime(stamp, usegmt=True)
    code = "AWS_RISK_CREDENTIALS_EXPOSED"
    return {
        "version": "0",
        "id": "5c9d3e1a-7b2f-4c6d-8e0a-1f2b3c4d5e6f",
        "detail-type": "AWS Health Event",
        "source": "aws.health",
        "account": account_id,
        "time": when,
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventArn": f"arn:aws:health:global::event/RISK/{code}/{code}_7c4b2e91-0d5a-4f3e-9b8c-6a1d2e3f4a5b",
            "service": "RISK",
            "eventTypeCode": code,
            "eventTypeCategory": "issue",
            "eventScopeCode": "ACCOUNT_SPECIFIC",
            "communicationId": "7c4b2e910d5a4f3e9b8c6a1d2e3f4a5b-1",
            "startTime": rfc,
            "lastUpdatedTime": rfc,
            "statusCode": "open",
            "eventRegion": "global",
            "eventDescription": [
                {
                    "language": "en_US",
                    "latestDescription": (
                        f"We have become aware that the AWS Access Key {key}, along with the corresponding "
                        f"Secret Key, is publicly available online at {EXPOSED_URL}. Your security is "
                        "important to us and this exposure of your account's IAM credentials poses a "
                        "security risk to your AWS account, could lead to excessive charges from "
                        "unauthorized activity, and violates the AWS Customer Agreement. Please delete the "
                        "exposed credentials from your AWS account and remove them from the public location."
                    ),
                }
            ],
            "affectedEntities": [{"entityValue": key, "lastUpdatedTime": rfc, "statusCode": "IMPAIRED"}],
            "affectedAccount": account_id,
            "page": "1",
            "totalPages": "1",
        },
    }


def health_exposed_key(world: Any) -> Setup:
    # AWS found the key on GitHub before GuardDuty saw it used: the event names the key, not its user.
    event = health_event(world.account_id, world.victim.exposed_key_id, world.event["time"])
    return Setup(inputs=[event], facts={"exposed_url": EXPOSED_URL})


SEQUENCE_USER = "svc-reporting"  # a second user of the account whose key the same attacker used


def _principal_id(user: str) -> str:
    return f"AIDA{hashlib.sha256(user.encode()).hexdigest()[:17].upper()}"


def attack_sequence_finding(world: Any, second_key: str) -> dict[str, Any]:
    """GuardDuty's AttackSequence:IAM/CompromisedCredentials as EventBridge delivers it: the finding's
    own fields, and service.detection.sequence in GuardDuty's Sequence shape (actors, resources,
    endpoints, signals, sequenceIndicators: the API reference's fields, camelCase on the wire)."""
    victim, account, when = world.victim, world.account_id, world.event["time"]
    attacker_ip = world.event["detail"]["service"]["action"]["awsApiCallAction"]["remoteIpDetails"][
        "ipAddressV4"
    ]
    uid = hashlib.sha256(f"sequence:{victim.exposed_key_id}".encode()).hexdigest()[:32]
    users = [(victim.user_name, victim.exposed_key_id), (SEQUENCE_USER, second_key)]
    actors = [
        {
            "id": f"actor-{n}",
            "user": {
                "name": name,
                "uid": _principal_id(name),
                "type": "IAMUser",
                "credentialUid": key,
                "account": {"uid": account},
            },
            "session": {"mfaStatus": "Disabled"},
        }
        for n, (name, key) in enumerate(users, start=1)
    ]
    resources = [
        {
            "uid": key,
            "name": name,
            "accountId": account,
            "resourceType": "ACCESS_KEY",
            "region": "us-east-1",
            "service": "IAM",
            "cloudPartition": "aws",
            "data": {
                "accessKey": {
                    "principalId": _principal_id(name),
                    "userName": name,
                    "userType": "IAMUser",
                }
            },
        }
        for n, (name, key) in enumerate(users)
    ] + [
        {
            "uid": f"arn:aws:s3:::{world.victim_bucket}",
            "name": world.victim_bucket,
            "accountId": account,
            "resourceType": "S3_BUCKET",
            "region": "us-east-1",
            "service": "S3",
            "cloudPartition": "aws",
            "data": {"s3Bucket": {"ownerId": account, "publicReadAccess": "NOT_ALLOWED"}},
        }
    ]
    endpoints = [
        {
            "id": "endpoint-1",
            "ip": attacker_ip,
            "location": {"city": "Frankfurt am Main", "country": "Germany", "lat": 50.1155, "lon": 8.6842},
            "autonomousSystem": {"name": "Example Hosting", "number": 208294},
        }
    ]

    def signal(n: int, name: str, kind: str, count: int, operations: list[str]) -> dict[str, Any]:
        return {
            "uid": f"signal-{n}",
            "type": kind,
            "name": name,
            "description": f"{name} by the sequence's actors",
            "createdAt": when,
            "updatedAt": when,
            "firstSeenAt": when,
            "lastSeenAt": when,
            "severity": 5.0 if kind == "CLOUD_TRAIL" else 8.0,
            "count": count,
            "resourceUids": [victim.exposed_key_id],
            "actorIds": ["actor-1"],
            "endpointIds": ["endpoint-1"],
            "signalIndicators": [{"key": "TOR_IP", "values": [attacker_ip]}],
            "activities": [
                {"type": "API", "api": {"operation": op, "service": op.split(":")[0] + ".amazonaws.com"}}
                for op in operations
            ],
        }

    sequence = {
        "uid": uid,
        "description": "A sequence of actions involving compromised AWS credentials: discovery, "
        "persistence (a new IAM user and key) and a bucket policy opened to another account.",
        "actors": actors,
        "resources": resources,
        "endpoints": endpoints,
        "signals": [
            signal(1, "UnauthorizedAccess:IAMUser/TorIPCaller", "FINDING", 3, []),
            signal(2, "CreateUser", "CLOUD_TRAIL", 1, ["iam:CreateUser", "iam:CreateAccessKey"]),
            signal(3, "PutBucketPolicy", "CLOUD_TRAIL", 1, ["s3:PutBucketPolicy"]),
        ],
        "sequenceIndicators": [
            {"key": "TOR_IP", "values": [attacker_ip], "title": "Tor exit node"},
            {"key": "HIGH_RISK_API", "values": ["iam:CreateUser", "s3:PutBucketPolicy"]},
            {"key": "ATTACK_TACTIC", "values": ["Discovery", "Persistence", "Exfiltration"]},
            {"key": "UNUSUAL_ASN_FOR_USER", "values": ["208294"]},
        ],
    }
    event = varied(
        world.event,
        type="AttackSequence:IAM/CompromisedCredentials",
        severity=9.2,
        title="Potential credential compromise in the account, indicated by a sequence of actions.",
        resource={"resourceType": "AttackSequence"},
    )
    event["detail"]["service"] = {
        **copy.deepcopy(event["detail"]["service"]),
        "detection": {"sequence": sequence},
    }
    event["detail"]["service"].pop("action", None)  # a sequence has no single API call
    return event


def attack_sequence(world: Any) -> Setup:
    iam = world.clients["iam"]
    iam.create_user(UserName=SEQUENCE_USER, Tags=[{"Key": "owner", "Value": "finance-data@example.com"}])
    second = iam.create_access_key(UserName=SEQUENCE_USER)["AccessKey"]["AccessKeyId"]
    return Setup(
        inputs=[attack_sequence_finding(world, second)],
        facts={"sequence_user": SEQUENCE_USER, "sequence_key": second},
        may_change=[f"user/{SEQUENCE_USER}", f"access-key/{second}"],
    )


def _updated(event: dict[str, Any], *, count_added: int, minutes: int) -> dict[str, Any]:
    """GuardDuty's re-publication of the same finding: same id, a higher count, a later updatedAt."""
    from responder.models import parse_time

    out = copy.deepcopy(event)
    detail = out["detail"]
    detail["service"]["count"] = int(detail["service"].get("count") or 1) + count_added
    stamp = parse_time(detail.get("updatedAt") or out["time"])
    assert stamp is not None
    detail["updatedAt"] = iso(stamp + timedelta(minutes=minutes))
    out["time"] = detail["updatedAt"]
    out["id"] = hashlib.sha256(f"{out['id']}:{minutes}".encode()).hexdigest()[:36]
    return out


UPDATE_BUCKET_PREFIX = "acme-analytics-staging"


def finding_update(world: Any) -> Setup:
    # GuardDuty re-publishes the finding as its count grows: the first update names nothing new (it
    # is recorded, no second response); the second names a bucket the first did not (investigated).
    first = world.event
    recount = _updated(first, count_added=6, minutes=15)
    bucket = f"{UPDATE_BUCKET_PREFIX}-{world.account_id}"
    world.clients["s3"].create_bucket(Bucket=bucket)
    widened = _updated(first, count_added=11, minutes=30)
    details = widened["detail"]["resource"].setdefault("s3BucketDetails", [])
    details.append(
        {**copy.deepcopy(details[0]), "name": bucket, "arn": f"arn:aws:s3:::{bucket}"}
        if details
        else {"name": bucket}
    )
    return Setup(inputs=[first, recount, widened], facts={"new_bucket": bucket})


SIGNAL_SCENARIOS = (
    DemoScenario(
        "health-exposed-key",
        "AWS Health reports the key exposed on GitHub: contained at once, the report says where to remove it",
        health_exposed_key,
    ),
    DemoScenario(
        "attack-sequence",
        "a GuardDuty attack sequence names two keys and a bucket: each key contained once, all investigated",
        attack_sequence,
    ),
    DemoScenario(
        "finding-update",
        "GuardDuty updates a handled finding twice: recorded, no second response; the update naming a new bucket is investigated",
        finding_update,
    ),
)


# -- issue 12, triage and containment: AWS's quarantine only, protected by the real owner, claims taken over


def _attach_event(world: Any, user: str, identity: dict[str, Any], source_ip: str) -> dict[str, Any]:
    """The CloudTrail record (as EventBridge delivers it) of an AttachUserPolicy of the quarantine policy."""
    detail = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": world.event["time"],
        "eventSource": "iam.amazonaws.com",
        "eventName": "AttachUserPolicy",
        "awsRegion": "us-east-1",
        "sourceIPAddress": source_ip,
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
        "requestParameters": {
            "userName": user,
            "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3",
        },
        "responseElements": None,
        "eventID": "6b1d2c3e-4f50-4a61-8b72-c0ffee5000f1",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": world.account_id,
    }
    return {
        "version": "0",
        "id": "0d6c1f2e-3a4b-4c5d-9e6f-7a8b9c0d1e2f",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": world.account_id,
        "time": world.event["time"],
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def spoofed_quarantine(world: Any) -> Setup:
    from deployment.patterns import quarantine_input, quarantine_pattern
    from workstation.local.events import matches_rule

    iam = world.clients["iam"]
    iam.create_user(UserName="ci-deployer", Tags=[{"Key": "owner", "Value": "platform@example.com"}])
    key = iam.create_access_key(UserName="ci-deployer")["AccessKey"]["AccessKeyId"]
    # Any IAM user with iam:AttachUserPolicy can attach AWS's quarantine policy to someone else.
    intern = iam.create_user(UserName="ops-intern")["User"]
    identity = {
        "type": "IAMUser",
        "principalId": intern["UserId"],
        "arn": intern["Arn"],
        "accountId": world.account_id,
        "accessKeyId": "AKIAOPSINTERNKEY0001",
        "userName": "ops-intern",
    }
    event = _attach_event(world, "ci-deployer", identity, "198.51.100.23")
    matched = matches_rule(quarantine_pattern(), event)
    # What the rule would send if it matched (or anyone with states:StartExecution sends by hand).
    return Setup(
        inputs=[quarantine_input(event)],
        facts={
            "quarantined_user": "ci-deployer",
            "quarantined_key": key,
            "quarantine_rule": "matches" if matched else "does not match",
            "attached_by": intern["Arn"],
        },
        compare_account=True,
    )


def protected_by_name(world: Any) -> Setup:
    # The finding names no user (GuardDuty leaves it out for some finding types); the list names the
    # owner by ARN only: the real owner is found from the key, and the list is checked against it.
    event = copy.deepcopy(world.event)
    details = event["detail"]["resource"]["accessKeyDetails"]
    details.pop("userName", None)
    details.pop("principalId", None)
    owner_arn = world.clients["iam"].get_user(UserName=world.victim.user_name)["User"]["Arn"]
    return Setup(
        inputs=[varied(event, resource=event["detail"]["resource"])],
        environment={
            "PROTECTED_PRINCIPALS": f"break-glass-admin,{owner_arn}",
            "APPROVAL_TIMEOUT_SECONDS": "2",
            "APPROVAL_ON_TIMEOUT": "contain",
        },
        facts={"protected_owner": owner_arn},
        compare_account=True,
    )


STALE_CLAIM_AGE = timedelta(hours=2)  # far older than any step that claims a key can run


def stale_claim(world: Any) -> Setup:
    from responder.models import utc_now
    from responder.settings import Settings
    from responder.steps.triage import triage

    # An earlier attempt claimed the key, then died (its Lambda was killed) before UpdateAccessKey.
    claimed_at = iso(utc_now() - STALE_CLAIM_AGE)
    world.clients["dynamodb"].put_item(
        TableName=world.resources.incident_table,
        Item={
            "pk": {"S": f"KEY#{world.victim.exposed_key_id}"},
            "sk": {"S": "CONTAINMENT"},
            "status": {"S": "in_progress"},
            "incident_id": {"S": triage(world.event, Settings()).incident_id},
            "execution_id": {"S": f"arn:aws:states:us-east-1:{world.account_id}:execution:responder:died"},
            "claimed_at": {"S": claimed_at},
        },
    )
    return Setup(inputs=[world.event], facts={"stale_claimed_at": claimed_at}, compare_account=True)


TRIAGE_SCENARIOS = (
    DemoScenario(
        "spoofed-quarantine",
        "an IAM user attaches AWS's quarantine policy to another user: not AWS's signal, no key is disabled",
        spoofed_quarantine,
    ),
    DemoScenario(
        "protected-by-name",
        "the owner is protected by the list only and the finding names no user: nothing contained without a yes",
        protected_by_name,
    ),
    DemoScenario(
        "stale-claim",
        "an earlier attempt died after claiming the key: this run takes the claim over and disables it",
        stale_claim,
    ),
)


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
            "manual-key",
            "an analyst starts a run with the key only: IAM names its user, the first Lambda disables it",
            manual_key,
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
SCENARIOS.update({s.name: s for s in TRIAGE_SCENARIOS})
SCENARIOS.update({s.name: s for s in SIGNAL_SCENARIOS})

# -- issue 12, outputs: every sink encodes what it carries (workstation/demo/hostile.py)


def _hostile_strings(world: Any) -> Setup:
    from workstation.demo.hostile import hostile_strings

    result: Setup = hostile_strings(world)
    return result


OUTPUT_SCENARIOS = (
    DemoScenario(
        "hostile-strings",
        "object keys, user agents and Sids carry CR/LF, HTML, Markdown, ANSI and Slack markup: shown, never obeyed",
        _hostile_strings,
    ),
)
SCENARIOS.update({s.name: s for s in OUTPUT_SCENARIOS})
DEFAULT_SCENARIO = "iam-user-key"


# -- issue 12, malformed input: one hostile value must not stop the response


DEEP_LEVELS = 1000  # about where Python's json recursion gives out
DEEP_EVENT_ID = "5e1f0d3c-2b4a-4c69-8d7e-deep00000001"


def deep_parameters(world: Any) -> Setup:
    """The attack's logs gain one record of the exposed key nested DEEP_LEVELS deep (a failed call is
    logged with the caller's parameters); the rest of the story, the bucket backdoor included, is as in
    ``bucket-backdoor``."""
    import gzip
    import json
    from datetime import datetime

    iam = world.clients["iam"]
    user = iam.get_user(UserName=world.victim.user_name)["User"]
    when = datetime.fromisoformat(world.event["time"].replace("Z", "+00:00")) - timedelta(minutes=20)
    record = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": user["UserId"],
            "arn": user["Arn"],
            "accountId": world.account_id,
            "accessKeyId": world.victim.exposed_key_id,
            "userName": user["UserName"],
        },
        "eventTime": iso(when),
        "eventSource": "s3.amazonaws.com",
        "eventName": "PutBucketTagging",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "207.154.221.87",
        "userAgent": "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux",
        "errorCode": "MalformedXML",
        "errorMessage": "The XML you provided was not well-formed",
        "requestParameters": "__DEEP__",
        "responseElements": None,
        "eventID": DEEP_EVENT_ID,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": world.account_id,
    }
    deep = '{"Tagging":' * DEEP_LEVELS + '"x"' + "}" * DEEP_LEVELS
    # json.dumps itself recurses per level: the deep value is spliced in as text.
    body = json.dumps({"Records": [record]}, separators=(",", ":")).replace('"__DEEP__"', deep)
    path = world.log_root / log_file_name(world.account_id, "us-east-1", when, "deepParameters001")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body.encode(), mtime=0))
    return Setup(
        inputs=[world.event],
        facts={"bucket": world.victim_bucket, "deep_event_id": DEEP_EVENT_ID},
        compare_account=True,
    )


MALFORMED_INPUT_SCENARIOS = (
    DemoScenario(
        "deep-parameters",
        "one record nested 1,000 levels deep: the run completes, the backdoor is removed, the record is reported unreadable",
        deep_parameters,
    ),
)
SCENARIOS.update({s.name: s for s in MALFORMED_INPUT_SCENARIOS})


# -- issue 12, IAM persistence: act only on live-verified attacker events; protected; bounded


FORGED_USER = "cfo.lee"
ORG_ROLE = "OrganizationAccountAccessRole"
MANAGEMENT_ACCOUNT = "999988887777"
BREAK_GLASS = "break-glass-admin"
MANY_USERS = 1000


def _attacker_record(world: Any, event_name: str) -> dict[str, Any]:
    """The exposed key's own ``event_name`` record from the demo's logs: the shape a forger copies."""
    return copy.deepcopy(_first_record(str(world.log_root), world.victim.exposed_key_id, event_name))


@functools.lru_cache(maxsize=8)  # the logs are read once, however many records a scenario writes
def _first_record(log_root: str, key: str, event_name: str) -> dict[str, Any]:
    import gzip
    import json
    from pathlib import Path

    for path in sorted(Path(log_root).rglob("*.json.gz")):
        for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            identity = record.get("userIdentity") or {}
            if record.get("eventName") == event_name and identity.get("accessKeyId") == key:
                return dict(record)
    raise LookupError(f"no {event_name} record of the exposed key in the demo's logs")


def _iam_record(
    world: Any, n: int, name: str, request: Any, response: Any, *, after_seconds: int
) -> dict[str, Any]:
    """A record of the exposed key (its identity, IP and agent), ``after_seconds`` after its CreateUser."""
    from datetime import datetime

    template = _attacker_record(world, "CreateUser")
    at = datetime.fromisoformat(template["eventTime"].replace("Z", "+00:00")) + timedelta(
        seconds=after_seconds
    )
    seed = hashlib.sha256(f"{world.victim.exposed_key_id}:{name}:{n}".encode()).hexdigest()
    template.update(
        eventTime=iso(at),
        eventName=name,
        requestParameters=request,
        responseElements=response,
        eventID=f"{seed[:8]}-{seed[8:12]}-4{seed[13:16]}-8{seed[17:20]}-{seed[20:32]}",
        requestID=f"{seed[32:40]}-{seed[40:44]}-4{seed[45:48]}-8{seed[49:52]}-{seed[52:64]}",
    )
    template["userAgent"] = str(template.get("userAgent", "")).replace("create-user", "iam")
    return template


def _add_log(world: Any, records: list[dict[str, Any]], suffix: str) -> None:
    """One more CloudTrail log file of ``records`` in the demo's trail folder (the attacker can write it)."""
    import gzip
    import json
    from datetime import datetime

    last = max(datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00")) for r in records)
    path = world.log_root / log_file_name(world.account_id, "us-east-1", last + timedelta(minutes=5), suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}, separators=(",", ":")).encode(), mtime=0))


def _iam_date(when: Any) -> str:
    # IAM's createDate as CloudTrail prints it: "Jul 30, 2024 9:53:13 PM".
    return f"{when:%b} {when.day}, {when.year} {when.hour % 12 or 12}:{when:%M:%S} {'AM' if when.hour < 12 else 'PM'}"


def _backdate(world: Any, **kwargs: Any) -> None:

    backdate_iam(world.account_id, **kwargs)


def forged_create_user(world: Any) -> Setup:
    """An employee of years, with a key and a console password; one record (the attacker wrote it into
    the trail) says the exposed key created them in the window, with their real id and ARN copied."""
    from datetime import UTC, datetime

    iam = world.clients["iam"]
    user = iam.create_user(UserName=FORGED_USER, Tags=[{"Key": "owner", "Value": "finance@example.com"}])[
        "User"
    ]
    key = iam.create_access_key(UserName=FORGED_USER)["AccessKey"]["AccessKeyId"]
    password = "Cfo-Lee-Console-Passw0rd!"  # noqa: S105 - an emulated account's; must reach no output
    iam.create_login_profile(UserName=FORGED_USER, Password=password)
    hired = datetime(2023, 3, 6, 9, 12, 40, tzinfo=UTC)
    _backdate(world, users={FORGED_USER: hired}, keys={key: hired + timedelta(days=30)})
    record = _iam_record(world, 0, "CreateUser", {"userName": FORGED_USER}, None, after_seconds=95)
    record["responseElements"] = {
        "user": {
            "path": "/",
            "userName": FORGED_USER,
            "userId": user["UserId"],
            "arn": user["Arn"],
            "createDate": _iam_date(datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))),
        }
    }
    _add_log(world, [record], "forgedCreateUser1")
    return Setup(
        inputs=[world.event],
        facts={"forged_user": FORGED_USER, "forged_user_key": key, "forged_event_id": record["eventID"]},
        compare_account=True,
        secrets=[password],
    )


def noop_role_trust(world: Any) -> Setup:
    """The organization's access role; the key rewrites its trust to the very document it has."""
    import json

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    world.clients["iam"].create_role(RoleName=ORG_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    request = {"roleName": ORG_ROLE, "policyDocument": json.dumps(trust)}
    _add_log(
        world,
        [_iam_record(world, 0, "UpdateAssumeRolePolicy", request, None, after_seconds=70)],
        "noopRoleTrust01",
    )
    return Setup(inputs=[world.event], facts={"org_role": ORG_ROLE}, compare_account=True)


def protected_login_profile(world: Any) -> Setup:
    """The break-glass user (tagged protected) whose console password the key changed."""
    from datetime import UTC, datetime

    iam = world.clients["iam"]
    iam.create_user(UserName=BREAK_GLASS, Tags=[{"Key": "responder:protected", "Value": "true"}])
    password = "Break-Glass-Console-Passw0rd!"  # noqa: S105 - an emulated account's; must reach no output
    iam.create_login_profile(UserName=BREAK_GLASS, Password=password)
    _backdate(world, users={BREAK_GLASS: datetime(2022, 11, 2, 16, 0, 5, tzinfo=UTC)})
    # CloudTrail never records the password; UpdateLoginProfile returns nothing.
    request = {"userName": BREAK_GLASS, "passwordResetRequired": False}
    _add_log(
        world,
        [_iam_record(world, 0, "UpdateLoginProfile", request, None, after_seconds=80)],
        "protectedLogin01",
    )
    return Setup(
        inputs=[world.event], facts={"protected_user": BREAK_GLASS}, compare_account=True, secrets=[password]
    )


def many_users(world: Any) -> Setup:
    """The key created MANY_USERS users, one a second: every record true to the account."""
    from datetime import datetime

    iam = world.clients["iam"]
    records: list[dict[str, Any]] = []
    made: dict[str, Any] = {}
    for n in range(MANY_USERS):
        name = f"svc-sync-{n:04d}"
        user = iam.create_user(UserName=name)["User"]
        record = _iam_record(world, n, "CreateUser", {"userName": name}, None, after_seconds=120 + n)
        when = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
        record["responseElements"] = {
            "user": {
                "path": "/",
                "userName": name,
                "userId": user["UserId"],
                "arn": user["Arn"],
                "createDate": _iam_date(when),
            }
        }
        records.append(record)
        made[name] = when
    _backdate(world, users=made)
    _add_log(world, records, "manyUsersCreated")
    return Setup(
        inputs=[world.event],
        environment={"MAX_AUTO_CONTAIN": "25"},
        facts={"created_users": str(MANY_USERS), "max_auto_contain": "25"},
        compare_account=True,
        may_change=[f"user/svc-sync-{n:04d}" for n in range(MANY_USERS)],
    )


PERSISTENCE_SCENARIOS = (
    DemoScenario(
        "forged-create-user",
        "one forged record says the key created the existing user cfo.lee: cfo.lee is untouched, the record flagged",
        forged_create_user,
    ),
    DemoScenario(
        "noop-role-trust",
        "the key rewrote OrganizationAccountAccessRole's trust to the same document: the role is unchanged",
        noop_role_trust,
    ),
    DemoScenario(
        "protected-login-profile",
        "the key changed the protected break-glass-admin's console password: untouched until a person says yes",
        protected_login_profile,
    ),
    DemoScenario(
        "many-users",
        "the key created 1,000 users: the first 25 by risk contained, the rest listed for approval",
        many_users,
    ),
)
SCENARIOS.update({s.name: s for s in PERSISTENCE_SCENARIOS})


# -- issue 12, bucket policies: external by value, only the attacker's delta (demo/bucket_stories.py)


def _shared_bucket_read(world: Any) -> Setup:
    from workstation.demo.bucket_stories import shared_bucket_read

    return shared_bucket_read(world)


def _org_condition_backdoor(world: Any) -> Setup:
    from workstation.demo.bucket_stories import org_condition_backdoor

    return org_condition_backdoor(world)


BUCKET_SCENARIOS = (
    DemoScenario(
        "shared-bucket-read",
        "the finding names a partner share the attacker only read: its policy is left byte for byte",
        _shared_bucket_read,
    ),
    DemoScenario(
        "org-condition-backdoor",
        "'*' under the attacker's own organization, VPC endpoint and user id: reported external, removed",
        _org_condition_backdoor,
    ),
)
SCENARIOS.update({s.name: s for s in BUCKET_SCENARIOS})
