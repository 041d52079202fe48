"""The rules' event patterns as plain data, so the stack, the local runner and the tests check events
against one definition (importing this module does not start the CDK's jsii runtime): the GuardDuty
rule (:func:`event_pattern`), the CloudTrail detections (:func:`detection_patterns`) and the
compromised-key quarantine trigger (:func:`quarantine_pattern`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacks.settings import StackSettings


def event_pattern(settings: StackSettings) -> dict[str, Any]:
    """The EventBridge pattern (as EventBridge's JSON) of the findings the responder acts on."""
    return {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {
            "type": [{"prefix": prefix} for prefix in settings.finding_type_prefixes],
            "severity": [{"numeric": [">=", settings.min_severity]}],
        },
    }


# ------------------------------------------------------------------------------------------------
# CloudTrail detections (stacks/constructs/detections.py): management events the SOC hears about.
#
# CloudTrail management events reach EventBridge as ``detail-type: AWS API Call via CloudTrail`` with
# ``source: aws.<service>``. IAM is a global service whose events are delivered in us-east-1 only.

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
QUARANTINE_POLICY_NAME = "AWSCompromisedKeyQuarantine"  # V1, V2, V3...: AWS's own "this key leaked"
_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
# The four Block Public Access switches; one false (or left out, which means false) weakens it.
PUBLIC_ACCESS_BLOCK_FLAGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)


@dataclass(frozen=True)
class CloudTrailDetection:
    """One detection: which successful API calls, what the SOC reads, and what was changed."""

    title: str
    sources: tuple[str, ...]
    event_sources: tuple[str, ...]
    event_names: tuple[str, ...]
    target_label: str  # what was changed, as the message names it
    target_path: str  # JSON path of that thing in the EventBridge event
    request_parameters: dict[str, Any] | None = None  # extra conditions on detail.requestParameters


def _weakened_public_access_block() -> dict[str, Any]:
    # Any switch false, or left out of the request (S3 treats a missing switch as false).
    return {
        "PublicAccessBlockConfiguration": {
            "$or": [{flag: [False, "false"]} for flag in PUBLIC_ACCESS_BLOCK_FLAGS]
            + [{flag: [{"exists": False}]} for flag in PUBLIC_ACCESS_BLOCK_FLAGS]
        }
    }


# The account-level calls are S3 Control's; CloudTrail logs them under s3.amazonaws.com as
# Put/DeleteAccountPublicAccessBlock. The s3control names and source are listed too, so that
# neither spelling slips through.
_S3_SOURCES = ("aws.s3", "aws.s3control")
_S3_EVENT_SOURCES = ("s3.amazonaws.com", "s3control.amazonaws.com")

DETECTIONS: dict[str, CloudTrailDetection] = {
    "AccessKeyCreated": CloudTrailDetection(
        "IAM access key created",
        ("aws.iam",),
        ("iam.amazonaws.com",),
        ("CreateAccessKey",),
        "key of user",
        "$.detail.responseElements.accessKey.userName",
    ),
    "UserCreated": CloudTrailDetection(
        "IAM user created",
        ("aws.iam",),
        ("iam.amazonaws.com",),
        ("CreateUser",),
        "user",
        "$.detail.requestParameters.userName",
    ),
    "LoginProfileCreated": CloudTrailDetection(
        "Console password created for an IAM user",
        ("aws.iam",),
        ("iam.amazonaws.com",),
        ("CreateLoginProfile",),
        "user",
        "$.detail.requestParameters.userName",
    ),
    "BucketPolicyChanged": CloudTrailDetection(
        "S3 bucket policy changed",
        ("aws.s3",),
        ("s3.amazonaws.com",),
        ("PutBucketPolicy", "DeleteBucketPolicy"),
        "bucket",
        "$.detail.requestParameters.bucketName",
    ),
    "BucketAclChanged": CloudTrailDetection(
        "S3 bucket ACL changed",
        ("aws.s3",),
        ("s3.amazonaws.com",),
        ("PutBucketAcl",),
        "bucket",
        "$.detail.requestParameters.bucketName",
    ),
    "PublicAccessBlockWeakened": CloudTrailDetection(
        "S3 Block Public Access weakened",
        _S3_SOURCES,
        _S3_EVENT_SOURCES,
        ("PutBucketPublicAccessBlock", "PutAccountPublicAccessBlock", "PutPublicAccessBlock"),
        "bucket (none: the whole account)",
        "$.detail.requestParameters.bucketName",
        _weakened_public_access_block(),
    ),
    "PublicAccessBlockDeleted": CloudTrailDetection(
        "S3 Block Public Access removed",
        _S3_SOURCES,
        _S3_EVENT_SOURCES,
        ("DeleteBucketPublicAccessBlock", "DeleteAccountPublicAccessBlock", "DeletePublicAccessBlock"),
        "bucket (none: the whole account)",
        "$.detail.requestParameters.bucketName",
    ),
    "CloudTrailStopped": CloudTrailDetection(
        "CloudTrail logging stopped or trail deleted",
        ("aws.cloudtrail",),
        ("cloudtrail.amazonaws.com",),
        ("StopLogging", "DeleteTrail"),
        "trail",
        "$.detail.requestParameters.name",
    ),
}

# What every alert says, by JSON path into the EventBridge event.
ALERT_FIELDS: dict[str, str] = {
    "who": "$.detail.userIdentity.arn",
    "identity_type": "$.detail.userIdentity.type",
    "access_key": "$.detail.userIdentity.accessKeyId",
    "event_name": "$.detail.eventName",
    "event_source": "$.detail.eventSource",
    "account": "$.detail.recipientAccountId",
    "region": "$.detail.awsRegion",
    "source_ip": "$.detail.sourceIPAddress",
    "user_agent": "$.detail.userAgent",
    "event_time": "$.detail.eventTime",
    "event_id": "$.detail.eventID",
}


def alert_lines(detection: CloudTrailDetection) -> list[str]:
    """The SOC message, one line each, with ``{field}`` where an :data:`ALERT_FIELDS` value (or
    ``{target}``, the detection's target) goes. Short and plain: who, what, where, from which IP, when."""
    return [
        f"Incident responder alert: {detection.title}",
        "Who: {who} ({identity_type}, access key {access_key})",
        "What: {event_name} on {event_source}",
        f"Where: {detection.target_label} {{target}} in account {{account}}, region {{region}}",
        "From: {source_ip} ({user_agent})",
        "When: {event_time} (CloudTrail event {event_id})",
    ]


def _principals(settings: StackSettings) -> tuple[list[str], list[str]]:
    arns = [p for p in settings.detection_allow_list if p.startswith("arn:")]
    names = [p for p in settings.detection_allow_list if not p.startswith("arn:")]
    return arns, names


def _not_in(values: list[str]) -> list[Any]:
    return [{"anything-but": values}]


def allow_list_clause(settings: StackSettings) -> dict[str, Any]:
    """``detail.userIdentity`` conditions that keep allow-listed principals quiet ({} when none).

    An event is quiet when ``userIdentity.arn`` is an allow-listed ARN (IAM user, root, or an exact
    STS session ARN), or its ``sessionContext.sessionIssuer.arn`` is (a role's sessions; a user's
    federation tokens), or the issuer's ``userName`` is an allow-listed name (a role of that name,
    whatever its path). ``anything-but`` does not match a field that is absent, so each condition
    is "anything but these, or absent", spelled with ``$or`` (absent issuer: not a session).
    """
    arns, names = _principals(settings)
    if not arns and not names:
        return {}
    clause: dict[str, Any] = {}
    if arns:
        clause["$or"] = [{"arn": _not_in(arns)}, {"arn": [{"exists": False}]}]
    issuer_fields = {k: v for k, v in (("arn", arns), ("userName", names)) if v}
    branches: list[dict[str, Any]] = [{}]
    for field_name, values in issuer_fields.items():
        branches = [
            {**b, field_name: condition}
            for b in branches
            for condition in (_not_in(values), [{"exists": False}])
        ]
    clause["sessionContext"] = {"sessionIssuer": {"$or": branches}}
    return clause


def detection_pattern(detection: CloudTrailDetection, settings: StackSettings) -> dict[str, Any]:
    """The EventBridge pattern of one detection: its successful calls, allow-listed principals aside."""
    detail: dict[str, Any] = {
        "eventSource": list(detection.event_sources),
        "eventName": list(detection.event_names),
        # Successful calls only: a refused call changed nothing (GuardDuty and the investigation
        # cover the attempts).
        "errorCode": [{"exists": False}],
    }
    if detection.request_parameters:
        detail["requestParameters"] = detection.request_parameters
    if clause := allow_list_clause(settings):
        detail["userIdentity"] = clause
    return {"source": list(detection.sources), "detail-type": [CLOUDTRAIL_DETAIL_TYPE], "detail": detail}


def detection_patterns(settings: StackSettings) -> dict[str, dict[str, Any]]:
    """Every detection's pattern, by name (the rule's construct id)."""
    return {name: detection_pattern(d, settings) for name, d in DETECTIONS.items()}


def quarantine_pattern() -> dict[str, Any]:
    """AWS attached its compromised-key quarantine policy (AWSCompromisedKeyQuarantine, V2, V3...) to a
    user: AWS found that user's key in public. Never filtered by the allow-list: AWS is the caller."""
    return {
        "source": ["aws.iam"],
        "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
        "detail": {
            "eventSource": ["iam.amazonaws.com"],
            "eventName": ["AttachUserPolicy"],
            "errorCode": [{"exists": False}],
            "requestParameters": {
                "policyArn": [
                    {"prefix": f"arn:{partition}:iam::aws:policy/{QUARANTINE_POLICY_NAME}"}
                    for partition in _PARTITIONS
                ]
            },
        },
    }


# The responder input the quarantine rule sends the state machine (EventBridge input transformer):
# key -> JSON path into the event. responder.triage reads it as a ``quarantine-policy`` incident.
QUARANTINE_INPUT: dict[str, str] = {
    "userName": "$.detail.requestParameters.userName",
    "policyArn": "$.detail.requestParameters.policyArn",
    "accountId": "$.detail.recipientAccountId",
    "region": "$.detail.awsRegion",
    "eventTime": "$.detail.eventTime",
    "eventId": "$.detail.eventID",
}
QUARANTINE_SOURCE = "quarantine-policy"
