import pytest

from responder.analysis.rows import record_to_row
from responder.analysis.tactics import BULK_GET_OBJECTS, classify, findings
from tests.analysis.helpers import OTHER_ACCOUNT, bucket_policy, panther_event, row, stratus_rows


def _one(rows):
    return {(f["tactic"], f["technique"], f["severity"]) for f in findings(rows)}


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("aws.defense-evasion.cloudtrail-stop", ("Defense Evasion", "T1562.008", "critical")),
        ("aws.defense-evasion.cloudtrail-delete", ("Defense Evasion", "T1562.008", "critical")),
        ("aws.defense-evasion.cloudtrail-event-selectors", ("Defense Evasion", "T1562.008", "high")),
        ("aws.defense-evasion.vpc-remove-flow-logs", ("Defense Evasion", "T1562.008", "high")),
        ("aws.persistence.iam-backdoor-user", ("Persistence", "T1098.001", "high")),
        ("aws.persistence.iam-backdoor-role", ("Persistence", "T1098.003", "critical")),
        ("aws.exfiltration.ec2-share-ebs-snapshot", ("Exfiltration", "T1537", "critical")),
        ("aws.exfiltration.ec2-share-ami", ("Exfiltration", "T1537", "critical")),
        (
            "aws.credential-access.secretsmanager-batch-retrieve-secrets",
            ("Credential Access", "T1555.006", "high"),
        ),
        ("aws.privilege-escalation.iam-update-user-login-profile", ("Privilege Escalation", "T1098", "high")),
    ],
)
def test_stratus_single_technique_fixtures(fixture, expected):
    assert expected in _one(stratus_rows(fixture))


def test_create_admin_user_is_three_persistence_findings_with_admin_critical():
    result = findings(stratus_rows("aws.persistence.iam-create-admin-user"))
    titles = {f["title"]: f["severity"] for f in result}
    assert titles == {
        "Attached policies to users: AdministratorAccess": "critical",
        "Created IAM users": "high",
        "Created access keys": "high",
    }
    assert all(f["tactic"] == "Persistence" for f in result)
    assert sum(len(f["event_ids"]) for f in result) == 3


def test_failed_calls_count_as_attempted():
    result = findings(stratus_rows("aws.credential-access.ec2-get-password-data"))
    passwords = next(f for f in result if f["technique"] == "T1552")
    assert passwords["failed"] == 30
    assert passwords["attempted_only"] is True
    assert "attempted: all 30 failed" in passwords["title"]
    assert len(passwords["event_ids"]) == 30


def test_ssm_parameters_with_decryption_are_credential_access():
    result = _one(stratus_rows("aws.credential-access.ssm-retrieve-securestring-parameters"))
    assert ("Credential Access", "T1552", "high") in result
    assert ("Discovery", "T1526", "low") in result  # DescribeParameters recon


def test_bedrock_invocation_is_impact():
    assert ("Impact", "T1496", "high") in _one(stratus_rows("aws.impact.bedrock-invoke-model"))


def test_panther_labelled_events():
    stop = record_to_row(panther_event("AWS.CloudTrail.Stopped", "CloudTrail Was Stopped"))
    assert [(t.tactic, t.severity) for t in classify(stop)] == [("Defense Evasion", "critical")]
    public = record_to_row(panther_event("AWS.CloudTrail.ResourceMadePublic", "S3 Made Publicly Accessible"))
    assert {t.tactic for t in classify(public)} == {"Persistence", "Exfiltration"}
    private = record_to_row(
        panther_event("AWS.CloudTrail.ResourceMadePublic", "S3 Not Made Publicly Accessible")
    )
    assert [t.tactic for t in classify(private)] == ["Persistence"]
    lifecycle = record_to_row(
        panther_event("AWS.CloudTrail.ShortLifecycle", "1-Day Lifecycle Rule on Known CT Bucket")
    )
    assert [(t.tactic, t.severity) for t in classify(lifecycle)] == [("Impact", "high")]
    trufflehog = record_to_row(
        panther_event("AWS.STS.GetCallerIdentity.TruffleHog", "TruffleHog GetCallerIdentity")
    )
    assert [t.technique for t in classify(trufflehog)] == ["T1087.004"]
    session = record_to_row(panther_event("AWS.STS.GetSessionToken.Misuse", "GetSessionToken by IAM User"))
    assert [t.tactic for t in classify(session)] == ["Credential Access"]
    decrypt = record_to_row(
        panther_event("AWS.SSM.DecryptSSMParams", "Single Secret Accessed in Single Event")
    )
    assert [t.tactic for t in classify(decrypt)] == ["Credential Access"]
    plain = record_to_row(panther_event("AWS.SSM.DecryptSSMParams", "Accessed Parameters Aren't Encrypted"))
    assert [t.tactic for t in classify(plain)] == ["Discovery"]


def test_synthetic_bucket_policy_to_another_account_is_exfiltration_too():
    put = row(
        "PutBucketPolicy",
        params={"bucketName": "finance-data", "bucketPolicy": bucket_policy({"AWS": OTHER_ACCOUNT})},
    )
    assert {(t.tactic, t.severity) for t in classify(put)} == {
        ("Persistence", "high"),
        ("Exfiltration", "critical"),
    }


def test_public_access_block_weakened_vs_hardened():
    weaken = row(
        "PutBucketPublicAccessBlock", params={"PublicAccessBlockConfiguration": {"BlockPublicPolicy": False}}
    )
    harden = row(
        "PutBucketPublicAccessBlock", params={"PublicAccessBlockConfiguration": {"BlockPublicPolicy": True}}
    )
    assert [t.title for t in classify(weaken)] == ["Weakened S3 Block Public Access"]
    assert classify(harden) == []


def test_bulk_get_object_adds_an_exfiltration_finding():
    rows = [
        row(
            "GetObject",
            time=f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}Z",
            params={"bucketName": "b", "key": f"k{i}"},
        )
        for i in range(BULK_GET_OBJECTS)
    ]
    result = findings(rows)
    assert [f["tactic"] for f in result] == ["Collection", "Exfiltration"]
    assert len(result[1]["event_ids"]) == BULK_GET_OBJECTS


def test_unknown_reads_fall_back_to_discovery_and_unremarkable_writes_to_nothing():
    assert [t.tactic for t in classify(row("DescribeVpcs", source="ec2.amazonaws.com", read_only=True))] == [
        "Discovery"
    ]
    assert classify(row("CreateTags", source="ec2.amazonaws.com", read_only=False)) == []
