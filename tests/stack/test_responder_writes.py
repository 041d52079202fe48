"""The self-check rule: a responder role that writes a policy or trust outside its fixed forms alerts the
SOC. The rule's pattern is taken from the template and checked with EventBridge's semantics (moto's
matcher) against a CloudTrail record of a Lambda step's session (tests/events), carrying the very
documents the revoke step sends (captured from responder.steps.revoke_sessions under moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack

from deployment.patterns import RESPONDER_WRITE_FIELDS, responder_write_pattern
from responder.steps.revoke_sessions import ROLE_POLICY_NAME, revoke_role_sessions, revoke_user_sessions
from tests.iam_env import Env, emulated_iam
from tests.stack.test_detections import _transform, envelope
from workstation.local.events import matches_rule

pytestmark = pytest.mark.synth

RECORD = Path(__file__).resolve().parents[1] / "events" / "cloudtrail_responder_put_user_policy.json"
ACCOUNT = "123456789012"
PREFIX = f"arn:aws:iam::{ACCOUNT}:role/IncidentResponder-"
DENY_ALL = f"arn:aws:iam::{ACCOUNT}:policy/IncidentResponder-ContainmentPolicy1F1E38CD-QW3E4R5T6Y7U"
PATTERN = responder_write_pattern(PREFIX, DENY_ALL)
INC = "inc-0123456789abcdef"
NOW = datetime(2026, 12, 7, 2, 10, 44, tzinfo=UTC)
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


@pytest.fixture(scope="module")
def sent() -> Iterator[dict[str, dict[str, Any]]]:
    """The PutUserPolicy and PutRolePolicy parameters responder.steps.revoke_sessions sends, by operation."""
    calls: dict[str, dict[str, Any]] = {}
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(key, "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        with emulated_iam() as env:
            _capture(env, calls)
            revoke_user_sessions(env.iam, env.ddb, env.table, INC, env.user, now=NOW)
            revoke_role_sessions(env.iam, env.ddb, env.table, INC, env.role, now=NOW)
    yield calls


def _capture(env: Env, calls: dict[str, dict[str, Any]]) -> None:
    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls[model.name] = dict(params)

    env.iam.meta.events.register("provide-client-params.iam.*", note)


def record(event_name: str = "PutUserPolicy", **parameters: Any) -> dict[str, Any]:
    """The saved record of a responder step's call, with ``event_name`` and ``requestParameters``."""
    base = json.loads(RECORD.read_text())
    base["eventName"] = event_name
    base["requestParameters"] = {k: v for k, v in parameters.items() if v is not None} or None
    return base


def alarms(event: dict[str, Any], pattern: dict[str, Any] = PATTERN) -> bool:
    return matches_rule(pattern, envelope(event))


def _user_policy(sent, **change: Any) -> dict[str, Any]:
    params = sent["PutUserPolicy"]
    values = {
        "userName": params["UserName"],
        "policyName": params["PolicyName"],
        "policyDocument": params["PolicyDocument"],
    }
    return record("PutUserPolicy", **{**values, **change})


def _role_policy(sent, **change: Any) -> dict[str, Any]:
    params = sent["PutRolePolicy"]
    values = {
        "roleName": params["RoleName"],
        "policyName": params["PolicyName"],
        "policyDocument": params["PolicyDocument"],
    }
    return record("PutRolePolicy", **{**values, **change})


# ----------------------------------------------------------------------------- what stays quiet


def test_the_revocations_the_step_really_sends_raise_nothing(sent):
    assert sent["PutUserPolicy"]["PolicyName"] == f"responder-revoke-sessions-{INC}"
    assert sent["PutRolePolicy"]["PolicyName"] == ROLE_POLICY_NAME
    assert not alarms(_user_policy(sent))
    assert not alarms(_role_policy(sent))


def test_attaching_the_deny_all_policy_and_deactivating_a_key_raise_nothing():
    assert not alarms(record("AttachUserPolicy", userName="backdoor", policyArn=DENY_ALL))
    assert not alarms(record("AttachRolePolicy", roleName="backdoor-role", policyArn=DENY_ALL))
    key = {"userName": "analytics-etl", "accessKeyId": "AKIAEXAMPLEEXPOSED01", "status": "Inactive"}
    assert not alarms(record("UpdateAccessKey", **key))


def test_the_same_writes_by_anyone_but_a_responder_role_raise_nothing(sent):
    """Other principals' writes are the detections' business (deployment.patterns.DETECTIONS), not this rule's."""
    for issuer in (
        f"arn:aws:iam::{ACCOUNT}:role/app-deployer",
        f"arn:aws:iam::{ACCOUNT}:role/IncidentResponderStaging-StepsRevokeRole-X",  # another stack's name
        "arn:aws:iam::444455556666:role/IncidentResponder-StepsRevokeRole-X",  # another account's
    ):
        event = _user_policy(sent, policyDocument=ALLOW_ALL, policyName="backdoor")
        event["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = issuer
        assert not alarms(event), issuer
    user = _user_policy(sent, policyDocument=ALLOW_ALL, policyName="backdoor")
    user["userIdentity"] = {
        "type": "IAMUser",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/admin",
        "accountId": ACCOUNT,
    }
    assert not alarms(user)


# ----------------------------------------------------------------------------------- what alarms


def _injected(document: str) -> str:
    """The revocation document with a cutoff that closes its string and adds an Allow statement."""
    cutoff = json.loads(document)["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    extra = '"}}}, {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true'
    forged = document.replace(cutoff, cutoff + extra)
    parsed = json.loads(forged)  # still one valid policy, now with an Allow
    assert [s["Effect"] for s in parsed["Statement"]] == ["Deny", "Allow"]
    return forged


@pytest.mark.parametrize(
    "case",
    [
        "allow-all under the revocation name",
        "revocation document under another name",
        "no name",
        "no document",
        "role: allow-all under the console name",
        "role: revocation document under another name",
        "cutoff that adds a statement",
        "role: cutoff that adds a statement",
        "revocation with a narrowed action",
        "no parameters at all",
    ],
)
def test_a_policy_document_outside_the_fixed_form_alarms(sent, case):
    user_document = sent["PutUserPolicy"]["PolicyDocument"]
    role_document = sent["PutRolePolicy"]["PolicyDocument"]
    events = {
        "allow-all under the revocation name": _user_policy(sent, policyDocument=ALLOW_ALL),
        "revocation document under another name": _user_policy(sent, policyName="ops-break-glass"),
        "no name": _user_policy(sent, policyName=None),
        "no document": _user_policy(sent, policyDocument=None),
        "role: allow-all under the console name": _role_policy(sent, policyDocument=ALLOW_ALL),
        "role: revocation document under another name": _role_policy(sent, policyName="inline"),
        "cutoff that adds a statement": _user_policy(sent, policyDocument=_injected(user_document)),
        "role: cutoff that adds a statement": _role_policy(sent, policyDocument=_injected(role_document)),
        "revocation with a narrowed action": _user_policy(
            sent, policyDocument=user_document.replace('["*"]', '["s3:GetObject"]', 1)
        ),
        "no parameters at all": record("PutUserPolicy"),
    }
    assert alarms(events[case])


@pytest.mark.parametrize(
    ("event_name", "parameters"),
    [
        (
            "AttachUserPolicy",
            {"userName": "backdoor", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
        ("AttachRolePolicy", {"roleName": "app", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/attacker"}),
        ("AttachUserPolicy", {"userName": "backdoor"}),
        (
            "UpdateAssumeRolePolicy",
            {"roleName": "OrganizationAccountAccessRole", "policyDocument": ALLOW_ALL},
        ),
        ("CreatePolicyVersion", {"policyArn": DENY_ALL, "policyDocument": ALLOW_ALL, "setAsDefault": True}),
        ("SetDefaultPolicyVersion", {"policyArn": DENY_ALL, "versionId": "v1"}),
        ("CreatePolicy", {"policyName": "x", "policyDocument": ALLOW_ALL}),
        ("PutGroupPolicy", {"groupName": "admins", "policyName": "x", "policyDocument": ALLOW_ALL}),
        ("PutRolePermissionsBoundary", {"roleName": "app", "permissionsBoundary": DENY_ALL}),
        ("UpdateAccessKey", {"userName": "analytics-etl", "accessKeyId": "AKIAEXAMPLE", "status": "Active"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_any_other_policy_trust_or_key_write_by_a_responder_role_alarms(event_name, parameters):
    assert alarms(record(event_name, **parameters))


def test_a_refused_attempt_alarms_even_in_the_fixed_form(sent):
    """An AccessDenied from a responder role's policy write means it hit a guardrail: someone tried."""
    refused = _user_policy(sent)
    refused.update(errorCode="AccessDenied", errorMessage="explicit deny in an identity-based policy")
    assert alarms(refused)
    own_role = record(
        "AttachRolePolicy", roleName="IncidentResponder-StepsRemediateRole-X", policyArn=DENY_ALL
    )
    own_role["errorCode"] = "AccessDenied"
    assert alarms(own_role)
    throttled = {**_user_policy(sent), "errorCode": "Throttling"}
    assert not alarms(throttled), "a throttled revocation is retried, not an attack"


# ------------------------------------------------------------------------------ the stack's rule


def _rule(synth) -> dict[str, Any]:
    alarm = synth.stack.responder_write_alarm
    return synth.resources[Stack.of(alarm).get_logical_id(alarm.rule.node.default_child)]["Properties"]


def _concrete(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_concrete(v, refs) for v in value]
    if isinstance(value, dict):
        if "Ref" in value:
            return refs[value["Ref"]]
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return delimiter.join(_concrete(i, refs) for i in items)
        return {k: _concrete(v, refs) for k, v in value.items()}
    return value


@pytest.mark.parametrize("fixture", ["synth", "allow_listed_off"])
def test_the_rule_is_the_one_definition_with_the_stacks_roles_and_policy_and_always_on(request, fixture):
    synth = request.getfixturevalue(fixture)
    rule = _rule(synth)
    alarm = synth.stack.responder_write_alarm
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == synth.stack.resolve(
        responder_write_pattern(alarm.role_arn_prefix, synth.stack.deny_all.arn)
    )
    # Rendered with this account's values, it is the pattern tested above.
    policy_id = synth.stack.resolve(synth.stack.deny_all.arn)["Ref"]
    refs = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, policy_id: DENY_ALL}
    assert _concrete(rule["EventPattern"], refs) == PATTERN
    assert synth.stack.stack_name == "IncidentResponder"


@pytest.fixture(scope="module")
def allow_listed_off(tmp_path_factory: pytest.TempPathFactory):
    """Detections off and the responder's own role names allow-listed: the self-check stays."""
    from tests.stack.conftest import synthesize

    return synthesize(
        tmp_path_factory.mktemp("cdk.out.selfcheck"),
        detections=False,
        detectionAllowList=["IncidentResponder-StepsRevokeRoleA1B2C3D4-Gh78Ij90Kl12"],
    )


def test_the_alarm_goes_to_the_soc_and_says_who_wrote_what_where(synth, sent):
    (topic_id,) = synth.of_type("AWS::SNS::Topic")
    (queue_id,) = synth.of_type("AWS::SQS::Queue")
    (target,) = _rule(synth)["Targets"]
    assert target["Arn"] == {"Ref": topic_id}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert set(target["InputTransformer"]["InputPathsMap"].values()) == set(RESPONDER_WRITE_FIELDS.values())
    event = envelope(_user_policy(sent, policyName="backdoor", policyDocument=ALLOW_ALL))
    lines = [json.loads(line) for line in _transform(target["InputTransformer"], event).splitlines()]
    text = "\n".join(lines)
    assert lines[0].startswith("Incident responder alert: a responder role wrote a policy or trust")
    assert "Who: arn:aws:sts::123456789012:assumed-role/IncidentResponder-StepsRevokeRole" in text
    assert "What: PutUserPolicy on iam.amazonaws.com" in text
    assert "Where: user analytics-etl role" in text and "policy backdoor" in text
    assert ALLOW_ALL not in text and "policyDocument" not in text, "the document itself is not sent"
