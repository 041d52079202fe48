"""The CloudTrail detections and the quarantine trigger: each rule's pattern, taken from the template,
checked against real CloudTrail records (Stratus Red Team detonations, Panther's labelled rule tests)
with EventBridge's semantics (moto's matcher, behind workstation.local.events.matches_rule)."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest
from aws_cdk import Stack

from deployment.patterns import (
    ALERT_FIELDS,
    DETECTIONS,
    QUARANTINE_INPUT,
    detection_patterns,
    health_pattern,
    quarantine_pattern,
)
from responder.settings import Settings
from responder.steps.triage import triage
from tests.conftest import shared_fixture_path
from tests.stack.conftest import Synth, synthesize
from workstation.demo.scenarios import health_event
from workstation.local.events import matches_rule

pytestmark = pytest.mark.synth

STRATUS = ("cloudtrail", "stratus-red-team")
PANTHER = ("cloudtrail", "panther-analysis", "panther_cloudtrail_rule_tests.jsonl")
ALLOW_LIST = [
    "arn:aws:iam::946986569305:user/christophe",  # the caller in iam-backdoor-user.json only
    "arn:aws:iam::123456789012:role/example-role",  # the issuer of Panther's ResourceMadePublic tests
    "tester",  # a role name: sessionIssuer.userName
]


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def switched_off(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Detections off: the quarantine trigger stays."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.nodetections"), detections=False)


@pytest.fixture(scope="module")
def allow_listed(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """An allow-list, and the quarantine and Health triggers off."""
    return synthesize(
        tmp_path_factory.mktemp("cdk.out.allowlist"),
        detectionAllowList=ALLOW_LIST,
        quarantineTrigger=False,
        healthTrigger=False,
    )


def _logical_id(construct: Any) -> str:
    return Stack.of(construct).get_logical_id(construct.node.default_child)


def _detection_rules(synth: Synth) -> dict[str, dict[str, Any]]:
    """Detection name -> the rule's synthesized properties ({} when detections are off)."""
    if synth.stack.detections is None:
        return {}
    return {
        name: synth.resources[_logical_id(rule)]["Properties"]
        for name, rule in synth.stack.detections.rules.items()
    }


def _quarantine_rule(synth: Synth) -> dict[str, Any]:
    assert synth.stack.quarantine_trigger is not None
    return synth.resources[_logical_id(synth.stack.quarantine_trigger.rule)]["Properties"]


def envelope(record: dict[str, Any]) -> dict[str, Any]:
    """A CloudTrail record as EventBridge delivers it. Panther's test events fill fields a call did not
    have with null; CloudTrail leaves them out, so null fields are dropped."""
    detail = {k: v for k, v in record.items() if v is not None}
    return {
        "version": "0",
        "id": detail.get("eventID", "6f4a0f8e-3f1c-4c1e-9d55-000000000000"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + detail["eventSource"].split(".", 1)[0],
        "account": detail.get("recipientAccountId", "123456789012"),
        "time": str(detail.get("eventTime", "2024-01-01T00:00:00Z")),
        "region": detail.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": detail,
    }


@cache
def _stratus(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(shared_fixture_path(*STRATUS, f"{name}.json").read_text()))


def stratus(name: str, event_name: str) -> dict[str, Any]:
    (record,) = [r for r in _stratus(name) if r["eventName"] == event_name]
    return record


@cache
def _panther() -> tuple[dict[str, Any], ...]:
    path = shared_fixture_path(*PANTHER)
    return tuple(json.loads(line) for line in path.read_text().splitlines() if line.strip())


def panther(rule_id: str, test_name: str) -> dict[str, Any]:
    (row,) = [r for r in _panther() if r["rule_id"] == rule_id and r["test_name"] == test_name]
    return row


def matching(rules: dict[str, dict[str, Any]], record: dict[str, Any]) -> set[str]:
    """Names of the rules whose template pattern matches ``record``."""
    event = envelope(record)
    return {name for name, props in rules.items() if matches_rule(props["EventPattern"], event)}


# ------------------------------------------------------------------------- one definition, defaults


def test_every_detection_has_a_rule_whose_pattern_is_the_one_definition(synth):
    rules = _detection_rules(synth)
    assert set(rules) == set(DETECTIONS)
    assert {n: r["EventPattern"] for n, r in rules.items()} == detection_patterns(synth.stack.settings)
    assert _quarantine_rule(synth)["EventPattern"] == quarantine_pattern()
    assert synth.stack.settings.detections and synth.stack.settings.quarantine_trigger
    assert synth.stack.settings.detection_allow_list == ()


def test_each_rule_watches_its_calls_and_successful_ones_only(synth):
    expected = {
        "AccessKeyCreated": {"CreateAccessKey"},
        "UserCreated": {"CreateUser"},
        "LoginProfileCreated": {"CreateLoginProfile"},
        "BucketPolicyChanged": {"PutBucketPolicy", "DeleteBucketPolicy"},
        "BucketAclChanged": {"PutBucketAcl"},
        "PublicAccessBlockWeakened": {"PutBucketPublicAccessBlock", "PutAccountPublicAccessBlock"},
        "PublicAccessBlockDeleted": {"DeleteBucketPublicAccessBlock", "DeleteAccountPublicAccessBlock"},
        "CloudTrailStopped": {"StopLogging", "DeleteTrail"},
    }
    for name, rule in _detection_rules(synth).items():
        pattern = rule["EventPattern"]
        assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
        assert expected[name] <= set(pattern["detail"]["eventName"]), name
        assert pattern["detail"]["errorCode"] == [{"exists": False}], name
        assert "userIdentity" not in pattern["detail"], "no allow-list by default"
        assert rule["State"] == "ENABLED"


# ------------------------------------------------------------------------------- real events match

MATCHES = [
    ("stratus", "aws.persistence.iam-backdoor-user", "CreateAccessKey", "AccessKeyCreated"),
    ("stratus", "aws.persistence.iam-create-admin-user", "CreateAccessKey", "AccessKeyCreated"),
    ("stratus", "aws.persistence.iam-create-admin-user", "CreateUser", "UserCreated"),
    ("stratus", "aws.persistence.iam-create-user-login-profile", "CreateLoginProfile", "LoginProfileCreated"),
    ("stratus", "aws.defense-evasion.cloudtrail-stop", "StopLogging", "CloudTrailStopped"),
    ("stratus", "aws.defense-evasion.cloudtrail-delete", "DeleteTrail", "CloudTrailStopped"),
    ("panther", "AWS.IAM.Backdoor.User.Keys", "user1 create keys for user2", "AccessKeyCreated"),
    ("panther", "AWS.CloudTrail.RootAccessKeyCreated", "Root Access Key Created", "AccessKeyCreated"),
    ("panther", "AWS.IAM.CreateUser", "IAM User Created", "UserCreated"),
    ("panther", "AWS.CloudTrail.ResourceMadePublic", "S3 Made Publicly Accessible", "BucketPolicyChanged"),
    # Every policy change is news, public or not: the SOC reads who made it.
    ("panther", "AWS.CloudTrail.ResourceMadePublic", "S3 Not Made Publicly Accessible", "BucketPolicyChanged"),
    ("panther", "AWS.S3.BucketPolicyModified", "S3 Bucket Policy Modified", "BucketAclChanged"),
    ("panther", "AWS.S3.DeletePublicAccessBlock", "Public Access Block Deleted Successfully", "PublicAccessBlockDeleted"),
    # Logged without a configuration: every switch defaults to false.
    ("panther", "AWS.S3.DeletePublicAccessBlock", "Different S3 Event", "PublicAccessBlockWeakened"),
    ("panther", "AWS.CloudTrail.Stopped", "CloudTrail Was Stopped", "CloudTrailStopped"),
    ("panther", "AWS.CloudTrail.SecurityConfigurationChange", "Security Configuration Changed", "CloudTrailStopped"),
]  # fmt: skip

NO_MATCH = [
    # Refused calls changed nothing.
    ("panther", "AWS.CloudTrail.Stopped", "Error Stopping CloudTrail"),
    ("panther", "AWS.IAM.Backdoor.User.Keys", "CreateKey returns error code"),
    ("panther", "AWS.CloudTrail.ResourceMadePublic", "S3 Failed to make Publicly Accessible"),
    ("panther", "AWS.S3.BucketPolicyModified", "S3 Bucket Policy Modified Error Response"),
    ("panther", "AWS.S3.DeletePublicAccessBlock", "Public Access Block Deletion Failed"),
    ("panther", "AWS.CloudTrail.SecurityConfigurationChange", "Security Configuration Not Changed - Error"),
    ("panther", "AWS.S3.DeletePublicAccessBlock", "Non-S3 Event"),
    # Read-only and unrelated writes.
    ("panther", "AWS.STS.GetCallerIdentity.TruffleHog", "TruffleHog GetCallerIdentity"),
    ("panther", "AWS.IAM.AttachAdminUserPolicy", "IAM User Policy Attached with Administrator Access"),
    ("stratus", "aws.persistence.iam-create-user-login-profile", "GetCallerIdentity"),
    ("stratus", "aws.persistence.iam-create-admin-user", "AttachUserPolicy"),
    ("stratus", "aws.defense-evasion.cloudtrail-event-selectors", "PutEventSelectors"),
]


def _record(kind: str, a: str, b: str) -> dict[str, Any]:
    return stratus(a, b) if kind == "stratus" else panther(a, b)["event"]


@pytest.mark.fixtures
@pytest.mark.parametrize(("kind", "a", "b", "rule"), MATCHES, ids=[f"{m[2]}->{m[3]}" for m in MATCHES])
def test_attack_event_raises_exactly_its_alert(synth, kind, a, b, rule):
    assert matching(_detection_rules(synth), _record(kind, a, b)) == {rule}


@pytest.mark.fixtures
@pytest.mark.parametrize(("kind", "a", "b"), NO_MATCH, ids=[n[2] for n in NO_MATCH])
def test_refused_read_only_and_other_calls_raise_nothing(synth, kind, a, b):
    assert not matching(_detection_rules(synth), _record(kind, a, b))


@pytest.mark.fixtures
def test_across_every_stratus_detonation_only_the_expected_calls_alert(synth):
    """Over all 36 detonations (hundreds of records), nothing else alerts: no pattern is too broad."""
    rules = _detection_rules(synth)
    alerts: dict[tuple[str, str], set[str]] = {}
    folder = shared_fixture_path(*STRATUS)
    for path in sorted(folder.glob("*.json")):
        for record in _stratus(path.stem):
            if found := matching(rules, record):
                alerts.setdefault((path.stem, record["eventName"]), set()).update(found)
    expected = {(a, b): {rule} for kind, a, b, rule in MATCHES if kind == "stratus"}
    assert alerts == expected


@pytest.mark.fixtures
def test_across_every_panther_event_an_alert_means_a_successful_watched_call(synth):
    rules = _detection_rules(synth)
    alerted = 0
    for row in _panther():
        record = row["event"]
        if "eventSource" not in record:
            continue
        for name in matching(rules, record):
            alerted += 1
            assert record["eventName"] in DETECTIONS[name].event_names, (name, row["test_name"])
            assert not record.get("errorCode"), (name, row["test_name"])
    assert alerted >= 15


# ------------------------------------------------------------------------- Block Public Access


def _public_access_block(config: dict[str, Any] | None, event_name: str = "PutBucketPublicAccessBlock"):
    record = dict(panther("AWS.S3.DeletePublicAccessBlock", "Different S3 Event")["event"])
    parameters = {"bucketName": "corporate-documents", "publicAccessBlock": ""}
    if config is not None:
        parameters["PublicAccessBlockConfiguration"] = {
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            **config,
        }
    return {**record, "eventName": event_name, "requestParameters": parameters}


ALL_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@pytest.mark.fixtures
@pytest.mark.parametrize(
    ("config", "alerts"),
    [
        (ALL_ON, False),
        ({**ALL_ON, "RestrictPublicBuckets": False}, True),
        ({**ALL_ON, "BlockPublicPolicy": "false"}, True),
        ({k: v for k, v in ALL_ON.items() if k != "BlockPublicAcls"}, True),  # left out: false
        ({k: False for k in ALL_ON}, True),
    ],
    ids=["all-on", "one-off", "one-off-as-text", "one-left-out", "all-off"],
)
def test_block_public_access_alerts_only_when_a_switch_is_off(synth, config, alerts):
    rules = _detection_rules(synth)
    for event_name in ("PutBucketPublicAccessBlock", "PutAccountPublicAccessBlock"):
        found = matching(rules, _public_access_block(config, event_name))
        assert found == ({"PublicAccessBlockWeakened"} if alerts else set()), event_name


# ----------------------------------------------------------------------------- the SOC's message


def _transform(transformer: dict[str, Any], event: dict[str, Any]) -> str:
    """EventBridge's input transformer: each <var> becomes the value at its path, as JSON where it stands
    for a value and as the bare text inside a quoted string."""

    def value(path: str) -> Any:
        node: Any = event
        for part in path.removeprefix("$.").split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    template = transformer["InputTemplate"]

    def substitute(m: re.Match[str]) -> str:
        found = json.dumps(value(transformer["InputPathsMap"][m.group(1)]))
        in_string = len(re.findall(r'(?<!\\)"', template[: m.start()].split("\n")[-1])) % 2 == 1
        return found[1:-1] if in_string and found.startswith('"') else found

    return re.sub(r"<([\w-]+)>", substitute, template)


def test_each_alert_goes_to_the_soc_topic_with_retries_and_the_dead_letter_queue(synth):
    (topic_id,) = synth.of_type("AWS::SNS::Topic")
    (queue_id,) = synth.of_type("AWS::SQS::Queue")
    for name, rule in _detection_rules(synth).items():
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Ref": topic_id}, name
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert 0 < target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 24 * 3600
        paths = set(target["InputTransformer"]["InputPathsMap"].values())
        assert set(ALERT_FIELDS.values()) | {DETECTIONS[name].target_path} == paths
        template = target["InputTransformer"]["InputTemplate"]
        for variable in target["InputTransformer"]["InputPathsMap"]:
            assert f"<{variable}>" in template, (name, variable)
        for label in ("Who:", "What:", "Where:", "From:", "When:"):
            assert label in template, (name, label)


@pytest.mark.fixtures
def test_the_message_says_who_what_where_from_which_ip_and_when(synth):
    record = stratus("aws.persistence.iam-backdoor-user", "CreateAccessKey")
    (target,) = _detection_rules(synth)["AccessKeyCreated"]["Targets"]
    lines = [
        json.loads(line) for line in _transform(target["InputTransformer"], envelope(record)).splitlines()
    ]
    text = "\n".join(lines)
    assert lines[0] == "Incident responder alert: IAM access key created"
    assert "Who: arn:aws:iam::946986569305:user/christophe (IAMUser, access key AKIA30BEZSJBVKOFKZW0)" in text
    assert "What: CreateAccessKey on iam.amazonaws.com" in text
    assert "Where: key of user stratus-red-team-backdoor-u-user in account 946986569305" in text
    assert "From: 211.9.016.253 (" in text
    assert "When: 2024-07-30T21:53:13Z" in text
    assert "{" not in text, "a message, not raw JSON"


@pytest.mark.fixtures
def test_a_bucket_alert_names_the_bucket(synth):
    record = panther("AWS.CloudTrail.ResourceMadePublic", "S3 Made Publicly Accessible")["event"]
    (target,) = _detection_rules(synth)["BucketPolicyChanged"]["Targets"]
    text = "\n".join(
        json.loads(x) for x in _transform(target["InputTransformer"], envelope(record)).splitlines()
    )
    assert "Where: bucket example-bucket in account 123456789012, region us-west-2" in text
    assert "Who: arn:aws:sts::123456789012:assumed-role/example-role/example-user" in text


def test_the_topic_key_lets_eventbridge_publish(synth):
    (topic,) = synth.of_type("AWS::SNS::Topic").values()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    statements = synth.resources[key_id]["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s["Principal"] == {"Service": "events.amazonaws.com"}
        and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(s["Action"])
        for s in statements
    )
    (policy,) = synth.of_type("AWS::SNS::TopicPolicy").values()
    assert any(
        s["Effect"] == "Allow" and s["Principal"] == {"Service": "events.amazonaws.com"}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


# ------------------------------------------------------------------------------------ allow-list


@pytest.mark.fixtures
@pytest.mark.parametrize(
    ("kind", "a", "b", "quiet"),
    [
        ("stratus", "aws.persistence.iam-backdoor-user", "CreateAccessKey", True),  # the user's ARN
        ("panther", "AWS.CloudTrail.ResourceMadePublic", "S3 Made Publicly Accessible", True),  # role ARN
        ("panther", "AWS.S3.BucketPolicyModified", "S3 Bucket Policy Modified", True),  # role name
        (
            "panther",
            "AWS.CloudTrail.IAMEntityCreatedWithoutCloudFormation",
            "IAM Entity Created Manually",
            True,
        ),
        # The same user name in another account, and "Tester" (names match exactly): still alerts.
        ("stratus", "aws.persistence.iam-create-admin-user", "CreateUser", False),
        ("panther", "AWS.IAM.CreateUser", "IAM User Created", False),
        ("panther", "AWS.CloudTrail.RootAccessKeyCreated", "Root Access Key Created", False),
        ("panther", "AWS.IAM.Backdoor.User.Keys", "user1 create keys for user2", False),
    ],
)
def test_allow_listed_principals_are_quiet_and_everyone_else_is_not(allow_listed, synth, kind, a, b, quiet):
    record = _record(kind, a, b)
    assert matching(_detection_rules(synth), record), "alerts without an allow-list"
    assert bool(matching(_detection_rules(allow_listed), record)) is not quiet


def test_the_allow_list_is_in_every_detection_pattern(allow_listed):
    assert allow_listed.stack.settings.detection_allow_list == tuple(ALLOW_LIST)
    for name, rule in _detection_rules(allow_listed).items():
        identity = rule["EventPattern"]["detail"]["userIdentity"]
        arns = [b["arn"] for b in identity["$or"]]
        assert {"anything-but": ALLOW_LIST[:2]} in arns[0] and [{"exists": False}] in arns, name
        issuer = identity["sessionContext"]["sessionIssuer"]["$or"]
        assert len(issuer) == 4, "(arn, userName) x (anything-but, absent)"
        assert {
            "userName": [{"anything-but": ["tester"]}],
            "arn": [{"anything-but": ALLOW_LIST[:2]}],
        } in issuer


# ------------------------------------------------------------------------------ quarantine trigger


def test_quarantine_rule_starts_the_state_machine_with_a_dead_letter_queue(synth):
    rule = _quarantine_rule(synth)
    (target,) = rule["Targets"]
    (machine_id,) = synth.of_type("AWS::StepFunctions::StateMachine")
    (queue_id,) = synth.of_type("AWS::SQS::Queue")
    assert target["Arn"] == {"Ref": machine_id}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert set(target["InputTransformer"]["InputPathsMap"].values()) == set(QUARANTINE_INPUT.values())


# What CloudTrail records when AWS itself attaches the policy: no principal, AWS Internal as the caller.
AWS_ITSELF = {"userIdentity": {"accountId": "123456789012", "invokedBy": "AWS Internal"}}


def _quarantine_record(**changes: Any) -> dict[str, Any]:
    """Panther's labelled quarantine event (its caller is a role session of the account)."""
    record = panther(
        "AWS.CloudTrail.IAMCompromisedKeyQuarantine", "AttachUserPolicy AWSCompromisedKeyQuarantineV2-true"
    )["event"]
    return {**record, **changes}


def _by_aws(**changes: Any) -> dict[str, Any]:
    return _quarantine_record(**AWS_ITSELF, sourceIPAddress="AWS Internal", **changes)


@pytest.mark.fixtures
def test_aws_quarantine_policy_attached_starts_the_responder_with_a_quarantine_input(synth):
    record = _by_aws()
    event = envelope(record)
    rule = _quarantine_rule(synth)
    assert matches_rule(rule["EventPattern"], event)
    (target,) = rule["Targets"]
    sent = json.loads(_transform(target["InputTransformer"], event))
    assert sent == {
        "source": "quarantine-policy",
        "userName": "test-user",
        "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2",
        "accountId": "123456789012",
        "region": "us-east-1",
        "eventTime": "2023-11-21T23:23:52Z",
        "eventId": record["eventID"],
        "userIdentity": AWS_ITSELF["userIdentity"],
        "sourceIPAddress": "AWS Internal",
    }
    assert not matching(_detection_rules(synth), record), "a trigger, not a detection alert"
    # Triage reads the same caller fields: AWS's own attach is a containment.
    assert triage(sent, Settings()).decision.action == "contain"


@pytest.mark.fixtures
@pytest.mark.parametrize(
    ("who", "changes"),
    [
        ("a role session (Panther's own sample)", {}),
        (
            "a console user: the call shows AWS Internal but carries the user's ARN",
            {
                "userIdentity": {
                    "type": "IAMUser",
                    "principalId": "AIDAEXAMPLEMALLORY01",
                    "arn": "arn:aws:iam::123456789012:user/mallory",
                    "accountId": "123456789012",
                    "userName": "mallory",
                    "invokedBy": "AWS Internal",
                },
                "sourceIPAddress": "AWS Internal",
            },
        ),
        ("root", {"userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"}}),
        ("no ARN but a real source IP", {**AWS_ITSELF, "sourceIPAddress": "203.0.113.7"}),
    ],
    ids=["role-session", "console-user", "root", "outside-ip"],
)
def test_a_principal_attaching_the_quarantine_policy_starts_nothing(synth, who, changes):
    record = _quarantine_record(**changes)
    event = envelope(record)
    rule = _quarantine_rule(synth)
    assert not matches_rule(rule["EventPattern"], event), who
    # Sent by hand (anyone with states:StartExecution), the same input is notify-only, saying who.
    (target,) = rule["Targets"]
    incident = triage(json.loads(_transform(target["InputTransformer"], event)), Settings())
    assert incident.decision.action == "notify_only"
    assert "not AWS's quarantine signal" in incident.decision.reason
    caller = (changes.get("userIdentity") or record["userIdentity"]).get("arn")
    if caller:
        assert caller in incident.decision.reason


@pytest.mark.fixtures
@pytest.mark.parametrize("version", ["AWSCompromisedKeyQuarantine", "AWSCompromisedKeyQuarantineV3"])
def test_every_quarantine_policy_version_triggers_and_other_policies_do_not(synth, version):
    pattern = _quarantine_rule(synth)["EventPattern"]
    record = _by_aws()
    quarantined = {
        **record,
        "requestParameters": {
            **record["requestParameters"],
            "policyArn": f"arn:aws:iam::aws:policy/{version}",
        },
    }
    assert matches_rule(pattern, envelope(quarantined))
    for kind, a, b in [
        ("panther", "AWS.IAM.AttachAdminUserPolicy", "IAM User Policy Attached with Administrator Access"),
        ("stratus", "aws.persistence.iam-create-admin-user", "AttachUserPolicy"),
    ]:
        assert not matches_rule(pattern, envelope(_record(kind, a, b)))
    refused = {**quarantined, "errorCode": "AccessDenied"}
    assert not matches_rule(pattern, envelope(refused))


def test_an_aws_service_identity_attach_triggers_too(synth):
    """AWS's other caller shape: an AWSService identity (no ARN) invoked by an AWS service."""
    event = {
        "version": "0",
        "id": "6f4a0f8e-3f1c-4c1e-9d55-000000000001",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": "123456789012",
        "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventSource": "iam.amazonaws.com",
            "eventName": "AttachUserPolicy",
            "userIdentity": {"type": "AWSService", "invokedBy": "health.amazonaws.com"},
            "sourceIPAddress": "health.amazonaws.com",
            "requestParameters": {
                "userName": "ci-deployer",
                "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3",
            },
            "recipientAccountId": "123456789012",
            "eventID": "0f3c4b2a-5d6e-4f70-8a9b-000000000001",
        },
    }
    rule = _quarantine_rule(synth)
    assert matches_rule(rule["EventPattern"], event)
    (target,) = rule["Targets"]
    assert triage(json.loads(_transform(target["InputTransformer"], event)), Settings()).decision.action == (
        "contain"
    )


# ---------------------------------------------------------------------------------------- switches


def test_detections_off_removes_every_detection_rule_but_not_the_quarantine_trigger(switched_off):
    assert switched_off.stack.detections is None
    rules = switched_off.of_type("AWS::Events::Rule")
    # The responder's self-check (tests/stack/test_responder_writes.py) is no detection: it stays too.
    self_check = _logical_id(switched_off.stack.responder_write_alarm.rule)
    sources = sorted(
        s for k, r in rules.items() if k != self_check for s in r["Properties"]["EventPattern"]["source"]
    )
    assert sources == ["aws.guardduty", "aws.health", "aws.iam"]  # the two AWS signals stay
    assert self_check in rules
    assert _quarantine_rule(switched_off)["EventPattern"] == quarantine_pattern()


def test_aws_health_s_exposed_key_event_starts_the_state_machine(synth):
    """One rule on AWS Health's AWS_RISK_CREDENTIALS_EXPOSED, its whole event to the state machine
    (Triage reads the Health form), retried and dead-lettered like the other triggers."""
    [rule] = [
        r["Properties"]
        for r in synth.of_type("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"] == health_pattern()
    ]
    [target] = rule["Targets"]
    assert "Input" not in target and "InputTransformer" not in target
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8
    assert "DeadLetterConfig" in target
    assert matches_rule(
        health_pattern(), health_event("123456789012", "AKIAIOSFODNN7EXAMPLE", "2026-12-01T09:58:12Z")
    )
    other = health_event("123456789012", "AKIAIOSFODNN7EXAMPLE", "2026-12-01T09:58:12Z")
    other["detail"]["eventTypeCode"] = "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED"
    assert not matches_rule(health_pattern(), other)


def test_triggers_off_remove_only_those_rules(allow_listed):
    assert allow_listed.stack.quarantine_trigger is None and allow_listed.stack.health_trigger is None
    assert not any(
        r["Properties"]["EventPattern"] == health_pattern()
        for r in allow_listed.of_type("AWS::Events::Rule").values()
    )
    assert set(_detection_rules(allow_listed)) == set(DETECTIONS)
    assert not any(
        r["Properties"]["EventPattern"] == quarantine_pattern()
        for r in allow_listed.of_type("AWS::Events::Rule").values()
    )


@pytest.mark.fixtures
def test_an_aws_owned_account_identity_invoked_by_aws_internal_is_aws(synth):
    # Some AWS-internal calls are logged as an AWSAccount identity with no ARN; invokedBy is written by
    # CloudTrail, so only AWS's own call can carry it without an ARN.
    identity = {"type": "AWSAccount", "principalId": "AIDAAWSINTERNAL0001", "accountId": "999999999999"}
    record = _quarantine_record(userIdentity={**identity, "invokedBy": "AWS Internal"})
    rule = _quarantine_rule(synth)
    assert matches_rule(rule["EventPattern"], envelope(record))
    (target,) = rule["Targets"]
    sent = json.loads(_transform(target["InputTransformer"], envelope(record)))
    assert triage(sent, Settings()).decision.action == "contain"
    # The same identity without AWS as the invoker is someone's account: nothing starts.
    other = _quarantine_record(userIdentity=identity)
    assert not matches_rule(rule["EventPattern"], envelope(other))
    incident = triage(json.loads(_transform(target["InputTransformer"], envelope(other))), Settings())
    assert incident.decision.action == "notify_only"
