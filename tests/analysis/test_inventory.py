from responder.analysis.inventory import category, iam_changes, inventory
from responder.analysis.rows import sort_rows
from tests.analysis.helpers import row, stratus_rows


def test_create_admin_user_iam_changes():
    changes = iam_changes(stratus_rows("aws.persistence.iam-create-admin-user"))
    by_name = {c["event_name"]: c for c in changes}
    assert set(by_name) == {"CreateUser", "AttachUserPolicy", "CreateAccessKey"}
    assert all(c["succeeded"] for c in changes)
    assert by_name["CreateUser"]["target"] == "user/malicious-iam-user"
    assert by_name["AttachUserPolicy"]["target"] == "user/malicious-iam-user"
    assert by_name["AttachUserPolicy"]["detail"] == "policy arn:aws:iam::aws:policy/AdministratorAccess"
    key = by_name["CreateAccessKey"]
    assert key["target"].startswith("access-key/AKIA")
    assert key["detail"] == "user/malicious-iam-user"


def test_failed_iam_calls_are_listed_as_failed():
    changes = iam_changes(sort_rows(stratus_rows("aws.persistence.iam-create-user-login-profile")))
    # GetCallerIdentity is not an IAM change; the failed DeleteLoginProfile is.
    assert [(c["event_name"], c["succeeded"], c["target"]) for c in changes] == [
        ("CreateLoginProfile", True, "user/stratus-red-team-login-profile-user"),
        ("DeleteLoginProfile", False, "user/stratus-red-team-login-profile-user"),
    ]
    assert changes[1]["error_code"] == "EntityTemporarilyUnmodifiableException"


def test_inventory_sorts_created_modified_deleted_and_counts_reads():
    rows = [
        row("CreateUser", source="iam.amazonaws.com", params={"userName": "backup"}, read_only=False),
        row("DeleteUser", source="iam.amazonaws.com", params={"userName": "backup"}, read_only=False),
        row("PutBucketPolicy", params={"bucketName": "b", "bucketPolicy": {}}, read_only=False),
        row("GetObject", params={"bucketName": "b", "key": "x.csv"}, read_only=True),
        row(
            "GetObject",
            params={"bucketName": "b", "key": "x.csv"},
            read_only=True,
            time="2024-05-01T10:01:00Z",
        ),
        row("RunInstances", source="ec2.amazonaws.com", params={"instanceType": "p3"}, error="Unauthorized"),
    ]
    inv = inventory(rows)
    assert [e["target"] for e in inv["created"]] == ["user/backup", "(ec2)"]
    assert inv["created"][0]["deleted_later"] is True
    assert inv["created"][1]["succeeded"] is False
    assert [e["target"] for e in inv["modified"]] == ["bucket/b"]
    assert [e["target"] for e in inv["deleted"]] == ["user/backup"]
    assert inv["read"] == [
        {
            "event_name": "GetObject",
            "event_source": "s3.amazonaws.com",
            "target": "object/b/x.csv",
            "count": 2,
            "failed": 0,
            "first_seen": "2024-05-01T10:00:00Z",
            "last_seen": "2024-05-01T10:01:00Z",
        }
    ]


def test_minted_credentials_are_created_resources():
    rows = stratus_rows("aws.persistence.sts-federation-token")
    assert category(rows[0]) == "created"
    assert inventory(rows)["created"][0]["target"] == "credentials/ASIASTJKC5GCM7ZE6LUP"


def test_nested_targets_are_found():
    rows = stratus_rows("aws.defense-evasion.vpc-remove-flow-logs")
    assert inventory(rows)["deleted"][0]["target"] == "flow-log/fl-0e17aa62a21d4bbfe"
