"""Eradication (playbook step 13): delete the rogue IAM resources, only in an approved run.

:func:`eradication_plan` reads the live account (nothing changes) and lists each deletion with every
call it takes (a user cannot be deleted while it has keys, a login profile, policies, groups, MFA
devices, SSH keys or signing certificates). :func:`eradicate` refuses without an approval of that
plan (``EradicationNotApproved``, the plan in the message), re-reads each resource when it runs,
records what it is about to delete (policy documents included) with who approved it, then deletes.
Deletions are not undone by recover: their records are the account's memory of what was there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from responder.actions import recorded_change
from responder.errors import EradicationNotApproved, InvalidInput, error_code, failure
from responder.models import Action
from responder.permissions import Permission
from responder.policy_doc import canonical, decode_policy
from responder.remediate.persistence import Rogue, external_added, verify
from responder.remediate.record import Approval

_USER = "arn:{partition}:iam::{account}:user/*"
_ROLE = "arn:{partition}:iam::{account}:role/*"
_POLICY = "arn:{partition}:iam::{account}:policy/*"
_GROUP = "arn:{partition}:iam::{account}:group/*"
_PROFILE = "arn:{partition}:iam::{account}:instance-profile/*"
_MFA = "arn:{partition}:iam::{account}:mfa/*"

_READS_USER = (
    "iam:GetUser",
    "iam:GetAccessKeyLastUsed",
    "iam:ListAccessKeys",
    "iam:GetLoginProfile",
    "iam:ListUserPolicies",
    "iam:GetUserPolicy",
    "iam:ListAttachedUserPolicies",
    "iam:ListGroupsForUser",
    "iam:ListMFADevices",
    "iam:ListSSHPublicKeys",
    "iam:ListSigningCertificates",
)
_READS_ROLE = (
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
)
_READS_POLICY = ("iam:ListEntitiesForPolicy", "iam:ListPolicyVersions")

PERMISSIONS_ERADICATION_PLAN: tuple[Permission, ...] = (
    Permission(_READS_USER, (_USER,)),
    Permission(_READS_ROLE, (_ROLE,)),
    Permission(_READS_POLICY, (_POLICY,)),
    Permission(("iam:ListPolicies",), ("*",), "ListPolicies supports no resource-level permission"),
)
"""What :func:`eradication_plan` calls (reads only)."""

PERMISSIONS_ERADICATE: tuple[Permission, ...] = (
    Permission(
        (
            *_READS_USER,
            "iam:DeleteLoginProfile",
            "iam:DeleteAccessKey",
            "iam:DeleteUserPolicy",
            "iam:DetachUserPolicy",
            "iam:DeactivateMFADevice",
            "iam:DeleteSSHPublicKey",
            "iam:DeleteSigningCertificate",
            "iam:DeleteUser",
        ),
        (_USER,),
    ),
    Permission(("iam:DeactivateMFADevice",), (_MFA,), "the device is a resource of DeactivateMFADevice too"),
    Permission(("iam:RemoveUserFromGroup", "iam:DetachGroupPolicy"), (_GROUP,)),
    Permission(
        (
            *_READS_ROLE,
            "iam:DeleteRolePolicy",
            "iam:DetachRolePolicy",
            "iam:DeleteRole",
            "iam:UpdateAssumeRolePolicy",
        ),
        (_ROLE,),
    ),
    Permission(("iam:RemoveRoleFromInstanceProfile",), (_PROFILE,)),
    Permission(
        (
            *_READS_POLICY,
            "iam:DetachUserPolicy",
            "iam:DetachRolePolicy",
            "iam:DetachGroupPolicy",
            "iam:DeletePolicyVersion",
            "iam:DeletePolicy",
        ),
        (_POLICY,),
    ),
    Permission(("iam:ListPolicies",), ("*",), "ListPolicies supports no resource-level permission"),
    Permission(("dynamodb:PutItem",), ("@incident_table",)),
)
"""What :func:`eradicate` calls (it re-reads each resource before deleting it)."""


class PlannedDeletion(BaseModel):
    """One rogue resource and every call that deletes it, in order."""

    rogue: Rogue
    target: str
    steps: list[str] = Field(default_factory=list)
    reason: str = ""


class EradicationPlan(BaseModel):
    incident_id: str
    items: list[PlannedDeletion] = Field(default_factory=list)
    not_deleted: list[str] = Field(default_factory=list)

    @property
    def digest(self) -> str:
        """SHA-256 of the plan's items: an approval names the plan it approves by this."""
        body = json.dumps([i.model_dump() for i in self.items], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{self.incident_id}\n{body}".encode()).hexdigest()

    def describe(self) -> list[str]:
        lines = [f"{i.target}: {'; '.join(i.steps) or 'nothing left'} ({i.reason})" for i in self.items]
        return lines + [f"not deleted: {n}" for n in self.not_deleted]


Step = tuple[str, Callable[[], Any]]


def _gone(exc: ClientError) -> bool:
    return error_code(exc) == "NoSuchEntity"


def _inline_docs(names: list[str], get: Callable[[str], Any]) -> dict[str, Any]:
    return {n: decode_policy(get(n)["PolicyDocument"]) for n in names}


def _user_steps(iam: Any, user: str) -> tuple[list[Step], dict[str, Any]]:
    """The calls that delete ``user`` and everything that blocks it, and what they delete."""
    iam.get_user(UserName=user)
    steps: list[Step] = []
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    try:
        login = iam.get_login_profile(UserName=user)["LoginProfile"]
    except ClientError as exc:
        if not _gone(exc):
            raise
        login = None
    inline = iam.list_user_policies(UserName=user)["PolicyNames"]
    attached = [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]
    groups = [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]]
    mfa = [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=user)["MFADevices"]]
    ssh = [k["SSHPublicKeyId"] for k in iam.list_ssh_public_keys(UserName=user)["SSHPublicKeys"]]
    certs = [c["CertificateId"] for c in iam.list_signing_certificates(UserName=user)["Certificates"]]
    if login is not None:
        steps.append(("DeleteLoginProfile", lambda: iam.delete_login_profile(UserName=user)))
    for k in keys:
        key = k["AccessKeyId"]
        steps.append(
            (f"DeleteAccessKey {key}", partial(iam.delete_access_key, UserName=user, AccessKeyId=key))
        )
    for n in inline:
        steps.append((f"DeleteUserPolicy {n}", partial(iam.delete_user_policy, UserName=user, PolicyName=n)))
    for arn in attached:
        steps.append(
            (f"DetachUserPolicy {arn}", partial(iam.detach_user_policy, UserName=user, PolicyArn=arn))
        )
    for g in groups:
        steps.append(
            (f"RemoveUserFromGroup {g}", partial(iam.remove_user_from_group, UserName=user, GroupName=g))
        )
    for s in mfa:
        steps.append(
            (f"DeactivateMFADevice {s}", partial(iam.deactivate_mfa_device, UserName=user, SerialNumber=s))
        )
    for i in ssh:
        steps.append(
            (
                f"DeleteSSHPublicKey {i}",
                partial(iam.delete_ssh_public_key, UserName=user, SSHPublicKeyId=i),
            )
        )
    for c in certs:
        steps.append(
            (
                f"DeleteSigningCertificate {c}",
                partial(iam.delete_signing_certificate, UserName=user, CertificateId=c),
            )
        )
    steps.append((f"DeleteUser {user}", lambda: iam.delete_user(UserName=user)))
    what = {
        "user": user,
        "access_keys": {k["AccessKeyId"]: k["Status"] for k in keys},
        "login_profile": login is not None,
        "inline_policies": _inline_docs(inline, lambda n: iam.get_user_policy(UserName=user, PolicyName=n)),
        "attached_policies": attached,
        "groups": groups,
        "mfa_devices": mfa,
        "ssh_public_keys": ssh,
        "signing_certificates": certs,
    }
    return steps, what


def _role_steps(iam: Any, role: str) -> tuple[list[Step], dict[str, Any]]:
    found = iam.get_role(RoleName=role)["Role"]
    inline = iam.list_role_policies(RoleName=role)["PolicyNames"]
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
    profiles = [
        p["InstanceProfileName"]
        for p in iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]
    ]
    steps: list[Step] = []
    for n in inline:
        steps.append((f"DeleteRolePolicy {n}", partial(iam.delete_role_policy, RoleName=role, PolicyName=n)))
    for arn in attached:
        steps.append(
            (f"DetachRolePolicy {arn}", partial(iam.detach_role_policy, RoleName=role, PolicyArn=arn))
        )
    for p in profiles:
        steps.append(
            (
                f"RemoveRoleFromInstanceProfile {p}",
                partial(iam.remove_role_from_instance_profile, RoleName=role, InstanceProfileName=p),
            )
        )
    steps.append((f"DeleteRole {role}", lambda: iam.delete_role(RoleName=role)))
    what = {
        "role": role,
        "trust_policy": decode_policy(found["AssumeRolePolicyDocument"]),
        "inline_policies": _inline_docs(inline, lambda n: iam.get_role_policy(RoleName=role, PolicyName=n)),
        "attached_policies": attached,
        "instance_profiles": profiles,
    }
    return steps, what


def _managed_arn(iam: Any, name: str) -> str | None:
    if name.startswith("arn:"):
        return name
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for policy in page["Policies"]:
            if policy["PolicyName"] == name:
                return str(policy["Arn"])
    return None


def _policy_steps(iam: Any, name: str) -> tuple[list[Step], dict[str, Any]]:
    arn = _managed_arn(iam, name)
    if arn is None:
        raise ClientError({"Error": {"Code": "NoSuchEntity", "Message": name}}, "ListPolicies")
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    steps: list[Step] = []
    for u in entities.get("PolicyUsers", []):
        n = u["UserName"]
        steps.append((f"DetachUserPolicy {n}", partial(iam.detach_user_policy, UserName=n, PolicyArn=arn)))
    for r in entities.get("PolicyRoles", []):
        n = r["RoleName"]
        steps.append((f"DetachRolePolicy {n}", partial(iam.detach_role_policy, RoleName=n, PolicyArn=arn)))
    for g in entities.get("PolicyGroups", []):
        n = g["GroupName"]
        steps.append((f"DetachGroupPolicy {n}", partial(iam.detach_group_policy, GroupName=n, PolicyArn=arn)))
    for v in versions:
        if not v["IsDefaultVersion"]:
            vid = v["VersionId"]
            steps.append(
                (
                    f"DeletePolicyVersion {vid}",
                    partial(iam.delete_policy_version, PolicyArn=arn, VersionId=vid),
                )
            )
    steps.append((f"DeletePolicy {arn}", lambda: iam.delete_policy(PolicyArn=arn)))
    what = {"policy": arn, "versions": {v["VersionId"]: decode_policy(v.get("Document")) for v in versions}}
    return steps, what


def _principal(rogue: Rogue) -> tuple[str, str, str]:
    """(kind, principal name, policy) of a ``<kind>/<name>/<policy>`` rogue name."""
    kind, _, rest = rogue.name.partition("/")
    name, _, policy = rest.partition("/")
    return kind, name, policy


def _steps(iam: Any, rogue: Rogue) -> tuple[list[Step], dict[str, Any]] | None:
    """The calls that delete one rogue resource; None when there is nothing to delete."""
    if rogue.kind == "user":
        return _user_steps(iam, rogue.name)
    if rogue.kind == "role":
        return _role_steps(iam, rogue.name)
    if rogue.kind == "managed_policy":
        return _policy_steps(iam, rogue.name)
    if rogue.kind == "access_key":
        user = (rogue.principal or "").removeprefix("user/") or str(
            iam.get_access_key_last_used(AccessKeyId=rogue.name)["UserName"]
        )
        keys = {
            k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        }
        if rogue.name not in keys:
            return [], {"access_key": rogue.name, "user": user}
        call = (
            f"DeleteAccessKey {rogue.name}",
            lambda: iam.delete_access_key(UserName=user, AccessKeyId=rogue.name),
        )
        return [call], {"access_key": rogue.name, "user": user, "status": keys[rogue.name]}
    if rogue.kind == "login_profile":
        try:
            iam.get_login_profile(UserName=rogue.name)
        except ClientError as exc:
            if _gone(exc):
                return [], {"login_profile": rogue.name}
            raise
        return [("DeleteLoginProfile", lambda: iam.delete_login_profile(UserName=rogue.name))], {
            "login_profile": rogue.name
        }
    if rogue.kind == "inline_policy":
        kind, name, policy = _principal(rogue)
        ident = {"UserName": name} if kind == "user" else {"RoleName": name}
        get = iam.get_user_policy if kind == "user" else iam.get_role_policy
        delete = iam.delete_user_policy if kind == "user" else iam.delete_role_policy
        try:
            document = decode_policy(get(**ident, PolicyName=policy)["PolicyDocument"])
        except ClientError as exc:
            if _gone(exc):
                return [], {"inline_policy": rogue.name}
            raise
        if rogue.put_document is None or canonical(document) != canonical(rogue.put_document):
            # Not the document the key's call put (or no record of it): the owner's, or changed since.
            return None
        verb = "DeleteUserPolicy" if kind == "user" else "DeleteRolePolicy"
        return [(f"{verb} {policy}", lambda: delete(**ident, PolicyName=policy))], {
            "inline_policy": rogue.name,
            "document": document,
        }
    if rogue.kind == "attached_policy":
        kind, name, arn = _principal(rogue)
        if kind == "user":
            listed = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
            detach: Callable[[], Any] = lambda: iam.detach_user_policy(UserName=name, PolicyArn=arn)  # noqa: E731
        else:
            listed = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            detach = lambda: iam.detach_role_policy(RoleName=name, PolicyArn=arn)  # noqa: E731
        if arn not in {p["PolicyArn"] for p in listed}:
            return [], {"attached_policy": rogue.name}
        verb = "DetachUserPolicy" if kind == "user" else "DetachRolePolicy"
        return [(f"{verb} {arn}", detach)], {"attached_policy": rogue.name}
    if rogue.kind == "role_trust":
        return _trust_steps(iam, rogue)
    return None


def _trust_steps(iam: Any, rogue: Rogue) -> tuple[list[Step], dict[str, Any]]:
    """Remove exactly the external statements the key's trust change added (still there, others kept)."""
    found = iam.get_role(RoleName=rogue.name)["Role"]
    document = decode_policy(found["AssumeRolePolicyDocument"])
    arn = str(found.get("Arn", ""))
    added = {canonical(s) for s in external_added(rogue, arn.split(":")[4] if arn.count(":") >= 5 else None)}
    statements = document.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else list(statements)
    kept = [s for s in statements if canonical(s) not in added]
    what = {"role": rogue.name, "trust_policy": document}
    if len(kept) == len(statements) or not kept:
        # Nothing of the key's left, or nothing else left: a role is never left without a trust.
        return [], what
    new = {**document, "Statement": kept}
    removed = len(statements) - len(kept)
    return [
        (
            f"UpdateAssumeRolePolicy {rogue.name} without the {removed} statement(s) the key added",
            lambda: iam.update_assume_role_policy(RoleName=rogue.name, PolicyDocument=json.dumps(new)),
        )
    ], {**what, "trust_policy_after": new}


MAX_PLANNED = 50  # deletions one plan holds: it travels in the state (256 KB), about 1 KB each
_NOT_DELETED_LINES = 20  # beyond these, the plan counts what it leaves instead of naming each


def eradication_plan(
    iam: Any, rogue: Sequence[Rogue], *, incident_id: str, max_items: int | None = None
) -> EradicationPlan:
    """What an approved eradication would delete, call by call, read from the live account.

    Each item is checked against the live account again (a record it contradicts is not deleted).
    At most ``max_items`` deletions are planned (the plan travels in the workflow's state); the rest
    are counted, for the next approved run: what this one deletes is gone by then.
    """
    plan = EradicationPlan(incident_id=incident_id)
    left = 0
    for item in rogue:
        if max_items is not None and len(plan.items) >= max_items:
            left += 1
            continue
        try:
            verdict = verify(iam, item)
            if verdict.ok and item.verified_id and verdict.live_id != item.verified_id:
                plan.not_deleted.append(f"{item.target}: not the one contained (id {verdict.live_id})")
                continue
            if not verdict.ok and not verdict.needs_approval:
                plan.not_deleted.append(f"{item.target}: {verdict.why}")
                continue
            found = _steps(iam, item)
        except ClientError as exc:
            if _gone(exc):
                plan.not_deleted.append(f"{item.target}: already gone")
                continue
            raise failure(exc, f"could not read {item.target} to plan its deletion; nothing changed") from exc
        if found is None:
            why = (
                "not the document the key's call put (the owner's, or changed since): left as is"
                if item.kind == "inline_policy"
                else f"contained, nothing to delete ({item.reason})"
            )
            plan.not_deleted.append(f"{item.target}: {why}")
            continue
        steps, _ = found
        plan.items.append(
            PlannedDeletion(rogue=item, target=item.target, steps=[s for s, _ in steps], reason=item.reason)
        )
    if len(plan.not_deleted) > _NOT_DELETED_LINES:
        extra = len(plan.not_deleted) - _NOT_DELETED_LINES
        plan.not_deleted = [
            *plan.not_deleted[:_NOT_DELETED_LINES],
            f"{extra} more not deleted (see the persistence plan)",
        ]
    if left:
        plan.not_deleted.append(
            f"{left} more rogue item(s) beyond this plan's limit of {max_items}: run eradication again after this one"
        )
    return plan


def _check(plan: EradicationPlan, approval: Approval | None) -> str:
    listing = "; ".join(plan.describe()) or "nothing"
    if approval is None or not approval.approved:
        who = "" if approval is None else f" ({approval.by} denied it)"
        raise EradicationNotApproved(f"eradication needs an approval{who}; it would delete: {listing}", plan)
    if approval.plan_digest is not None and approval.plan_digest != plan.digest:
        raise EradicationNotApproved(
            f"{approval.by} approved plan {approval.plan_digest[:12]}, not this one ({plan.digest[:12]}); "
            f"it would delete: {listing}",
            plan,
        )
    return approval.by


def eradicate(
    iam: Any,
    ddb: Any,
    table: str,
    incident_id: str,
    plan: EradicationPlan,
    *,
    approval: Approval | None,
    dry_run: bool,
) -> list[Action]:
    """Delete each planned rogue resource (``delete_resource``), only with an approval of ``plan``.

    Raises EradicationNotApproved (no approval, a denial, or an approval of another plan; the plan is
    in the message) before reading or changing anything. A dry run needs no approval and returns
    ``would_do``. Each resource is re-read when it is deleted; one gone already is ``already_done``.
    """
    if plan.incident_id != incident_id:
        raise InvalidInput(f"the plan is incident {plan.incident_id}'s, not {incident_id}'s")
    if dry_run:
        return [
            Action.now("delete_resource", i.target, "would_do", "; ".join(i.steps) or "nothing left")
            for i in plan.items
        ]
    approved_by = _check(plan, approval)
    results: list[Action] = []
    for planned in plan.items:
        item = planned.rogue
        try:
            found = _steps(iam, item)
        except ClientError as exc:
            if _gone(exc):
                results.append(Action.now("delete_resource", item.target, "already_done", "already gone"))
                continue
            raise failure(exc, f"could not read {item.target}; not deleted") from exc
        steps, what = found or ([], {})
        if not steps:
            results.append(
                Action.now("delete_resource", item.target, "already_done", "nothing left to delete")
            )
            continue
        action = Action.now("delete_resource", item.target, "done", "; ".join(s for s, _ in steps))

        def make(steps: list[Step] = steps) -> None:
            for _, call in steps:
                call()

        recorded_change(
            ddb,
            table,
            incident_id,
            action,
            what,
            None,
            make,
            approved_by=approved_by,
            not_done=f"{item.target} is NOT (fully) deleted; run eradication again to finish",
        )
        results.append(action)
    return results
