"""Contain the IAM persistence the exposed key left behind (playbook step 8), undoably.

:func:`plan_persistence` reads the report's ``iam_changes`` (every IAM write by the key and the
credentials minted from it) and lists the rogue things: users and roles it created, access keys
and login profiles it gave anyone, policies it attached or put, trust policies it opened.

:func:`contain_persistence` contains them now without deleting anything (deletion is the separate,
approval-gated eradication run):

- a user it created: ``responder-deny-all-<incident>`` inline, every access key Inactive, the login
  profile removed (its password cannot be read, so its existence and CreateDate are recorded;
  recover cannot give it back, and says so);
- a role it created: the same deny-all inline policy (it ends every session at once);
- a key or login profile it gave an existing user: that key Inactive, that login profile removed;
- a trust policy it opened on an existing role: the statements that let outsiders in removed;
- a policy it attached to or put on an existing principal: left to eradication (``skipped``, said).

Each change is recorded before it is made, with before, after and who approved it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from responder.analysis.buckets import statement_external
from responder.models import Action, iso
from responder.permissions import Permission
from responder.remediate.record import DENY_ALL, deny_policy_name, record_change, require_approver
from responder.revoke import canonical, code_of, decode_policy, failure

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

PERMISSIONS_CONTAIN_PERSISTENCE: tuple[Permission, ...] = (
    Permission(
        (
            "iam:GetAccessKeyLastUsed",
            "iam:ListAccessKeys",
            "iam:UpdateAccessKey",
            "iam:GetUserPolicy",
            "iam:PutUserPolicy",
            "iam:GetLoginProfile",
            "iam:DeleteLoginProfile",
        ),
        (_USER,),
    ),
    Permission(
        ("iam:GetRolePolicy", "iam:PutRolePolicy", "iam:GetRole", "iam:UpdateAssumeRolePolicy"), (_ROLE,)
    ),
    Permission(("dynamodb:PutItem",), ("@incident_table",)),
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


# ------------------------------------------------------------------------------------ planning


def _label(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('event_name')} at {entry.get('event_time')} ({entry.get('event_id') or 'no id'})"


def _policy_of(detail: str | None) -> str | None:
    return detail.removeprefix("policy ").strip() or None if detail and detail.startswith("policy ") else None


def plan_persistence(report: Mapping[str, Any], *, exposed_user: str | None = None) -> list[Rogue]:
    """The rogue IAM things in the report's ``iam_changes`` (successful calls only). Pure.

    The exposed key's own user is never listed as rogue unless the key created it in the window;
    a key or login profile the key gave that user is.
    """
    if exposed_user is None:
        exposed_user = ((report.get("subject") or {}).get("principal") or {}).get("user_name")
    changes = [c for c in report.get("iam_changes") or [] if c.get("succeeded")]
    rogue: dict[tuple[str, str], Rogue] = {}

    def add(kind: RogueKind, name: str, entry: Mapping[str, Any], reason: str, **extra: Any) -> None:
        item = rogue.setdefault((kind, name), Rogue(kind=kind, name=name, reason=reason, **extra))
        item.events.append(_label(entry))

    for c in changes:
        kind, _, name = str(c.get("target", "")).partition("/")
        if c.get("event_name") == "CreateUser" and kind == "user":
            add("user", name, c, "created by the exposed key", created_in_window=True)
        elif c.get("event_name") == "CreateRole" and kind == "role":
            add("role", name, c, "created by the exposed key", created_in_window=True)
    users = {r.name for r in rogue.values() if r.kind == "user"}
    roles = {r.name for r in rogue.values() if r.kind == "role"}

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
            continue
        if event == "CreateAccessKey" and kind == "access-key" and not name.startswith("("):
            add(
                "access_key",
                name,
                c,
                "an access key the exposed key created for an existing user",
                principal=f"user/{owner}" if owner else None,
                created_in_window=True,
            )
        elif event in ("CreateLoginProfile", "UpdateLoginProfile") and kind == "user":
            add(
                "login_profile",
                name,
                c,
                f"console password {'set' if event == 'CreateLoginProfile' else 'changed'} by the exposed key",
                principal=f"user/{name}",
                created_in_window=event == "CreateLoginProfile",
            )
        elif event == "UpdateAssumeRolePolicy" and kind == "role":
            add("role_trust", name, c, "trust policy changed by the exposed key", principal=f"role/{name}")
        elif event in ("PutUserPolicy", "PutRolePolicy") and policy and kind in ("user", "role"):
            add(
                "inline_policy",
                f"{kind}/{name}/{policy}",
                c,
                f"inline policy {policy} put on an existing {kind} by the exposed key",
                principal=f"{kind}/{name}",
            )
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
    if exposed_user:
        created_here = any(
            c.get("event_name") == "CreateUser" and c.get("target") == f"user/{exposed_user}" for c in changes
        )
        if not created_here:
            rogue.pop(("user", exposed_user), None)
    order = {"user": 0, "role": 1, "access_key": 2, "login_profile": 3, "role_trust": 4}
    return sorted(rogue.values(), key=lambda r: (order.get(r.kind, 9), r.name))


# --------------------------------------------------------------------------------- containing


def _login_profile(iam: Any, user: str) -> dict[str, Any] | None:
    try:
        profile = iam.get_login_profile(UserName=user)["LoginProfile"]
    except ClientError as exc:
        if code_of(exc) == "NoSuchEntity":
            return None
        raise
    created = profile.get("CreateDate")
    return {
        "exists": True,
        "create_date": iso(created) if hasattr(created, "tzinfo") else created,
        "password_reset_required": bool(profile.get("PasswordResetRequired")),
    }


def _inline(get: Callable[[], Any]) -> Any:
    try:
        return decode_policy(get()["PolicyDocument"])
    except ClientError as exc:
        if code_of(exc) == "NoSuchEntity":
            return None
        raise


class _Plan:
    """The parts of one principal's containment still to do: before, after and the call of each."""

    def __init__(self, principal: str) -> None:
        self.before: dict[str, Any] = {"principal": principal}
        self.after: dict[str, Any] = {"principal": principal}
        self.calls: list[tuple[str, Callable[[], Any]]] = []
        self.said: list[str] = []

    def empty(self) -> bool:
        return not self.calls


def _deny_part(plan: _Plan, kind: str, name: str, iam: Any, incident_id: str) -> None:
    policy = deny_policy_name(incident_id)
    if kind == "user":
        current = _inline(lambda: iam.get_user_policy(UserName=name, PolicyName=policy))
        put: Callable[[], Any] = lambda: iam.put_user_policy(  # noqa: E731
            UserName=name, PolicyName=policy, PolicyDocument=json.dumps(DENY_ALL)
        )
    else:
        current = _inline(lambda: iam.get_role_policy(RoleName=name, PolicyName=policy))
        put = lambda: iam.put_role_policy(  # noqa: E731
            RoleName=name, PolicyName=policy, PolicyDocument=json.dumps(DENY_ALL)
        )
    if current is not None and canonical(current) == canonical(DENY_ALL):
        return
    plan.before["deny_policy"] = {"name": policy, "document": current}
    plan.after["deny_policy"] = {"name": policy, "document": DENY_ALL}
    plan.calls.append((f"{policy} put", put))
    plan.said.append(f"{policy} (deny all) put")


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
        if code_of(exc) == "NoSuchEntity":
            return None
        raise


def _trust_part(plan: _Plan, role: str, iam: Any) -> None:
    found = iam.get_role(RoleName=role)["Role"]
    document = decode_policy(found["AssumeRolePolicyDocument"])
    arn = str(found.get("Arn", ""))
    account = arn.split(":")[4] if arn.count(":") >= 5 else None  # the role's own account
    statements = document.get("Statement") or []
    statements = [statements] if isinstance(statements, Mapping) else list(statements)
    kept: list[Any] = []
    gone: list[str] = []
    for index, statement in enumerate(statements):
        if isinstance(statement, Mapping) and statement_external(statement, account)[0]:
            gone.append(str(statement.get("Sid") or f"#{index}"))
        else:
            kept.append(statement)
    if not gone:
        return
    if not kept:
        # A trust policy needs a statement: one that lets nobody assume the role.
        kept = [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]
    new = {**document, "Statement": kept}
    plan.before["trust_policy"] = document
    plan.after["trust_policy"] = new
    plan.calls.append(
        (
            "trust statements removed",
            lambda: iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(new)),
        )
    )
    plan.said.append(f"trust statement(s) {', '.join(gone)} removed; every other statement kept")


def _plan_for(iam: Any, rogue: Rogue, incident_id: str) -> tuple[str, _Plan] | str:
    """(action name, plan) or the reason nothing is done now."""
    if rogue.kind == "user":
        plan = _Plan(f"user/{rogue.name}")
        _deny_part(plan, "user", rogue.name, iam, incident_id)
        _keys_part(plan, rogue.name, iam)
        _login_part(plan, rogue.name, iam)
        return "contain_principal", plan
    if rogue.kind == "role":
        plan = _Plan(f"role/{rogue.name}")
        _deny_part(plan, "role", rogue.name, iam, incident_id)
        return "contain_principal", plan
    if rogue.kind == "access_key":
        user = _user_of_key(iam, rogue)
        if user is None:
            return f"{rogue.name} no longer exists"
        plan = _Plan(f"user/{user}")
        _keys_part(plan, user, iam, only=rogue.name)
        return "contain_principal", plan
    if rogue.kind == "login_profile":
        plan = _Plan(f"user/{rogue.name}")
        _login_part(plan, rogue.name, iam)
        return "contain_principal", plan
    if rogue.kind == "role_trust":
        plan = _Plan(f"role/{rogue.name}")
        _trust_part(plan, rogue.name, iam)
        return "remove_trust_statements", plan
    return f"{rogue.reason}: removed by the approval-gated eradication run, not by containment"


def contain_persistence(
    iam: Any,
    ddb: Any,
    table: str,
    incident_id: str,
    rogue: Sequence[Rogue],
    *,
    approved_by: str,
    dry_run: bool,
) -> list[Action]:
    """Contain each rogue item now (nothing deleted); one Action per item.

    ``contain_principal`` (target ``user/``, ``role/``, ``access-key/``, ``login-profile/``),
    ``remove_trust_statements`` (``role/``); ``already_done`` on a retry, ``skipped`` with the reason
    for what only eradication removes, ``would_do`` in a dry run (nothing written anywhere).
    Raises Throttled or ContainmentFailed, saying which parts were made (those are recorded).
    """
    require_approver(approved_by, dry_run=dry_run)
    results: list[Action] = []
    for item in rogue:
        try:
            planned = _plan_for(iam, item, incident_id)
        except ClientError as exc:
            if code_of(exc) == "NoSuchEntity":
                results.append(
                    Action.now("contain_principal", item.target, "skipped", f"{item.target} is gone")
                )
                continue
            raise failure(exc, f"could not read {item.target}; nothing changed for it") from exc
        if isinstance(planned, str):
            results.append(Action.now("contain_principal", item.target, "skipped", planned))
            continue
        name, plan = planned
        if plan.empty():
            detail = "; ".join(plan.said) or "already contained"
            results.append(Action.now(name, item.target, "already_done", detail))
            continue
        action = Action.now(name, item.target, "would_do" if dry_run else "done", "; ".join(plan.said))
        if not dry_run:
            _make(ddb, table, incident_id, action, plan, approved_by=approved_by)
        results.append(action)
    return results


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
            partial = action.model_copy(
                update={
                    "status": status,
                    "detail": f"{code_of(exc)} at '{said}'; made: {', '.join(made) or 'nothing'}",
                }
            )
            marked = f"the record says {status}"
            try:
                record_change(
                    ddb,
                    table,
                    incident_id,
                    partial,
                    plan.before,
                    plan.after,
                    approved_by=approved_by,
                    sk=sk,
                    seq=seq,
                )
            except ClientError as mark_exc:
                marked = f"re-recording failed too ({code_of(mark_exc)}); recover checks live state"
            made_text = ", ".join(made) or "nothing"
            raise failure(
                exc, f"containing {action.target}: {said} NOT made; made: {made_text}; {marked}"
            ) from exc
        made.append(said)
