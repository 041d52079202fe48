"""Undo an incident's containment once the owner has rotated: ``responder recover --incident ID``.

Reads the incident's ``ACTION#`` records (written by containment and revoke with the state before
and after each change) and undoes them newest first. A change is undone only while the live state
is still exactly what we set; anything changed since is left alone and reported ``skipped`` with the
reason. Each undo is recorded as ``RECOVER#<action sk>``, so running recover again is a no-op
(``already_done``). Skipped ones are looked at again next time: after another incident's recover
has removed the change on top of ours, ours becomes undoable.

With ``dry_run`` nothing is written anywhere: the actions come back ``would_do``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from responder.errors import IncidentNotFound
from responder.models import Action, iso, utc_now
from responder.permissions import Permission
from responder.revoke import TAG_KEYS, canonical, code_of, decode_policy, failure, read_tags

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
    Permission(("dynamodb:Query", "dynamodb:PutItem"), ("@incident_table",)),
)
"""What :func:`recover_incident` calls (the CLI runs it with the operator's credentials)."""


@dataclass(frozen=True)
class Recorded:
    """One ``ACTION#`` item of the incident table."""

    sk: str
    action: str
    target: str
    status: str
    before: Any
    after: Any


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
    """The incident's recorded actions, oldest first (sk order: ``ACTION#<at>#<action>#<target>``)."""
    return [
        Recorded(
            sk=item["sk"],
            action=item.get("action", ""),
            target=item.get("target", ""),
            status=item.get("status", ""),
            before=json.loads(item.get("before", "null")),
            after=json.loads(item.get("after", "null")),
        )
        for item in sorted(_query(ddb, table, incident_id, "ACTION#"), key=lambda i: i["sk"])
    ]


class _Live:
    """Reads the live state; in a dry run, also remembers what the simulated undos would have left."""

    def __init__(self, iam: Any, *, dry_run: bool) -> None:
        self.iam = iam
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
        if code_of(exc) == "NoSuchEntity":
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
            if code_of(exc) == "NoSuchEntity":
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


_UNDO: dict[str, Callable[[_Live, Recorded], Undo]] = {
    "disable_access_key": _undo_key,
    "revoke_sessions": _undo_policy,
    "tag_principal": _undo_tags,
}


def _record_recover(ddb: Any, table: str, incident_id: str, rec: Recorded, action: Action) -> None:
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"INCIDENT#{incident_id}"},
            "sk": {"S": f"RECOVER#{rec.sk}"},
            "action": {"S": action.action},
            "target": {"S": action.target},
            "status": {"S": action.status},
            "at": {"S": action.at or ""},
            "detail": {"S": action.detail or ""},
            # The undo's own before/after: the reverse of the recorded change.
            "before": {"S": json.dumps(rec.after, sort_keys=True, default=str)},
            "after": {"S": json.dumps(rec.before, sort_keys=True, default=str)},
        },
    )


def recover_incident(
    iam: Any, ddb: Any, table: str, incident_id: str, *, dry_run: bool = False
) -> list[Action]:
    """Undo the incident's recorded changes, newest first; one ``undo_<action>`` Action per record.

    Statuses: ``done``; ``already_done`` (undone by an earlier recover); ``skipped`` with the reason
    (changed since, gone, not ours, not undoable); ``would_do`` in a dry run, which changes nothing.
    Raises IncidentNotFound (nothing recorded for that id), Throttled or ContainmentFailed (the
    message says what was undone and what was not; re-running continues where it stopped).
    """
    try:
        records = recorded_actions(ddb, table, incident_id)
        recovered = {
            item["sk"].removeprefix("RECOVER#"): item for item in _query(ddb, table, incident_id, "RECOVER#")
        }
    except ClientError as exc:
        raise failure(exc, f"could not read incident {incident_id} from {table}; nothing undone") from exc
    if not records:
        raise IncidentNotFound(f"incident {incident_id} has no recorded actions in table {table}")
    live = _Live(iam, dry_run=dry_run)
    results: list[Action] = []
    for rec in reversed(records):
        name = f"undo_{rec.action}"
        earlier = recovered.get(rec.sk)
        if earlier is not None:
            results.append(
                Action(
                    action=name,
                    target=rec.target,
                    status="already_done",
                    at=earlier.get("at") or None,
                    detail=f"undone by an earlier recover: {earlier.get('detail', '')}",
                )
            )
            continue
        undo = _UNDO.get(rec.action)
        if rec.status != "done" or undo is None:
            why = (
                f"recorded as {rec.status}: no change of ours"
                if rec.status != "done"
                else "recover does not undo it"
            )
            results.append(Action.now(name, rec.target, "skipped", f"{rec.action} {why}"))
            continue
        try:
            status, detail, make = undo(live, rec)
            if make is not None and not dry_run:
                make()
        except ClientError as exc:
            raise failure(exc, _progress(rec, results, len(records))) from exc
        except ValueError as exc:  # a record this version cannot read: say so, undo the rest
            status, detail, make = "skipped", f"unreadable record: {exc}", None
        if status != "done" or make is None:
            results.append(Action.now(name, rec.target, "skipped", detail))
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
            except ClientError as exc:
                raise failure(
                    exc,
                    f"{detail} was done but not recorded (a re-run reports it skipped: already as before); "
                    + _progress(rec, [*results, action], len(records), current_done=True),
                ) from exc
        results.append(action)
    return results


def _progress(rec: Recorded, results: list[Action], total: int, *, current_done: bool = False) -> str:
    done = [f"{a.action} {a.target}" for a in results if a.status == "done"]
    left = total - len(results)
    head = "" if current_done else f"undoing {rec.action} on {rec.target} failed, it is NOT undone; "
    return (
        f"{head}undone so far: {', '.join(done) or 'nothing'}; {left} recorded change(s) not undone; "
        "run recover again to continue"
    )


def recover_summary(actions: list[Action]) -> list[str]:
    """One line per action, for the CLI."""
    return [f"{a.status:<13} {a.action:<26} {a.target:<40} {a.detail or ''}".rstrip() for a in actions]
