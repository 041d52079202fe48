"""What the touched buckets hold: Amazon Macie's sensitive-data results, else the bucket's
classification tag, else "unknown", said as such (report ``data_classification``).

Macie's automated sensitive data discovery gives each bucket a sensitivity score (DescribeBuckets
``sensitivityScore``): 1 to 49 not sensitive, 50 to 100 sensitive (100: a sensitive object was found),
-1 when Macie could not analyse it. Without Macie (not enabled here, or the call refused), the
bucket's own tag says what the owners declared. A bucket neither names is ``unknown``: the SOC must
find out before it can say whether the incident is a data breach.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from responder.errors import error_code
from responder.permissions import Permission

PERMISSIONS_CLASSIFICATION: tuple[Permission, ...] = (
    Permission(
        ("macie2:DescribeBuckets",),
        ("*",),
        "Macie's bucket inventory and sensitivity scores: DescribeBuckets supports no resource-level permission",
    ),
    Permission(
        ("s3:GetBucketTagging",), ("arn:{partition}:s3:::*",), "the classification tag of a touched bucket"
    ),
)
#: Tag keys owners use to declare a bucket's data classification, first match wins.
TAG_KEYS = (
    "data-classification",
    "DataClassification",
    "classification",
    "Classification",
    "confidentiality",
)
SENSITIVE_FROM = 50
MAX_BUCKETS = 50  # one call each: a report naming more says so rather than making hundreds


def _from_macie(metadata: dict[str, Any]) -> dict[str, Any]:
    score = metadata.get("sensitivityScore")
    if not isinstance(score, int) or score < 0:
        label = "unknown"
        detail = "Macie could not analyse the bucket's objects (sensitivity score -1)"
    else:
        label = "sensitive" if score >= SENSITIVE_FROM else "not sensitive"
        detail = f"Macie sensitivity score {score}"
    classifiable = metadata.get("classifiableObjectCount")
    if isinstance(classifiable, int):
        detail += f", {classifiable} classifiable object(s)"
    return {"source": "macie", "classification": label, "sensitivity_score": score, "detail": detail}


def _from_tag(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket).get("TagSet", [])}
    except ClientError as exc:
        if error_code(exc) in ("NoSuchTagSet", "NoSuchBucket"):
            return None
        return {
            "source": "unknown",
            "classification": "unknown",
            "detail": f"tags not read: {error_code(exc)}",
        }
    for key in TAG_KEYS:
        if tags.get(key):
            return {"source": "tag", "classification": str(tags[key])[:100], "detail": f"bucket tag {key}"}
    return None


def classify_buckets(macie: Any, s3: Any, buckets: Iterable[str]) -> list[dict[str, Any]]:
    """One entry per bucket (sorted), in report ``data_classification``'s shape. Never raises for
    what the account answers: a refused call is the ``detail``."""
    names = sorted(set(buckets))
    out: list[dict[str, Any]] = []
    macie_off: str | None = None
    for bucket in names[:MAX_BUCKETS]:
        entry: dict[str, Any] | None = None
        if macie_off is None:
            try:
                found = macie.describe_buckets(criteria={"bucketName": {"eq": [bucket]}}).get("buckets") or []
            except (ClientError, BotoCoreError) as exc:
                # Not enabled here (AccessDenied "Macie is not enabled"), refused, or unavailable:
                # said once, and the tags answer for every bucket.
                macie_off = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            else:
                entry = _from_macie(found[0]) if found else None
        if entry is None or entry["classification"] == "unknown":
            # Macie has nothing to say of it (not in its inventory, or it could not analyse it).
            entry = _from_tag(s3, bucket) or entry
        if entry is None:
            why = f"Macie unavailable ({macie_off})" if macie_off else "not in Macie's inventory"
            entry = {
                "source": "unknown",
                "classification": "unknown",
                "detail": f"{why}; no classification tag",
            }
        out.append({"bucket": bucket, **entry})
    if len(names) > MAX_BUCKETS:
        rest = len(names) - MAX_BUCKETS
        out += [
            {
                "bucket": b,
                "source": "unknown",
                "classification": "unknown",
                "detail": f"not looked up ({rest} over the limit)",
            }
            for b in names[MAX_BUCKETS:]
        ]
    return out


def not_looked_up(buckets: Iterable[str], why: str) -> list[dict[str, Any]]:
    """Every bucket ``unknown``, with why (an offline run reads no account)."""
    return [
        {"bucket": b, "source": "unknown", "classification": "unknown", "detail": why}
        for b in sorted(set(buckets))
    ]
