"""RevokeSessions (playbook step 3, with Disable): end the sessions an exposed key minted, and mark
the contained principal, undoably; RevokeAssumedRoles: the older sessions of the roles it assumed.

Disabling a key does not end the temporary credentials minted with it (GetSessionToken,
GetFederationToken, AssumeRole): they stay valid until they expire, up to 36 hours. They are revoked
with an inline Deny on ``aws:TokenIssueTime`` before now, which ends every older session and leaves
new ones, and requests signed with the user's long-term keys (they carry no ``aws:TokenIssueTime``,
so the condition is false for them), working.

- A user gets ``responder-revoke-sessions-<incident id>``: one policy per incident, so two incidents
  on one user never touch each other's policy and ``responder recover`` of one deletes exactly its
  own (a shared name would have the later incident overwrite the earlier one's document, and the
  earlier incident's recover would then either remove a revocation it does not own or have to skip).
  It kills GetSessionToken and GetFederationToken credentials: both are evaluated against the user's
  policies. Each costs about 170 of the 2,048 characters a user's inline policies may total.
- A role gets the IAM console's own ``AWSRevokeOlderSessions`` (name and form of "Revoke active
  sessions"), so the console and runbooks recognise it; an existing one is saved as ``before`` and
  is never replaced by an older cutoff.

Every change is recorded in the incident table (:func:`responder.actions.record_action`) *before* it
is made, so a crash between the two cannot leave a change that ``recover`` does not know of; a record
whose change then fails is re-recorded as ``failed``, and ``recover`` undoes only what is still
exactly what we set. Retrying with the same ``now`` is a no-op (``already_done``).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from responder.actions import CONTAINMENT, recorded_change
from responder.analysis.pivot import credentials
from responder.clients import read_back
from responder.errors import (
    ContainmentUnverified,
    InvalidInput,
    RevocationShapeRefused,
    error_code,
    failure,
)
from responder.evidence import load_rows, saved_results
from responder.models import Action, ActionStatus, Incident, Owner, iso, utc_now
from responder.permissions import Permission
from responder.policy_doc import canonical, decode_policy
from responder.policy_eval import parse_time
from responder.steps.disable import TAKEN_OVER_NOTE
from responder.steps.remediate import remediation_allowed
from responder.steps.validate import protection

ROLE_POLICY_NAME = "AWSRevokeOlderSessions"
USER_POLICY_PREFIX = "responder-revoke-sessions-"
TAG_INCIDENT = "responder:incident"
TAG_CONTAINED_AT = "responder:contained-at"
TAG_KEYS = (TAG_INCIDENT, TAG_CONTAINED_AT)

_USER = "arn:{partition}:iam::{account}:user/*"
_ROLE = "arn:{partition}:iam::{account}:role/*"

PERMISSIONS_REVOKE: tuple[Permission, ...] = (
    Permission(("iam:GetUserPolicy", "iam:PutUserPolicy", "iam:ListUserTags", "iam:TagUser"), (_USER,)),
    Permission(("iam:GetRolePolicy", "iam:PutRolePolicy", "iam:ListRoleTags", "iam:TagRole"), (_ROLE,)),
    Permission(("dynamodb:PutItem",), ("@incident_table",)),
)
"""What :func:`revoke_user_sessions`, :func:`revoke_role_sessions` and :func:`tag_principal` call."""

_POLICY_NAME_CHARS = re.compile(r"^[\w+=,.@-]+$")


def user_policy_name(incident_id: str) -> str:
    """``responder-revoke-sessions-<incident id>`` (IAM names: 128 of ``[\\w+=,.@-]``; else a digest)."""
    if _POLICY_NAME_CHARS.match(incident_id) and len(USER_POLICY_PREFIX) + len(incident_id) <= 128:
        return USER_POLICY_PREFIX + incident_id
    return USER_POLICY_PREFIX + "h" + hashlib.sha256(incident_id.encode()).hexdigest()[:32]


def cutoff(now: datetime) -> str:
    """``now`` as the policy's ISO time, rounded *up* to the second: a session minted a fraction of a
    second before ``now`` must not slip under a truncated cutoff."""
    now = now.astimezone(UTC)
    if now.microsecond:
        now = now.replace(microsecond=0) + timedelta(seconds=1)
    return iso(now)


def revoke_document(cutoff_iso: str) -> dict[str, Any]:
    """The console's AWSRevokeOlderSessions document: deny everything to tokens issued before the cutoff."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff_iso}},
            }
        ],
    }


def revocation_cutoff(document: Any) -> str | None:
    """The cutoff of a document in exactly the revoke form, else None."""
    try:
        value = document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    except (KeyError, IndexError, TypeError):
        return None
    return (
        value if isinstance(value, str) and canonical(document) == canonical(revoke_document(value)) else None
    )


def checked_revocation(document: Any) -> str:
    """``document`` as the JSON text to put, only when it is exactly the revoke shape (one Deny of
    everything on ``aws:TokenIssueTime``); anything else raises RevocationShapeRefused. This step is the
    one that may write inline policies: it can write nothing but a session cutoff."""
    if revocation_cutoff(document) is None:
        raise RevocationShapeRefused(
            "refusing to put an inline policy that is not the fixed session revocation "
            "(Deny * on * when aws:TokenIssueTime is before the cutoff): nothing was written"
        )
    return json.dumps(document)


# -------------------------------------------------------------------------- the recorded change


def _read_policy(get: Callable[[], Any], *, what: str) -> Any:
    """The decoded inline policy document, or None when there is none."""
    try:
        return decode_policy(get()["PolicyDocument"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise failure(exc, f"could not read {what}; nothing changed") from exc


def _revoke(
    kind: str,
    name: str,
    policy_name: str,
    get: Callable[[], Any],
    put: Callable[[str], Any],
    ddb: Any,
    table: str,
    incident_id: str,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> Action:
    target = f"{kind}/{name}"
    at = cutoff(now)
    existing = _read_policy(get, what=f"{policy_name} of {target}")
    earlier = revocation_cutoff(existing) if existing is not None else None
    if earlier is not None and _later_or_same(earlier, at):
        # A retry, or a revocation at least as recent (the console's): replacing it could only weaken it.
        return Action(
            action="revoke_sessions",
            target=target,
            status="already_done",
            at=at,
            detail=f"{policy_name} already denies {target} every session issued before {earlier}",
        )
    document = revoke_document(at)
    action = Action(
        action="revoke_sessions",
        target=target,
        status="done",
        at=at,
        detail=f"{policy_name} on {target} denies every session issued before {at}"
        + ("" if existing is None else f" (replaced an existing {policy_name}, saved for recover)"),
    )
    text = checked_revocation(document)
    done = recorded_change(
        ddb,
        table,
        incident_id,
        action,
        {"policy_name": policy_name, "document": existing},
        {"policy_name": policy_name, "document": document},
        lambda: put(text),
        approved_by=CONTAINMENT,
        not_done=f"sessions of {target} issued before {at} are NOT revoked ({policy_name} not put); "
        "nothing else changed",
    )
    # Read back what IAM holds (eventually consistent): a revocation nobody can see is not one.
    verified, seen = read_back(
        lambda: _read_policy(get, what=f"{policy_name} of {target}"),
        lambda d: d is not None and canonical(d) == canonical(document),
        sleep,
    )
    if not verified:
        raise ContainmentUnverified(
            f"PutPolicy of {policy_name} on {target} succeeded but it reads back "
            f"{'absent' if seen is None else 'different'}: sessions issued before {at} may NOT be revoked"
        )
    done.detail = f"{done.detail} (read back)"
    return done


def _later_or_same(a: str, b: str) -> bool:
    return parse_time(a) >= parse_time(b)


def revoke_user_sessions(
    iam: Any,
    ddb: Any,
    table: str,
    incident_id: str,
    user_name: str,
    *,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> Action:
    """Deny ``user/<name>`` every session issued before ``now`` (its long-term keys keep working).

    Puts ``responder-revoke-sessions-<incident id>``; ``already_done`` when it is there with this cutoff
    or a later one. Raises Throttled or ContainmentFailed (the message says what was not done).
    """
    name = user_policy_name(incident_id)
    return _revoke(
        "user",
        user_name,
        name,
        lambda: iam.get_user_policy(UserName=user_name, PolicyName=name),
        lambda doc: iam.put_user_policy(UserName=user_name, PolicyName=name, PolicyDocument=doc),
        ddb,
        table,
        incident_id,
        now,
        sleep,
    )


def revoke_role_sessions(
    iam: Any,
    ddb: Any,
    table: str,
    incident_id: str,
    role_name: str,
    *,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> Action:
    """Deny ``role/<name>`` every session issued before ``now``, as the console's "Revoke active sessions".

    The role's other policies are untouched and new sessions work. An existing ``AWSRevokeOlderSessions``
    is recorded as ``before`` (recover puts it back); one with this cutoff or a later one is left as is.
    """
    return _revoke(
        "role",
        role_name,
        ROLE_POLICY_NAME,
        lambda: iam.get_role_policy(RoleName=role_name, PolicyName=ROLE_POLICY_NAME),
        lambda doc: iam.put_role_policy(RoleName=role_name, PolicyName=ROLE_POLICY_NAME, PolicyDocument=doc),
        ddb,
        table,
        incident_id,
        now,
        sleep,
    )


# ----------------------------------------------------------------------------------------- tags


def principal_target(user_name: str | None, role_name: str | None) -> tuple[str, str]:
    """("user" | "role", name) from exactly one of the two."""
    if bool(user_name) == bool(role_name):
        raise InvalidInput("name exactly one of user_name and role_name")
    return ("user", user_name) if user_name else ("role", str(role_name))


def read_tags(iam: Any, kind: str, name: str) -> dict[str, str]:
    """All tags of a user or role (every page)."""
    kwargs: dict[str, Any] = {"UserName": name} if kind == "user" else {"RoleName": name}
    call = iam.list_user_tags if kind == "user" else iam.list_role_tags
    tags: dict[str, str] = {}
    while True:
        page = call(**kwargs)
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        if not page.get("IsTruncated"):
            return tags
        kwargs["Marker"] = page["Marker"]


def tag_principal(
    iam: Any,
    ddb: Any,
    table: str,
    incident_id: str,
    *,
    user_name: str | None = None,
    role_name: str | None = None,
    now: datetime | None = None,
) -> Action:
    """Tag the user or role ``responder:incident=<id>`` and ``responder:contained-at=<iso>``.

    ``before`` holds those two tags' previous values (None where absent), for recover. Already tagged
    with this incident: ``already_done`` (the first contained-at is kept).
    """
    kind, name = principal_target(user_name, role_name)
    target = f"{kind}/{name}"
    try:
        current = read_tags(iam, kind, name)
    except ClientError as exc:
        raise failure(exc, f"could not read the tags of {target}; nothing changed") from exc
    before = {key: current.get(key) for key in TAG_KEYS}
    if before[TAG_INCIDENT] == incident_id:
        return Action.now(
            "tag_principal",
            target,
            "already_done",
            f"{target} is tagged {TAG_INCIDENT}={incident_id} since {before[TAG_CONTAINED_AT]}",
        )
    at = iso(now or utc_now())
    after = {TAG_INCIDENT: incident_id, TAG_CONTAINED_AT: at}
    tags = [{"Key": k, "Value": v} for k, v in after.items()]
    action = Action(
        action="tag_principal",
        target=target,
        status="done",
        at=at,
        detail=f"{target} tagged {TAG_INCIDENT}={incident_id}, {TAG_CONTAINED_AT}={at}"
        + (f" (was {TAG_INCIDENT}={before[TAG_INCIDENT]})" if before[TAG_INCIDENT] else ""),
    )

    def make() -> None:
        if kind == "user":
            iam.tag_user(UserName=name, Tags=tags)
        else:
            iam.tag_role(RoleName=name, Tags=tags)

    return recorded_change(
        ddb,
        table,
        incident_id,
        action,
        before,
        after,
        make,
        approved_by=CONTAINMENT,
        not_done=f"{target} is NOT tagged; nothing else changed",
    )


# ------------------------------------------------------------------- roles the key assumed

MAX_ASSUMED_ROLES = 20  # bounded work: more are reported for a person to revoke
_ASSUMED_ROLE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sts::(?P<account>\d{12}):assumed-role/(?P<role>[\w+=,.@-]{1,64})/"
)

PERMISSIONS_ASSUMED_ROLES: tuple[Permission, ...] = (
    Permission(("iam:GetRole", "iam:ListRoleTags"), (_ROLE,)),
    Permission(("s3:ListBucket",), ("@evidence_bucket",)),
    Permission(("s3:GetObject",), ("@evidence_bucket/*",)),
)
"""What :func:`revoke_assumed_roles` adds to :data:`PERMISSIONS_REVOKE`: the live role, and the saved rows."""


def assumed_roles(
    exposed_key: str,
    results: dict[tuple[str, str], Any],
    account_id: str,
    *,
    seeds: Sequence[str] = (),
) -> dict[str, dict[str, str]]:
    """Roles of ``account_id`` that the key (or a credential it minted) assumed, from the saved
    ``minted_credentials`` rows: role name -> the first AssumeRole's time and event id."""

    keys = [c.access_key_id for c in credentials(exposed_key, results, seeds=seeds)]
    found: dict[str, dict[str, str]] = {}
    for key in keys:
        for row in results.get((key, "minted_credentials"), ()):
            if row.get("event_name") != "AssumeRole":
                continue
            m = _ASSUMED_ROLE_ARN.match(str(row.get("minted_for") or ""))
            if not m or m.group("account") != account_id:
                continue  # another account's role is not ours to revoke; the report shows it
            seen = {
                "event_time": str(row.get("event_time") or ""),
                "event_id": str(row.get("event_id") or ""),
            }
            if m.group("role") not in found or seen["event_time"] < found[m.group("role")]["event_time"]:
                found[m.group("role")] = seen
    return found


def revoke_assumed_roles(
    iam: Any,
    s3: Any,
    ddb: Any,
    table: str,
    evidence_bucket: str,
    state: Any,
    *,
    execution_id: str,
    protected_tag: str,
    protected_principals: tuple[str, ...],
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Action]:
    """Revoke the older sessions of every role of this account the exposed key assumed in the window.

    Disabling the key leaves the role sessions it minted valid for up to 12 hours. Each role named by
    the logs is checked against the live account first (it exists and was created before the
    AssumeRole); a protected role waits for a person's yes; the rest get ``AWSRevokeOlderSessions``
    under the same approval policy that contained the key.
    """

    inc = state.incident
    if inc is None or not inc.access_key_id:
        return []
    metas = saved_results(s3, evidence_bucket, inc.incident_id, execution_id)
    results = {k: load_rows(s3, m["rows"]) for k, m in metas.items() if k[1] == "minted_credentials"}
    roles = assumed_roles(inc.access_key_id, results, inc.account_id, seeds=inc.related_key_ids)
    owner = state.owner
    if owner is not None and owner.principal_type == "AssumedRole" and owner.user_name:
        roles.pop(owner.user_name, None)  # RevokeSessions revoked the exposed session's own role
    if not roles:
        return []
    allowed, why = remediation_allowed(state)
    revoked = [
        a for a in (state.revocation.actions if state.revocation else []) if a.action == "revoke_sessions"
    ]
    if not allowed and any(a.status in ("done", "already_done") for a in revoked):
        allowed, why = True, "the policy that revoked the key's sessions"
    at = now or utc_now()
    actions: list[Action] = []
    for n, (role, seen) in enumerate(sorted(roles.items())):
        target = f"role/{role}"
        assumed = f"assumed by the key at {seen['event_time']} (event {seen['event_id']})"
        if n >= MAX_ASSUMED_ROLES:
            actions.append(
                Action.now(
                    "revoke_sessions",
                    target,
                    "skipped",
                    f"{assumed}; more than {MAX_ASSUMED_ROLES} roles: revoke it by hand",
                )
            )
            continue
        try:
            live = iam.get_role(RoleName=role)["Role"]
            tags = read_tags(iam, "role", role)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                actions.append(
                    Action.now(
                        "revoke_sessions",
                        target,
                        "skipped",
                        f"{assumed}, but no such role exists here: a record inconsistent with the account",
                    )
                )
                continue
            raise failure(exc, f"could not read {target}; nothing changed") from exc
        created = live.get("CreateDate")
        created_iso = iso(created) if isinstance(created, datetime) else str(created or "")
        if seen["event_time"] and created_iso and created_iso > seen["event_time"]:
            actions.append(
                Action.now(
                    "revoke_sessions",
                    target,
                    "skipped",
                    f"{assumed}, but the live role was created later ({created_iso}): a record inconsistent "
                    "with the account; nothing changed",
                )
            )
            continue
        guard = protection(
            tags,
            protected_tag,
            protected_principals,
            kind="role",
            name=role,
            principal_id=live.get("RoleId"),
            arn=live.get("Arn"),
        )
        if guard and state.approval is None:
            actions.append(
                Action.now(
                    "revoke_sessions",
                    target,
                    "skipped",
                    f"{assumed}; protected ({guard}): needs a person's yes",
                )
            )
            continue
        if inc.dry_run or not allowed:
            status: ActionStatus = "would_do" if inc.dry_run else "skipped"
            reason = "dry run" if inc.dry_run else why
            actions.append(
                Action.now(
                    "revoke_sessions",
                    target,
                    status,
                    f"{assumed}; would deny sessions issued before now ({reason})",
                )
            )
            continue
        action = revoke_role_sessions(iam, ddb, table, inc.incident_id, role, now=at, sleep=sleep)
        action.detail = f"{action.detail}; {assumed}"
        actions.append(action)
    return actions


# -------------------------------------------------------------------------- the step


def _contained_elsewhere(containment: dict[str, Any] | None) -> str | None:
    """The other run's word when this run lost the claim on the key: it revokes, not us."""
    for action in (containment or {}).get("actions", []):
        if action.get("action") == "disable_access_key" and action.get("status") == "already_done":
            if TAKEN_OVER_NOTE in str(action.get("detail") or ""):
                return None  # that run died before revoking: this one revokes
            return str(action.get("detail") or "contained by another run")
    return None


def _related_users(
    iam: Any,
    ddb: Any,
    table: str,
    incident: Incident,
    containment: dict[str, Any] | None,
    *,
    now: datetime,
    done: set[str],
) -> list[Action]:
    """The sessions of the other users whose keys Triage contained for this signal (an attack
    sequence's keys): disabling their keys did not end what those keys minted either."""
    actions: list[Action] = []
    for entry in (containment or {}).get("related") or []:
        user = entry.get("user_name")
        if entry.get("status") not in ("done", "already_done") or not isinstance(user, str) or user in done:
            continue
        done.add(user)
        actions.append(revoke_user_sessions(iam, ddb, table, incident.incident_id, user, now=now))
        actions.append(tag_principal(iam, ddb, table, incident.incident_id, user_name=user))
    return actions


def revoke(
    iam: Any,
    ddb: Any,
    table: str,
    incident: Incident,
    owner: Owner | None,
    containment: dict[str, Any] | None = None,
) -> list[Action]:
    """Revoke what the exposed credential could still use, by principal type (once per key)."""
    now = utc_now()
    if incident.dry_run:
        target = incident.access_key_id or incident.incident_id
        return [
            Action.now("revoke_sessions", target, "would_do", "deny sessions issued before now (dry run)"),
            Action.now("tag_principal", target, "would_do", "tag the principal with the incident (dry run)"),
        ]
    elsewhere = _contained_elsewhere(containment)
    if elsewhere:
        target = incident.access_key_id or incident.incident_id
        return [Action.now("revoke_sessions", target, "already_done", elsewhere)]
    principal_type = (owner.principal_type if owner else None) or incident.principal.type or "IAMUser"
    name = (owner.user_name if owner else None) or incident.principal.user_name
    target = incident.access_key_id or incident.incident_id
    if not name:
        return [Action.now("revoke_sessions", target, "skipped", "the principal's name is not known")]
    if principal_type == "AssumedRole":
        return [
            revoke_role_sessions(iam, ddb, table, incident.incident_id, name, now=now),
            tag_principal(iam, ddb, table, incident.incident_id, role_name=name),
        ]
    if principal_type == "IAMUser":
        return [
            revoke_user_sessions(iam, ddb, table, incident.incident_id, name, now=now),
            tag_principal(iam, ddb, table, incident.incident_id, user_name=name),
            *_related_users(iam, ddb, table, incident, containment, now=now, done={name}),
        ]
    return [
        Action.now(
            "revoke_sessions", target, "skipped", f"{principal_type} sessions cannot be revoked by policy"
        )
    ]
