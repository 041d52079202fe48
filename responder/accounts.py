"""The accounts a hub deployment acts in (issue: one security account responds for the whole
organization): which accounts are the organization's, what the SOC decided for each (contain
automatically, ask first, notify only), and the member role a step assumes to act there.

Everything here reads the live organization: a finding's ``accountId`` is the input's word, and only
Organizations says whether that account is a member, its name, its OU and its tags. The view is cached
per process for :data:`CACHE_SECONDS` (a warm Lambda answers the next finding without a call).

Dormant in a single-account deployment: nothing calls Organizations unless an organization id is set.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError

from responder.errors import THROTTLING_CODES, InvalidInput, Throttled, error_code
from responder.permissions import Permission

Power = Literal["investigate", "contain", "remediate"]
POWERS: tuple[Power, ...] = ("investigate", "contain", "remediate")
MEMBER_ROLE_PREFIX = "responder-member-"  # + power: the member stack's fixed role names
Mode = Literal["automatic", "approval", "notify"]
CACHE_SECONDS = 300
SESSION_SECONDS = 900  # the shortest STS allows: a step's work in a member account is minutes
ACCOUNT_RE = re.compile(r"^[0-9]{12}\Z")
# RoleSessionName and SourceIdentity: 2-64 of [\w+=,.@-]; an incident id (inc-<16 hex>) always fits.
SESSION_RE = re.compile(r"^[\w+=,.@-]{2,64}\Z")

PERMISSIONS_ORGANIZATION: tuple[Permission, ...] = (
    Permission(
        ("organizations:DescribeAccount", "organizations:ListParents", "organizations:ListTagsForResource"),
        ("arn:{partition}:organizations::*:account/o-*/*",),
        reason="the finding's account is only known at run time; any account of an organization",
    ),
)
"""What :meth:`Organization.account` calls (read-only, from the management or delegated account)."""


@dataclass(frozen=True)
class OrgAccount:
    """A member account as Organizations shows it."""

    account_id: str
    name: str
    status: str
    parent_id: str | None = None  # the OU (or root) it sits in
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"


@dataclass(frozen=True)
class AccountPolicy:
    """Where containment is automatic, asks first, or only notifies (``responder:accountPolicy``).

    Each list names accounts (12 digits), OUs (``ou-...``, the account's direct parent) or tags
    (``key=value``). The first list that names the account decides, in this order: ``notify_only``,
    ``ask_first``, ``automatic``. An account no list names is automatic when ``automatic`` is empty,
    and asks first otherwise (an allow list means: everything else asks).
    """

    notify_only: tuple[str, ...] = ()
    ask_first: tuple[str, ...] = ()
    automatic: tuple[str, ...] = ()

    def mode(self, account: OrgAccount) -> tuple[Mode, str]:
        for mode, entries in (
            ("notify", self.notify_only),
            ("approval", self.ask_first),
            ("automatic", self.automatic),
        ):
            hit = next((e for e in entries if _names(e, account)), None)
            if hit is not None:
                return mode, f"account {account.account_id} ({account.name}) matches {hit!r}"  # type: ignore[return-value]
        if self.automatic:
            return "approval", f"account {account.account_id} ({account.name}) is not on the automatic list"
        return "automatic", f"account {account.account_id} ({account.name}) is a member; no list names it"


def _names(entry: str, account: OrgAccount) -> bool:
    if ACCOUNT_RE.match(entry):
        return entry == account.account_id
    if entry.startswith(("ou-", "r-")):
        return entry == account.parent_id
    key, sep, value = entry.partition("=")
    return bool(sep) and account.tags.get(key) == value


def parse_policy_entries(values: Iterable[str], what: str) -> tuple[str, ...]:
    """Validated list entries: an account id, an OU or root id, or ``key=value``."""
    out = []
    for raw in values:
        entry = raw.strip()
        if not entry:
            continue
        ok = (
            ACCOUNT_RE.match(entry)
            or re.match(r"^ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}\Z", entry)
            or re.match(r"^r-[a-z0-9]{4,32}\Z", entry)
            or re.match(r"^[\w.:/=+@ -]{1,128}=[\w.:/=+@ -]{0,256}\Z", entry)
        )
        if not ok:
            raise InvalidInput(f"{what}: {entry[:80]!r} is not an account id, an OU id or a key=value tag")
        out.append(entry)
    return tuple(out)


class Organization:
    """The organization's accounts, read on demand and cached: ``account(id)`` is None outside it."""

    def __init__(
        self, org: Any, *, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._org, self._ttl, self._clock = org, ttl, clock
        self._cache: dict[str, tuple[float, OrgAccount | None]] = {}

    def account(self, account_id: str) -> OrgAccount | None:
        if not ACCOUNT_RE.match(account_id):
            raise InvalidInput(f"not an AWS account id: {account_id[:20]!r}")
        now = self._clock()
        cached = self._cache.get(account_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        found = self._read(account_id)
        self._cache[account_id] = (now, found)
        return found

    def _read(self, account_id: str) -> OrgAccount | None:
        try:
            described = self._org.describe_account(AccountId=account_id)["Account"]
            parents = self._org.list_parents(ChildId=account_id).get("Parents", [])
            tags = self._org.list_tags_for_resource(ResourceId=account_id).get("Tags", [])
        except ClientError as exc:
            if error_code(exc) in THROTTLING_CODES:
                raise Throttled(f"Organizations throttled the lookup of {account_id}") from exc
            if error_code(exc) in ("AccountNotFoundException", "ChildNotFoundException"):
                return None
            raise
        return OrgAccount(
            account_id=account_id,
            name=str(described.get("Name") or ""),
            status=str(described.get("Status") or described.get("State") or ""),
            parent_id=str(parents[0]["Id"]) if parents else None,
            tags={str(t["Key"]): str(t["Value"]) for t in tags},
        )


def member_role_arn(account_id: str, power: Power, partition: str = "aws") -> str:
    if not ACCOUNT_RE.match(account_id) or power not in POWERS:
        raise InvalidInput(f"no member role {power!r} in {account_id[:20]!r}")
    return f"arn:{partition}:iam::{account_id}:role/{MEMBER_ROLE_PREFIX}{power}"


def assume_member(
    sts: Any, account_id: str, power: Power, incident_id: str, *, partition: str = "aws"
) -> dict[str, str]:
    """Credentials of the member's ``power`` role, the session named after the incident and with it as
    the source identity: the member's CloudTrail shows who acted (the hub's step) and why (the incident),
    and a session cannot drop its source identity to hide behind a later role."""
    if not SESSION_RE.match(incident_id):
        raise InvalidInput("the incident id cannot name an STS session")
    creds = sts.assume_role(
        RoleArn=member_role_arn(account_id, power, partition),
        RoleSessionName=incident_id,
        SourceIdentity=incident_id,
        DurationSeconds=SESSION_SECONDS,
    )["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
