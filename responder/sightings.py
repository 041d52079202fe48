"""Each delivery of a finding, recorded on its incident: GuardDuty re-publishes a finding as its count
grows (same id, so the same incident id), and EventBridge may deliver one event twice.

The first delivery runs the response. A later one is recorded (``pk=INCIDENT#<id>``, ``sk=FINDING``:
the executions that received it, the last count, every key and bucket seen) and ends the run there, unless it names a key or
a bucket no earlier delivery did: then the run goes on and investigates them. Containment runs before
this check on every delivery (exactly once per key), so a first run that failed to contain is retried.
A failed record is not a reason to stay silent: the run responds as for a first delivery.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from responder.errors import THROTTLING_CODES, Throttled, error_code
from responder.models import Incident, iso, utc_now

log = logging.getLogger(__name__)

SightingStatus = Literal["first", "repeat", "new_resources", "contained_now", "retry", "not_recorded"]
SORT_KEY = "FINDING"
TRACKED_SOURCES = frozenset({"guardduty", "detection-rule"})  # a finding, AWS Health's event


@dataclass(frozen=True)
class Sighting:
    status: SightingStatus
    deliveries: int = 1
    first_execution: str | None = None
    count_before: int | None = None
    count: int | None = None
    new_keys: list[str] = field(default_factory=list)
    new_buckets: list[str] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _keys(incident: Incident) -> list[str]:
    related = [str(k.get("access_key_id")) for k in (incident.model_extra or {}).get("related_keys") or []]
    return sorted({k for k in [incident.access_key_id or "", *related] if k})


def record_sighting(
    ddb: Any, table: str, incident: Incident, *, execution_id: str, contained_now: bool = False
) -> Sighting | None:
    """Record this delivery; None for inputs that are not deliveries (an analyst's run, a dry run).

    ``contained_now``: this run's Triage disabled a key (an earlier delivery's run did not get to, or
    two deliveries raced and this one won the claim): the run goes on whatever the record says, so
    the sessions the key minted are revoked and the key investigated by the run that contained it.
    """
    if incident.source not in TRACKED_SOURCES or incident.dry_run:
        return None
    keys, buckets = _keys(incident), sorted(set(incident.buckets))
    count = incident.finding.count if incident.finding else None
    values: dict[str, Any] = {
        ":ex": {"S": execution_id},
        ":now": {"S": iso(utc_now())},
        ":fid": {"S": incident.finding.id if incident.finding else incident.incident_id},
    }
    sets = [
        "finding_id = if_not_exists(finding_id, :fid)",
        "first_execution = if_not_exists(first_execution, :ex)",
        "first_at = if_not_exists(first_at, :now)",
        "last_execution = :ex",
        "last_at = :now",
    ]
    if count is not None:
        sets.append("last_count = :count")
        values[":count"] = {"N": str(count)}
    # A set of execution ids: a retried Triage (same execution) is not a second delivery.
    adds = ["executions :executions"]
    values[":executions"] = {"SS": [execution_id]}
    for name, items in (("access_keys", keys), ("buckets", buckets)):
        if items:  # DynamoDB refuses an empty set
            adds.append(f"{name} :{name}")
            values[f":{name}"] = {"SS": items}
    key = {"pk": {"S": f"INCIDENT#{incident.incident_id}"}, "sk": {"S": SORT_KEY}}
    try:
        # The first delivery creates the record, exactly once (a conditional put, as the key's claim).
        ddb.put_item(
            TableName=table,
            Item={**key, **_first_item(values)},
            ConditionExpression="attribute_not_exists(pk)",
        )
        return Sighting(status="first", first_execution=execution_id, count=count)
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled("DynamoDB throttled the finding's delivery record") from exc
        if error_code(exc) != "ConditionalCheckFailedException":
            return _unrecorded(error_code(exc))
    except BotoCoreError as exc:
        return _unrecorded(type(exc).__name__)
    try:
        old = ddb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=f"SET {', '.join(sets)} ADD {', '.join(adds)}",
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
        ).get("Attributes")
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled("DynamoDB throttled the finding's delivery record") from exc
        return _unrecorded(error_code(exc))
    except BotoCoreError as exc:
        return _unrecorded(type(exc).__name__)
    if not old or old.get("first_execution", {}).get("S") == execution_id:
        # The first delivery, or this same execution's Triage retried by the state machine.
        return Sighting(status="first", first_execution=execution_id, count=count)
    if old.get("last_execution", {}).get("S") == execution_id:
        # This execution's Triage retried after it recorded a later delivery: what it found new then
        # is not known now, so the run goes on as for a first delivery (never silently stopped).
        return Sighting(
            status="retry",
            deliveries=len(old.get("executions", {}).get("SS", [])),
            first_execution=old.get("first_execution", {}).get("S"),
            count=count,
            reason="a retry of this execution's Triage: responded to in full",
        )
    seen_keys = set(old.get("access_keys", {}).get("SS", []))
    seen_buckets = set(old.get("buckets", {}).get("SS", []))
    before = old.get("last_count", {}).get("N")
    sighting = Sighting(
        status="repeat",
        deliveries=len(set(old.get("executions", {}).get("SS", [])) | {execution_id}),
        first_execution=old.get("first_execution", {}).get("S"),
        count_before=int(before) if before else None,
        count=count,
        new_keys=[k for k in keys if k not in seen_keys],
        new_buckets=[b for b in buckets if b not in seen_buckets],
    )
    new = sighting.new_keys + sighting.new_buckets
    if contained_now:
        reason = "this delivery's run contained the key (no earlier run had): the response goes on"
        return Sighting(**{**sighting.as_dict(), "status": "contained_now", "reason": reason})
    if new:
        reason = f"an update names what no earlier delivery did ({', '.join(new)}): investigated"
        return Sighting(**{**sighting.as_dict(), "status": "new_resources", "reason": reason})
    counted = (
        f", count {sighting.count_before} -> {count}" if count is not None and sighting.count_before else ""
    )
    reason = (
        f"delivery {sighting.deliveries} of a finding already handled by {sighting.first_execution}"
        f"{counted}: recorded on the incident, no second response"
    )
    return Sighting(**{**sighting.as_dict(), "reason": reason})


def _first_item(values: dict[str, Any]) -> dict[str, Any]:
    """The record of a first delivery, from the update's values (the same attributes, set once)."""
    item = {
        "finding_id": values[":fid"],
        "first_execution": values[":ex"],
        "first_at": values[":now"],
        "last_execution": values[":ex"],
        "last_at": values[":now"],
        "executions": values[":executions"],
    }
    for name, attr in (("last_count", ":count"), ("access_keys", ":access_keys"), ("buckets", ":buckets")):
        if attr in values:
            item[name] = values[attr]
    return item


def _unrecorded(why: str) -> Sighting:
    log.warning("finding delivery not recorded: %s; responding as to a first delivery", why)
    return Sighting(status="not_recorded", reason=f"not recorded ({why}): responded to as a first delivery")
