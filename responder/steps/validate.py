"""Validate (playbook steps 1-2): confirm the exposed key is this account's and find its user and owner.

Only what the live account says counts: the finding names a key, IAM says whose it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from responder.errors import (
    THROTTLING_CODES,
    AccessKeyNotFound,
    ForeignAccessKey,
    PrincipalMismatch,
    Throttled,
    error_code,
)
from responder.models import Incident, Owner, iso


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
