"""Playbook steps 1-3: is the key ours, whose is it, and disable it (that key only, once).

Every state change is recorded in the incident table with the state before it, so that
``responder recover`` can undo it once the owner has rotated.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from responder.errors import AccessKeyNotFound, ContainmentFailed, ForeignAccessKey, Throttled
from responder.models import Action, Decision, Incident, iso, utc_now

# IAM/STS "Throttling", DynamoDB "ThrottlingException"/"ProvisionedThroughputExceededException",
# S3 "SlowDown", SNS "Throttled": each service names it differently; all are worth a retry.
THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "Throttled",
}


class Owner(BaseModel):
    """Who the exposed key belongs to (step 1-2 of the playbook)."""

    access_key_id: str
    account_id: str
    user_name: str | None = None
    principal_type: str = "IAMUser"
    owner: str | None = None
    owner_tag: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    last_used: dict[str, Any] = Field(default_factory=dict)
    protected: bool = False


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def validate_key(
    sts: Any,
    iam: Any,
    incident: Incident,
    *,
    owner_tag_keys: tuple[str, ...],
    protected_tag: str = "responder:protected",
) -> Owner:
    """Confirm the key belongs to this account and find its user and owner/custodian.

    Raises ForeignAccessKey (another account's key: notify only) or AccessKeyNotFound.
    """
    key = incident.access_key_id
    if not key:
        raise AccessKeyNotFound("the incident names no access key")
    try:
        account = sts.get_access_key_info(AccessKeyId=key)["Account"]
    except ClientError as exc:
        if _code(exc) in THROTTLING_CODES:
            raise Throttled(f"GetAccessKeyInfo throttled for {key}") from exc
        raise
    if account != incident.account_id:
        raise ForeignAccessKey(f"{key} belongs to account {account}, not {incident.account_id}: notify only")
    if key.startswith("ASIA"):
        # Temporary credentials have no IAM user to look up; the session's role is in the finding.
        return Owner(
            access_key_id=key,
            account_id=account,
            user_name=incident.principal.user_name,
            principal_type=incident.principal.type or "AssumedRole",
        )
    try:
        used = iam.get_access_key_last_used(AccessKeyId=key)
    except ClientError as exc:
        if _code(exc) == "NoSuchEntity":
            raise AccessKeyNotFound(f"{key} no longer exists in account {account}") from exc
        if _code(exc) in THROTTLING_CODES:
            raise Throttled(f"GetAccessKeyLastUsed throttled for {key}") from exc
        raise
    user = used["UserName"]
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user).get("Tags", [])}
    owner_tag = next((k for k in owner_tag_keys if tags.get(k)), None)
    last_used = {
        k: (iso(v) if hasattr(v, "tzinfo") else v) for k, v in used.get("AccessKeyLastUsed", {}).items()
    }
    return Owner(
        access_key_id=key,
        account_id=account,
        user_name=user,
        owner=tags.get(owner_tag) if owner_tag else None,
        owner_tag=owner_tag,
        tags=tags,
        last_used=last_used,
        protected=tags.get(protected_tag, "").lower() == "true",
    )


def _claim(ddb: Any, table: str, incident: Incident, execution_id: str) -> dict[str, Any] | None:
    """Claim containment of this key; returns the earlier claim when another run holds it."""
    now = iso(utc_now())
    try:
        ddb.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"KEY#{incident.access_key_id}"},
                "sk": {"S": "CONTAINMENT"},
                "status": {"S": "in_progress"},
                "incident_id": {"S": incident.incident_id},
                "execution_id": {"S": execution_id},
                "claimed_at": {"S": now},
            },
            # A failed attempt may be taken over, and so may a containment `responder recover` undid
            # (the key leaked again); a done or running one may not.
            ConditionExpression="attribute_not_exists(pk) OR #s IN (:failed, :recovered)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":failed": {"S": "failed"}, ":recovered": {"S": "recovered"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if _code(exc) != "ConditionalCheckFailedException":
            raise
        item = exc.response.get("Item") or {}
        return {k: next(iter(v.values())) for k, v in item.items()} or {"status": "unknown"}
    return None


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
    iam: Any, ddb: Any, table: str, incident: Incident, owner: Owner, *, execution_id: str
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
        if _code(exc) in THROTTLING_CODES:
            raise Throttled(f"ListAccessKeys throttled for {owner.user_name}; nothing changed yet") from exc
        raise
    before = next((k["Status"] for k in keys if k["AccessKeyId"] == key), None)
    if before is None:
        raise AccessKeyNotFound(f"{key} is not a key of {owner.user_name} any more")
    return _disable_claimed(iam, ddb, table, incident, owner, before, execution_id=execution_id)


def _disable_claimed(
    iam: Any, ddb: Any, table: str, incident: Incident, owner: Owner, before: str, *, execution_id: str
) -> list[Action]:
    """Claim the key in the incident table, then UpdateAccessKey; a lost claim is already_done."""
    key = owner.access_key_id
    if incident.dry_run:
        return [
            Action.now(
                "disable_access_key",
                key,
                "would_do",
                f"{owner.user_name}'s key {key}: {before} -> Inactive (dry run)",
            )
        ]
    earlier = _claim(ddb, table, incident, execution_id)
    if earlier is not None:
        return [
            Action.now(
                "disable_access_key",
                key,
                "already_done",
                f"containment of {key} is {earlier.get('status')} by incident {earlier.get('incident_id')}"
                f" (execution {str(earlier.get('execution_id', '')).rsplit(':', 1)[-1]})",
            )
        ]
    try:
        iam.update_access_key(UserName=owner.user_name, AccessKeyId=key, Status="Inactive")
    except ClientError as exc:
        _settle(ddb, table, key, "failed", {"error": _code(exc)})
        if _code(exc) in THROTTLING_CODES:
            raise Throttled(f"UpdateAccessKey throttled for {key}; nothing changed yet") from exc
        raise ContainmentFailed(
            f"could not set {key} of {owner.user_name} Inactive ({_code(exc)}); the key is still {before}"
        ) from exc
    action = Action.now(
        "disable_access_key",
        key,
        "done",
        f"{owner.user_name}'s key {key}: {before} -> Inactive; other keys untouched",
    )
    try:
        record_action(ddb, table, incident.incident_id, action, {"Status": before}, {"Status": "Inactive"})
    except ClientError as exc:
        # The key IS Inactive: failing now would tell the SOC the opposite. Say what is missing instead.
        action.detail = (
            f"{action.detail}; the before/after record could not be written ({_code(exc)}): "
            f"`responder recover` cannot undo this one, set the key Active by hand if ever needed"
        )
        return [action]
    try:
        _settle(ddb, table, key, "done", {"done_at": action.at or ""})
    except ClientError as exc:
        # The key is Inactive and the change recorded: raising would hide that from the SOC. The claim
        # stays in_progress, which still keeps every other run from containing the key again.
        action.detail = f"{action.detail}; the key's claim could not be marked done ({_code(exc)})"
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
) -> FastContainment:
    """Disable the exposed IAM user key in at most four API calls, before any investigation.

    ListUserTags (owner, protection), ListAccessKeys (the key is this user's, here, and its status
    before), a conditional PutItem (exactly once per key), UpdateAccessKey. The record of the
    change is written after the key is Inactive, off the critical path.
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
        if _code(exc) in THROTTLING_CODES:
            raise Throttled(f"IAM throttled the lookup of {user}; nothing changed yet") from exc
        if _code(exc) == "NoSuchEntity":
            return FastContainment(status="deferred", reason=f"no user {user} here")
        raise
    owner_tag = next((k for k in owner_tag_keys if tags.get(k)), None)
    owner = Owner(
        access_key_id=key,
        account_id=incident.account_id,
        user_name=user,
        owner=tags.get(owner_tag) if owner_tag else None,
        owner_tag=owner_tag,
        tags=tags,
        protected=tags.get(protected_tag, "").lower() == "true",
    )
    before = next((k["Status"] for k in keys if k["AccessKeyId"] == key), None)
    if before is None:
        return FastContainment(status="deferred", reason=f"{key} is not a key of {user} here", owner=owner)
    if owner.protected:
        return FastContainment(
            status="needs_approval",
            reason=f"{user} is tagged {protected_tag}=true: a human decides",
            owner=owner,
        )
    actions = _disable_claimed(iam, ddb, table, incident, owner, before, execution_id=execution_id)
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
    try:
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    except ClientError as exc:
        if _code(exc) in THROTTLING_CODES:
            raise Throttled(f"IAM throttled the lookup of {user}'s keys") from exc
        if _code(exc) == "NoSuchEntity":
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
