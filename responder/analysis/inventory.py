"""What the key created, modified, deleted and read (playbook step 7), and the IAM changes.

Writes are listed event by event (they are few and each may need undoing); reads are counted per
(event, target) because a recon run makes thousands. Failed calls stay in the lists, marked: an
attempt tells the analyst what the attacker was after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from responder.analysis.rows import Row, doc, event_name, is_read, iso_time, mapping, service, succeeded, text

_CREATE_VERBS = (
    "Create",
    "Run",
    "Allocate",
    "Import",
    "Register",
    "Copy",
    "Upload",
    "Publish",
    "Issue",
    "Request",
    "Launch",
    "Restore",
    "Clone",
    "Purchase",
    "CompleteMultipartUpload",
    "PutObject",
)
_DELETE_VERBS = ("Delete", "Terminate", "Deregister", "Release", "Purge", "ScheduleKeyDeletion")
_MINTS = {
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
}

# (request parameter, label) in the order that names the thing acted on best.
_TARGET_KEYS: tuple[tuple[str, str], ...] = (
    ("userName", "user"),
    ("roleName", "role"),
    ("groupName", "group"),
    ("instanceProfileName", "instance-profile"),
    ("policyArn", "policy"),
    ("bucketName", "bucket"),
    ("functionName", "function"),
    ("secretId", "secret"),
    ("trailName", "trail"),
    ("roleArn", "role"),
    ("instanceId", "instance"),
    ("instanceIds", "instance"),
    ("snapshotId", "snapshot"),
    ("imageId", "image"),
    ("dBSnapshotIdentifier", "db-snapshot"),
    ("dBInstanceIdentifier", "db"),
    ("groupId", "security-group"),
    ("keyId", "kms-key"),
    ("detectorId", "detector"),
    ("resolverQueryLogConfigId", "resolver-query-log"),
    ("FlowLogId", "flow-log"),
    ("modelId", "model"),
    ("topicArn", "topic"),
    ("queueUrl", "queue"),
    ("tableName", "table"),
    ("repositoryName", "repository"),
    ("target", "target"),
    ("names", "names"),
    ("name", "name"),
)


def category(row: Row) -> str:
    """created, modified, deleted or read."""
    name = event_name(row)
    if name in _MINTS:
        return "created"
    if is_read(row):
        return "read"
    if name.startswith(_CREATE_VERBS):
        return "created"
    if name.startswith(_DELETE_VERBS):
        return "deleted"
    return "modified"


def _find(obj: Any, key: str, depth: int = 0) -> Any:
    if depth > 4:
        return None
    if isinstance(obj, Mapping):
        if key in obj and obj[key] not in (None, "", [], {}):
            return obj[key]
        for value in obj.values():
            found = _find(value, key, depth + 1)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for item in obj:
            found = _find(item, key, depth + 1)
            if found is not None:
                return found
    return None


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("content") or value.get("value") or next(iter(value.values()), "")
    if isinstance(value, list):
        return ",".join(_flat(v) for v in value[:5]) + (f",+{len(value) - 5}" if len(value) > 5 else "")
    return str(value)


def target_of(row: Row) -> tuple[str, str | None]:
    """(the resource acted on, a detail such as the policy attached) for one event."""
    name = event_name(row)
    params = mapping(row, "request_parameters")
    response = mapping(row, "response_elements")
    if name in _MINTS:
        key = _find(response, "accessKeyId")
        via = params.get("roleArn") or params.get("name")
        return f"credentials/{key or '(not issued)'}", f"via {via}" if via else None
    if name.endswith("AccessKey") or name == "UpdateAccessKey":
        key = _find(response, "accessKeyId") or params.get("accessKeyId") or "(not issued)"
        user = params.get("userName") or _find(response, "userName")
        return f"access-key/{key}", f"user/{user}" if user else None
    detail: str | None = None
    if name.startswith(("Attach", "Detach")) and params.get("policyArn"):
        detail = f"policy {params['policyArn']}"
    elif params.get("policyName"):
        detail = f"policy {params['policyName']}"
    if service(row) == "s3" and params.get("bucketName") and params.get("key"):
        return f"object/{params['bucketName']}/{params['key']}", detail
    if name == "RunInstances" and params.get("instanceType"):
        detail = f"instance type {params['instanceType']}"
    for key, label in _TARGET_KEYS:
        if key == "policyArn" and detail:
            continue
        value = _find(params, key)
        if value is not None:
            # A bare "name" means a different thing in each service: say which.
            prefix = service(row) or label if key == "name" else label
            return f"{prefix}/{_flat(value)}", detail
    parsed = doc(row, "resources")
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], Mapping):
        arn = parsed[0].get("ARN") or parsed[0].get("arn")
        if arn:
            return str(arn), detail
    return f"({service(row) or 'unknown'})", detail


def _entry(row: Row) -> dict[str, Any]:
    target, detail = target_of(row)
    return {
        "event_name": event_name(row),
        "event_source": text(row, "event_source"),
        "event_time": iso_time(row),
        "event_id": text(row, "event_id"),
        "target": target,
        "detail": detail,
        "succeeded": succeeded(row),
        "error_code": text(row, "error_code"),
        "access_key_id": text(row, "access_key_id"),
    }


def inventory(rows: Sequence[Row]) -> dict[str, list[dict[str, Any]]]:
    """Report ``inventory``: created / modified / deleted events, and reads counted per target."""
    out: dict[str, list[dict[str, Any]]] = {"created": [], "modified": [], "deleted": [], "read": []}
    reads: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        if text(row, "event_type") == "AwsConsoleSignIn":
            continue
        kind = category(row)
        if kind != "read":
            out[kind].append(_entry(row))
            continue
        target, _ = target_of(row)
        key = (text(row, "event_source") or "", event_name(row), target)
        agg = reads.setdefault(
            key,
            {
                "event_name": key[1],
                "event_source": key[0] or None,
                "target": target,
                "count": 0,
                "failed": 0,
                "first_seen": iso_time(row),
                "last_seen": iso_time(row),
            },
        )
        agg["count"] += 1
        agg["failed"] += 0 if succeeded(row) else 1
        agg["first_seen"] = min(agg["first_seen"], iso_time(row))
        agg["last_seen"] = max(agg["last_seen"], iso_time(row))
    deleted = {e["target"] for e in out["deleted"] if e["succeeded"]}
    for entry in out["created"]:
        entry["deleted_later"] = entry["target"] in deleted
    out["read"] = sorted(reads.values(), key=lambda r: (-r["count"], r["event_name"], r["target"]))
    return out


def iam_changes(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Report ``iam_changes``: every IAM write (users, roles, keys, policies), failed ones included."""
    out: list[dict[str, Any]] = []
    for row in rows:
        if service(row) != "iam" or is_read(row):
            continue
        out.append(_entry(row))
    return out
