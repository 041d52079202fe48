"""Playbook steps 1-3: is the key ours, whose is it, and disable it (that key only, once).

Every state change is recorded in the incident table with the state before it, so that
``responder recover`` can undo it once the owner has rotated.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from responder.errors import (
    THROTTLING_CODES,
    AccessKeyNotFound,
    ContainmentFailed,
    ContainmentInProgress,
    ContainmentUnverified,
    ForeignAccessKey,
    PrincipalMismatch,
    Throttled,
    error_code,
)
from responder.models import Action, Decision, Incident, Owner, iso, utc_now


def protected_entry(
    entries: Iterable[str], *, kind: str, name: str | None, principal_id: str | None, arn: str | None
) -> str | None:
    """The ``protectedPrincipals`` entry naming this principal (``kind`` ``user`` or ``role``), or None.

    An entry is a name, an id (AIDA.../AROA...) or an ARN. Matching errs towards protection: an ARN
    entry also matches by type and last path part, since the same name under another path is the same
    IAM principal (names are unique per account, whatever the path); an STS assumed-role ARN names
    its role.
    """
    folded_name = (name or "").casefold()
    folded_arn = (arn or "").casefold()
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        if not text.startswith("arn:"):
            if (folded_name and text.casefold() == folded_name) or (principal_id and text == principal_id):
                return entry
            continue
        if folded_arn and text.casefold() == folded_arn:
            return entry
        resource = text.split(":", 5)[-1] if text.count(":") >= 5 else ""
        head, _, rest = resource.partition("/")
        if head == "assumed-role":
            head, rest = "role", rest.split("/", 1)[0]
        if head == kind and folded_name and rest.rsplit("/", 1)[-1].casefold() == folded_name:
            return entry
    return None


def protection(
    tags: dict[str, str],
    protected_tag: str,
    entries: Iterable[str],
    *,
    kind: str,
    name: str | None,
    principal_id: str | None,
    arn: str | None,
) -> str | None:
    """Why this live principal is protected (its tag, or a list entry), or None when it is not."""
    if tags.get(protected_tag, "").lower() == "true":
        return f"tagged {protected_tag}=true"
    entry = protected_entry(entries, kind=kind, name=name, principal_id=principal_id, arn=arn)
    return f"listed in protectedPrincipals ({entry})" if entry else None


def _live_owner(
    key: str,
    account: str,
    *,
    kind: str,
    name: str,
    live: Mapping[str, Any],
    tags: dict[str, str],
    owner_tag_keys: tuple[str, ...],
    protected_tag: str,
    protected_principals: tuple[str, ...],
    last_used: dict[str, Any] | None = None,
) -> Owner:
    """The :class:`Owner` of a live user (``kind="user"``) or role (``kind="role"``): its owner tag and
    its protection, judged on the name, id and ARN IAM shows."""
    principal_id = live.get("UserId" if kind == "user" else "RoleId")
    owner_tag = next((k for k in owner_tag_keys if tags.get(k)), None)
    why = protection(
        tags,
        protected_tag,
        protected_principals,
        kind=kind,
        name=name,
        principal_id=principal_id,
        arn=live.get("Arn"),
    )
    return Owner(
        access_key_id=key,
        account_id=account,
        user_name=name,
        principal_type="IAMUser" if kind == "user" else "AssumedRole",
        principal_id=principal_id,
        principal_arn=live.get("Arn"),
        owner=tags.get(owner_tag) if owner_tag else None,
        owner_tag=owner_tag,
        tags=tags,
        last_used=last_used or {},
        protected=why is not None,
        protected_by=why,
    )


def validate_key(
    sts: Any,
    iam: Any,
    incident: Incident,
    *,
    owner_tag_keys: tuple[str, ...],
    protected_tag: str = "responder:protected",
    protected_principals: tuple[str, ...] = (),
) -> Owner:
    """Confirm the key belongs to this account and find its real user (or role) and owner/custodian.

    The protected tag and ``protected_principals`` are evaluated against the principal IAM shows
    (name, id and ARN), never against the names the finding carries.
    Raises ForeignAccessKey (another account's key: notify only), AccessKeyNotFound, or
    PrincipalMismatch (a role session whose role does not match the live account).
    """
    key = incident.access_key_id
    if not key:
        raise AccessKeyNotFound("the incident names no access key")
    try:
        account = sts.get_access_key_info(AccessKeyId=key)["Account"]
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"GetAccessKeyInfo throttled for {key}") from exc
        raise
    if account != incident.account_id:
        raise ForeignAccessKey(f"{key} belongs to account {account}, not {incident.account_id}: notify only")
    if key.startswith("ASIA"):
        return _role_session_owner(
            iam, incident, account, owner_tag_keys, protected_tag, protected_principals
        )
    try:
        used = iam.get_access_key_last_used(AccessKeyId=key)
        user = used["UserName"]
        live = iam.get_user(UserName=user)["User"]
        tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user).get("Tags", [])}
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise AccessKeyNotFound(f"{key} no longer exists in account {account}") from exc
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"IAM throttled the lookup of {key}'s user") from exc
        raise
    last_used = {
        k: (iso(v) if hasattr(v, "tzinfo") else v) for k, v in used.get("AccessKeyLastUsed", {}).items()
    }
    return _live_owner(
        key,
        account,
        kind="user",
        name=user,
        live=live,
        tags=tags,
        owner_tag_keys=owner_tag_keys,
        protected_tag=protected_tag,
        protected_principals=protected_principals,
        last_used=last_used,
    )


def _role_session_owner(
    iam: Any,
    incident: Incident,
    account: str,
    owner_tag_keys: tuple[str, ...],
    protected_tag: str,
    protected_principals: tuple[str, ...],
) -> Owner:
    """A role session's key: no API maps an ASIA key to its role, so the finding's role is checked
    against the live role (it exists; its id is the session's ``AROA...:session`` prefix)."""
    key = str(incident.access_key_id)
    role = incident.principal.user_name
    kind = incident.principal.type or "AssumedRole"
    if kind == "IAMUser" and role:
        return _user_session_owner(
            iam, incident, account, owner_tag_keys, protected_tag, protected_principals
        )
    if not role or kind != "AssumedRole":
        # Federated sessions and unnamed roles: nothing to look up; revoke says what it cannot do.
        return Owner(access_key_id=key, account_id=account, user_name=role, principal_type=kind)
    try:
        live = iam.get_role(RoleName=role)["Role"]
        tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role).get("Tags", [])}
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise PrincipalMismatch(
                f"the finding says {key} is a session of role {role}, which does not exist here: nothing changed"
            ) from exc
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"IAM throttled the lookup of role {role}") from exc
        raise
    session_of = (incident.principal.principal_id or "").split(":", 1)[0]
    if session_of and session_of != live.get("RoleId"):
        raise PrincipalMismatch(
            f"the finding's session id {session_of} is not role {role}'s ({live.get('RoleId')}): "
            "a record inconsistent with the account; nothing changed"
        )
    return _live_owner(
        key,
        account,
        kind="role",
        name=live.get("RoleName", role),
        live=live,
        tags=tags,
        owner_tag_keys=owner_tag_keys,
        protected_tag=protected_tag,
        protected_principals=protected_principals,
    )


def _user_session_owner(
    iam: Any,
    incident: Incident,
    account: str,
    owner_tag_keys: tuple[str, ...],
    protected_tag: str,
    protected_principals: tuple[str, ...],
) -> Owner:
    """A user's session key (GetSessionToken): the finding's user, checked against the live one."""
    key, user = str(incident.access_key_id), str(incident.principal.user_name)
    try:
        live = iam.get_user(UserName=user)["User"]
        tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user).get("Tags", [])}
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise PrincipalMismatch(
                f"the finding says {key} is a session of user {user}, who does not exist here: nothing changed"
            ) from exc
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"IAM throttled the lookup of user {user}") from exc
        raise
    claimed_id = incident.principal.principal_id
    if claimed_id and claimed_id != live.get("UserId"):
        raise PrincipalMismatch(
            f"the finding's principal id {claimed_id} is not user {user}'s: a record inconsistent with the "
            "account; nothing changed"
        )
    return _live_owner(
        key,
        account,
        kind="user",
        name=user,
        live=live,
        tags=tags,
        owner_tag_keys=owner_tag_keys,
        protected_tag=protected_tag,
        protected_principals=protected_principals,
    )


CLAIM_STALE_SECONDS = 900  # Lambda's longest timeout: no attempt holds a claim longer and is still alive
READ_BACK_DELAYS = (0.0, 0.5, 1.0, 2.0, 4.0)  # IAM is eventually consistent: read again, bounded (~7.5 s)
WAIT_FOR_HOLDER = (0.2, 0.5, 1.0, 2.0)  # a live holder's UpdateAccessKey is a call away
# Said (by us, never by an input) when a dead attempt had disabled the key: this run revokes its sessions.
TAKEN_OVER_NOTE = (
    "the attempt that disabled it died (stale claim, taken over): this run completes the response"
)


def _claim_item(incident: Incident, execution_id: str, now: str) -> dict[str, Any]:
    return {
        "pk": {"S": f"KEY#{incident.access_key_id}"},
        "sk": {"S": "CONTAINMENT"},
        "status": {"S": "in_progress"},
        "incident_id": {"S": incident.incident_id},
        "execution_id": {"S": execution_id},
        "claimed_at": {"S": now},
    }


def _claim(ddb: Any, table: str, incident: Incident, execution_id: str) -> dict[str, Any] | None:
    """Claim containment of this key; returns the earlier claim when another run holds it."""
    now = iso(utc_now())
    try:
        ddb.put_item(
            TableName=table,
            Item=_claim_item(incident, execution_id, now),
            # A failed attempt may be taken over, and so may a containment `responder recover` undid
            # (the key leaked again); a done or running one only after the key is re-read (_take_over).
            ConditionExpression="attribute_not_exists(pk) OR #s IN (:failed, :recovered)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":failed": {"S": "failed"}, ":recovered": {"S": "recovered"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        item = exc.response.get("Item") or {}
        return {k: next(iter(v.values())) for k, v in item.items()} or {"status": "unknown"}
    return None


def _take_over(ddb: Any, table: str, incident: Incident, execution_id: str, earlier: dict[str, Any]) -> bool:
    """Replace exactly the claim that was read (same status, execution and time); False if it changed."""
    names = {"#s": "status", "#e": "execution_id", "#c": "claimed_at"}
    values: dict[str, Any] = {":s": {"S": str(earlier.get("status", ""))}}
    conditions = ["#s = :s"]
    for placeholder, field in (("#e", "execution_id"), ("#c", "claimed_at")):
        if earlier.get(field) is None:
            conditions.append(f"attribute_not_exists({placeholder})")
        else:
            values[f":{field}"] = {"S": str(earlier[field])}
            conditions.append(f"{placeholder} = :{field}")
    try:
        ddb.put_item(
            TableName=table,
            Item=_claim_item(incident, execution_id, iso(utc_now())),
            ConditionExpression=" AND ".join(conditions),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _claim_is_stale(earlier: dict[str, Any], now: datetime, stale_after_seconds: int) -> bool:
    """An ``in_progress`` claim older than any attempt can live: its holder died after claiming."""
    if earlier.get("status") != "in_progress":
        return False
    try:
        claimed = datetime.fromisoformat(str(earlier.get("claimed_at", "")).replace("Z", "+00:00"))
    except ValueError:
        return True  # no readable time: nothing shows a live holder
    return claimed < now - timedelta(seconds=stale_after_seconds)


def _key_status(iam: Any, user: str, key: str) -> str | None:
    """The key's live status (Active/Inactive), None when the user no longer holds it."""
    try:
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"ListAccessKeys throttled for {user}") from exc
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    return next((str(k["Status"]) for k in keys if k["AccessKeyId"] == key), None)


def read_back(
    read: Callable[[], Any], good: Callable[[Any], bool], sleep: Callable[[float], None]
) -> tuple[bool, Any]:
    """Read until ``good`` holds, with the bounded :data:`READ_BACK_DELAYS`; (held, last value read)."""
    value: Any = None
    for delay in READ_BACK_DELAYS:
        if delay:
            sleep(delay)
        value = read()
        if good(value):
            return True, value
    return False, value


def _settle(ddb: Any, table: str, key: str, status: str, detail: dict[str, str]) -> None:
    names = {"#s": "status"}
    values: dict[str, Any] = {":s": {"S": status}}
    sets = ["#s = :s"]
    for i, (k, v) in enumerate(sorted(detail.items())):
        names[f"#k{i}"] = k
        values[f":v{i}"] = {"S": v}
        sets.append(f"#k{i} = :v{i}")
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": f"KEY#{key}"}, "sk": {"S": "CONTAINMENT"}},
        UpdateExpression="SET " + ", ".join(sets),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def record_action(ddb: Any, table: str, incident_id: str, action: Action, before: Any, after: Any) -> None:
    """Append an action with its before/after state to the incident's record (for recover)."""
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"INCIDENT#{incident_id}"},
            "sk": {"S": f"ACTION#{action.at}#{action.action}#{action.target}"},
            "action": {"S": action.action},
            "target": {"S": action.target},
            "status": {"S": action.status},
            "before": {"S": json.dumps(before, sort_keys=True, default=str)},
            "after": {"S": json.dumps(after, sort_keys=True, default=str)},
        },
    )


def disable_key(
    iam: Any,
    ddb: Any,
    table: str,
    incident: Incident,
    owner: Owner,
    *,
    execution_id: str,
    stale_after_seconds: int = CLAIM_STALE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Action]:
    """Set the exposed key Inactive, exactly once per key, leaving the user's other keys alone."""
    key = owner.access_key_id
    if key.startswith("ASIA") or not owner.user_name:
        return [
            Action.now(
                "disable_access_key",
                key,
                "skipped",
                "temporary credentials cannot be set Inactive; their sessions are revoked instead",
            )
        ]
    try:
        keys = iam.list_access_keys(UserName=owner.user_name)["AccessKeyMetadata"]
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"ListAccessKeys throttled for {owner.user_name}; nothing changed yet") from exc
        raise
    before = next((k["Status"] for k in keys if k["AccessKeyId"] == key), None)
    if before is None:
        raise AccessKeyNotFound(f"{key} is not a key of {owner.user_name} any more")
    return _disable_claimed(
        iam,
        ddb,
        table,
        incident,
        owner,
        before,
        execution_id=execution_id,
        stale_after_seconds=stale_after_seconds,
        sleep=sleep,
    )


def _disable_claimed(
    iam: Any,
    ddb: Any,
    table: str,
    incident: Incident,
    owner: Owner,
    before: str,
    *,
    execution_id: str,
    stale_after_seconds: int = CLAIM_STALE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Action]:
    """Claim the key in the incident table, then UpdateAccessKey, then read the key back Inactive.

    A lost claim is ``already_done`` only when the key reads Inactive now. Otherwise a stale
    ``in_progress`` claim (older than any attempt can run) or a ``done`` one whose key is Active
    again is taken over; a live holder is waited for (bounded), then ContainmentInProgress.
    """
    key, user = owner.access_key_id, str(owner.user_name)
    if incident.dry_run:
        return [
            Action.now(
                "disable_access_key",
                key,
                "would_do",
                f"{owner.user_name}'s key {key}: {before} -> Inactive (dry run)",
            )
        ]
    took_over = ""
    earlier = _claim(ddb, table, incident, execution_id)
    if earlier is not None:
        held = (
            f"containment of {key} is {earlier.get('status')} by incident {earlier.get('incident_id')}"
            f" (execution {str(earlier.get('execution_id', '')).rsplit(':', 1)[-1]})"
        )
        status = _key_status(iam, user, key)
        waits = list(WAIT_FOR_HOLDER)
        while status == "Active" and earlier.get("status") == "in_progress" and waits:
            if _claim_is_stale(earlier, utc_now(), stale_after_seconds):
                break
            sleep(waits.pop(0))
            status = _key_status(iam, user, key)
        if status == "Inactive":
            detail = f"{held}; the key reads Inactive"
            if _claim_is_stale(earlier, utc_now(), stale_after_seconds) and _take_over(
                ddb, table, incident, execution_id, earlier
            ):
                # The holder disabled the key and died before revoking its sessions: finish for it.
                _settle(ddb, table, key, "done", {"done_at": iso(utc_now())})
                detail = f"{detail}; {TAKEN_OVER_NOTE}"
            return [Action.now("disable_access_key", key, "already_done", detail)]
        if status is None:
            raise AccessKeyNotFound(f"{key} is not a key of {user} any more")
        stale = _claim_is_stale(earlier, utc_now(), stale_after_seconds)
        if not stale and earlier.get("status") == "in_progress":
            raise ContainmentInProgress(f"{held}, and the key still reads Active: retrying")
        if not _take_over(ddb, table, incident, execution_id, earlier):
            raise ContainmentInProgress(f"{held}; another run took the claim over first: retrying")
        took_over = (
            f"; took over the stale claim of {earlier.get('claimed_at')}"
            if stale
            else "; the earlier containment was undone outside `responder recover` (the key read Active): "
            "contained again"
        )
        before = status
    try:
        iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
    except ClientError as exc:
        _settle(ddb, table, key, "failed", {"error": error_code(exc)})
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"UpdateAccessKey throttled for {key}; nothing changed yet") from exc
        raise ContainmentFailed(
            f"could not set {key} of {owner.user_name} Inactive ({error_code(exc)}); the key is still {before}"
        ) from exc
    verified, seen = read_back(lambda: _key_status(iam, user, key), lambda v: v == "Inactive", sleep)
    if not verified:
        _settle(ddb, table, key, "failed", {"error": f"read back {seen}"})
        raise ContainmentUnverified(
            f"UpdateAccessKey succeeded but {key} of {user} still reads {seen} after "
            f"{len(READ_BACK_DELAYS)} reads: check it by hand; a later run may retry"
        )
    action = Action.now(
        "disable_access_key",
        key,
        "done",
        f"{owner.user_name}'s key {key}: {before} -> Inactive (read back Inactive); other keys untouched"
        + took_over,
    )
    try:
        record_action(ddb, table, incident.incident_id, action, {"Status": before}, {"Status": "Inactive"})
    except ClientError as exc:
        # The key IS Inactive: failing now would tell the SOC the opposite. Say what is missing instead.
        action.detail = (
            f"{action.detail}; the before/after record could not be written ({error_code(exc)}): "
            f"`responder recover` cannot undo this one, set the key Active by hand if ever needed"
        )
        return [action]
    try:
        _settle(ddb, table, key, "done", {"done_at": action.at or ""})
    except ClientError as exc:
        # The key is Inactive and the change recorded: raising would hide that from the SOC. The claim
        # stays in_progress, which still keeps every other run from containing the key again.
        action.detail = f"{action.detail}; the key's claim could not be marked done ({error_code(exc)})"
    return [action]


class FastContainment(BaseModel):
    """What the first Lambda did before anything else: the key Inactive, or why not yet.

    ``status``: ``done`` / ``already_done`` (contained, exactly once), ``needs_approval`` (the
    user is protected by tag), or ``deferred`` (the finding does not name a user that holds the
    key here: the Validate state finds out whether it is foreign, deleted or a role's).
    """

    status: str
    reason: str
    owner: Owner | None = None
    actions: list[Action] = Field(default_factory=list)


def contain_now(
    iam: Any,
    ddb: Any,
    table: str,
    incident: Incident,
    *,
    execution_id: str,
    owner_tag_keys: tuple[str, ...],
    protected_tag: str,
    protected_principals: tuple[str, ...] = (),
    stale_after_seconds: int = CLAIM_STALE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> FastContainment:
    """Disable the exposed IAM user key in at most four API calls, before any investigation.

    ListUserTags (owner, protection), ListAccessKeys (the key is this user's, here, and its status
    before: that is what makes the finding's user name the real owner), a conditional PutItem
    (exactly once per key), UpdateAccessKey. With ``protected_principals`` configured, GetUser adds
    the user's id and ARN so that every kind of entry is compared with the real user. The record of
    the change and the read-back are made after the key is Inactive, off the critical path.
    """
    key, user = incident.access_key_id, incident.principal.user_name
    if (
        not key
        or not key.startswith("AKIA")
        or not user
        or (incident.principal.type or "IAMUser") != "IAMUser"
    ):
        return FastContainment(
            status="deferred", reason="not an IAM user's long-term key named in the finding"
        )
    try:
        tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user).get("Tags", [])}
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"IAM throttled the lookup of {user}; nothing changed yet") from exc
        if error_code(exc) == "NoSuchEntity":
            return FastContainment(status="deferred", reason=f"no user {user} here")
        raise
    owner_tag = next((k for k in owner_tag_keys if tags.get(k)), None)
    before = next((k["Status"] for k in keys if k["AccessKeyId"] == key), None)
    owner = Owner(
        access_key_id=key,
        account_id=incident.account_id,
        user_name=user,
        owner=tags.get(owner_tag) if owner_tag else None,
        owner_tag=owner_tag,
        tags=tags,
    )
    if before is None:
        # The finding's user does not hold the key: Validate finds the real owner (and its protection).
        return FastContainment(status="deferred", reason=f"{key} is not a key of {user} here", owner=None)
    user_id = user_arn = None
    if protected_principals:
        try:
            live = iam.get_user(UserName=user)["User"]
        except ClientError as exc:
            if error_code(exc) in THROTTLING_CODES:
                raise Throttled(f"IAM throttled GetUser {user}; nothing changed yet") from exc
            raise
        user_id, user_arn = live.get("UserId"), live.get("Arn")
    why = protection(
        tags,
        protected_tag,
        protected_principals,
        kind="user",
        name=user,
        principal_id=user_id,
        arn=user_arn,
    )
    owner = owner.model_copy(
        update={
            "principal_id": user_id,
            "principal_arn": user_arn,
            "protected": why is not None,
            "protected_by": why,
        }
    )
    if why:
        return FastContainment(
            status="needs_approval", reason=f"{user} is protected ({why}): a human decides", owner=owner
        )
    actions = _disable_claimed(
        iam,
        ddb,
        table,
        incident,
        owner,
        before,
        execution_id=execution_id,
        stale_after_seconds=stale_after_seconds,
        sleep=sleep,
    )
    return FastContainment(
        status=actions[0].status, reason=actions[0].detail or "", owner=owner, actions=actions
    )


def resolve_quarantined_key(iam: Any, incident: Incident) -> Incident:
    """For AWS's quarantine signal (it names the user): the key to contain, when there is one.

    One Active key: that is the exposed one, contain it. Several: the AWS Health notice names the key
    and a human starts the run for it. None: nothing left to disable.
    """
    user = incident.principal.user_name
    if incident.source != "quarantine-policy" or incident.access_key_id or not user:
        return incident
    if incident.decision.action != "contain":
        # Triage found the attach was not AWS's own: anyone with iam:AttachUserPolicy could have made it.
        return incident
    try:
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"IAM throttled the lookup of {user}'s keys") from exc
        if error_code(exc) == "NoSuchEntity":
            return incident.model_copy(
                update={"decision": Decision(action="notify_only", reason=f"{user} no longer exists")}
            )
        raise
    active = sorted(k["AccessKeyId"] for k in keys if k["Status"] == "Active")
    base = incident.decision.reason
    if len(active) == 1:
        decision = Decision(
            action="contain", reason=f"{base}; its only active key is {active[0]}: contain now"
        )
        return incident.model_copy(update={"access_key_id": active[0], "decision": decision})
    if not active:
        reason = f"{base}; it has no active key left: nothing to disable"
    else:
        reason = (
            f"{base}; it has {len(active)} active keys ({', '.join(active)}): the AWS Health notice names the "
            "exposed one; start the responder for it (`responder start --access-key KEY`)"
        )
    return incident.model_copy(update={"decision": Decision(action="notify_only", reason=reason)})
