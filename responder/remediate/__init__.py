"""Containment, eradication and the records recover needs for backdoored buckets and IAM persistence.

Service functions take their clients as arguments; each declares the calls it makes (``PERMISSIONS_*``).
"""

from __future__ import annotations

from responder.actions import record_change
from responder.remediate.buckets import (
    BLOCK_ALL,
    PERMISSIONS_BUCKET_FIX,
    PUBLIC_FINDING_TYPES,
    BucketFix,
    FlaggedStatement,
    PolicySnapshot,
    RestoreCandidate,
    apply_bucket_fix,
    plan_bucket_fixes,
    restore_candidate,
)
from responder.remediate.eradicate import (
    PERMISSIONS_ERADICATE,
    PERMISSIONS_ERADICATION_PLAN,
    EradicationPlan,
    PlannedDeletion,
    eradicate,
    eradication_plan,
)
from responder.remediate.persistence import (
    PERMISSIONS_CONTAIN_PERSISTENCE,
    TAMPERING,
    Containment,
    Rogue,
    contain_persistence,
    plan_persistence,
)
from responder.remediate.record import DENY_ALL, Approval, deny_policy_name

__all__ = [
    "BLOCK_ALL",
    "DENY_ALL",
    "PERMISSIONS_BUCKET_FIX",
    "PERMISSIONS_CONTAIN_PERSISTENCE",
    "PERMISSIONS_ERADICATE",
    "PERMISSIONS_ERADICATION_PLAN",
    "PUBLIC_FINDING_TYPES",
    "TAMPERING",
    "Approval",
    "BucketFix",
    "Containment",
    "EradicationPlan",
    "FlaggedStatement",
    "PlannedDeletion",
    "PolicySnapshot",
    "RestoreCandidate",
    "Rogue",
    "apply_bucket_fix",
    "contain_persistence",
    "deny_policy_name",
    "eradicate",
    "eradication_plan",
    "plan_bucket_fixes",
    "plan_persistence",
    "record_change",
    "restore_candidate",
]
