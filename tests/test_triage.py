"""Triage: every input form, every decision row, and a broken copy of each saved event."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from moto import mock_aws

from responder.errors import InvalidInput, UnsupportedFinding
from responder.models import Incident, dump
from responder.settings import Settings
from responder.steps.triage import MAX_INPUT_BYTES, RULES, triage
from tests.conftest import load_event

SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "responder" / "schemas" / "incident.schema.json").read_text()
)
ACCOUNT = "111122223333"
KEY = "AKIA4EXAMPLEKEY7X2QZ"
NOW = datetime(2024, 3, 20, 12, 0, 0, tzinfo=UTC)
SETTINGS = Settings()


def run(raw: Any, settings: Settings = SETTINGS, **kw: Any) -> Incident:
    incident = triage(raw, settings, now=NOW, **kw)
    jsonschema.validate(dump(incident), SCHEMA)
    return incident


def exfil() -> dict[str, Any]:
    return load_event("gd_iam_exfiltration_event")


def finding(**changes: Any) -> dict[str, Any]:
    """The exfiltration finding (EventBridge detail) with top-level fields changed."""
    detail = exfil()["detail"]
    detail.update(changes)
    return detail


def with_key(detail: dict[str, Any], **key_details: Any) -> dict[str, Any]:
    detail["resource"]["accessKeyDetails"].update(key_details)
    return detail


# ----------------------------------------------------------------------------------- input forms


def test_eventbridge_event_extracts_everything_the_workflow_needs() -> None:
    incident = run(exfil())

    assert incident.source == "guardduty"
    assert incident.finding is not None
    assert incident.finding.id == "a6c7b0e1d2f34a5b8c9d0e1f2a3b4c5d"
    assert incident.finding.type == "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    assert incident.finding.severity == 8
    assert incident.finding.region == "eu-west-1"
    assert incident.finding.first_seen == "2024-03-14T08:51:06Z"
    assert incident.finding.last_seen == "2024-03-14T09:12:30Z"
    assert incident.finding.count == 6
    assert incident.access_key_id == KEY
    assert incident.principal.type == "IAMUser"
    assert incident.principal.user_name == "ci-deploy"
    assert incident.principal.principal_id == "AIDA4EXAMPLEPRINCIPAL"
    assert incident.account_id == ACCOUNT
    assert incident.remote_ips == ["185.220.101.47"]
    assert incident.api_calls == ["ListBuckets", "GetCallerIdentity", "ListUsers"]
    assert incident.buckets == []
    assert incident.lookback_days == SETTINGS.lookback_days
    assert incident.event_time == "2024-03-14T09:19:03Z"  # updatedAt, not the delivery time
    assert incident.decision.action == "contain"


def test_eventbridge_event_broken_copy_is_invalid_input() -> None:
    event = exfil()
    del event["detail"]["id"]
    with pytest.raises(InvalidInput, match="finding id is missing"):
        triage(event, SETTINGS)


def test_the_same_finding_has_one_incident_id_in_every_form() -> None:
    forms = {
        "eventbridge": exfil(),
        "raw finding": exfil()["detail"],
        "get-findings": load_event("gd_get_findings_response"),
        "security hub": load_event("securityhub_imported_event"),
        "json text": json.dumps(exfil()),
    }
    incidents = {name: run(raw) for name, raw in forms.items()}

    ids = {i.incident_id for i in incidents.values()}
    assert len(ids) == 1
    assert ids.pop().startswith("inc-")
    for name, incident in incidents.items():
        assert incident.access_key_id == KEY, name
        assert incident.remote_ips == ["185.220.101.47"], name
        assert set(incident.api_calls) == {"ListBuckets", "GetCallerIdentity", "ListUsers"}, name
        assert incident.decision.action == "contain", name


def test_incident_id_is_stable_and_per_finding() -> None:
    first = run(exfil()).incident_id
    updated = exfil()
    updated["detail"]["service"]["count"] = 9  # GuardDuty updated the finding: same incident
    assert run(updated).incident_id == first
    other = exfil()
    other["detail"]["id"] = "b" * 32
    assert run(other).incident_id != first


def test_get_findings_response_pascal_case() -> None:
    incident = run(load_event("gd_get_findings_response"))
    assert incident.principal.user_name == "ci-deploy"
    assert incident.finding is not None and incident.finding.count == 6


def test_get_findings_response_broken_copy_is_invalid_input() -> None:
    response = load_event("gd_get_findings_response")
    response["Findings"] = []
    with pytest.raises(InvalidInput, match="no findings"):
        triage(response, SETTINGS)


def test_get_findings_prefers_the_finding_with_a_real_key() -> None:
    response = load_event("gd_get_findings_response")
    keyless = copy.deepcopy(response["Findings"][0])
    keyless["Id"] = "0" * 32
    del keyless["Resource"]["AccessKeyDetails"]
    response["Findings"].insert(0, keyless)
    assert run(response).access_key_id == KEY


def test_security_hub_event() -> None:
    incident = run(load_event("securityhub_imported_event"))
    assert incident.finding is not None
    assert incident.finding.type == "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    assert incident.finding.severity == 8
    assert incident.principal.user_name == "ci-deploy"


def test_security_hub_broken_copy_and_foreign_product() -> None:
    event = load_event("securityhub_imported_event")
    event["detail"]["findings"][0]["AwsAccountId"] = "not-an-account"
    with pytest.raises(InvalidInput, match="12-digit"):
        triage(event, SETTINGS)

    macie = load_event("securityhub_imported_event")
    macie["detail"]["findings"][0]["ProductArn"] = "arn:aws:securityhub:eu-west-1::product/aws/macie"
    with pytest.raises(UnsupportedFinding, match="not from GuardDuty"):
        triage(macie, SETTINGS)


def test_s3_event_names_the_bucket() -> None:
    incident = run(load_event("gd_s3_anonymous_access_event"))
    assert incident.buckets == ["acme-analytics-exports"]
    assert incident.access_key_id == "AKIA4EXAMPLEKEY9M3RT"
    assert incident.api_calls == ["PutBucketPolicy"]
    assert incident.decision.action == "contain"


def test_s3_event_broken_copy_is_invalid_input() -> None:
    event = load_event("gd_s3_anonymous_access_event")
    event["detail"]["resource"]["s3BucketDetails"][0]["name"] = "../../etc"
    with pytest.raises(InvalidInput, match="bucket name"):
        triage(event, SETTINGS)


def test_ec2_event_is_ignored() -> None:
    incident = run(load_event("gd_ec2_finding_event"))
    assert incident.decision.action == "ignore"
    assert "not an IAM credential or S3 finding" in incident.decision.reason
    assert incident.access_key_id is None


def test_ec2_event_broken_copy_is_invalid_input() -> None:
    event = load_event("gd_ec2_finding_event")
    event["detail"]["severity"] = "high"
    with pytest.raises(InvalidInput, match="severity"):
        triage(event, SETTINGS)


def test_manual_input_contains_the_key() -> None:
    incident = run(load_event("manual_input"), default_account_id=ACCOUNT)
    assert incident.source == "manual"
    assert incident.finding is None
    assert incident.access_key_id == KEY
    assert incident.account_id == ACCOUNT
    assert incident.lookback_days == 7
    assert incident.event_time == "2024-03-20T12:00:00Z"
    assert incident.decision.action == "contain"
    assert "analyst requested" in incident.decision.reason


def test_manual_input_broken_copy_names_the_unknown_keys() -> None:
    raw = load_event("manual_input") | {"lookback": 3, "accesKeyId": "x"}
    with pytest.raises(InvalidInput, match="unknown keys: 'accesKeyId', 'lookback'"):
        triage(raw, SETTINGS, default_account_id=ACCOUNT)


def test_manual_input_id_is_per_key_and_spelling_independent() -> None:
    camel = run({"accessKeyId": KEY}, default_account_id=ACCOUNT)
    snake = run(
        {"access_key_id": KEY, "lookback_days": 30, "reason": "on GitHub"}, default_account_id=ACCOUNT
    )
    assert camel.incident_id == snake.incident_id
    assert camel.incident_id != run(exfil()).incident_id  # the finding's incident is separate
    assert (
        run({"accessKeyId": "ASIA4EXAMPLEKEY7X2QZ"}, default_account_id=ACCOUNT).incident_id
        != camel.incident_id
    )
    assert snake.lookback_days == 30
    assert "on GitHub" in snake.decision.reason


def test_manual_dry_run_keeps_the_decision_and_flags_the_run() -> None:
    # The workflow computes every action (would_do) for a dry run: the decision is what it would be.
    incident = run({"accessKeyId": KEY, "dryRun": True}, default_account_id=ACCOUNT)
    assert incident.decision.action == "contain"
    assert "dry run" in incident.decision.reason
    assert dump(incident)["dry_run"] is True
    assert incident.dry_run


def test_manual_account_comes_from_input_then_default_then_settings() -> None:
    assert run({"accessKeyId": KEY, "accountId": "444455556666"}, default_account_id=ACCOUNT).account_id == (
        "444455556666"
    )
    extra = Settings(extra={"account_id": "777788889999"})
    assert run({"accessKeyId": KEY}, extra).account_id == "777788889999"
    with pytest.raises(InvalidInput, match="needs accountId"):
        triage({"accessKeyId": KEY}, SETTINGS)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"accessKeyId": "AKIA123"}, "accessKeyId must look like"),
        ({"accessKeyId": "GeneratedFindingAccessKeyId"}, "accessKeyId must look like"),
        ({"accessKeyId": KEY.lower()}, "accessKeyId must look like"),
        ({"accessKeyId": KEY, "lookbackDays": 0}, "between 1 and 3650"),
        ({"accessKeyId": KEY, "lookbackDays": 3651}, "between 1 and 3650"),
        ({"accessKeyId": KEY, "lookbackDays": True}, "whole number"),
        ({"accessKeyId": KEY, "lookbackDays": 2.5}, "whole number"),
        ({"accessKeyId": KEY, "dryRun": "yes"}, "dryRun must be"),
        ({"accessKeyId": KEY, "accountId": "12345"}, "12-digit"),
        ({"accessKeyId": KEY, "access_key_id": KEY}, "twice"),
    ],
)
def test_manual_input_is_validated(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        triage(raw, SETTINGS, default_account_id=ACCOUNT)


def test_lookback_comes_from_settings_and_is_bounded() -> None:
    assert run(exfil(), Settings(lookback_days=30)).lookback_days == 30
    with pytest.raises(InvalidInput, match="between 1 and 10"):
        triage(exfil(), Settings(lookback_days=30, max_lookback_days=10))


# --------------------------------------------------------------------------------- the decisions


def decision_of(detail: dict[str, Any], settings: Settings = SETTINGS) -> tuple[str, str]:
    incident = run(detail, settings)
    return incident.decision.action, incident.decision.reason


def test_decision_table_ends_with_a_catch_all() -> None:
    assert RULES[-1].name == "low_severity"
    assert len({r.name for r in RULES}) == len(RULES)


@pytest.mark.parametrize(
    "finding_type",
    [
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "PrivilegeEscalation:Kubernetes/PrivilegedContainer",
        "Execution:Runtime/NewBinaryExecuted",
        "Execution:EC2/MaliciousFile",
        "Object:S3/MaliciousFile",
        "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin",
    ],
)
def test_unhandled_families_are_ignored(finding_type: str) -> None:
    action, reason = decision_of(finding(type=finding_type))
    assert action == "ignore"
    assert finding_type in reason


@pytest.mark.parametrize(
    "finding_type",
    [
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS",
        "CredentialAccess:IAMUser/AnomalousBehavior",
        "Policy:S3/BucketBlockPublicAccessDisabled",
        "AttackSequence:IAM/CompromisedCredentials",
    ],
)
def test_credential_and_s3_families_are_handled(finding_type: str) -> None:
    assert decision_of(finding(type=finding_type))[0] == "contain"


def test_sample_key_is_notify_only() -> None:
    action, reason = decision_of(with_key(finding(), accessKeyId="GeneratedFindingAccessKeyId"))
    assert action == "notify_only"
    assert "sample" in reason


def test_sample_flag_without_key_is_notify_only() -> None:
    detail = finding()
    detail["service"]["additionalInfo"]["sample"] = True
    assert decision_of(detail)[0] == "notify_only"


def test_root_is_notify_only() -> None:
    action, reason = decision_of(with_key(finding(), userType="Root", userName="Root"))
    assert action == "notify_only"
    assert "root" in reason


def test_no_key_and_no_bucket_is_notify_only() -> None:
    detail = finding()
    del detail["resource"]["accessKeyDetails"]
    action, reason = decision_of(detail)
    assert action == "notify_only"
    assert "no access key" in reason


def test_bucket_without_key_awaits_approval() -> None:
    detail = load_event("gd_s3_anonymous_access_event")["detail"]
    del detail["resource"]["accessKeyDetails"]
    assert decision_of(detail)[0] == "await_approval"


@pytest.mark.parametrize(
    "entry", ["ci-deploy", "CI-DEPLOY", "AIDA4EXAMPLEPRINCIPAL", "arn:aws:iam::111122223333:user/ci-deploy"]
)
def test_protection_is_not_decided_on_the_findings_names(entry: str) -> None:
    """The finding's userName/principalId are its word: the list is checked against the key's real owner
    (tests/lambdas/test_triage.py and test_validate.py), so triage neither trusts nor is fooled by them."""
    action, _ = decision_of(finding(severity=9), Settings(protected_principals=(entry,)))
    assert action == "contain"
    detail = with_key(finding(severity=2), accessKeyId="ASIA4EXAMPLEKEY7X2QZ", userName="deployer")
    assert decision_of(detail, Settings(protected_principals=("deployer",)))[0] == "contain"


def test_role_session_key_is_contained_at_any_severity() -> None:
    action, reason = decision_of(with_key(finding(severity=2), accessKeyId="ASIA4EXAMPLEKEY7X2QZ"))
    assert action == "contain"
    assert "sessions" in reason


@pytest.mark.parametrize(
    ("severity", "threshold", "action"),
    [
        (8, 7.0, "contain"),
        (7.0, 7.0, "contain"),
        (6.9, 7.0, "await_approval"),
        (5, 5.0, "contain"),
        (2, 7.0, "await_approval"),
    ],
)
def test_severity_threshold(severity: float, threshold: float, action: str) -> None:
    assert decision_of(finding(severity=severity), Settings(contain_min_severity=threshold))[0] == action


# ------------------------------------------------------------------------------ malformed inputs


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        ("not json", InvalidInput, "not valid JSON"),
        ('{"Findings": [', InvalidInput, "not valid JSON"),
        (42, InvalidInput, "expected a JSON object"),
        ({"hello": "world"}, InvalidInput, "not a GuardDuty finding"),
        ([], InvalidInput, "no findings"),
        ([1, 2], InvalidInput, "other than finding objects"),
        (
            {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}},
            UnsupportedFinding,
            "aws.ec2",
        ),
        ({"source": "aws.guardduty", "detail-type": "GuardDuty Finding"}, InvalidInput, "no 'detail'"),
        (b"\xff\xfe{", InvalidInput, "not UTF-8"),
    ],
)
def test_malformed_inputs_raise_named_errors(raw: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        triage(raw, SETTINGS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"accountId": "999999999"}, "12-digit"),
        ({"accountId": 111122223333}, "12-digit"),
        ({"type": "not a type"}, "ThreatPurpose"),
        ({"type": None}, "finding type is missing"),
        ({"severity": 11}, "between 0 and 10"),
        ({"severity": None}, "severity must be a number"),
        ({"id": ["x"]}, "finding id must be a string"),
    ],
)
def test_malformed_findings_raise_invalid_input(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        triage(finding(**change), SETTINGS)


@pytest.mark.parametrize("key", ["AKIA123", "AIDA4EXAMPLEKEY7X2QZ", "akia4examplekey7x2qz", 12345])
def test_bad_access_key_in_finding_is_invalid_input(key: Any) -> None:
    with pytest.raises(InvalidInput, match="accessKeyId"):
        triage(with_key(finding(), accessKeyId=key), SETTINGS)


def test_oversized_input_is_rejected() -> None:
    big = finding(description="x" * MAX_INPUT_BYTES)
    with pytest.raises(InvalidInput, match="larger than 256 KB"):
        triage(big, SETTINGS)
    with pytest.raises(InvalidInput, match="larger than 256 KB"):
        triage(json.dumps(big), SETTINGS)


def test_deeply_nested_input_is_rejected() -> None:
    nested: Any = {}
    for _ in range(200):
        nested = {"a": nested}
    with pytest.raises(InvalidInput, match="nested deeper"):
        triage(finding(service=nested), SETTINGS)
    with pytest.raises(InvalidInput, match="nested"):
        triage("[" * 5000 + "]" * 5000, SETTINGS)


def test_wrongly_typed_structure_is_invalid_input_not_a_crash() -> None:
    detail = finding()
    detail["resource"] = {"accessKeyDetails": "AKIA4EXAMPLEKEY7X2QZ", "s3BucketDetails": {"name": "b"}}
    detail["service"]["additionalInfo"] = {"recentApiCalls": "ListBuckets"}
    incident = run(detail)  # wrong shapes are ignored where the data is optional
    assert incident.access_key_id is None


def test_remote_ips_are_deduplicated_and_local_or_invalid_ones_dropped() -> None:
    detail = finding()
    action = detail["service"]["action"]
    action["networkConnectionAction"] = {
        "remoteIpDetails": {"ipAddressV4": "185.220.101.47"},
        "localIpDetails": {"ipAddressV4": "10.0.0.5"},
        "bogusIpDetails": {"ipAddressV4": "075.050.255.67"},
        "other": [{"ipAddressV4": "198.51.100.9"}, {"ipAddressV6": "2001:db8::1"}],
    }
    assert run(detail).remote_ips == ["185.220.101.47", "198.51.100.9", "2001:db8::1"]


def test_display_strings_are_data_kept_short_and_on_one_line() -> None:
    detail = with_key(finding(), userName="evil\nname" + "x" * 1000)
    incident = run(detail)
    assert incident.principal.user_name is not None
    assert "\n" not in incident.principal.user_name
    assert len(incident.principal.user_name) <= 512


# ---------------------------------------------------------------------------------- the handler


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="responder-triage",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:eu-west-1:111122223333:function:responder-triage",
        aws_request_id="5f1a2b3c-0000-4000-8000-000000000001",
    )


def test_handler_returns_the_incident_and_defers_unknown_users(aws_env: None) -> None:
    from lambdas.triage import handler as module

    with mock_aws():  # the finding's user does not exist here: containment waits for Validate
        out = module.handler(exfil(), lambda_context())  # type: ignore[arg-type]
    jsonschema.validate(out["incident"], SCHEMA)
    assert out["incident"]["incident_id"] == run(exfil()).incident_id
    assert out["containment"]["status"] == "deferred"
    assert out["owner"] is None


def test_handler_takes_the_manual_default_account_from_its_own_arn(aws_env: None) -> None:
    from lambdas.triage import handler as module

    with mock_aws():
        out = module.handler(load_event("manual_input"), lambda_context())["incident"]  # type: ignore[arg-type]
    assert out["account_id"] == ACCOUNT
    assert out["decision"]["action"] == "contain"


def test_handler_logs_chosen_keys_never_the_finding(aws_env: None, caplog: pytest.LogCaptureFixture) -> None:
    from lambdas.triage import handler as module

    caplog.set_level("INFO")
    with mock_aws():
        out = module.handler(exfil(), lambda_context())["incident"]  # type: ignore[arg-type]
    (record,) = [r for r in caplog.records if r.getMessage() == "triaged"]
    assert record.incident_id == out["incident_id"]  # type: ignore[attr-defined]
    assert record.finding_id == "a6c7b0e1d2f34a5b8c9d0e1f2a3b4c5d"  # type: ignore[attr-defined]
    assert record.access_key_id == KEY  # type: ignore[attr-defined]
    assert record.decision == "contain"  # type: ignore[attr-defined]
    logged = " ".join(str(v) for r in caplog.records for v in vars(r).values())
    for secret_ish in ("ci-deploy", "185.220.101.47", "Credentials for"):
        assert secret_ish not in logged


def test_handler_raises_named_errors(aws_env: None) -> None:
    from lambdas.triage import handler as module

    with pytest.raises(InvalidInput):
        module.handler({"accessKeyId": "nope"}, lambda_context())  # type: ignore[arg-type]


# ------------------------------------------------------------- quarantine: AWS's own attach only

QUARANTINE = {
    "source": "quarantine-policy",
    "userName": "ci-deployer",
    "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3",
    "accountId": "123456789012",
    "region": "us-east-1",
    "eventTime": "2026-12-01T10:00:00Z",
    "eventId": "0f3c4b2a-5d6e-4f70-8a9b-000000000001",
}
MALLORY = "arn:aws:iam::123456789012:user/mallory"


@pytest.mark.parametrize(
    "caller",
    [
        {
            "userIdentity": {"accountId": "123456789012", "invokedBy": "AWS Internal"},
            "sourceIPAddress": "AWS Internal",
        },
        {
            "userIdentity": {"type": "", "arn": None, "invokedBy": "AWS Internal"},
            "sourceIPAddress": "AWS Internal",
        },
        {
            "userIdentity": {"type": "AWSService", "invokedBy": "health.amazonaws.com"},
            "sourceIPAddress": "health.amazonaws.com",
        },
    ],
    ids=["aws-internal", "empty-fields", "aws-service"],
)
def test_awss_own_quarantine_attach_is_a_containment(caller: dict[str, Any]) -> None:
    incident = triage({**QUARANTINE, **caller}, Settings())
    assert incident.decision.action == "contain"
    assert incident.access_key_id is None  # the Triage step resolves the user's one active key


@pytest.mark.parametrize(
    ("caller", "said"),
    [
        (
            {
                "userIdentity": {"type": "IAMUser", "arn": MALLORY, "invokedBy": "AWS Internal"},
                "sourceIPAddress": "AWS Internal",
            },
            f"IAMUser {MALLORY}",
        ),
        (
            {
                "userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"},
                "sourceIPAddress": "1.2.3.4",
            },
            "arn:aws:iam::123456789012:root",
        ),
        (
            {"userIdentity": {"invokedBy": "AWS Internal"}, "sourceIPAddress": "203.0.113.7"},
            "sourceIPAddress='203.0.113.7'",
        ),
        (
            {"userIdentity": {"type": "AWSService", "invokedBy": "evil.example.com"}},
            "invokedBy='evil.example.com'",
        ),
        ({}, "no caller recorded"),  # an input without the caller: not proof that AWS attached it
    ],
    ids=["console-user", "root", "outside-ip", "not-an-aws-service", "no-caller"],
)
def test_any_other_quarantine_attach_is_notify_only_saying_who(caller: dict[str, Any], said: str) -> None:
    incident = triage({**QUARANTINE, **caller}, Settings())
    assert incident.decision.action == "notify_only"
    assert said in incident.decision.reason and "not AWS's quarantine signal" in incident.decision.reason


def test_a_quarantine_caller_that_is_not_an_identity_object_is_a_named_error() -> None:
    with pytest.raises(InvalidInput, match="userIdentity"):
        triage({**QUARANTINE, "userIdentity": "AWS Internal"}, Settings())


# ------------------------------------------------------------------------------ this account only


def test_an_incident_about_another_account_is_notify_only_and_loses_its_eradicate_mode() -> None:
    from responder.steps.triage import accounts_in_scope, scope_to_accounts

    ours = accounts_in_scope("123456789012")
    finding_here = triage(finding(severity=9), Settings())
    assert scope_to_accounts(finding_here, accounts_in_scope(finding_here.account_id)) is finding_here
    ask = {
        "accessKeyId": "AKIA4EXAMPLEKEY7X2QZ",
        "accountId": "999988887777",
        "eradicate": True,
        "incidentId": "inc-0123456789abcdef",
    }
    scoped = scope_to_accounts(triage(ask, Settings()), ours)
    assert scoped.decision.action == "notify_only"
    assert "999988887777" in scoped.decision.reason and "123456789012" in scoped.decision.reason
    assert "mode" not in (scoped.model_extra or {})  # Route would otherwise plan an eradication
