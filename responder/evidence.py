"""Write-once evidence: every artifact is stored with its SHA-256 and never overwritten.

Objects go to the Object Lock bucket with ``If-None-Match: *`` (S3 conditional write), so a
second writer cannot replace what the first one stored; S3 also verifies our SHA-256 checksum on
arrival. Writing the same bytes twice (a retried step) is fine and returns the same reference.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from responder.errors import EvidenceConflict, InvalidInput, error_code
from responder.models import EvidenceRef


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """Stable bytes for a JSON document: sorted keys, no insignificant whitespace."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def incident_prefix(incident_id: str, execution_id: str | None = None) -> str:
    """Evidence of one incident, one folder per execution so that re-runs never collide."""
    run = (execution_id or "manual").rsplit(":", 1)[-1]
    return f"incidents/{incident_id}/{run}"


def put_evidence(
    s3: Any,
    bucket: str,
    key: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    kind: str | None = None,
) -> EvidenceRef:
    """Store ``body`` at ``key`` once, with its SHA-256; identical re-writes are no-ops."""
    digest = hashlib.sha256(body)
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            IfNoneMatch="*",
            # Object Lock requires an integrity header; S3 checks the body against our digest.
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
            Metadata={"sha256": digest.hexdigest()},
        )
    except ClientError as exc:
        if error_code(exc) not in ("PreconditionFailed", "412"):
            raise
        existing = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256")
        if existing != digest.hexdigest():
            raise EvidenceConflict(
                f"s3://{bucket}/{key} already holds different evidence (sha256 {existing}); not overwritten"
            ) from exc
    return EvidenceRef(uri=f"s3://{bucket}/{key}", sha256=digest.hexdigest(), kind=kind)


def put_json_evidence(s3: Any, bucket: str, key: str, obj: Any, *, kind: str | None = None) -> EvidenceRef:
    return put_evidence(s3, bucket, key, canonical_json(obj), kind=kind)


def read_evidence(s3: Any, uri: str) -> bytes:
    """Read an evidence object back, checking it still hashes to what was recorded."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3 uri: {uri}")
    bucket, _, key = uri[5:].partition("/")
    obj = s3.get_object(Bucket=bucket, Key=key)
    body: bytes = obj["Body"].read()
    recorded = obj.get("Metadata", {}).get("sha256")
    if recorded and recorded != sha256_hex(body):
        raise EvidenceConflict(f"{uri} does not match its recorded sha256")
    return body


def query_prefix(incident_id: str, execution_id: str) -> str:
    return f"{incident_prefix(incident_id, execution_id)}/queries/"


def saved_results(
    s3: Any, bucket: str, incident_id: str, execution_id: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every query result this execution saved: ``{(key, name): meta}`` from the .meta.json objects."""
    prefix = query_prefix(incident_id, execution_id)
    metas: dict[tuple[str, str], dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".meta.json"):
                meta = json.loads(read_evidence(s3, f"s3://{bucket}/{obj['Key']}"))
                metas[(meta["query"]["access_key_id"], meta["query"]["name"])] = meta
    return metas


def load_rows(s3: Any, uri: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_evidence(s3, uri).decode().splitlines() if line.strip()]


def _newest(s3: Any, bucket: str, incident_id: str, matches: Callable[[str], bool]) -> dict[str, Any] | None:
    """The newest JSON evidence object of any run of the incident whose key ``matches``, or None."""
    newest: tuple[Any, str] | None = None
    prefix = incident_prefix(incident_id).rsplit("/", 1)[0] + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if matches(obj["Key"]) and (newest is None or obj["LastModified"] > newest[0]):
                newest = (obj["LastModified"], obj["Key"])
    return None if newest is None else dict(json.loads(read_evidence(s3, f"s3://{bucket}/{newest[1]}")))


def latest_report(s3: Any, bucket: str, incident_id: str) -> dict[str, Any]:
    """The newest report.json an earlier run of this incident wrote to evidence."""
    report = _newest(s3, bucket, incident_id, lambda key: key.endswith("/report.json"))
    if report is None:
        raise InvalidInput(f"no report of incident {incident_id} in evidence: run the investigation first")
    return report


def latest_evidence(s3: Any, bucket: str, incident_id: str, marker: str) -> dict[str, Any] | None:
    """The newest JSON evidence object of the incident whose key contains ``marker``, or None."""
    return _newest(s3, bucket, incident_id, lambda key: marker in key)
