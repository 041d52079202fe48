"""Contain the IAM persistence the exposed key left behind (playbook step 8), undoably.

:func:`plan_persistence` reads the report's ``iam_changes`` (every IAM write by the key and the
credentials minted from it) and lists the rogue things: users and roles it created, access keys
and login profiles it gave anyone, policies it attached or put, trust policies it changed. With the
events' rows it also keeps what each creating call's ``responseElements`` say (id, ARN, createDate).

CloudTrail is partly the attacker's to write, so :func:`contain_persistence` acts on nothing the live
account does not confirm: a user, role, key or login profile is the attacker's only when its live id,
ARN and creation date match the event (a mismatch is reported as a record inconsistent with the
account, possible tampering, and changes nothing). It then contains, without deleting anything
(deletion is the separate, approval-gated eradication run):

- a user it created: the stack's managed deny-all policy attached (recover detaches it), every
  access key Inactive, the login profile removed (the attacker set its password; its existence and
  CreateDate are recorded, recover cannot give it back and says so);
- a role it created: the same managed deny-all policy attached (it ends every session at once);
- a key or console password it gave an existing user: that key Inactive, that login profile removed;
- a trust policy it changed on an existing role: only the statements that call added, when the
  document before it is known (an earlier call or the role's creation in the window); a no-op call
  changes nothing; with the before-state unknown, the exact statements go to a person for approval;
- a policy it attached to or put on an existing principal: left to eradication (``skipped``, said).

A protected principal (``responder:protectedPrincipals`` by name, id or ARN, or the protected tag)
is never changed here: it waits for a person's yes (``awaiting_approval``). Work is bounded: at
most ``max_principals`` items are verified and contained, by risk; the rest wait for approval, listed
in evidence, not in the state. Each principal is contained once across concurrent executions
(``claim_once``), and each change is recorded before it is made, with before, after and who approved.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from responder.actions import claim_once, record_change, settle_once
from responder.analysis.buckets import statement_external
from responder.errors import error_code, failure
from responder.evidence import canonical_json, put_evidence
from responder.models import Action, iso
from responder.permissions import Permission
from responder.policy_doc import canonical, decode_policy
from responder.remediate.record import require_approver

RogueKind = Literal[
    "user",
    "role",
    "access_key",
    "login_profile",
    "role_trust",
    "inline_policy",
    "attached_policy",
    "managed_policy",
]

_USER = "arn:{partition}:iam::{account}:user/*"
_ROLE = "arn:{partition}:iam::{account}:role/*"

DEFAULT_MAX_PRINCIPALS = 25
# The Remediate step's Lambda timeout (lambdas/steps.py): a claim older than this has no live holder.
REMEDIATE_TIMEOUT_SECONDS = 120
TAMPERING = "record inconsistent with the account (possible tampering)"
# Where a person says yes to what waits: the approval-gated run that shows each change before it.
YES_PATH = 'an eradication run of the incident ({"eradicate": true, "incidentId": ...}) shows and asks'
# A resource a call created exists from that call on: its CreateDate and the event's time agree to
# within CloudTrail's delivery of eventTime (seconds); a longer gap means the record is not that call.
CREATE_TOLERANCE_SECONDS = 300

PERMISSIONS_CONTAIN_PERSISTENCE: tuple[Permission, ...] = (
    Permission(
        (
            "iam:GetUser",
            "iam:ListUserTags",
            "iam:GetAccessKeyLastUsed",
            "iam:ListAccessKeys",
            "iam:UpdateAccessKey",
            "iam:ListAttachedUserPolicies",
            "iam:GetLoginProfile",
            "iam:DeleteLoginProfile",
        ),
        (_USER,),
    ),
    Permission(
        ("iam:GetRole", "iam:ListRoleTags", "iam:ListAttachedRolePolicies", "iam:UpdateAssumeRolePolicy"),
        (_ROLE,),
    ),
    # Deny-all containment attaches the stack's managed policy and nothing else: no policy document
    # is written, so a compromise of this function cannot grant itself anything.
    Permission(
        ("iam:AttachUserPolicy", "iam:AttachRolePolicy"),
        (_USER, _ROLE),
        conditions={"ArnEquals": {"iam:PolicyARN": ["@deny_all_policy"]}},
    ),
    # The record of each change, and the once-per-principal claim (conditional put, then settle).
    Permission(("dynamodb:PutItem", "dynamodb:UpdateItem"), ("@incident_table",)),
)
"""What :func:`contain_persistence` calls (:func:`plan_persistence` calls nothing)."""


class Rogue(BaseModel):
    """One thing the exposed key (or a credential it minted) created or changed in IAM."""

    kind: RogueKind
    name: str
    principal: str | None = None
    created_in_window: bool = False
    events: list[str] = Field(default_factory=list)
    reason: str = ""
    # What the creating event's responseElements say (id, arn, create_date, user_name, event_time):
    # the live resource must match them before anything is done to it.
    claimed: dict[str, str] = Field(default_factory=dict)
    # Why the records themselves contradict this item (found without the live account), if they do.
    inconsistent: str = ""
    # role_trust: the document the last call set, the one before it when known, and the exact
    # statements the call added (what a person is asked to approve when the before-state is unknown).
    trust_after: Any = None
    trust_before: Any = None
    trust_before_known: bool = False
    trust_added: list[Any] = Field(default_factory=list)
    verified_id: str | None = None  # the live id it was verified as (eradication checks it again)
    # The key tagged the principal it made (TagUser/TagRole, or tags in the create call): a protected
    # tag on it is the attacker's word, not the owner's (the configured list still counts).
    tagged_by_key: bool = False
    put_document: Any = None  # inline_policy: the document the key's PutUserPolicy/PutRolePolicy put

    @property
    def target(self) -> str:
        labels = {
            "user": "user",
            "role": "role",
            "access_key": "access-key",
            "login_profile": "login-profile",
            "role_trust": "role",
            "inline_policy": "inline-policy",
            "attached_policy": "attached-policy",
            "managed_policy": "policy",
        }
        return f"{labels[self.kind]}/{self.name}"

    @property
    def principals(self) -> list[str]:
        """The ``user/NAME`` or ``role/NAME`` that containing this item changes."""
        if self.kind in ("user", "login_profile"):
            return [f"user/{self.name}"]
        if self.kind in ("role", "role_trust"):
            return [f"role/{self.name}"]
        return [self.principal] if self.principal else []


# ------------------------------------------------------------------------------------ planning


def _label(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('event_name')} at {entry.get('event_time')} ({entry.get('event_id') or 'no id'})"


def _policy_of(detail: str | None) -> str | None:
    return detail.removeprefix("policy ").strip() or None if detail and detail.startswith("policy ") else None


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _part(row: Mapping[str, Any] | None, column: str) -> dict[str, Any]:
    found = _json((row or {}).get(column))
    return found if isinstance(found, dict) else {}


def _claimed(event: str, row: Mapping[str, Any] | None, at: Any) -> dict[str, str]:
    """What a creating call's responseElements say about what it created (empty: nothing usable)."""
    response = _part(row, "response_elements")
    pick: dict[str, tuple[str, tuple[str, ...]]] = {
        "CreateUser": ("user", ("userId", "arn", "createDate", "userName")),
        "CreateRole": ("role", ("roleId", "arn", "createDate", "roleName")),
        "CreateAccessKey": ("accessKey", ("accessKeyId", "createDate", "userName")),
        "CreateLoginProfile": ("loginProfile", ("createDate", "userName")),
    }
    if event not in pick:
        return {}
    part, keys = pick[event]
    found = response.get(part)
    if not isinstance(found, dict):
        return {}
    names = {
        "userId": "id",
        "roleId": "id",
        "accessKeyId": "id",
        "createDate": "create_date",
        "userName": "user_name",
        "roleName": "role_name",
        "arn": "arn",
    }
    out = {names[k]: str(found[k]) for k in keys if found.get(k) not in (None, "")}
    if at:
        out["event_time"] = str(at)
    return out


def _document(row: Mapping[str, Any] | None, parameter: str) -> Any:
    """A policy document request parameter (JSON text in CloudTrail), or None."""
    found = _json(_part(row, "request_parameters").get(parameter))
    return found if isinstance(found, Mapping) else None


def _statements(document: Any) -> list[Any]:
    found = (document or {}).get("Statement") if isinstance(document, Mapping) else None
    if isinstance(found, Mapping):
        return [found]
    return list(found) if isinstance(found, list) else []


Add = Callable[..., Rogue]
RowOf = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]


def _add_created(
    changes: Sequence[Mapping[str, Any]], add: Add, row_of: RowOf, exposed_user: str | None
) -> None:
    """The users and roles the key created, with what each CreateUser/CreateRole response says."""
    for c in changes:
        kind, _, name = str(c.get("target", "")).partition("/")
        event = c.get("event_name")
        if event == "CreateUser" and kind == "user":
            item = add("user", name, c, "created by the exposed key", created_in_window=True)
            item.claimed = item.claimed or _claimed("CreateUser", row_of(c), c.get("event_time"))
            item.tagged_by_key |= bool(_part(row_of(c), "request_parameters").get("tags"))
            if exposed_user and name == exposed_user:
                item.inconsistent = (
                    f"{TAMPERING}: the record says the exposed key created its own user {name}"
                )
        elif event == "CreateRole" and kind == "role":
            item = add("role", name, c, "created by the exposed key", created_in_window=True)
            item.claimed = item.claimed or _claimed("CreateRole", row_of(c), c.get("event_time"))
            item.tagged_by_key |= bool(_part(row_of(c), "request_parameters").get("tags"))


def _created_trusts(changes: Sequence[Mapping[str, Any]], roles: set[str], row_of: RowOf) -> dict[str, Any]:
    """The trust each role the key created started with (its CreateRole request)."""
    trusts: dict[str, Any] = {}
    for c in changes:
        kind, _, name = str(c.get("target", "")).partition("/")
        if c.get("event_name") == "CreateRole" and kind == "role" and name in roles and name not in trusts:
            document = _json(_part(row_of(c), "request_parameters").get("assumeRolePolicyDocument"))
            if isinstance(document, Mapping):
                trusts[name] = document
    return trusts


def _track_trust(item: Rogue, document: Any, trusts: dict[str, Any]) -> None:
    """One UpdateAssumeRolePolicy of the chain: the document it set, and the one before the first."""
    after = _json(document)
    if item.trust_after is None:  # the first call of the window: its before-state is all we lack
        item.trust_before_known = item.name in trusts
        item.trust_before = trusts.get(item.name)
    item.trust_after = after if isinstance(after, Mapping) else None
    if item.trust_after is not None:
        trusts[item.name] = item.trust_after


def _added_trust(item: Rogue) -> None:
    """The statements the key's trust changes added: all of the last document, unless the first is known."""
    if item.kind != "role_trust":
        return
    before = {canonical(s) for s in _statements(item.trust_before)} if item.trust_before_known else set()
    item.trust_added = [s for s in _statements(item.trust_after) if canonical(s) not in before]


def plan_persistence(
    report: Mapping[str, Any],
    *,
    exposed_user: str | None = None,
    events: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Rogue]:
    """The rogue IAM things in the report's ``iam_changes`` (successful calls only), by risk. Pure.

    ``events`` (event id -> its query row) gives each creating call's responseElements and each trust
    change's document; without them nothing can be verified live, so nothing is contained.
    The exposed key's own user is never rogue: a record saying the key created it is inconsistent.
    """
    if exposed_user is None:
        exposed_user = ((report.get("subject") or {}).get("principal") or {}).get("user_name")
    events = events or {}
    changes = [c for c in report.get("iam_changes") or [] if c.get("succeeded")]
    changes.sort(key=lambda c: (str(c.get("event_time") or ""), str(c.get("event_id") or "")))
    rogue: dict[tuple[str, str], Rogue] = {}

    def row_of(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
        # The event's query row; an entry that carries its own parameters and response stands for it.
        return events.get(str(entry.get("event_id") or "")) or (
            entry if "response_elements" in entry or "request_parameters" in entry else None
        )

    def add(kind: RogueKind, name: str, entry: Mapping[str, Any], reason: str, **extra: Any) -> Rogue:
        item = rogue.setdefault((kind, name), Rogue(kind=kind, name=name, reason=reason, **extra))
        item.events.append(_label(entry))
        return item

    _add_created(changes, add, row_of, exposed_user)
    users = {r.name for r in rogue.values() if r.kind == "user" and not r.inconsistent}
    roles = {r.name for r in rogue.values() if r.kind == "role"}
    trusts = _created_trusts(changes, roles, row_of)  # role -> the trust known so far in the window

    for c in changes:
        event = str(c.get("event_name"))
        kind, _, name = str(c.get("target", "")).partition("/")
        policy = _policy_of(c.get("detail"))
        owner = str(c.get("detail") or "").removeprefix("user/") if event == "CreateAccessKey" else None
        home = (
            ("user", owner)
            if owner in users
            else ("user", name)
            if kind == "user" and name in users
            else None
        )
        if home is None and kind == "role" and name in roles:
            home = ("role", name)
        if home is not None:
            if _label(c) not in rogue[home].events:
                rogue[home].events.append(_label(c))  # contained and deleted with its principal
            if event in ("TagUser", "TagRole"):
                rogue[home].tagged_by_key = True
            continue
        if event == "CreateAccessKey" and kind == "access-key" and not name.startswith("("):
            item = add(
                "access_key",
                name,
                c,
                "an access key the exposed key created for an existing user",
                principal=f"user/{owner}" if owner else None,
                created_in_window=True,
            )
            item.claimed = item.claimed or _claimed(event, row_of(c), c.get("event_time"))
        elif event in ("CreateLoginProfile", "UpdateLoginProfile") and kind == "user":
            item = add(
                "login_profile",
                name,
                c,
                f"console password {'set' if event == 'CreateLoginProfile' else 'changed'} by the exposed key",
                principal=f"user/{name}",
                created_in_window=event == "CreateLoginProfile",
            )
            if event == "CreateLoginProfile":
                item.claimed = item.claimed or _claimed(event, row_of(c), c.get("event_time"))
            else:
                item.claimed = {}  # an update returns nothing to check the live profile against
                item.created_in_window = False
        elif event == "UpdateAssumeRolePolicy" and kind == "role":
            item = add(
                "role_trust", name, c, "trust policy changed by the exposed key", principal=f"role/{name}"
            )
            _track_trust(item, _part(row_of(c), "request_parameters").get("policyDocument"), trusts)
        elif event in ("PutUserPolicy", "PutRolePolicy") and policy and kind in ("user", "role"):
            item = add(
                "inline_policy",
                f"{kind}/{name}/{policy}",
                c,
                f"inline policy {policy} put on an existing {kind} by the exposed key",
                principal=f"{kind}/{name}",
            )
            # The last document the key put: eradication deletes the policy only while it is that one.
            item.put_document = _document(row_of(c), "policyDocument")
        elif event in ("AttachUserPolicy", "AttachRolePolicy") and policy and kind in ("user", "role"):
            add(
                "attached_policy",
                f"{kind}/{name}/{policy}",
                c,
                f"{policy} attached to an existing {kind} by the exposed key",
                principal=f"{kind}/{name}",
            )
        elif event == "CreatePolicy" and policy:
            add(
                "managed_policy",
                policy,
                c,
                "managed policy created by the exposed key",
                created_in_window=True,
            )
    for item in rogue.values():
        _added_trust(item)
    order = {"user": 0, "role": 1, "access_key": 2, "login_profile": 3, "role_trust": 4}
    # By risk: principals first, then what was given to existing ones; within a kind, the one the
    # attacker invested most in (its key, password, policies), then the earliest made.
    return sorted(
        rogue.values(),
        key=lambda r: (order.get(r.kind, 9), -len(r.events), r.events[0] if r.events else "", r.name),
    )


# ------------------------------------------------------------------------------- verification


def parse_time(value: Any) -> datetime | None:
    """A CloudTrail or IAM time (ISO 8601, IAM's ``Jul 30, 2024 9:53:13 PM``, or a datetime), UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value or "").strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%b %d, %Y %I:%M:%S %p")
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _same_time(live: Any, claimed: str | None) -> bool:
    a, b = parse_time(live), parse_time(claimed)
    return a is not None and b is not None and int(a.timestamp()) == int(b.timestamp())


def _near(live: Any, event_time: str | None) -> bool:
    a, b = parse_time(live), parse_time(event_time)
    return a is not None and b is not None and abs((a - b).total_seconds()) <= CREATE_TOLERANCE_SECONDS


@dataclass
class Verdict:
    """What the live account says about one rogue item."""

    ok: bool
    why: str = ""
    live_id: str | None = None
    gone: bool = False
    needs_approval: bool = False  # nothing to check it against: a person decides


def _match(kind: str, name: str, live: Mapping[str, Any], claimed: Mapping[str, str], id_key: str) -> Verdict:
    """Live id, ARN and CreateDate against the creating call's responseElements."""
    wrong: list[str] = []
    if claimed.get("id") != live.get(id_key):
        wrong.append(f"id {claimed.get('id') or '(none)'} vs live {live.get(id_key)}")
    if "arn" in claimed and claimed["arn"] != live.get("Arn"):
        wrong.append(f"ARN {claimed['arn']} vs live {live.get('Arn')}")
    if not _same_time(live.get("CreateDate"), claimed.get("create_date")):
        wrong.append(
            f"createDate {claimed.get('create_date') or '(none)'} vs live {_iso(live.get('CreateDate'))}"
        )
    if not _near(live.get("CreateDate"), claimed.get("event_time")):
        wrong.append(
            f"live {kind} created {_iso(live.get('CreateDate'))}, not at the event ({claimed.get('event_time')})"
        )
    if wrong:
        return Verdict(False, f"{TAMPERING}: {kind}/{name}: " + "; ".join(wrong))
    return Verdict(True, live_id=str(live.get(id_key)))


def _iso(value: Any) -> str:
    parsed = parse_time(value)
    return iso(parsed) if parsed else str(value)


def _missing(event: str, item: Rogue) -> Verdict:
    return Verdict(
        False, f"{TAMPERING}: the {event} record of {item.target} carries no responseElements to check"
    )


def verify(iam: Any, item: Rogue) -> Verdict:
    """Does the live account confirm that the attacker's call made ``item``? Reads only."""
    if item.inconsistent:
        return Verdict(False, item.inconsistent)
    claimed = item.claimed
    try:
        if item.kind == "user":
            if not claimed.get("id") or not claimed.get("create_date"):
                return _missing("CreateUser", item)
            return _match("user", item.name, iam.get_user(UserName=item.name)["User"], claimed, "UserId")
        if item.kind == "role":
            if not claimed.get("id") or not claimed.get("create_date"):
                return _missing("CreateRole", item)
            return _match("role", item.name, iam.get_role(RoleName=item.name)["Role"], claimed, "RoleId")
        if item.kind == "access_key":
            user = claimed.get("user_name") or (item.principal or "").removeprefix("user/")
            if not claimed.get("create_date") or claimed.get("id") != item.name or not user:
                return _missing("CreateAccessKey", item)
            if item.principal and item.principal != f"user/{user}":
                return Verdict(
                    False,
                    f"{TAMPERING}: {item.target}: requested for {item.principal}, response says user/{user}",
                )
            keys = {k["AccessKeyId"]: k for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
            live = keys.get(item.name)
            if live is None:
                return Verdict(False, f"{item.name} is not a key of {user} any more", gone=True)
            return _match("access-key", item.name, live, claimed, "AccessKeyId")
        if item.kind == "login_profile":
            if not claimed:
                return Verdict(
                    False,
                    f"{item.target}: an UpdateLoginProfile record cannot be checked against the account "
                    "(IAM returns nothing for it): a person decides",
                    needs_approval=True,
                )
            if not claimed.get("create_date"):
                return _missing("CreateLoginProfile", item)
            profile = iam.get_login_profile(UserName=item.name)["LoginProfile"]
            return _match(
                "login-profile", item.name, {**profile, "Id": item.name}, {**claimed, "id": item.name}, "Id"
            )
        if item.kind == "role_trust":
            found = iam.get_role(RoleName=item.name)["Role"]
            live = decode_policy(found["AssumeRolePolicyDocument"])
            if item.trust_after is None:
                return _missing("UpdateAssumeRolePolicy", item)
            if canonical(live) != canonical(item.trust_after):
                return Verdict(
                    False,
                    f"the trust of {item.name} is no longer what the key's call set: changed since, left as is",
                    gone=True,  # nothing of the key's left to remove; not a sign of tampering
                )
            return Verdict(True, live_id=str(found.get("RoleId")))
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return Verdict(False, f"{item.target} is gone", gone=True)
        raise
    return Verdict(True)


def protected_reason(
    iam: Any, principal: str, *, protected: Sequence[str], tag: str, trust_tag: bool = True
) -> str | None:
    """Why ``user/NAME`` or ``role/NAME`` is protected (the list by name, id or ARN; the tag), or None."""
    kind, _, name = principal.partition("/")
    try:
        if kind == "user":
            live = iam.get_user(UserName=name)["User"]
            ident, tags = live.get("UserId"), iam.list_user_tags(UserName=name).get("Tags", [])
        elif kind == "role":
            live = iam.get_role(RoleName=name)["Role"]
            ident, tags = live.get("RoleId"), iam.list_role_tags(RoleName=name).get("Tags", [])
        else:
            return None
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    known = {str(v).casefold() for v in (name, ident, live.get("Arn")) if v}
    for entry in protected:
        if entry.casefold() in known:
            return f"{principal} is in responder:protectedPrincipals ({entry})"
    if trust_tag and any(t.get("Key") == tag and str(t.get("Value", "")).lower() == "true" for t in tags):
        return f"{principal} is tagged {tag}=true"
    return None


# --------------------------------------------------------------------------------- containing


def _login_profile(iam: Any, user: str) -> dict[str, Any] | None:
    try:
        profile = iam.get_login_profile(UserName=user)["LoginProfile"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    created = profile.get("CreateDate")
    return {
        "exists": True,
        "create_date": iso(created) if hasattr(created, "tzinfo") else created,
        "password_reset_required": bool(profile.get("PasswordResetRequired")),
    }


class _Plan:
    """The parts of one principal's containment still to do: before, after and the call of each."""

    def __init__(self, principal: str) -> None:
        self.before: dict[str, Any] = {"principal": principal}
        self.after: dict[str, Any] = {"principal": principal}
        self.calls: list[tuple[str, Callable[[], Any]]] = []
        self.said: list[str] = []

    def empty(self) -> bool:
        return not self.calls


def _deny_part(plan: _Plan, kind: str, name: str, iam: Any, policy_arn: str) -> None:
    if not policy_arn:
        plan.said.append("no deny-all policy configured (DENY_ALL_POLICY_ARN): none attached")
        return
    if kind == "user":
        listed = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        attach: Callable[[], Any] = partial(iam.attach_user_policy, UserName=name, PolicyArn=policy_arn)
    else:
        listed = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        attach = partial(iam.attach_role_policy, RoleName=name, PolicyArn=policy_arn)
    if policy_arn in {p["PolicyArn"] for p in listed}:
        return
    plan.before["deny_policy"] = {"arn": policy_arn, "attached": False}
    plan.after["deny_policy"] = {"arn": policy_arn, "attached": True}
    plan.calls.append((f"{policy_arn} attached", attach))
    plan.said.append(f"deny-all {policy_arn.rsplit('/', 1)[-1]} attached")


def _keys_part(plan: _Plan, user: str, iam: Any, only: str | None = None) -> None:
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    active = [
        k["AccessKeyId"]
        for k in keys
        if k["Status"] == "Active" and (only is None or k["AccessKeyId"] == only)
    ]
    if only is not None and not any(k["AccessKeyId"] == only for k in keys):
        plan.said.append(f"{only} is not a key of {user} any more")
        return
    if not active:
        return
    plan.before["keys"] = {k: "Active" for k in active}
    plan.after["keys"] = {k: "Inactive" for k in active}
    for key in active:
        plan.calls.append(
            (
                f"{key} Inactive",
                partial(iam.update_access_key, UserName=user, AccessKeyId=key, Status="Inactive"),
            )
        )
    plan.said.append(f"key(s) {', '.join(active)} Inactive")


def _login_part(plan: _Plan, user: str, iam: Any) -> None:
    profile = _login_profile(iam, user)
    if profile is None:
        return
    plan.before["login_profile"] = profile
    plan.after["login_profile"] = {"exists": False}
    plan.calls.append(("login profile removed", lambda: iam.delete_login_profile(UserName=user)))
    plan.said.append(f"login profile (created {profile['create_date']}) removed; its existence recorded")


def _user_of_key(iam: Any, rogue: Rogue) -> str | None:
    if rogue.principal:
        return rogue.principal.removeprefix("user/")
    try:
        return str(iam.get_access_key_last_used(AccessKeyId=rogue.name)["UserName"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise


def external_added(rogue: Rogue, account: Any) -> list[Any]:
    """The statements the key's trust change added that let someone outside the account in."""
    return [s for s in rogue.trust_added if isinstance(s, Mapping) and statement_external(s, account)[0]]


def _trust_part(plan: _Plan, rogue: Rogue, iam: Any, insiders: Any = None) -> str | None:
    """Remove the statements the key added (before-state known); else why a person must decide."""
    found = iam.get_role(RoleName=rogue.name)["Role"]
    document = decode_policy(found["AssumeRolePolicyDocument"])
    arn = str(found.get("Arn", ""))
    account = arn.split(":")[4] if arn.count(":") >= 5 else None  # the role's own account
    if rogue.trust_before_known and canonical(rogue.trust_before) == canonical(rogue.trust_after):
        plan.said.append("the key set the trust to the document it already had: nothing to remove")
        return None
    # This account's insiders (organization, endpoints, user ids) as the live account shows them.
    added = external_added(rogue, insiders or account)
    if not added:
        plan.said.append("the key's change lets nobody outside the account in: nothing to remove")
        return None
    listing = "; ".join(canonical(s) for s in added)
    if not rogue.trust_before_known:
        return (
            f"the trust of {rogue.name} before the key's change is not known: a person decides whether to "
            f"remove exactly {len(added)} statement(s): {listing}"
        )
    gone = {canonical(s) for s in added}
    kept = [s for s in _statements(document) if canonical(s) not in gone]
    if not kept:
        # Never a deny in place of a trust: a role nobody can assume may be someone's way in.
        return f"removing {listing} would leave {rogue.name} no trust statement: a person decides"
    new = {**document, "Statement": kept}
    plan.before["trust_policy"] = document
    plan.after["trust_policy"] = new
    plan.calls.append(
        (
            "trust statements removed",
            lambda: iam.update_assume_role_policy(RoleName=rogue.name, PolicyDocument=json.dumps(new)),
        )
    )
    sids = ", ".join(str(s.get("Sid") or canonical(s)) for s in added)
    plan.said.append(f"trust statement(s) the key added removed ({sids}); every other statement kept")
    return None


def _plan_for(
    iam: Any, rogue: Rogue, deny_policy_arn: str, insiders: Any = None
) -> tuple[str, _Plan] | tuple[str, str]:
    """(action name, plan), or (``skipped``/``awaiting_approval``, the reason nothing is done now)."""
    if rogue.kind == "user":
        plan = _Plan(f"user/{rogue.name}")
        _deny_part(plan, "user", rogue.name, iam, deny_policy_arn)
        _keys_part(plan, rogue.name, iam)
        _login_part(plan, rogue.name, iam)
        return "contain_principal", plan
    if rogue.kind == "role":
        plan = _Plan(f"role/{rogue.name}")
        _deny_part(plan, "role", rogue.name, iam, deny_policy_arn)
        return "contain_principal", plan
    if rogue.kind == "access_key":
        user = _user_of_key(iam, rogue)
        if user is None:
            return "skipped", f"{rogue.name} no longer exists"
        plan = _Plan(f"user/{user}")
        _keys_part(plan, user, iam, only=rogue.name)
        return "contain_principal", plan
    if rogue.kind == "login_profile":
        # Only a verified CreateLoginProfile gets here, and CreateLoginProfile succeeds only where the
        # user had none: removing it gives back exactly the state before the attacker. (A changed
        # password, UpdateLoginProfile, cannot be checked or given back: a person decides.)
        plan = _Plan(f"user/{rogue.name}")
        _login_part(plan, rogue.name, iam)
        return "contain_principal", plan
    if rogue.kind == "role_trust":
        plan = _Plan(f"role/{rogue.name}")
        ask = _trust_part(plan, rogue, iam, insiders)
        if ask:
            return "awaiting_approval", ask
        return "remove_trust_statements", plan
    return "skipped", f"{rogue.reason}: removed by the approval-gated eradication run, not by containment"


@dataclass
class Containment:
    """What :func:`contain_persistence` did and decided: small actions for the state, lists for evidence."""

    actions: list[Action] = field(default_factory=list)
    contained: list[Rogue] = field(default_factory=list)
    inconsistent: list[dict[str, str]] = field(default_factory=list)
    awaiting: list[tuple[Rogue, str]] = field(default_factory=list)
    not_verified: list[Rogue] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        """The full lists (the state carries counts): ``persistence-plan-*.json``."""
        return {
            "contained": [r.model_dump(mode="json") for r in self.contained],
            "inconsistent_records": self.inconsistent,
            "awaiting_approval": [
                {"target": r.target, "why": why, "rogue": r.model_dump(mode="json")}
                for r, why in self.awaiting
            ],
            "not_verified": [r.model_dump(mode="json") for r in self.not_verified],
        }


def _protected_of(iam: Any, item: Rogue, protected: Sequence[str], tag: str) -> str | None:
    """Why a principal this item would change is protected (the first one found), or None."""
    # Only the principal the key made and tagged itself: its own tag does not protect it.
    own = item.tagged_by_key and item.kind in ("user", "role")
    for principal in item.principals:
        why = protected_reason(iam, principal, protected=protected, tag=tag, trust_tag=not own)
        if why:
            return why
    return None


def _action_name(item: Rogue) -> str:
    return "remove_trust_statements" if item.kind == "role_trust" else "contain_principal"


def contain_persistence(
    iam: Any,
    ddb: Any,
    table: str,
    incident_id: str,
    rogue: Sequence[Rogue],
    *,
    approved_by: str,
    dry_run: bool,
    deny_policy_arn: str = "",
    protected: Sequence[str] = (),
    protected_tag: str = "responder:protected",
    max_principals: int = DEFAULT_MAX_PRINCIPALS,
    execution_id: str | None = None,
    once_scope: str = "",
    stale_after_seconds: int = 120,
    insiders: Any = None,
) -> Containment:
    """Verify each rogue item against the live account, then contain it now (nothing deleted).

    Actions: ``contain_principal`` (target ``user/``, ``role/``, ``access-key/``, ``login-profile/``)
    and ``remove_trust_statements`` (``role/``): ``done``, ``already_done`` (contained already, or by
    another execution holding the claim), ``skipped`` with the reason (a record inconsistent with the
    account, gone, left to eradication), ``awaiting_approval`` (protected, unverifiable, or beyond
    ``max_principals``: one action for all of those), ``would_do`` in a dry run (nothing written).
    With ``execution_id``, each item is claimed once (``claim_once``) under ``once_scope``.
    Raises Throttled or ContainmentFailed, saying which parts were made (those are recorded).
    """
    require_approver(approved_by, dry_run=dry_run)
    out = Containment()
    once = (
        _Once(ddb, table, incident_id, execution_id, once_scope, stale_after_seconds)
        if execution_id
        else None
    )
    # Every item looked at counts, whatever the live account says: forged records cannot make the
    # work (reads, actions) grow either.
    looked_at = rogue[: max(0, max_principals)]
    out.not_verified = list(rogue[len(looked_at) :])
    for item in looked_at:
        name = _action_name(item)
        try:
            verdict = verify(iam, item)
            guard = (
                _protected_of(iam, item, protected, protected_tag)
                if verdict.ok or verdict.needs_approval
                else None
            )
            planned = None
            if verdict.ok and not guard:
                planned = _plan_for(iam, item, deny_policy_arn, insiders)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                out.actions.append(Action.now(name, item.target, "skipped", f"{item.target} is gone"))
                continue
            raise failure(exc, f"could not read {item.target}; nothing changed for it") from exc
        if not verdict.ok and not verdict.needs_approval:
            if not verdict.gone:
                out.inconsistent.append(
                    {"target": item.target, "why": verdict.why, "events": "; ".join(item.events)}
                )
            out.actions.append(Action.now(name, item.target, "skipped", verdict.why))
            continue
        if guard or verdict.needs_approval or planned is None:
            why = "" if verdict.ok else verdict.why
            if guard:
                why = f"{guard}: a person's yes is needed ({YES_PATH})" + (f"; {why}" if why else "")
            out.awaiting.append((item, why))
            out.actions.append(Action.now(name, item.target, "awaiting_approval", why))
            continue
        verified = item.model_copy(update={"verified_id": verdict.live_id})
        if isinstance(planned[1], str):
            if planned[0] == "awaiting_approval":
                out.awaiting.append((verified, planned[1]))
                out.actions.append(Action.now(name, item.target, "awaiting_approval", planned[1]))
            else:
                out.actions.append(Action.now(name, item.target, "skipped", planned[1]))
            continue
        name, plan = planned[0], planned[1]
        out.actions.append(
            _contain_one(
                ddb,
                table,
                incident_id,
                name,
                verified,
                plan,
                approved_by=approved_by,
                dry_run=dry_run,
                once=once,
            )
        )
        out.contained.append(verified)
    if out.not_verified:
        out.awaiting += [(r, "beyond the automatic limit, not yet verified") for r in out.not_verified]
        out.actions.append(_beyond_limit(out.not_verified, max_principals))
    return out


def _beyond_limit(rest: Sequence[Rogue], limit: int) -> Action:
    """One action for everything beyond the limit: a count and a few names, the list in evidence."""
    names = ", ".join(r.target for r in rest[:5])
    more = f" and {len(rest) - 5} more" if len(rest) > 5 else ""
    return Action.now(
        "contain_principal",
        f"{len(rest)} more",
        "awaiting_approval",
        f"more than {limit} rogue item(s): the first {limit} by risk were handled, {len(rest)} more wait "
        f"for a person's yes (not yet verified): {names}{more}; the full list is in the persistence plan "
        f"in evidence; {YES_PATH}",
    )


@dataclass
class _Once:
    """This execution's claims: each principal contained by one execution of the key only."""

    ddb: Any
    table: str
    incident_id: str
    execution_id: str
    scope: str
    stale_after_seconds: int

    def of(self, target: str) -> str:
        return f"{self.scope}/{target}" if self.scope else target

    def claim(self, target: str) -> bool:
        return claim_once(
            self.ddb,
            self.table,
            scope=self.of(target),
            incident_id=self.incident_id,
            execution_id=self.execution_id,
            stale_after_seconds=self.stale_after_seconds,
        )

    def settle(self, target: str, status: str = "done") -> None:
        settle_once(
            self.ddb, self.table, scope=self.of(target), execution_id=self.execution_id, status=status
        )


def _contain_one(
    ddb: Any,
    table: str,
    incident_id: str,
    name: str,
    item: Rogue,
    plan: _Plan,
    *,
    approved_by: str,
    dry_run: bool,
    once: _Once | None,
) -> Action:
    if plan.empty():
        return Action.now(name, item.target, "already_done", "; ".join(plan.said) or "already contained")
    action = Action.now(name, item.target, "would_do" if dry_run else "done", "; ".join(plan.said))
    if dry_run:
        return action
    # The live id is part of the claim: a user of the same name made later is another principal.
    claim = f"{item.target}#{item.verified_id}" if item.verified_id else item.target
    if once is not None and not once.claim(claim):
        return Action.now(name, item.target, "already_done", "another execution of this key contains it")
    try:
        _make(ddb, table, incident_id, action, plan, approved_by=approved_by)
    except Exception:
        if once is not None:
            once.settle(claim, "failed")  # the next run may take it over
        raise
    if once is not None:
        once.settle(claim)
    return action


def _make(ddb: Any, table: str, incident_id: str, action: Action, plan: _Plan, *, approved_by: str) -> None:
    """Record, then make each part; a part that fails leaves the record saying what was made."""
    try:
        sk, seq = record_change(
            ddb, table, incident_id, action, plan.before, plan.after, approved_by=approved_by
        )
    except ClientError as exc:
        raise failure(exc, f"could not record the containment of {action.target}; nothing changed") from exc
    made: list[str] = []
    for said, call in plan.calls:
        try:
            call()
        except ClientError as exc:
            # The record stays 'done' with everything we meant to set: recover checks each part live
            # and undoes only those that are ours, so the parts made are undone and the rest skipped.
            status = "done" if made else "failed"
            partial_action = action.model_copy(
                update={
                    "status": status,
                    "detail": f"{error_code(exc)} at '{said}'; made: {', '.join(made) or 'nothing'}",
                }
            )
            marked = f"the record says {status}"
            try:
                record_change(
                    ddb,
                    table,
                    incident_id,
                    partial_action,
                    plan.before,
                    plan.after,
                    approved_by=approved_by,
                    sk=sk,
                    seq=seq,
                )
            except ClientError as mark_exc:
                marked = f"re-recording failed too ({error_code(mark_exc)}); recover checks live state"
            made_text = ", ".join(made) or "nothing"
            raise failure(
                exc, f"containing {action.target}: {said} NOT made; made: {made_text}; {marked}"
            ) from exc
        made.append(said)


PLAN_NAME = "persistence-plan"


def events_by_id(rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The saved query rows by event id (what :func:`plan_persistence` reads responseElements from)."""
    return {str(r["event_id"]): r for r in rows if r.get("event_id")}


def save_plan(s3: Any, bucket: str, prefix: str, done: Containment) -> Any:
    """The full lists to evidence, write-once: the name carries the content's digest, so a retried
    step that saw the account a little differently adds a file instead of conflicting."""
    import hashlib

    body = canonical_json(done.evidence())
    key = f"{prefix}/{PLAN_NAME}-{hashlib.sha256(body).hexdigest()[:16]}.json"
    return put_evidence(s3, bucket, key, body, kind=PLAN_NAME)


def load_plan(payload: Mapping[str, Any]) -> list[Rogue]:
    """The rogue items of a saved persistence plan that an approved eradication may delete."""
    items = [Rogue.model_validate(r) for r in payload.get("contained") or []]
    seen = {(r.kind, r.name) for r in items}
    for entry in payload.get("awaiting_approval") or []:
        rogue = Rogue.model_validate(entry.get("rogue") or {})
        if (rogue.kind, rogue.name) not in seen:
            seen.add((rogue.kind, rogue.name))
            items.append(rogue)
    return items
