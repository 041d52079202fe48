"""Reads of the live account that several steps share: a bucket's policy and public-access state."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from responder.errors import error_code
from responder.evidence import sha256_hex

# Missing configuration is a fact worth recording, not an error.
_ABSENT = {
    "NoSuchBucketPolicy",
    "NoSuchPublicAccessBlockConfiguration",
    "OwnershipControlsNotFoundError",
}


def _read(call: Any, key: str, **kwargs: Any) -> tuple[Any, str | None]:
    try:
        response = call(**kwargs)
    except ClientError as exc:
        code = error_code(exc)
        return None, "absent" if code in _ABSENT else code
    return response.get(key), None


def bucket_state(s3: Any, bucket: str) -> dict[str, Any]:
    """Everything a bucket fix could change, read without changing anything."""
    policy, policy_err = _read(s3.get_bucket_policy, "Policy", Bucket=bucket)
    acl, acl_err = _read(s3.get_bucket_acl, "Grants", Bucket=bucket)
    pab, pab_err = _read(s3.get_public_access_block, "PublicAccessBlockConfiguration", Bucket=bucket)
    own, own_err = _read(s3.get_bucket_ownership_controls, "OwnershipControls", Bucket=bucket)
    versioning, ver_err = _read(s3.get_bucket_versioning, "Status", Bucket=bucket)
    return {
        "bucket": bucket,
        "policy": policy,
        "policy_sha256": sha256_hex(policy.encode()) if isinstance(policy, str) else None,
        "acl_grants": acl,
        "public_access_block": pab,
        "ownership_controls": own,
        "versioning": versioning,
        "errors": {
            k: v
            for k, v in {
                "policy": policy_err,
                "acl": acl_err,
                "public_access_block": pab_err,
                "ownership_controls": own_err,
                "versioning": ver_err,
            }.items()
            if v
        },
    }
