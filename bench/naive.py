"""The plain-Python baseline: gzip + ``json.load`` of each file, the six answers for one key by hand.

What someone without a query engine would write: one pass over every file of the window, keeping the
key's events and, for same_ip_credentials, every (address, key) pair's count and span. It answers the
exposed key's six queries only (no pivots), so the engine it is compared with does more work.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

S3_OBJECT_EVENTS = frozenset(
    {
        "GetObject", "HeadObject", "GetObjectAcl", "GetObjectAttributes", "GetObjectTagging",
        "GetObjectVersion", "SelectObjectContent", "RestoreObject",
        "PutObject", "PutObjectAcl", "PutObjectTagging", "CopyObject", "UploadPart", "UploadPartCopy",
        "CreateMultipartUpload", "CompleteMultipartUpload", "AbortMultipartUpload",
        "DeleteObject", "DeleteObjects", "DeleteObjectTagging",
        "ListObjects", "ListObjectsV2", "ListObjectVersions", "ListMultipartUploads", "ListParts",
    }
)  # fmt: skip
MINTING = frozenset({"GetSessionToken", "GetFederationToken", "AssumeRole", "CreateAccessKey"})


def _records(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rb") as fh:
        doc = json.load(fh)
    return doc["Records"] if isinstance(doc, dict) else doc


def scan(files: Sequence[Path], key: str, start: str, end: str) -> dict[str, Any]:
    """The six answers (and coverage) for ``key`` over [start, end] (ISO text, compared as text)."""
    mine: list[dict[str, Any]] = []
    pairs: dict[tuple[str, str], list[Any]] = {}
    count, first, last = 0, None, None
    for path in files:
        for rec in _records(path):
            when = rec.get("eventTime")
            if not isinstance(when, str) or not start <= when <= end:
                continue
            count += 1
            first = when if first is None or when < first else first
            last = when if last is None or when > last else last
            identity = rec.get("userIdentity") or {}
            rec_key = identity.get("accessKeyId")
            ip = rec.get("sourceIPAddress")
            if rec_key == key:
                mine.append(rec)
            elif rec_key and ip:
                entry = pairs.get((ip, rec_key))
                if entry is None:
                    pairs[(ip, rec_key)] = [1, when, when, identity.get("arn"), identity.get("type")]
                else:
                    entry[0] += 1
                    entry[1] = min(entry[1], when)
                    entry[2] = max(entry[2], when)
                    entry[3] = max(entry[3] or "", identity.get("arn") or "") or None
                    entry[4] = max(entry[4] or "", identity.get("type") or "") or None

    mine.sort(key=lambda r: (r["eventTime"], r.get("eventID") or ""), reverse=True)
    ips: dict[str, dict[str, Any]] = defaultdict(lambda: {"event_count": 0, "agents": set()})
    for rec in mine:
        ip = ips[str(rec.get("sourceIPAddress"))]
        ip["event_count"] += 1
        if rec.get("userAgent"):
            ip["agents"].add(rec["userAgent"])
    writes = [r for r in mine if str(r.get("readOnly")).lower() != "true"]
    s3: dict[tuple[Any, Any, Any], int] = defaultdict(int)
    for rec in mine:
        if rec.get("eventSource") == "s3.amazonaws.com" and rec.get("eventName") in S3_OBJECT_EVENTS:
            params = rec.get("requestParameters") or {}
            s3[(params.get("bucketName"), params.get("key"), rec["eventName"])] += 1
    minted = []
    for rec in reversed(mine):
        if rec.get("eventName") in MINTING and not rec.get("errorCode"):
            response = rec.get("responseElements") or {}
            new = (response.get("credentials") or {}).get("accessKeyId") or (
                response.get("accessKey") or {}
            ).get("accessKeyId")
            minted.append(new)
    key_ips = {ip for ip in ips if ip and ip != "AWS Internal" and not str(ip).endswith(".amazonaws.com")}
    same_ip = {(k, ip): v[0] for (ip, k), v in pairs.items() if ip in key_ips}
    return {
        "coverage": {"events_scanned": count, "first_event": first, "last_event": last},
        "key_activity": [r.get("eventID") for r in mine],
        "source_ips": {ip: v["event_count"] for ip, v in ips.items()},
        "write_events": sorted(r.get("eventID") for r in writes),
        "s3_data_events": dict(s3),
        "minted_credentials": minted,
        "same_ip_credentials": same_ip,
    }


def engine_answers(results: dict[tuple[str, str], list[dict[str, Any]]], key: str) -> dict[str, Any]:
    """The same summary of the engine's rows, to check that both computed the same answers."""
    rows = {name: results[(key, name)] for name in (
        "key_activity", "source_ips", "write_events", "s3_data_events", "minted_credentials",
        "same_ip_credentials",
    )}  # fmt: skip
    return {
        "key_activity": [r["event_id"] for r in rows["key_activity"]],
        "source_ips": {r["source_ip"]: r["event_count"] for r in rows["source_ips"]},
        "write_events": sorted(r["event_id"] for r in rows["write_events"]),
        "s3_data_events": {
            (r["bucket"], r["object_key"], r["event_name"]): r["event_count"] for r in rows["s3_data_events"]
        },
        "minted_credentials": [r["minted_access_key_id"] for r in rows["minted_credentials"]],
        "same_ip_credentials": {
            (r["access_key_id"], r["source_ip"]): r["event_count"] for r in rows["same_ip_credentials"]
        },
    }
