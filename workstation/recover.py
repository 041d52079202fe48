"""Undo an incident's containment once the owner has rotated: ``responder recover --incident ID``.

Reads the incident's ``ACTION#`` records (written by containment and revoke with the state before
and after each change) and undoes them newest first. A change is undone only while the live state
is still exactly what we set; anything changed since is left alone and reported ``skipped`` with the
reason. Each undo is recorded as ``RECOVER#<action sk>``, so running recover again is a no-op
(``already_done``). Skipped ones are looked at again next time: after another incident's recover
has removed the change on top of ours, ours becomes undoable.

A :class:`Selection` undoes chosen changes only; the rest are ``not_selected`` and a later run can
undo them. Each change has a short stable id (:func:`change_ref`). Changes *depend* on each other
when they set the same live state (:func:`_touches`: one key's status, one inline policy, one
principal's responder tags, one managed policy attachment, one role's trust, one bucket's policy and
Block Public Access together): the newer must be undone for the older's undo to find the state it
set. A selection that undoes an older one and leaves a newer one still to undo is refused
(:class:`SelectionBreaksOrder`) before anything is read from the account.

With ``dry_run`` nothing is written anywhere: the actions come back ``would_do``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from botocore.exceptions import ClientError

from responder.actions import record_change
from responder.encode import terminal_line
from responder.errors import (
    AmbiguousSelector,
    ConflictingSelection,
    IncidentNotFound,
    SelectionBreaksOrder,
    UnknownSelector,
    error_code,
    failure,
)
from responder.models import Action, iso, utc_now
from responder.permissions import Permission
from responder.policy_doc import canonical, decode_policy
from responder.steps.revoke_sessions import TAG_KEYS, read_tags

_USER = "arn:{partition}:iam::{account}:user/*"
_ROLE = "arn:{partition}:iam::{account}:role/*"

PERMISSIONS_RECOVER: tuple[Permission, ...] = (
    Permission(
        (
            "iam:GetAccessKeyLastUsed",
            "iam:ListAccessKeys",
            "iam:UpdateAccessKey",
            "iam:GetUserPolicy",
            "iam:PutUserPolicy",
            "iam:DeleteUserPolicy",
            "iam:ListUserTags",
            "iam:TagUser",
            "iam:UntagUser",
        ),
        (_USER,),
    ),
    Permission(
        (
            "iam:GetRolePolicy",
            "iam:PutRolePolicy",
            "iam:DeleteRolePolicy",
            "iam:ListRoleTags",
            "iam:TagRole",
            "iam:UntagRole",
        ),
        (_ROLE,),
    ),
    Permission(("dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"), ("@incident_table",)),
)
"""What :func:`recover_incident` calls (the CLI runs it with the operator's credentials)."""

PERMISSIONS_RECOVER_REMEDIATION: tuple[Permission, ...] = (
    Permission(
        (
            "s3:GetBucketPolicy",
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:GetBucketPublicAccessBlock",
            # PutPublicAccessBlock and DeletePublicAccessBlock are both authorized as this action.
            "s3:PutBucketPublicAccessBlock",
        ),
        ("arn:{partition}:s3:::*",),
    ),
    Permission(("iam:GetRole", "iam:UpdateAssumeRolePolicy"), (_ROLE,)),
    # contain_principal attaches the stack's managed deny-all: its undo detaches it.
    Permission(("iam:ListAttachedUserPolicies", "iam:DetachUserPolicy"), (_USER,)),
    Permission(("iam:ListAttachedRolePolicies", "iam:DetachRolePolicy"), (_ROLE,)),
)
"""What undoing the bucket and persistence remediations adds (``responder.remediate``); the IAM
calls of ``contain_principal``'s undo are already in :data:`PERMISSIONS_RECOVER`."""


@dataclass(frozen=True)
class Recorded:
    """One ``ACTION#`` item of the incident table."""

    sk: str
    action: str
    target: str
    status: str
    before: Any
    after: Any
    approved_by: str | None = None
    seq: int = 0


def _query(ddb: Any, table: str, incident_id: str, prefix: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": f"INCIDENT#{incident_id}"}, ":prefix": {"S": prefix}},
        "ConsistentRead": True,
    }
    while True:
        page = ddb.query(**kwargs)
        items += [{k: next(iter(v.values())) for k, v in item.items()} for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def recorded_actions(ddb: Any, table: str, incident_id: str) -> list[Recorded]:
    """The incident's recorded actions, oldest first (``ACTION#<at>#<action>#<target>``; within one
    second by ``seq``, the nanosecond of recording, where the record has one)."""

    def order(item: dict[str, Any]) -> tuple[str, int, str]:
        return (
            item["sk"].split("#")[1] if item["sk"].count("#") >= 1 else "",
            int(item.get("seq", 0)),
            item["sk"],
        )

    return [
        Recorded(
            sk=item["sk"],
            action=item.get("action", ""),
            target=item.get("target", ""),
            status=item.get("status", ""),
            before=json.loads(item.get("before", "null")),
            after=json.loads(item.get("after", "null")),
            approved_by=item.get("approved_by"),
            seq=int(item.get("seq", 0)),
        )
        for item in sorted(_query(ddb, table, incident_id, "ACTION#"), key=order)
    ]


class _Live:
    """Reads the live state; in a dry run, also remembers what the simulated undos would have left."""

    def __init__(self, iam: Any, *, dry_run: bool, s3: Any = None) -> None:
        self.iam = iam
        self.s3 = s3
        self.dry_run = dry_run
        self.simulated: dict[tuple[str, ...], Any] = {}

    def read(self, key: tuple[str, ...], read: Callable[[], Any]) -> Any:
        return self.simulated[key] if key in self.simulated else read()

    def wrote(self, key: tuple[str, ...], value: Any) -> None:
        if self.dry_run:
            self.simulated[key] = value


def _split(target: str) -> tuple[str, str]:
    kind, _, name = target.partition("/")
    if kind not in ("user", "role") or not name:
        raise ValueError(f"not a user/ or role/ target: {target!r}")
    return kind, name


Undo = tuple[str, str, Callable[[], None] | None]
"""(status, detail, the call that makes the undo or None)."""


def _undo_key(live: _Live, rec: Recorded) -> Undo:
    key = rec.target
    before = (rec.before or {}).get("Status")
    after = (rec.after or {}).get("Status")
    iam = live.iam
    try:
        user = iam.get_access_key_last_used(AccessKeyId=key)["UserName"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return "skipped", f"{key} no longer exists (rotated and deleted): nothing to undo", None
        raise
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    current = live.read(
        ("key", key), lambda: next((k["Status"] for k in keys if k["AccessKeyId"] == key), None)
    )
    if current is None:
        return "skipped", f"{key} is no longer a key of {user}: nothing to undo", None
    if before is None:
        return "skipped", f"the status of {key} before the incident was not recorded; left {current}", None
    if current == before:
        return "skipped", f"{user}'s key {key} is already {current}: changed since, nothing to undo", None
    if current != after:
        return (
            "skipped",
            f"{user}'s key {key} is {current}, not the {after} we set: changed since, left as is",
            None,
        )
    live.wrote(("key", key), before)
    return (
        "done",
        f"{user}'s key {key}: {current} -> {before}",
        lambda: iam.update_access_key(UserName=user, AccessKeyId=key, Status=before),
    )


def _undo_policy(live: _Live, rec: Recorded) -> Undo:
    kind, name = _split(rec.target)
    policy_name = (rec.after or {}).get("policy_name")
    ours = (rec.after or {}).get("document")
    before = (rec.before or {}).get("document")
    if not policy_name or ours is None:
        return "skipped", f"the record of {rec.target} names no policy: nothing to undo", None
    iam = live.iam
    ident = {"UserName": name} if kind == "user" else {"RoleName": name}

    def read() -> Any:
        get = iam.get_user_policy if kind == "user" else iam.get_role_policy
        try:
            return decode_policy(get(**ident, PolicyName=policy_name)["PolicyDocument"])
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise

    current = live.read(("policy", rec.target, policy_name), read)
    if current is not None and canonical(current) == canonical(ours):
        live.wrote(("policy", rec.target, policy_name), before)
        if before is None:
            delete = iam.delete_user_policy if kind == "user" else iam.delete_role_policy
            return (
                "done",
                f"{policy_name} deleted from {rec.target}",
                lambda: delete(**ident, PolicyName=policy_name),
            )
        put = iam.put_user_policy if kind == "user" else iam.put_role_policy
        return (
            "done",
            f"{policy_name} on {rec.target} put back as it was before the incident",
            lambda: put(**ident, PolicyName=policy_name, PolicyDocument=json.dumps(before)),
        )
    if (current is None and before is None) or (
        current is not None and before is not None and canonical(current) == canonical(before)
    ):
        return (
            "skipped",
            f"{policy_name} on {rec.target} is already as before the incident: nothing to undo",
            None,
        )
    state = "gone" if current is None else "a different document"
    return (
        "skipped",
        f"{policy_name} on {rec.target} is {state} now, not ours: changed since, left as is",
        None,
    )


def _undo_tags(live: _Live, rec: Recorded) -> Undo:
    kind, name = _split(rec.target)
    iam = live.iam
    before: dict[str, str | None] = {k: (rec.before or {}).get(k) for k in TAG_KEYS}
    after: dict[str, str | None] = {k: (rec.after or {}).get(k) for k in TAG_KEYS}
    tags = live.read(("tags", rec.target), lambda: read_tags(iam, kind, name))
    current = {k: tags.get(k) for k in TAG_KEYS}
    if current == before:
        return "skipped", f"{rec.target}'s responder tags are already as before the incident", None
    if current != after:
        return "skipped", f"{rec.target}'s responder tags changed since ({current}); left as is", None
    restore = [{"Key": k, "Value": v} for k, v in before.items() if v is not None]
    remove = [k for k, v in before.items() if v is None]
    live.wrote(("tags", rec.target), {k: v for k, v in before.items() if v is not None})

    def make() -> None:
        ident = {"UserName": name} if kind == "user" else {"RoleName": name}
        if remove:
            (iam.untag_user if kind == "user" else iam.untag_role)(**ident, TagKeys=remove)
        if restore:
            (iam.tag_user if kind == "user" else iam.tag_role)(**ident, Tags=restore)

    said = ", ".join(
        [f"{k} removed" for k in remove] + [f"{t['Key']}={t['Value']} restored" for t in restore]
    )
    return "done", f"{rec.target}: {said}", make


# ------------------------------------------------ bucket and persistence remediation (responder.remediate)


def _policy_text_canonical(text: Any) -> str | None:
    return None if not text else canonical(json.loads(text))


def _need_s3(live: _Live, rec: Recorded) -> Undo | None:
    if live.s3 is None:
        return "skipped", f"{rec.action} on {rec.target} needs an S3 client: run recover with one", None
    return None


def _undo_bucket_policy(live: _Live, rec: Recorded) -> Undo:
    """restore_bucket_policy / remove_policy_statements: put the snapshotted text back exactly."""
    missing = _need_s3(live, rec)
    if missing:
        return missing
    bucket, s3 = rec.target, live.s3
    before = (rec.before or {}).get("policy")
    ours = (rec.after or {}).get("policy")
    sha = (rec.before or {}).get("policy_sha256")
    if before is not None and sha and hashlib.sha256(before.encode()).hexdigest() != sha:
        return (
            "skipped",
            f"the recorded policy of {bucket} does not match its snapshot's sha256: left as is",
            None,
        )

    def read() -> Any:
        try:
            return s3.get_bucket_policy(Bucket=bucket)["Policy"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchBucketPolicy":
                return None
            raise

    current = live.read(("bucket_policy", bucket), read)
    if _policy_text_canonical(current) == _policy_text_canonical(before):
        return (
            "skipped",
            f"the policy of {bucket} is already as snapshotted before the fix: nothing to undo",
            None,
        )
    if _policy_text_canonical(current) != _policy_text_canonical(ours):
        return "skipped", f"the policy of {bucket} is not the one we set: changed since, left as is", None
    live.wrote(("bucket_policy", bucket), before)
    snapshot = (rec.before or {}).get("snapshot") or "the record"
    if before is None:
        return (
            "done",
            f"policy of {bucket} deleted: it had none ({snapshot})",
            lambda: s3.delete_bucket_policy(Bucket=bucket),
        )
    return (
        "done",
        f"policy of {bucket} put back exactly as snapshotted (sha256 {sha}, {snapshot})",
        lambda: s3.put_bucket_policy(Bucket=bucket, Policy=before),
    )


def _undo_public_access_block(live: _Live, rec: Recorded) -> Undo:
    missing = _need_s3(live, rec)
    if missing:
        return missing
    bucket, s3 = rec.target, live.s3
    before = (rec.before or {}).get("public_access_block")
    ours = (rec.after or {}).get("public_access_block")

    def read() -> Any:
        try:
            return s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchPublicAccessBlockConfiguration":
                return None
            raise

    current = live.read(("pab", bucket), read)
    if current == before:
        return "skipped", f"Block Public Access of {bucket} is already as before the fix", None
    if current != ours:
        return "skipped", f"Block Public Access of {bucket} changed since ({current}): left as is", None
    live.wrote(("pab", bucket), before)
    if before is None:
        return (
            "done",
            f"Block Public Access configuration of {bucket} deleted: it had none",
            lambda: s3.delete_public_access_block(Bucket=bucket),
        )
    return (
        "done",
        f"Block Public Access of {bucket} put back to {before}",
        lambda: s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=before),
    )


def _undo_managed_deny(
    live: _Live,
    principal: str,
    before: dict[str, Any],
    arn: str,
    calls: list[Callable[[], None]],
    said: list[str],
    unchanged: list[str],
) -> None:
    """The stack's managed deny-all, attached by containment: detached only if we attached it."""
    kind, name = _split(principal)
    iam = live.iam
    was = bool((before.get("deny_policy") or {}).get("attached"))
    if kind == "user":
        listed = lambda: iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]  # noqa: E731
        detach: Callable[[], Any] = partial(iam.detach_user_policy, UserName=name, PolicyArn=arn)
    else:
        listed = lambda: iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]  # noqa: E731
        detach = partial(iam.detach_role_policy, RoleName=name, PolicyArn=arn)
    key = ("attached", principal, arn)
    attached = live.read(key, lambda: arn in {p["PolicyArn"] for p in listed()})
    short = arn.rsplit("/", 1)[-1]
    if attached and not was:
        live.wrote(key, False)
        calls.append(detach)
        said.append(f"{short} detached")
    else:
        unchanged.append(f"{short} is {'attached since before' if attached else 'not attached'}, left as is")


def _undo_contain_principal(live: _Live, rec: Recorded) -> Undo:
    """Re-enable the keys we set Inactive, remove our deny-all; a removed login profile stays removed."""
    before, after = rec.before or {}, rec.after or {}
    kind, name = _split(str(after.get("principal") or rec.target))
    iam = live.iam
    calls: list[Callable[[], None]] = []
    said: list[str] = []
    unchanged: list[str] = []
    if after.get("keys"):
        listed = {
            k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        }
        for key, set_to in sorted(after["keys"].items()):
            was = before.get("keys", {}).get(key)
            current = live.read(("key", key), partial(listed.get, key))
            if current is None:
                unchanged.append(f"{key} is gone")
            elif current == set_to and was and was != set_to:
                live.wrote(("key", key), was)
                calls.append(partial(iam.update_access_key, UserName=name, AccessKeyId=key, Status=was))
                said.append(f"{key} {current} -> {was}")
            else:
                unchanged.append(f"{key} is {current}, left as is")
    deny = after.get("deny_policy") or {}
    if deny.get("arn") and deny.get("attached"):
        _undo_managed_deny(live, f"{kind}/{name}", before, deny["arn"], calls, said, unchanged)
    elif deny.get("name"):
        ident = {"UserName": name} if kind == "user" else {"RoleName": name}
        get = iam.get_user_policy if kind == "user" else iam.get_role_policy

        def read() -> Any:
            try:
                return decode_policy(get(**ident, PolicyName=deny["name"])["PolicyDocument"])
            except ClientError as exc:
                if error_code(exc) == "NoSuchEntity":
                    return None
                raise

        current = live.read(("policy", f"{kind}/{name}", deny["name"]), read)
        earlier = (before.get("deny_policy") or {}).get("document")
        if current is not None and canonical(current) == canonical(deny.get("document")):
            live.wrote(("policy", f"{kind}/{name}", deny["name"]), earlier)
            if earlier is None:
                delete = iam.delete_user_policy if kind == "user" else iam.delete_role_policy
                calls.append(lambda: delete(**ident, PolicyName=deny["name"]))
                said.append(f"{deny['name']} deleted")
            else:
                put = iam.put_user_policy if kind == "user" else iam.put_role_policy
                calls.append(
                    lambda: put(**ident, PolicyName=deny["name"], PolicyDocument=json.dumps(earlier))
                )
                said.append(f"{deny['name']} put back as before")
        else:
            unchanged.append(f"{deny['name']} is not ours any more, left as is")
    profile = before.get("login_profile") or {}
    if profile.get("exists"):
        unchanged.append(
            f"the login profile (created {profile.get('create_date')}) is not recreated: its password "
            "cannot be read or restored; the owner sets a new one if the user is kept"
        )
    if not calls:
        return (
            "skipped",
            f"{rec.target}: nothing of ours to undo ({'; '.join(unchanged) or 'no change'})",
            None,
        )

    def make() -> None:
        for call in calls:
            call()

    return "done", f"{rec.target}: " + "; ".join(said + unchanged), make


def _undo_trust(live: _Live, rec: Recorded) -> Undo:
    _, role = _split(rec.target)
    iam = live.iam
    before = (rec.before or {}).get("trust_policy")
    ours = (rec.after or {}).get("trust_policy")
    current = live.read(
        ("trust", role),
        lambda: decode_policy(iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]),
    )
    if before is None or ours is None:
        return "skipped", f"the record of {rec.target} holds no trust policy", None
    if canonical(current) == canonical(before):
        return "skipped", f"the trust policy of {rec.target} is already as before", None
    if canonical(current) != canonical(ours):
        return "skipped", f"the trust policy of {rec.target} changed since: left as is", None
    live.wrote(("trust", role), before)
    return (
        "done",
        f"trust policy of {rec.target} put back as before containment",
        lambda: iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(before)),
    )


# Who allowed an undo: the person who ran `responder recover` (its CLI asks before it changes anything).
RECOVERED_BY = "responder recover"

_UNDO: dict[str, Callable[[_Live, Recorded], Undo]] = {
    "disable_access_key": _undo_key,
    "revoke_sessions": _undo_policy,
    "tag_principal": _undo_tags,
    "restore_bucket_policy": _undo_bucket_policy,
    "remove_policy_statements": _undo_bucket_policy,
    "block_public_access": _undo_public_access_block,
    "contain_principal": _undo_contain_principal,
    "remove_trust_statements": _undo_trust,
}


def _release_claim(ddb: Any, table: str, key: str, incident_id: str) -> None:
    """The key's containment claim is released: if the key leaks again, a new run contains it."""
    try:
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": f"KEY#{key}"}, "sk": {"S": "CONTAINMENT"}},
            UpdateExpression="SET #s = :recovered, recovered_by_incident = :inc",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":recovered": {"S": "recovered"}, ":inc": {"S": incident_id}},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":  # no claim: contained before claims existed
            raise


def _record_recover(ddb: Any, table: str, incident_id: str, rec: Recorded, action: Action) -> None:
    # The undo's own before/after: the reverse of the recorded change, in the one record layout.
    record_change(
        ddb,
        table,
        incident_id,
        action,
        rec.after,
        rec.before,
        approved_by=RECOVERED_BY,
        sk=f"RECOVER#{rec.sk}",
    )


# ------------------------------------------------------------------------------ choosing what to undo


@dataclass(frozen=True)
class Selection:
    """Which recorded changes to undo: those ``only`` names (short ids or sort keys) and those on one of
    ``targets`` (an access key id, ``user/NAME``, ``role/NAME``, an IAM ARN, a bucket); every change
    when neither is given; then less those ``exclude`` names. The empty selection is everything."""

    only: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.only or self.targets or self.exclude)


RecoverStatus = Literal["done", "already_done", "skipped", "would_do", "not_selected"]


@dataclass(frozen=True)
class RecoverItem:
    """One recorded change, newest first, and what recover did (or in a dry run would do) to it.

    ``action`` is the ``undo_<action>`` Action the report layout knows; a change left out of the
    selection is ``not_selected`` here and ``skipped`` ("not selected") there.
    """

    ref: str
    """Short and stable: the first 8 hex digits of the sha256 of the record's sort key."""
    sk: str
    what: str
    """The kind of change and what it changed: the key, the principal, the bucket and its Sids."""
    status: RecoverStatus
    action: Action
    needs: tuple[str, ...] = ()
    """The refs of newer changes to the same state: undoing this one needs them undone (first)."""


_BUCKET_ACTIONS = frozenset({"restore_bucket_policy", "remove_policy_statements", "block_public_access"})
_REF = re.compile(r"[0-9a-fA-F]{8}")


def change_ref(sk: str) -> str:
    """The short id of a record, from its sort key alone: the same in every listing and every run."""
    return hashlib.sha256(sk.encode()).hexdigest()[:8]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _touches(rec: Recorded) -> frozenset[tuple[str, ...]]:
    """The live state a record's undo reads back and puts back.

    Each undo checks that this state is still exactly what its change set, and the undos run newest
    first: two changes that share some of it form a chain. A bucket counts as one state, its policy
    and Block Public Access together, because S3 refuses a public policy while BlockPublicPolicy is
    on: its policy is put back only after Block Public Access (set later) is.
    """
    after = _dict(rec.after)
    if rec.action == "disable_access_key":
        return frozenset({("key", rec.target)})
    if rec.action == "revoke_sessions":
        return frozenset({("policy", rec.target, str(after.get("policy_name") or ""))})
    if rec.action == "tag_principal":
        return frozenset({("tags", rec.target)})
    if rec.action in _BUCKET_ACTIONS:
        return frozenset({("bucket", rec.target)})
    if rec.action == "remove_trust_statements":
        return frozenset({("trust", rec.target)})
    if rec.action == "contain_principal":
        principal = str(after.get("principal") or rec.target)
        touched: set[tuple[str, ...]] = {("key", str(key)) for key in _dict(after.get("keys"))}
        deny = _dict(after.get("deny_policy"))
        if deny.get("arn") and deny.get("attached"):
            touched.add(("attached", principal, str(deny["arn"])))
        elif deny.get("name"):
            touched.add(("policy", principal, str(deny["name"])))
        return frozenset(touched or {("principal", principal)})
    return frozenset({("target", rec.target)})


def _names(rec: Recorded) -> set[str]:
    """What ``--target`` may call a record: its target, and for a contained principal its keys."""
    names = {rec.target, rec.target.removeprefix("access-key/")}
    if rec.action == "contain_principal":
        after = _dict(rec.after)
        if after.get("principal"):
            names.add(str(after["principal"]))
        names |= {str(key) for key in _dict(after.get("keys"))}
    return names


def _target_name(text: str) -> str:
    """An ARN or ``access-key/`` form as the records name it: ``user/NAME`` (no path), a bucket, a key."""
    text = text.strip()
    parts = text.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn":
        service, resource = parts[2], parts[5]
        kind, _, rest = resource.partition("/")
        if service == "iam" and kind in ("user", "role") and rest:
            return f"{kind}/{rest.rsplit('/', 1)[-1]}"
        if service == "sts" and kind == "assumed-role" and rest:
            return f"role/{rest.split('/', 1)[0]}"
        if service == "s3" and resource and "/" not in resource:
            return resource
    return text.removeprefix("access-key/")


def _statements(document: Any) -> list[Any]:
    found = _dict(document).get("Statement")
    return found if isinstance(found, list) else [found] if found is not None else []


def _removed_sids(before: Any, after: Any) -> str:
    """The statements of ``before`` that ``after`` lacks, by Sid."""
    kept = {canonical(s) for s in _statements(after)}
    gone = [s for s in _statements(before) if canonical(s) not in kept]
    return ", ".join(str(_dict(s).get("Sid") or "(no Sid)") for s in gone) or "none"


def _policy_json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _what(rec: Recorded) -> str:
    """What a record changed, from the record alone (the listing shows it before anything is read)."""
    before, after = _dict(rec.before), _dict(rec.after)
    if rec.action == "disable_access_key":
        return f"access key {rec.target}"
    if rec.action == "revoke_sessions":
        return f"{rec.target} session revocation {after.get('policy_name') or '(unnamed)'}"
    if rec.action == "tag_principal":
        return f"{rec.target} tags {', '.join(TAG_KEYS)}"
    if rec.action == "remove_policy_statements":
        sids = _removed_sids(_policy_json(before.get("policy")), _policy_json(after.get("policy")))
        return f"bucket {rec.target} statement(s) removed: Sid {sids}"
    if rec.action == "restore_bucket_policy":
        return f"bucket {rec.target} policy replaced by an earlier one"
    if rec.action == "block_public_access":
        return f"bucket {rec.target} Block Public Access turned on"
    if rec.action == "remove_trust_statements":
        sids = _removed_sids(before.get("trust_policy"), after.get("trust_policy"))
        return f"{rec.target} trust statement(s) removed: Sid {sids}"
    if rec.action == "contain_principal":
        parts = []
        if after.get("keys"):
            parts.append(f"key(s) {', '.join(sorted(str(k) for k in _dict(after['keys'])))} set Inactive")
        deny = _dict(after.get("deny_policy"))
        if deny.get("arn") or deny.get("name"):
            parts.append(f"deny-all {str(deny.get('arn') or deny.get('name')).rsplit('/', 1)[-1]}")
        if after.get("login_profile"):
            parts.append("login profile removed")
        principal = after.get("principal") or rec.target
        return f"{principal} {'; '.join(parts) or 'contained'}"
    return f"{rec.action} on {rec.target}"


def _by_ref(records: Sequence[Recorded], value: str, flag: str, incident_id: str) -> str:
    """The sort key ``value`` names: a short id as listed, or the sort key itself."""
    text = value.strip()
    if text.startswith("ACTION#"):
        hits = [r.sk for r in records if r.sk == text]
    elif _REF.fullmatch(text):
        hits = [r.sk for r in records if change_ref(r.sk) == text.lower()]
    else:
        raise UnknownSelector(
            f"{flag} {text!r} is not a change id (8 hex digits, as the listing shows) or a sort key "
            "(ACTION#...); name a key, user/NAME, role/NAME or bucket with --target"
        )
    if not hits:
        raise UnknownSelector(
            f"{flag} {text} names no recorded change of incident {incident_id}; "
            f"`responder recover --incident {incident_id} --dry-run` lists them; nothing changed"
        )
    if len(hits) > 1:
        raise AmbiguousSelector(
            f"{flag} {text} names {len(hits)} changes of incident {incident_id}; select each by its sort "
            f"key instead: {', '.join(hits)}; nothing changed"
        )
    return hits[0]


def _chosen(records: Sequence[Recorded], selection: Selection, incident_id: str) -> set[str]:
    """The sort keys the selection names; UnknownSelector for any part that names nothing."""
    only = {_by_ref(records, value, "--only", incident_id) for value in selection.only}
    named = set(only)
    for value in selection.targets:
        name = _target_name(value)
        hits = {r.sk for r in records if name in _names(r)}
        if not hits:
            known = sorted({r.target for r in records})
            listed = ", ".join(known[:6]) + (f" (+{len(known) - 6} more)" if len(known) > 6 else "")
            raise UnknownSelector(
                f"--target {value.strip()} is on no recorded change of incident {incident_id} (its "
                f"targets: {listed}; a user is user/NAME, a role role/NAME); nothing changed"
            )
        named |= hits
    chosen = named if selection.only or selection.targets else {r.sk for r in records}
    excluded = {_by_ref(records, value, "--except", incident_id) for value in selection.exclude}
    # "--target T --except ID" is all of T but one; "--only ID --except ID" is a typo, said as such.
    both = sorted(change_ref(sk) for sk in excluded & only)
    if both:
        raise ConflictingSelection(f"{', '.join(both)} both in --only and in --except; nothing changed")
    return chosen - excluded


def _needs(records: Sequence[Recorded], pending: set[str]) -> dict[str, list[str]]:
    """For each change still to undo, the newer ones still to undo that share some of its state."""
    touched = {r.sk: _touches(r) for r in records}
    return {
        rec.sk: [n.sk for n in records[i + 1 :] if n.sk in pending and touched[rec.sk] & touched[n.sk]]
        for i, rec in enumerate(records)
        if rec.sk in pending
    }


def _check_order(
    records: Sequence[Recorded],
    needs: dict[str, list[str]],
    chosen: set[str],
    selection: Selection,
    incident_id: str,
) -> None:
    """SelectionBreaksOrder when a chosen change needs one that is left out; the message says which
    selectors to add (or which ``--except`` to drop).

    Undoing the older change alone would seldom make the account worse (its undo would find the
    state is not what it set, and skip), but on a bucket S3 may refuse the policy under Block Public
    Access mid-run, and either way it would not do what was asked: so it is refused up front.
    """
    newest_first = sorted(range(len(records)), reverse=True)
    order = {records[i].sk: n for n, i in enumerate(newest_first)}
    by_sk = {r.sk: r for r in records}
    missing = {
        sk: left
        for sk in sorted(chosen, key=order.__getitem__)
        if (left := [n for n in needs.get(sk, []) if n not in chosen])
    }
    if not missing:
        return
    required: set[str] = set()
    stack = [n for left in missing.values() for n in left]
    while stack:  # what those need in turn, so that one message names every selector to add
        sk = stack.pop()
        if sk not in chosen and sk not in required:
            required.add(sk)
            stack += needs.get(sk, [])
    excluded = {_by_ref(records, value, "--except", incident_id) for value in selection.exclude}
    ordered = sorted(required, key=order.__getitem__)
    todo = [f"add --only {change_ref(sk)}" for sk in ordered if sk not in excluded]
    todo += [f"drop --except {change_ref(sk)}" for sk in ordered if sk in excluded]
    why = "; ".join(
        f"{change_ref(sk)} (undo_{by_sk[sk].action}) is older than {change_ref(n)} "
        f"(undo_{by_sk[n].action}) on {_state_name(by_sk[sk], by_sk[n])}"
        for sk, left in missing.items()
        for n in left
    )
    raise SelectionBreaksOrder(
        f"selection refused, nothing changed: {', '.join(todo)} (or leave "
        f"{', '.join(change_ref(sk) for sk in missing)} out): {why}, and recover undoes "
        "newest first"
    )


def _state_name(older: Recorded, newer: Recorded) -> str:
    """The state two records share, in words."""
    names = []
    for key in sorted(_touches(older) & _touches(newer)):
        kind, *rest = key
        if kind == "key":
            names.append(f"the status of key {rest[0]}")
        elif kind == "policy":
            names.append(f"policy {rest[1]} of {rest[0]}")
        elif kind == "tags":
            names.append(f"the responder tags of {rest[0]}")
        elif kind == "attached":
            names.append(f"the attachment of {rest[1].rsplit('/', 1)[-1]} to {rest[0]}")
        elif kind == "trust":
            names.append(f"the trust policy of {rest[0]}")
        elif kind == "bucket":
            names.append(f"bucket {rest[0]} (policy and Block Public Access)")
        else:
            names.append(" ".join(rest))
    return " and ".join(names)


# ------------------------------------------------------------------------------------- recover


def recover_changes(
    iam: Any,
    ddb: Any,
    table: str,
    incident_id: str,
    *,
    dry_run: bool = False,
    s3: Any = None,
    selection: Selection | None = None,
) -> list[RecoverItem]:
    """Undo the incident's recorded changes (those ``selection`` names, else all), newest first.

    One :class:`RecoverItem` per record. ``s3`` is needed to undo bucket fixes
    (``restore_bucket_policy``, ``remove_policy_statements``, ``block_public_access``); without it
    those are ``skipped`` with the reason.

    Statuses: ``done``; ``already_done`` (undone by an earlier recover); ``skipped`` with the reason
    (changed since, gone, not ours, not undoable); ``would_do`` in a dry run, which changes nothing;
    ``not_selected`` (left as is, undoable by a later run). A selection is checked against the
    records before anything is read from the account or changed: UnknownSelector,
    AmbiguousSelector, ConflictingSelection, SelectionBreaksOrder (all InvalidInput). Raises
    IncidentNotFound (nothing recorded for that id), Throttled or ContainmentFailed (the message says
    what was undone and what was not; re-running continues where it stopped).
    """
    records, recovered = _read(ddb, table, incident_id)
    # Only these can still be undone, so only these can hold an older change back.
    pending = {r.sk for r in records if r.sk not in recovered and r.status == "done" and r.action in _UNDO}
    needs = _needs(records, pending)
    chosen: set[str] | None = None
    if selection:
        chosen = _chosen(records, selection, incident_id)
        _check_order(records, needs, chosen, selection, incident_id)
    live = _Live(iam, dry_run=dry_run, s3=s3)
    items: list[RecoverItem] = []
    for rec in reversed(records):
        name = f"undo_{rec.action}"

        def item(status: RecoverStatus, action: Action, rec: Recorded = rec) -> RecoverItem:
            return RecoverItem(
                ref=change_ref(rec.sk),
                sk=rec.sk,
                what=_what(rec),
                status=status,
                action=action,
                needs=tuple(change_ref(n) for n in needs.get(rec.sk, [])),
            )

        untouched = _left_as_is(rec, recovered.get(rec.sk), chosen)
        if untouched is not None:
            items.append(item(*untouched))
            continue
        try:
            status, detail, make = _UNDO[rec.action](live, rec)
            if make is not None and not dry_run:
                make()
        except ClientError as exc:
            raise failure(exc, _progress(rec, items, len(records))) from exc
        except ValueError as exc:  # a record this version cannot read: say so, undo the rest
            status, detail, make = "skipped", f"unreadable record: {exc}", None
        if status != "done" or make is None:
            items.append(item("skipped", Action.now(name, rec.target, "skipped", detail)))
            continue
        action = Action(
            action=name,
            target=rec.target,
            status="would_do" if dry_run else "done",
            at=iso(utc_now()),
            detail=detail,
        )
        if not dry_run:
            try:
                _record_recover(ddb, table, incident_id, rec, action)
                if rec.action == "disable_access_key":
                    _release_claim(ddb, table, rec.target, incident_id)
            except ClientError as exc:
                raise failure(
                    exc,
                    f"{detail} was done but not recorded (a re-run reports it skipped: already as before); "
                    + _progress(rec, [*items, item("done", action)], len(records), current_done=True),
                ) from exc
        items.append(item("would_do" if dry_run else "done", action))
    return items


def _read(ddb: Any, table: str, incident_id: str) -> tuple[list[Recorded], dict[str, dict[str, Any]]]:
    """The incident's records, oldest first, and its earlier undos by the sort key they undid."""
    try:
        records = recorded_actions(ddb, table, incident_id)
        recovered = {
            item["sk"].removeprefix("RECOVER#"): item for item in _query(ddb, table, incident_id, "RECOVER#")
        }
    except ClientError as exc:
        raise failure(exc, f"could not read incident {incident_id} from {table}; nothing undone") from exc
    if not records:
        raise IncidentNotFound(f"incident {incident_id} has no recorded actions in table {table}")
    return records, recovered


def _left_as_is(
    rec: Recorded, earlier: dict[str, Any] | None, chosen: set[str] | None
) -> tuple[RecoverStatus, Action] | None:
    """Why a record is not looked at in the account (undone already, nothing of ours, not selected)."""
    name = f"undo_{rec.action}"
    if earlier is not None:
        detail = f"undone by an earlier recover: {earlier.get('detail', '')}"
        at = earlier.get("at") or None
        return "already_done", Action(
            action=name, target=rec.target, status="already_done", at=at, detail=detail
        )
    if rec.status != "done" or rec.action not in _UNDO:
        why = (
            f"recorded as {rec.status}: no change of ours"
            if rec.status != "done"
            else "recover does not undo it"
        )
        return "skipped", Action.now(name, rec.target, "skipped", f"{rec.action} {why}")
    if chosen is not None and rec.sk not in chosen:
        return "not_selected", Action.now(name, rec.target, "skipped", "not selected: left as is")
    return None


def recover_incident(
    iam: Any,
    ddb: Any,
    table: str,
    incident_id: str,
    *,
    dry_run: bool = False,
    s3: Any = None,
    selection: Selection | None = None,
) -> list[Action]:
    """:func:`recover_changes` as ``undo_<action>`` Actions, one per record (a change left out of the
    selection is ``skipped``, "not selected")."""
    items = recover_changes(iam, ddb, table, incident_id, dry_run=dry_run, s3=s3, selection=selection)
    return [i.action for i in items]


def _progress(rec: Recorded, items: list[RecoverItem], total: int, *, current_done: bool = False) -> str:
    done = [f"{i.action.action} {i.action.target}" for i in items if i.status == "done"]
    head = "" if current_done else f"undoing {rec.action} on {rec.target} failed, it is NOT undone; "
    return (
        f"{head}undone so far: {', '.join(done) or 'nothing'}; {total - len(done)} recorded change(s) "
        "not undone; run recover again to continue"
    )


def recover_lines(items: Sequence[RecoverItem]) -> list[str]:
    """The CLI's listing: a header, then one line per recorded change, newest first.

    Names and Sids come from the account: each line is encoded for the terminal here, newlines
    included, so that none of them can draw a line of its own.
    """
    lines = [f"{'ID':<8}  {'STATUS':<12}  {'UNDO':<29}  {'CHANGE':<50}  WHAT UNDOING DOES"]
    for i in items:
        needs = (
            f" (needs {', '.join(i.needs)})" if i.needs and i.status in ("would_do", "not_selected") else ""
        )
        line = (
            f"{i.ref:<8}  {i.status:<12}  {i.action.action:<29}  {i.what:<50}  {i.action.detail or ''}{needs}"
        )
        lines.append(terminal_line(line.rstrip()))
    return lines
