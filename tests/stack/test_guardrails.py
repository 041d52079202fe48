"""Roles a compromise cannot turn into admin (issue 12, point 14): conditions on declared permissions,
the stack's deny-all policy, the explicit Denies on the responder's own buckets, roles and policy, the
write-once evidence bucket policy and the redaction key secret, checked on the synthesized template.

Where a check is about what a role may *do*, the role's synthesized statements are rendered with
concrete ARNs and decided by responder.policy_eval (IAM's evaluation logic), not by reading JSON.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from lambdas.steps import STEPS
from responder.permissions import Permission
from responder.policy_eval import evaluate
from stacks.constructs.functions import (
    BUCKET_CONFIG_WRITES,
    DENY_POLICY_WRITES,
    LOG_OBJECT_WRITES,
    OWN_ROLE_WRITES,
    RECORD_OBJECT_WRITES,
    References,
    resolve_conditions,
)
from tests.stack.test_functions import _function, _role_statements

pytestmark = pytest.mark.synth

ACCOUNT = "111122223333"
REGION = "us-east-1"
OTHER_BUCKET = "arn:aws:s3:::acme-partner-share-111122223333"


# ------------------------------------------------------------------ Permission conditions (no synth)


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"arnEquals": {"iam:PolicyARN": ["x"]}}, "not an IAM condition operator"),
        ({"ArnEquals": {"PolicyARN": ["x"]}}, "not an IAM condition key"),
        ({"ArnEquals": {"iam:PolicyARN": "x"}}, "needs a list of values"),
        ({"ArnEquals": {"iam:PolicyARN": []}}, "needs a list of values"),
        ({"ArnEquals": {}}, "needs {key: \\[values\\]}"),
    ],
)
def test_a_malformed_condition_fails_at_import(conditions, message):
    with pytest.raises(ValueError, match=message):
        Permission(
            ("iam:AttachUserPolicy",), ("arn:{partition}:iam::{account}:user/*",), conditions=conditions
        )


def test_conditions_are_copied_and_default_to_none():
    shared = {"ArnEquals": {"iam:PolicyARN": ["@deny_all_policy"]}}
    permission = Permission(("iam:AttachUserPolicy",), ("x",), conditions=shared)
    shared["ArnEquals"]["iam:PolicyARN"].append("arn:aws:iam::aws:policy/AdministratorAccess")
    assert permission.conditions == {"ArnEquals": {"iam:PolicyARN": ["@deny_all_policy"]}}
    assert Permission(("s3:GetObject",), ("x",)).conditions == {}


def test_condition_values_resolve_like_resources_and_absent_ones_drop_the_permission(synth):
    references = References(
        arns={"deny_all_policy": "arn:aws:iam::111122223333:policy/deny"},
        unconfigured=frozenset({"webhook_secret"}),
    )
    resolved = resolve_conditions(
        {
            "ArnEquals": {"iam:PolicyARN": ["@deny_all_policy"]},
            "StringEquals": {"kms:ViaService": ["secretsmanager.{region}.amazonaws.com"]},
        },
        references,
    )
    assert resolved is not None
    assert resolved["ArnEquals"] == {"iam:PolicyARN": ["arn:aws:iam::111122223333:policy/deny"]}
    assert synth.stack.resolve(resolved["StringEquals"]["kms:ViaService"]) == [
        {"Fn::Join": ["", ["secretsmanager.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    ]
    # A condition naming only a resource this deployment lacks could never hold.
    assert resolve_conditions({"ArnEquals": {"aws:SourceArn": ["@webhook_secret"]}}, references) is None


# ------------------------------------------------------------- rendering the template with real ARNs


@functools.cache
def _resources(synth) -> dict[str, dict[str, Any]]:
    """The template's resources, read once per synth (each ``synth.resources`` is a jsii round trip)."""
    return synth.resources


@functools.cache
def _statements_of(synth, step: str) -> list[dict[str, Any]]:
    _, role_id = _function(synth, step)
    return _role_statements(synth, role_id)


def _concrete(synth, value: Any) -> Any:
    """A resolved CloudFormation value with concrete ARNs and names, as the deployed account has them."""
    resources = _resources(synth)
    if isinstance(value, list):
        return [_concrete(synth, v) for v in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        delimiter, items = value["Fn::Join"]
        return delimiter.join(str(_concrete(synth, i)) for i in items)
    if "Ref" in value or "Fn::GetAtt" in value:
        logical = value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]
        pseudo = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": REGION}
        if logical in pseudo:
            return pseudo[logical]
        kind = resources[logical]["Type"]
        name = f"{synth.stack.stack_name}-{logical}-ABC123"
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{logical.lower()}",
            "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{logical}-AbCdEf",
            "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{logical}",
        }
        arn = arns.get(kind, f"arn:aws:{kind.split('::')[1].lower()}:{REGION}:{ACCOUNT}:{logical}")
        if "Ref" in value and kind == "AWS::S3::Bucket":
            return logical.lower()
        return arn
    return {k: _concrete(synth, v) for k, v in value.items()}


@functools.cache
def _arn(synth, token: str) -> str:
    return str(_concrete(synth, synth.stack.resolve(token)))


def _as_evaluable(statement: dict[str, Any]) -> dict[str, Any]:
    # policy_eval has no ARN operators; a value without wildcards matches under ArnEquals exactly as
    # under StringEquals (ArnLike as StringLike).
    renamed = {"ArnEquals": "StringEquals", "ArnLike": "StringLike", "ArnNotEquals": "StringNotEquals"}
    condition = {renamed.get(op, op): keys for op, keys in statement.get("Condition", {}).items()}
    return {**statement, "Condition": condition} if condition else statement


@functools.cache
def _evaluable(synth, step: str) -> list[dict[str, Any]]:
    return [_as_evaluable(s) for s in _concrete(synth, _statements_of(synth, step))]


def decide(synth, step: str, action: str, resource: str, **context: str) -> str:
    """What IAM decides for ``step``'s role asking ``action`` on ``resource``."""
    return evaluate(
        [{"Statement": _evaluable(synth, step)}], action=action, resource=resource, context=context
    )


def _granted(synth, step: str) -> set[str]:
    return {
        a
        for s in _statements_of(synth, step)
        if s["Effect"] == "Allow"
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }


@functools.cache
def _own_role(synth, step: str) -> str:
    return _arn(synth, synth.stack.functions.by_name[step].role.role_arn)


# ---------------------------------------------------------------------------- the deny-all policy


def test_the_deny_all_policy_is_stack_owned_attached_to_nothing_and_kept(synth):
    (logical, policy) = next(iter(synth.of_type("AWS::IAM::ManagedPolicy").items()))
    assert synth.stack.resolve(synth.stack.deny_all.arn) == {"Ref": logical}
    assert not {"Roles", "Users", "Groups"} & set(policy["Properties"])
    assert policy["DeletionPolicy"] == "Retain", "detaching it by deleting the stack would release everyone"
    for role in synth.of_type("AWS::IAM::Role").values():
        assert {"Ref": logical} not in role["Properties"].get("ManagedPolicyArns", [])


@pytest.mark.parametrize("fixture", ["synth", "athena_synth"])
def test_a_step_may_attach_the_deny_all_policy_and_nothing_else(request, fixture):
    synth = request.getfixturevalue(fixture)
    deny_all = _arn(synth, synth.stack.deny_all.arn)
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    attaching = [
        s.name for s in STEPS if {"iam:AttachUserPolicy", "iam:AttachRolePolicy"} & _granted(synth, s.name)
    ]
    assert "remediate" in attaching
    for step in attaching:
        user, role = f"arn:aws:iam::{ACCOUNT}:user/backdoor", f"arn:aws:iam::{ACCOUNT}:role/backdoor"
        for action, target in (("iam:AttachUserPolicy", user), ("iam:AttachRolePolicy", role)):
            assert decide(synth, step, action, target, **{"iam:PolicyARN": deny_all}) == "allow", step
            assert decide(synth, step, action, target, **{"iam:PolicyARN": admin}) == "implicit_deny", step
            assert decide(synth, step, action, target) == "implicit_deny", step
        # Never onto the responder's own roles, not even the deny-all (it would stop the responder).
        assert (
            decide(synth, step, "iam:AttachRolePolicy", _own_role(synth, step), **{"iam:PolicyARN": deny_all})
            == "explicit_deny"
        )


def test_the_containing_steps_know_the_deny_all_policy_and_no_other_step_is_told(synth):
    for step in STEPS:
        function, _ = _function(synth, step.name)
        env = function["Properties"]["Environment"]["Variables"]
        if step.name in ("remediate", "eradicate"):
            assert env["DENY_ALL_POLICY_ARN"] == synth.stack.resolve(synth.stack.deny_all.arn)
        else:
            assert "DENY_ALL_POLICY_ARN" not in env, step.name


def _holding(synth, service: str) -> list[str]:
    """The steps whose role holds an action of ``service``."""
    return [s.name for s in STEPS if any(a.startswith(f"{service}:") for a in _granted(synth, s.name))]


def test_no_step_can_change_the_deny_all_policy(synth):
    deny_all = _arn(synth, synth.stack.deny_all.arn)
    assert {"revoke_sessions", "remediate", "eradicate"} <= set(_holding(synth, "iam"))
    for step in _holding(synth, "iam"):
        for action in DENY_POLICY_WRITES:
            assert decide(synth, step, action, deny_all) == "explicit_deny", (step, action)


def test_eradicate_still_deletes_rogue_policies_but_not_the_deny_all(synth):
    rogue = f"arn:aws:iam::{ACCOUNT}:policy/attacker-admin"
    assert decide(synth, "eradicate", "iam:DeletePolicy", rogue) == "allow"
    assert decide(synth, "eradicate", "iam:DeletePolicyVersion", rogue) == "allow"
    assert (
        decide(synth, "eradicate", "iam:DeletePolicy", _arn(synth, synth.stack.deny_all.arn))
        == "explicit_deny"
    )


# ------------------------------------------------------------------- the responder's own roles


def test_no_step_can_write_to_any_responder_role(synth):
    for step in _holding(synth, "iam"):
        for own in (
            _own_role(synth, step),
            _own_role(synth, "revoke_sessions"),
            _own_role(synth, "remediate"),
        ):
            for action in OWN_ROLE_WRITES:
                assert decide(synth, step, action, own) == "explicit_deny", (step, action, own)


def test_revoke_writes_inline_policies_on_users_and_roles_but_not_the_responders(synth):
    user, role = f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:role/app-deployer"
    assert decide(synth, "revoke_sessions", "iam:PutUserPolicy", user) == "allow"
    assert decide(synth, "revoke_sessions", "iam:PutRolePolicy", role) == "allow"
    assert (
        decide(synth, "revoke_sessions", "iam:PutRolePolicy", _own_role(synth, "remediate"))
        == "explicit_deny"
    )
    machine_role = _arn(synth, synth.stack.workflow.state_machine.role.role_arn)
    assert decide(synth, "revoke_sessions", "iam:PutRolePolicy", machine_role) == "explicit_deny"


def test_only_revoke_may_write_an_inline_policy_document(synth):
    writers = {
        s.name
        for s in STEPS
        if {"iam:PutUserPolicy", "iam:PutRolePolicy", "iam:PutGroupPolicy"} & _granted(synth, s.name)
    }
    assert writers == {"revoke_sessions"}
    assert not any(
        {"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"}
        & _granted(synth, s.name)
        for s in STEPS
    )


# --------------------------------------------------------------- evidence, access log, trail buckets


@functools.cache
def _buckets(synth) -> dict[str, str]:
    evidence = synth.stack.node.find_child("Evidence")
    buckets = {
        "evidence": _arn(synth, evidence.bucket.bucket_arn),  # type: ignore[attr-defined]
        "access_logs": _arn(synth, evidence.access_logs.bucket_arn),  # type: ignore[attr-defined]
    }
    if synth.stack.settings.cloudtrail_bucket:
        buckets["trail"] = f"arn:aws:s3:::{synth.stack.settings.cloudtrail_bucket}"
    return buckets


@pytest.mark.parametrize("fixture", ["synth", "athena_synth"])
def test_no_step_can_reconfigure_or_empty_the_responders_buckets(request, fixture):
    synth = request.getfixturevalue(fixture)
    buckets = _buckets(synth)
    assert ("trail" in buckets) is (fixture == "athena_synth")
    assert {"snapshot", "remediate", "report", "query_results"} <= set(_holding(synth, "s3"))
    for step in _holding(synth, "s3"):
        for name, bucket in buckets.items():
            for action in BUCKET_CONFIG_WRITES:
                assert decide(synth, step, action, bucket) == "explicit_deny", (step, name, action)
        for action in RECORD_OBJECT_WRITES:
            assert decide(synth, step, action, f"{buckets['evidence']}/inc-1/report.md") == "explicit_deny"
        # Log files are read, never written: a forged trail record would steer the investigation.
        for name in ("access_logs", "trail"):
            if name in buckets:
                for action in LOG_OBJECT_WRITES:
                    key = f"{buckets[name]}/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/12/07/forged.json.gz"
                    assert decide(synth, step, action, key) == "explicit_deny", (step, name, action)


@pytest.mark.parametrize("fixture", ["synth", "athena_synth"])
def test_remediate_still_fixes_other_buckets_and_steps_still_write_evidence(request, fixture):
    synth = request.getfixturevalue(fixture)
    for action in ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketPublicAccessBlock"):
        assert decide(synth, "remediate", action, OTHER_BUCKET) == "allow", action
        assert decide(synth, "remediate", action, _buckets(synth)["evidence"]) == "explicit_deny", action
    for step in ("snapshot", "report", "remediate", "notify"):
        assert decide(synth, step, "s3:PutObject", f"{_buckets(synth)['evidence']}/inc-1/x.json") == "allow"
    if fixture == "athena_synth":
        trail_object = (
            f"{_buckets(synth)['trail']}/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/12/07/a.json.gz"
        )
        assert decide(synth, "query_results", "s3:GetObject", trail_object) == "allow"


# ------------------------------------------------------------------ the write-once bucket policy


def _evidence_policy(synth) -> list[dict[str, Any]]:
    evidence = synth.stack.node.find_child("Evidence")
    bucket_id = synth.stack.resolve(evidence.bucket.bucket_name)["Ref"]  # type: ignore[attr-defined]
    (policy,) = [
        p
        for p in synth.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def _bucket_decision(synth, action: str, key: str, **context: str) -> str:
    statements = _concrete(synth, _evidence_policy(synth))  # a handful of calls: not cached
    # Every one of them is for every principal; policy_eval judges the rest of each statement.
    assert all(s["Principal"] == {"AWS": "*"} for s in statements)
    identity_form = [{k: v for k, v in s.items() if k != "Principal"} for s in statements]
    tls = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
    resource = f"{_buckets(synth)['evidence']}/{key}"
    return evaluate(
        [{"Statement": identity_form}], action=action, resource=resource, context={**tls, **context}
    )


def test_the_evidence_bucket_refuses_every_write_that_could_overwrite_a_key(synth):
    key = "incidents/inc-1/report.md"
    # PutObject and CompleteMultipartUpload with If-None-Match: * (what responder.evidence sends).
    created = {"s3:ObjectCreationOperation": "true", "s3:if-none-match": "*"}
    assert _bucket_decision(synth, "s3:PutObject", key, **created) == "implicit_deny"  # not refused here
    # Without it, from any principal: refused, whatever IAM grants.
    assert (
        _bucket_decision(synth, "s3:PutObject", key, **{"s3:ObjectCreationOperation": "true"})
        == "explicit_deny"
    )
    assert _bucket_decision(synth, "s3:PutObject", key) == "explicit_deny"
    assert _bucket_decision(synth, "s3:PutObject", key, **{"s3:if-match": '"etag"'}) == "explicit_deny"
    # CreateMultipartUpload and UploadPart take no conditional header; the completion does.
    assert (
        _bucket_decision(synth, "s3:PutObject", key, **{"s3:ObjectCreationOperation": "false"})
        == "implicit_deny"
    )
    # A delete marker would free the key for a second write; a version delete or bypass would lose it.
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"):
        assert _bucket_decision(synth, action, key) == "explicit_deny", action
    assert _bucket_decision(synth, "s3:GetObject", key) == "implicit_deny"


def test_evidence_writes_send_if_none_match_so_the_bucket_policy_admits_them():
    import boto3
    from moto import mock_aws

    from responder.evidence import put_evidence
    from workstation.demo.account import create_evidence_bucket

    sent: list[dict[str, Any]] = []
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        create_evidence_bucket(s3, "evidence")
        s3.meta.events.register(
            "provide-client-params.s3.PutObject", lambda params, **_: sent.append(dict(params))
        )
        put_evidence(s3, "evidence", "inc-1/finding.json", b"{}")
    assert sent and all(p.get("IfNoneMatch") == "*" for p in sent)


# ------------------------------------------------------------------------------ redaction key


def test_the_redaction_key_is_a_generated_secret_under_its_own_rotated_key_and_kept(synth):
    (logical, secret) = next(iter(synth.of_type("AWS::SecretsManager::Secret").items()))
    props = secret["Properties"]
    assert props["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in props, "generated by Secrets Manager, never written in the template"
    key_id = props["KmsKeyId"]["Fn::GetAtt"][0]
    assert synth.resources[key_id]["Properties"]["EnableKeyRotation"] is True
    assert secret["DeletionPolicy"] == "Retain"
    assert synth.stack.resolve(synth.stack.references.arns["redaction_key_secret"]) == {"Ref": logical}


def test_only_the_steps_that_read_the_redaction_key_get_it_and_its_key_through_secrets_manager(synth):
    secret = synth.stack.resolve(synth.stack.redaction_key.secret_arn)
    key = _arn(synth, synth.stack.redaction_key.key_arn)
    readers = []
    for step in STEPS:
        function, _ = _function(synth, step.name)
        env = function["Properties"]["Environment"]["Variables"]
        reads = (
            decide(
                synth,
                step.name,
                "secretsmanager:GetSecretValue",
                _arn(synth, synth.stack.redaction_key.secret_arn),
            )
            == "allow"
        )
        assert ("REDACTION_KEY_SECRET_ARN" in env) is reads, step.name
        if reads:
            readers.append(step.name)
            assert env["REDACTION_KEY_SECRET_ARN"] == secret
            via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
            assert decide(synth, step.name, "kms:Decrypt", key, **via) == "allow"
            assert decide(synth, step.name, "kms:Decrypt", key) == "implicit_deny", "not directly"
        else:
            assert decide(synth, step.name, "kms:Decrypt", key, **{"kms:ViaService": "x"}) == "implicit_deny"
    if not readers:
        pytest.skip("no handler declares secretsmanager:GetSecretValue on @redaction_key_secret yet")


def test_the_secret_value_never_reaches_a_function_environment(synth):
    for function in synth.of_type("AWS::Lambda::Function").values():
        text = json.dumps(function["Properties"].get("Environment", {}))
        assert "resolve:secretsmanager" not in text and "SecretString" not in text
