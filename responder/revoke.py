"""Revoke the sessions an exposed key minted, and mark the contained principal, undoably.

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

Every change is recorded in the incident table (``responder.containment.record_action``) *before* it
is made, so a crash between the two cannot leave a change that ``recover`` does not know of; a record
whose change then fails is re-recorded as ``failed``, and ``recover`` undoes only what is still
exactly what we set. Retrying with the same ``now`` is a no-op (``already_done``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from responder.containment import THROTTLING_CODES, record_action
from responder.errors import ContainmentFailed, InvalidInput, ResponderError, Throttled
from responder.models import Action, iso, utc_now
from responder.permissions import Permission
from responder.policy_eval import parse_time

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


def canonical(document: Any) -> str:
    """One JSON text per document (sorted keys, no spaces): how recorded and live documents are compared."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def revocation_cutoff(document: Any) -> str | None:
    """The cutoff of a document in exactly the revoke form, else None."""
    try:
        value = document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    except (KeyError, IndexError, TypeError):
        return None
    return (
        value if isinstance(value, str) and canonical(document) == canonical(revoke_document(value)) else None
    )


def decode_policy(document: Any) -> Any:
    """boto3 returns policy documents decoded; a raw (URL-encoded JSON) string is decoded here too."""
    if isinstance(document, str):
        return json.loads(unquote(document))
    return document


def code_of(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def failure(exc: ClientError, message: str) -> ResponderError:
    """Throttled (retried by the ASL) or ContainmentFailed, the AWS error code and ``message`` in it."""
    code = code_of(exc)
    cls = Throttled if code in THROTTLING_CODES else ContainmentFailed
    return cls(f"{exc.operation_name} {code or 'failed'}: {message}")


# -------------------------------------------------------------------------- the recorded change


def _change(
    ddb: Any,
    table: str,
    incident_id: str,
    action: Action,
    before: Any,
    after: Any,
    make: Callable[[], None],
    *,
    not_done: str,
) -> Action:
    """Record ``action`` (before/after), then make the change; on failure mark the record failed and raise."""
    try:
        record_action(ddb, table, incident_id, action, before, after)
    except ClientError as exc:
        raise failure(exc, f"could not record the change in {table}, so it was not made: {not_done}") from exc
    try:
        make()
    except ClientError as exc:
        failed = action.model_copy(update={"status": "failed", "detail": f"{code_of(exc)}: {not_done}"})
        marked = "the incident record says failed"
        try:
            record_action(ddb, table, incident_id, failed, before, after)
        except ClientError as mark_exc:
            # Reported, not swallowed: recover checks the live state, so a stale 'done' record is harmless.
            marked = f"marking the record failed also failed ({code_of(mark_exc)}); recover will skip it"
        raise failure(exc, f"{not_done}; nothing else changed; {marked}") from exc
    return action


def _read_policy(get: Callable[[], Any], *, what: str) -> Any:
    """The decoded inline policy document, or None when there is none."""
    try:
        return decode_policy(get()["PolicyDocument"])
    except ClientError as exc:
        if code_of(exc) == "NoSuchEntity":
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
    return _change(
        ddb,
        table,
        incident_id,
        action,
        {"policy_name": policy_name, "document": existing},
        {"policy_name": policy_name, "document": document},
        lambda: put(json.dumps(document)),
        not_done=f"sessions of {target} issued before {at} are NOT revoked ({policy_name} not put)",
    )


def _later_or_same(a: str, b: str) -> bool:
    return parse_time(a) >= parse_time(b)


def revoke_user_sessions(
    iam: Any, ddb: Any, table: str, incident_id: str, user_name: str, *, now: datetime
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
    )


def revoke_role_sessions(
    iam: Any, ddb: Any, table: str, incident_id: str, role_name: str, *, now: datetime
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

    return _change(ddb, table, incident_id, action, before, after, make, not_done=f"{target} is NOT tagged")
