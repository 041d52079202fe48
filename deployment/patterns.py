"""The rules' event patterns as plain data, so the stack, the local runner and the tests check events
against one definition (importing this module does not start the CDK's jsii runtime): the GuardDuty
rule (:func:`event_pattern`), the CloudTrail detections (:func:`detection_patterns`), the
compromised-key quarantine trigger (:func:`quarantine_pattern`) and AWS Health's exposed-key event
(:func:`health_pattern`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deployment.settings import StackSettings


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


AWS_INTERNAL = "AWS Internal"  # CloudTrail's caller, source IP and user agent for AWS's own calls


def quarantine_caller_clause() -> list[dict[str, Any]]:
    """``detail`` branches (``$or``) that hold only when AWS itself made the attach.

    AWS's own calls carry no principal ARN: either no identity type, ``invokedBy`` and
    ``sourceIPAddress`` both ``AWS Internal``; an ``AWSAccount`` identity invoked by ``AWS Internal``;
    or an ``AWSService`` identity invoked by an AWS service.
    Every IAM user, role session and root call has an ``arn``; a console call can also show
    ``AWS Internal``, so the missing ARN is what tells AWS apart. responder.steps.triage checks the same.
    """
    return [
        {
            "userIdentity": {
                "arn": [{"exists": False}],
                "type": [{"exists": False}],
                "invokedBy": [AWS_INTERNAL],
            },
            "sourceIPAddress": [AWS_INTERNAL],
        },
        {
            "userIdentity": {
                "arn": [{"exists": False}],
                "type": ["AWSAccount"],
                "invokedBy": [AWS_INTERNAL],
            }
        },
        {
            "userIdentity": {
                "arn": [{"exists": False}],
                "type": ["AWSService"],
                "invokedBy": [{"suffix": ".amazonaws.com"}],
            }
        },
    ]


def quarantine_pattern() -> dict[str, Any]:
    """AWS attached its compromised-key quarantine policy (AWSCompromisedKeyQuarantine, V2, V3...) to a
    user: AWS found that user's key in public. Only AWS's own attach matches: anyone with
    ``iam:AttachUserPolicy`` can attach the policy, and that must not start a containment."""
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
            "$or": quarantine_caller_clause(),
        },
    }


# The responder input the quarantine rule sends the state machine (EventBridge input transformer):
# key -> JSON path into the event. responder.steps.triage reads it as a ``quarantine-policy`` incident and
# checks the caller fields again (an execution can be started by hand with any input).
QUARANTINE_INPUT: dict[str, str] = {
    "userName": "$.detail.requestParameters.userName",
    "policyArn": "$.detail.requestParameters.policyArn",
    "accountId": "$.detail.recipientAccountId",
    "region": "$.detail.awsRegion",
    "eventTime": "$.detail.eventTime",
    "eventId": "$.detail.eventID",
    # The whole userIdentity (always in a CloudTrail record): a path the event lacks, such as
    # userIdentity.arn of AWS's own call, leaves an unquoted placeholder empty, which is not JSON.
    "userIdentity": "$.detail.userIdentity",
    "sourceIPAddress": "$.detail.sourceIPAddress",
}
QUARANTINE_SOURCE = "quarantine-policy"


def quarantine_input(event: dict[str, Any]) -> dict[str, Any]:
    """What the quarantine rule's input transformer sends for ``event`` (a path the event lacks is
    left out here; EventBridge renders it empty, which triage reads the same)."""
    out: dict[str, Any] = {"source": QUARANTINE_SOURCE}
    for key, path in QUARANTINE_INPUT.items():
        node: Any = event
        for part in path.removeprefix("$.").split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            out[key] = node
    return out


HEALTH_DETAIL_TYPE = "AWS Health Event"
HEALTH_EXPOSED_CREDENTIALS = "AWS_RISK_CREDENTIALS_EXPOSED"


def health_pattern() -> dict[str, Any]:
    """AWS Health's exposed-credentials event: AWS found an access key of the account in public. The
    whole event is the responder's input (responder.signals.health reads it and checks it again)."""
    return {
        "source": ["aws.health"],
        "detail-type": [HEALTH_DETAIL_TYPE],
        "detail": {"service": ["RISK"], "eventTypeCode": [HEALTH_EXPOSED_CREDENTIALS]},
    }


# ------------------------------------------------------------------------------------------------
# The responder watching itself (stacks/constructs/detections.py ResponderWriteAlarm): a responder role
# that writes a policy or trust other than its fixed ones is a compromised step, or a bug as urgent.
#
# Its sessions are ``assumed-role/<role>/<function>``; every role of the stack is named
# ``<stack name>-...``, so ``sessionContext.sessionIssuer.arn`` starts with that role ARN prefix.
# What it may write: the session revocation's inline Deny on ``aws:TokenIssueTime`` (one fixed shape,
# under its fixed names: responder.steps.revoke_sessions), and the stack's deny-all policy attached to a principal.

RESPONDER_WRITE_TITLE = "a responder role wrote a policy or trust outside its fixed forms"
# Calls no step makes in a fixed form: any of them by a responder role alarms.
RESPONDER_POLICY_WRITES: tuple[str, ...] = (
    "AttachGroupPolicy",
    "CreatePolicy",
    "CreatePolicyVersion",
    "PutGroupPolicy",
    "PutRolePermissionsBoundary",
    "PutUserPermissionsBoundary",
    "SetDefaultPolicyVersion",
    "UpdateAssumeRolePolicy",
)
# Written in a fixed form only: alarm when the name, the document or the attached policy differs.
RESPONDER_FIXED_WRITES: tuple[str, ...] = (
    "PutUserPolicy",
    "PutRolePolicy",
    "AttachUserPolicy",
    "AttachRolePolicy",
)
_CUTOFF_SLOT = "CUTOFFSLOT"


def _wildcard_literal(text: str) -> str:
    """``text`` as a literal in an EventBridge wildcard pattern (``*`` and ``\\`` escaped)."""
    return text.replace("\\", "\\\\").replace("*", "\\*")


def revocation_document_filters() -> list[dict[str, Any]]:
    """Filters on ``requestParameters.policyDocument`` that match anything but the revocation's document.

    The document is logged as the text the step sent: ``json.dumps`` of
    :func:`responder.steps.revoke_sessions.revoke_document`, whose only variable part is the cutoff inside a JSON
    string. "Anything but that text with any cutoff" leaves the cutoff free, so a cutoff holding a
    quote (which could close the string and add an Allow statement after it) alarms on its own; a
    cutoff without one is a string value and nothing else. A missing document alarms too.
    """
    from responder.steps.revoke_sessions import revoke_document

    before, after = json.dumps(revoke_document(_CUTOFF_SLOT)).split(_CUTOFF_SLOT)
    shape = f"{_wildcard_literal(before)}*{_wildcard_literal(after)}"
    quoted = f'{_wildcard_literal(before)}*"*{_wildcard_literal(after)}'
    return [{"anything-but": {"wildcard": shape}}, {"wildcard": quoted}, {"exists": False}]


def responder_write_pattern(role_arn_prefix: str, deny_all_policy_arn: str) -> dict[str, Any]:
    """IAM policy and trust writes by a role whose ARN starts with ``role_arn_prefix`` (the stack's),
    other than the session revocation's documents and the attachment of ``deny_all_policy_arn``; and any
    of these calls by such a role refused as ``AccessDenied`` (it hit a guardrail). Attempts count: the
    pattern does not require success."""
    from responder.steps.revoke_sessions import ROLE_POLICY_NAME, USER_POLICY_PREFIX

    document = revocation_document_filters()
    absent: dict[str, Any] = {"exists": False}
    branches: list[dict[str, Any]] = [
        {"eventName": list(RESPONDER_POLICY_WRITES)},
        {
            "eventName": ["PutUserPolicy"],
            "requestParameters": {"policyName": [{"anything-but": {"prefix": USER_POLICY_PREFIX}}, absent]},
        },
        {"eventName": ["PutUserPolicy", "PutRolePolicy"], "requestParameters": {"policyDocument": document}},
        {
            "eventName": ["PutRolePolicy"],
            "requestParameters": {"policyName": [{"anything-but": [ROLE_POLICY_NAME]}, absent]},
        },
        {
            "eventName": ["AttachUserPolicy", "AttachRolePolicy"],
            "requestParameters": {"policyArn": [{"anything-but": [deny_all_policy_arn]}, absent]},
        },
        {"eventName": list(RESPONDER_FIXED_WRITES), "errorCode": ["AccessDenied"]},
        # The responder only ever deactivates keys.
        {"eventName": ["UpdateAccessKey"], "requestParameters": {"status": ["Active"]}},
    ]
    return {
        "source": ["aws.iam"],
        "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
        "detail": {
            "eventSource": ["iam.amazonaws.com"],
            "userIdentity": {"sessionContext": {"sessionIssuer": {"arn": [{"prefix": role_arn_prefix}]}}},
            "$or": branches,
        },
    }


# What the alarm says, by JSON path: the common fields, the outcome, and what was written where.
RESPONDER_WRITE_FIELDS: dict[str, str] = {
    **ALERT_FIELDS,
    "error_code": "$.detail.errorCode",
    "user_name": "$.detail.requestParameters.userName",
    "role_name": "$.detail.requestParameters.roleName",
    "policy_name": "$.detail.requestParameters.policyName",
    "policy_arn": "$.detail.requestParameters.policyArn",
}


def responder_write_lines() -> list[str]:
    """The SOC message of the responder-write alarm, one line each (``{field}``: a
    :data:`RESPONDER_WRITE_FIELDS` value)."""
    return [
        f"Incident responder alert: {RESPONDER_WRITE_TITLE}",
        "Who: {who} ({identity_type}, access key {access_key}) - a role of the incident responder itself",
        "What: {event_name} on {event_source}; refused with: {error_code} (empty: it succeeded)",
        "Where: user {user_name} role {role_name} policy {policy_name} {policy_arn} in account {account}, "
        "region {region}",
        "From: {source_ip} ({user_agent})",
        "When: {event_time} (CloudTrail event {event_id})",
        "Treat the responder's step functions as compromised: review the change and the function's "
        "recent invocations before trusting its next run.",
    ]
