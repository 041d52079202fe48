"""S3 data access by the key (playbook step 9): which objects, how often, how many bytes left.

S3 object reads are CloudTrail *data* events, off by default. When the key touched a bucket through
management events (ListBuckets, GetBucketPolicy, PutBucketPolicy...) and no data event for it is in
the logs, the report says the data events may not be logged, never that nothing was read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from responder.analysis.rows import Row, event_name, iso_time, mapping, service, succeeded, text

# S3 operations that CloudTrail records as data events (object level, plus object listing).
S3_DATA_EVENTS = frozenset(
    {
        "GetObject",
        "HeadObject",
        "GetObjectAcl",
        "GetObjectAttributes",
        "GetObjectTagging",
        "GetObjectRetention",
        "GetObjectLegalHold",
        "SelectObjectContent",
        "RestoreObject",
        "PutObject",
        "PutObjectAcl",
        "PutObjectTagging",
        "CopyObject",
        "UploadPart",
        "UploadPartCopy",
        "CreateMultipartUpload",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "DeleteObject",
        "DeleteObjects",
        "ListObjects",
        "ListObjectsV2",
        "ListObjectVersions",
        "ListMultipartUploads",
        "ListParts",
    }
)
READS = frozenset({"GetObject", "SelectObjectContent", "CopyObject", "RestoreObject"})

NOT_LOGGED_NOTE = (
    "The key touched this bucket, but the logs hold no S3 data events for it: data events may not be "
    "logged for this bucket (trail or event data store without S3 data event selectors). This is not "
    "evidence that no object was read; check S3 server access logs or the data event configuration."
)


def _bytes(row: Row, field: str) -> int | None:
    value = mapping(row, "additional_event_data").get(field)
    try:
        return int(float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _bucket(row: Row) -> str | None:
    params = mapping(row, "request_parameters")
    bucket = params.get("bucketName") or params.get("bucket")
    return str(bucket) if bucket else None


def data_access(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Report ``data_access``: S3 data events per (bucket, object, event), with bytes out."""
    groups: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    for row in rows:
        name = event_name(row)
        if service(row) != "s3" or name not in S3_DATA_EVENTS:
            continue
        bucket = _bucket(row) or "(unknown)"
        key = mapping(row, "request_parameters").get("key")
        object_key = str(key) if key not in (None, "") else None
        group = groups.setdefault(
            (bucket, object_key, name),
            {
                "bucket": bucket,
                "object_key": object_key,
                "event_name": name,
                "count": 0,
                "failed": 0,
                "bytes_out": None,
                "bytes_in": None,
                "first_seen": iso_time(row),
                "last_seen": iso_time(row),
                "credentials": set(),
            },
        )
        group["count"] += 1
        group["failed"] += 0 if succeeded(row) else 1
        for field, out_key in (("bytesTransferredOut", "bytes_out"), ("bytesTransferredIn", "bytes_in")):
            value = _bytes(row, field)
            if value is not None and succeeded(row):
                group[out_key] = (group[out_key] or 0) + value
        group["first_seen"] = min(group["first_seen"], iso_time(row))
        group["last_seen"] = max(group["last_seen"], iso_time(row))
        group["credentials"].add(text(row, "access_key_id") or "(none)")
    out = []
    for group in groups.values():
        group["credentials"] = sorted(group["credentials"])
        out.append(group)
    out.sort(key=lambda g: (g["bucket"], g["object_key"] or "", g["event_name"]))
    return out


def data_events_logged(rows: Sequence[Row]) -> dict[str, bool]:
    """Per bucket the key touched: whether any S3 data event for it is in the logs."""
    touched: dict[str, bool] = {}
    for row in rows:
        if service(row) != "s3":
            continue
        bucket = _bucket(row)
        if not bucket:
            continue
        is_data = event_name(row) in S3_DATA_EVENTS
        touched[bucket] = touched.get(bucket, False) or is_data
    return dict(sorted(touched.items()))


def exfil_summary(access: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Totals across buckets: objects read, bytes out, buckets with deletions."""
    reads = [a for a in access if a["event_name"] in READS]
    by_bucket: dict[str, dict[str, Any]] = {}
    for item in access:
        agg = by_bucket.setdefault(
            item["bucket"],
            {"objects_read": 0, "read_calls": 0, "bytes_out": 0, "objects_written": 0, "deletes": 0},
        )
        if item["event_name"] in READS:
            agg["objects_read"] += 1 if item["object_key"] else 0
            agg["read_calls"] += item["count"]
            agg["bytes_out"] += item["bytes_out"] or 0
        elif item["event_name"] in {"PutObject", "CopyObject", "CompleteMultipartUpload"}:
            agg["objects_written"] += 1
        elif item["event_name"] in {"DeleteObject", "DeleteObjects"}:
            agg["deletes"] += item["count"]
    return {
        "objects_read": len({(a["bucket"], a["object_key"]) for a in reads if a["object_key"]}),
        "read_calls": sum(a["count"] for a in reads),
        "bytes_out": sum(a["bytes_out"] or 0 for a in reads),
        "by_bucket": by_bucket,
    }
