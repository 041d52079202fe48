"""What every remediation shares: the approval and the responder's deny policy.

The incident-table records are :mod:`responder.actions`'.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import BaseModel, Field

from responder.errors import InvalidInput

DENY_POLICY_PREFIX = "responder-deny-all-"
DENY_ALL: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "ResponderContainment", "Effect": "Deny", "Action": "*", "Resource": "*"}],
}
_POLICY_NAME_CHARS = re.compile(r"^[\w+=,.@-]+$")


class Approval(BaseModel):
    """An answer to an approval request (``responder.approval.approve``'s output).

    ``plan_digest``, when given, binds the approval to the exact eradication plan that was shown.
    """

    approved: bool
    by: str = Field(min_length=1)
    reason: str | None = None
    plan_digest: str | None = None


def deny_policy_name(incident_id: str) -> str:
    """``responder-deny-all-<incident id>`` (IAM's 128 of ``[\\w+=,.@-]``; else a digest)."""
    if _POLICY_NAME_CHARS.match(incident_id) and len(DENY_POLICY_PREFIX) + len(incident_id) <= 128:
        return DENY_POLICY_PREFIX + incident_id
    return DENY_POLICY_PREFIX + "h" + hashlib.sha256(incident_id.encode()).hexdigest()[:32]


def require_approver(approved_by: str, *, dry_run: bool) -> None:
    if not dry_run and not approved_by.strip():
        raise InvalidInput("approved_by must name who approved the change (or the policy that did)")
