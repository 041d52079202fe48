"""Typed records that cross state boundaries (execution input/output) and the CLI.

Field names follow the contracts in ``responder/schemas`` (copies of ../shared/contracts).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DecisionAction = Literal["contain", "await_approval", "notify_only", "ignore"]
ActionStatus = Literal["done", "already_done", "skipped", "failed", "awaiting_approval", "would_do"]
Source = Literal["guardduty", "manual", "quarantine-policy", "detection-rule"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """ISO 8601 UTC with a Z, second precision: the one time format of reports."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (with Z, offset, or a space) -> aware UTC datetime; None when unparseable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    raw = str(value).strip().replace(" ", "T", 1)
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class FindingRef(_Model):
    id: str
    type: str
    severity: float
    title: str | None = None
    region: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    count: int | None = None
    created_at: str | None = (
        None  # when GuardDuty (or Security Hub) created the finding: time to contain starts
    )
    # Security Hub's identifiers of the finding (BatchUpdateFindings' FindingIdentifiers): the GuardDuty
    # finding ARN and GuardDuty's product ARN, checked by responder.securityhub; None when not known.
    arn: str | None = None
    product_arn: str | None = None


class Principal(_Model):
    type: str | None = None
    user_name: str | None = None
    principal_id: str | None = None


class Decision(_Model):
    action: DecisionAction
    reason: str = Field(min_length=1)


# The values later steps act on, checked wherever an incident is read (the state is re-parsed by every
# step, and a console re-run can hand any step any state): incident.schema.json's access key pattern,
# and S3's bucket names (legacy us-east-1 names included: up to 255 of letters, digits, ".", "_", "-";
# never a "/", so a name cannot climb out of its evidence key). Triage refuses the same on the finding
# (with re.fullmatch: Python's "$" would also match before a trailing newline).
ACCESS_KEY_PATTERN = r"^((AKIA|ASIA)[A-Z0-9]{16}|GeneratedFinding[A-Za-z0-9]*)$"
BUCKET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$"
AccessKeyId = Annotated[str, Field(pattern=ACCESS_KEY_PATTERN)]
BucketName = Annotated[str, Field(pattern=BUCKET_PATTERN)]


class Incident(_Model):
    """The normalized incident (incident.schema.json); extra keys are allowed and kept."""

    incident_id: str = Field(min_length=1)
    source: Source
    finding: FindingRef | None = None
    access_key_id: AccessKeyId | None = None
    principal: Principal
    account_id: str
    region: str | None = None
    remote_ips: list[str] = Field(default_factory=list)
    buckets: list[BucketName] = Field(default_factory=list)
    api_calls: list[str] = Field(default_factory=list)
    lookback_days: int = 7
    event_time: str | None = None
    # When Triage read the input (the execution's start, to a second): the responder's own share of
    # the time to contain is measured from here (responder/timing.py).
    received_at: str | None = None
    decision: Decision

    @property
    def dry_run(self) -> bool:
        """A dry run computes and reports every action as ``would_do`` and changes nothing."""
        return bool((self.model_extra or {}).get("dry_run"))

    @property
    def related_key_ids(self) -> tuple[str, ...]:
        """The signal's other access keys of this account (an attack sequence's, a Health event's
        second key): contained by Triage, investigated as exposed keys beside the first."""
        related = (self.model_extra or {}).get("related_keys") or []
        keys = [str(k.get("access_key_id") or "") for k in related if isinstance(k, dict)]
        return tuple(k for k in keys if re.fullmatch(ACCESS_KEY_PATTERN, k) and k != self.access_key_id)


class Action(_Model):
    """One thing the responder did, or decided not to do (report.response.actions[])."""

    action: str
    target: str
    status: ActionStatus
    at: str | None = None
    detail: str | None = None

    @classmethod
    def now(cls, action: str, target: str, status: ActionStatus, detail: str | None = None) -> Action:
        return cls(action=action, target=target, status=status, at=iso(utc_now()), detail=detail)


class EvidenceRef(_Model):
    uri: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    kind: str | None = None


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON-able dict of a model, as states pass it on."""
    return model.model_dump(mode="json", exclude_none=False)


class Owner(BaseModel):
    """Who the exposed key belongs to (step 1-2 of the playbook), as the live account shows it.

    ``user_name`` is the IAM user's name, or for a role session the role's name; ``principal_id`` and
    ``principal_arn`` are the live user's (or role's) id and ARN, read from IAM, never from the input.
    """

    access_key_id: str
    account_id: str
    user_name: str | None = None
    principal_type: str = "IAMUser"
    principal_id: str | None = None
    principal_arn: str | None = None
    owner: str | None = None
    owner_tag: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    last_used: dict[str, Any] = Field(default_factory=dict)
    protected: bool = False
    protected_by: str | None = None  # why: the tag, or the protectedPrincipals entry that names it
