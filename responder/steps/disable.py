"""Disable (playbook step 3): set the exposed access key Inactive, exactly once per key.

A conditional claim on ``KEY#<key>`` in the incident table makes concurrent runs (a duplicate
finding, a console re-run) agree on one that acts; the others report ``already_done``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from responder.actions import record_action
from responder.clients import READ_BACK_DELAYS, read_back
from responder.errors import (
    THROTTLING_CODES,
    AccessKeyNotFound,
    ContainmentFailed,
    ContainmentInProgress,
    ContainmentUnverified,
    Throttled,
    error_code,
)
from responder.models import Action, Incident, Owner, iso, utc_now

CLAIM_STALE_SECONDS = 900  # Lambda's longest timeout: no attempt holds a claim longer and is still alive


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
    return disable_claimed(
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


def disable_claimed(
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
