"""The IAM action an AWS API call is authorized as, for the tests that compare calls with declarations.

Most calls are ``<service>:<operation>``; the exceptions are listed, per AWS's Service Authorization
Reference (ListObjectsV2 and HeadBucket are authorized as s3:ListBucket, HeadObject as s3:GetObject...).
"""

from __future__ import annotations

IAM_ACTION_OF: dict[str, dict[str, str]] = {
    "s3": {
        "ListObjectsV2": "s3:ListBucket",
        "ListObjects": "s3:ListBucket",
        "HeadBucket": "s3:ListBucket",
        "HeadObject": "s3:GetObject",
        "ListObjectVersions": "s3:ListBucketVersions",
        "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
        "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
        "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
        "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
        "ListBuckets": "s3:ListAllMyBuckets",
    },
}
# Calls no IAM policy governs: STS GetCallerIdentity needs no permission.
UNGOVERNED = frozenset({"sts:GetCallerIdentity"})


def iam_action(service: str, operation: str) -> str:
    """The IAM action of ``operation`` of ``service`` (its signing name: s3, iam, dynamodb...)."""
    return IAM_ACTION_OF.get(service, {}).get(operation, f"{service}:{operation}")
