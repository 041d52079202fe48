"""The incident table's action records: one layout, one writer.

``pk=INCIDENT#<id>``, ``sk=ACTION#<at>#<action>#<target>``, ``before``/``after`` as JSON text, plus
``approved_by`` (who allowed the change), ``detail`` and ``seq`` (nanoseconds): several changes on
one bucket are made in the same second, and recover must undo them in exactly the reverse order
(Block Public Access before the policy it would otherwise refuse). A new record never overwrites
another one: when its sort key is taken (two records in one second), ``#2``, ``#3``... is appended.
Containment (Disable, RevokeSessions), remediation and eradication all write through
:func:`record_change`; ``responder recover`` reads them back and records each undo the same way, as
``RECOVER#<the undone record's sort key>``.

The once-only claims of remediation (``pk=ONCE#<scope>``) live in the same table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from responder.errors import (
    InvalidInput,
    error_code,
    failure,
)
from responder.models import Action

# Who allowed a containment change (Disable, RevokeSessions): the incident's decision, automatic or
# approved, which the incident itself records; remediation names its approver instead.
CONTAINMENT = "containment decision"


def record_action(ddb: Any, table: str, incident_id: str, action: Action, before: Any, after: Any) -> str:
    """Append a containment action (Disable) with its before/after state; returns its sort key."""
    sk, _ = record_change(ddb, table, incident_id, action, before, after, approved_by=CONTAINMENT)
    return sk


def _item(
    incident_id: str, sk: str, action: Action, before: Any, after: Any, approved_by: str, seq: int
) -> dict[str, Any]:
    return {
        "pk": {"S": f"INCIDENT#{incident_id}"},
        "sk": {"S": sk},
        "action": {"S": action.action},
        "target": {"S": action.target},
        "status": {"S": action.status},
        "at": {"S": action.at or ""},
        "before": {"S": json.dumps(before, sort_keys=True, default=str)},
        "after": {"S": json.dumps(after, sort_keys=True, default=str)},
        "approved_by": {"S": approved_by},
        "detail": {"S": action.detail or ""},
        "seq": {"N": str(seq)},
    }


def record_change(
    ddb: Any,
    table: str,
    incident_id: str,
    action: Action,
    before: Any,
    after: Any,
    *,
    approved_by: str,
    sk: str | None = None,
    seq: int | None = None,
) -> tuple[str, int]:
    """Write one ACTION# record; returns (sort key, seq) so that the same record can be re-written."""
    seq = seq if seq is not None else time.time_ns()
    if sk is not None:
        ddb.put_item(TableName=table, Item=_item(incident_id, sk, action, before, after, approved_by, seq))
        return sk, seq
    base = f"ACTION#{action.at}#{action.action}#{action.target}"
    for n in range(1, 100):
        candidate = base if n == 1 else f"{base}#{n}"
        try:
            ddb.put_item(
                TableName=table,
                Item=_item(incident_id, candidate, action, before, after, approved_by, seq),
                ConditionExpression="attribute_not_exists(sk)",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                continue
            raise
        return candidate, seq
    raise InvalidInput(f"more than 99 records of {action.action} on {action.target} in one second")


def recorded_change(
    ddb: Any,
    table: str,
    incident_id: str,
    action: Action,
    before: Any,
    after: Any,
    make: Callable[[], None],
    *,
    approved_by: str,
    not_done: str,
) -> Action:
    """Record ``action`` first, then make the change; on failure re-record it ``failed`` and raise.

    Recording first means a crash between the two cannot leave a change recover does not know of;
    recover checks the live state, so a record whose change never happened is harmless.
    """
    try:
        sk, seq = record_change(ddb, table, incident_id, action, before, after, approved_by=approved_by)
    except ClientError as exc:
        raise failure(exc, f"could not record the change in {table}, so it was not made: {not_done}") from exc
    try:
        make()
    except ClientError as exc:
        failed = action.model_copy(update={"status": "failed", "detail": f"{error_code(exc)}: {not_done}"})
        marked = "the incident record says failed"
        try:
            record_change(
                ddb, table, incident_id, failed, before, after, approved_by=approved_by, sk=sk, seq=seq
            )
        except ClientError as mark_exc:
            marked = (
                f"marking the record failed also failed ({error_code(mark_exc)}); recover checks live state"
            )
        raise failure(exc, f"{not_done}; {marked}") from exc
    return action


ONCE_SK = "CLAIM"


def _once_key(scope: str) -> dict[str, Any]:
    return {"pk": {"S": f"ONCE#{scope}"}, "sk": {"S": ONCE_SK}}


def claim_once(
    ddb: Any,
    table: str,
    *,
    scope: str,
    incident_id: str,
    execution_id: str,
    stale_after_seconds: int,
    now: float | None = None,
) -> bool:
    """Claim one remediation change (a bucket statement, a principal) for this execution.

    True: this execution makes it (first claim, its own earlier claim on a retry, or a claim older
    than ``stale_after_seconds`` taken over). False: another execution made or is making it (report
    ``already_done``). The item is ``pk=ONCE#<scope>``, ``sk=CLAIM`` in the incident table. A claim
    :func:`settle_once` marked ``done`` is never taken over, however old: the change was made.
    ``now`` (epoch seconds) is for tests.
    """
    if not scope or not execution_id:
        raise InvalidInput("claim_once needs a scope and an execution id")
    at = time.time() if now is None else now
    try:
        ddb.put_item(
            TableName=table,
            Item={
                **_once_key(scope),
                "status": {"S": "in_progress"},
                "scope": {"S": scope},
                "incident_id": {"S": incident_id},
                "execution_id": {"S": execution_id},
                "claimed_at": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))},
                "claimed_epoch": {"N": f"{at:.3f}"},
            },
            # An attempt that died after claiming must not block the change for ever (issue 12, point
            # 8), but a claim is only stale once no live attempt could still hold it: its step's timeout.
            ConditionExpression=(
                "attribute_not_exists(pk) OR execution_id = :me OR #s = :failed"
                " OR (#s <> :done AND claimed_epoch < :stale)"
            ),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":me": {"S": execution_id},
                ":done": {"S": "done"},
                ":failed": {"S": "failed"},
                ":stale": {"N": f"{at - stale_after_seconds:.3f}"},
            },
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def settle_once(ddb: Any, table: str, *, scope: str, execution_id: str, status: str = "done") -> None:
    """Mark this execution's claim on ``scope`` ``done`` (or ``failed``: the next run may take it over)."""
    try:
        ddb.update_item(
            TableName=table,
            Key=_once_key(scope),
            UpdateExpression="SET #s = :s",
            # Only the holder settles: a run whose claim was taken over must not mark another's work.
            ConditionExpression="execution_id = :me",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}, ":me": {"S": execution_id}},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
