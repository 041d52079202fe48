"""Write-once evidence: every artifact is stored with its SHA-256 and never overwritten.

Objects go to the Object Lock bucket with ``If-None-Match: *`` (S3 conditional write), so a
second writer cannot replace what the first one stored; S3 also verifies our SHA-256 checksum on
arrival. Writing the same bytes twice (a retried step) is fine and returns the same reference.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from responder.errors import EvidenceConflict, error_code
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
