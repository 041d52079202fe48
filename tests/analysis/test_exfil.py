from responder.analysis.exfil import data_access, data_events_logged, exfil_summary
from tests.analysis.helpers import row


def test_data_access_groups_per_object_and_sums_bytes():
    rows = [
        row("GetObject", params={"bucketName": "fin", "key": "a.csv"}, extra={"bytesTransferredOut": 100}),
        row(
            "GetObject",
            params={"bucketName": "fin", "key": "a.csv"},
            extra={"bytesTransferredOut": 50.0},
            time="2024-05-01T10:02:00Z",
        ),
        row("GetObject", params={"bucketName": "fin", "key": "b.csv"}, error="AccessDenied"),
        row("ListObjects", params={"bucketName": "fin"}),
        row("ListBuckets", params=None),
    ]
    access = data_access(rows)
    got = [(a["bucket"], a["object_key"], a["event_name"], a["count"], a["bytes_out"]) for a in access]
    assert got == [
        ("fin", None, "ListObjects", 1, None),
        ("fin", "a.csv", "GetObject", 2, 150),
        ("fin", "b.csv", "GetObject", 1, None),
    ]
    assert access[2]["failed"] == 1
    summary = exfil_summary(access)
    assert (summary["objects_read"], summary["read_calls"], summary["bytes_out"]) == (2, 3, 150)


def test_buckets_touched_only_by_management_events_are_not_called_clean():
    rows = [
        row("PutBucketPolicy", params={"bucketName": "quiet", "bucketPolicy": {}}),
        row("GetBucketAcl", params={"bucketName": "quiet"}),
        row("GetObject", params={"bucketName": "loud", "key": "k"}),
    ]
    assert data_events_logged(rows) == {"loud": True, "quiet": False}
    assert [a["bucket"] for a in data_access(rows)] == ["loud"]
