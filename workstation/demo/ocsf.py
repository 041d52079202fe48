"""CloudTrail records as Amazon Security Lake stores them: OCSF 1.1 (AWS source version 2), in Parquet.

Security Lake converts the trail itself; this module does the same for the demo and the tests, so the
Security Lake engine's queries and the offline reader of Security Lake's files can be run (and
compared with the CloudTrail JSON of the same events) without an AWS account. It follows AWS's
CloudTrail-to-OCSF mapping (the fields the responder reads, with their classes):

* classes: ``ConsoleLogin`` (and other sign-in events) is Authentication (3002); IAM changes to users,
  roles, groups, keys, policies and login profiles are Account Change (3001); every other call,
  management or S3 data event, is API Activity (6003, OCSF 1.1's Application Activity category);
* ``eventID`` -> ``metadata.uid``; ``eventTime`` -> ``time`` (epoch ms) and ``time_dt``;
  ``eventSource`` -> ``api.service.name``; ``eventName`` -> ``api.operation``; ``requestID`` ->
  ``api.request.uid``; ``requestParameters`` / ``responseElements`` -> ``api.request.data`` /
  ``api.response.data`` (JSON text); ``errorCode`` / ``errorMessage`` -> ``api.response.error`` /
  ``api.response.message`` (and ``status`` Success/Failure);
* ``userIdentity``: ``type`` -> ``actor.user.type``, ``arn`` -> ``actor.user.uid``, ``principalId`` ->
  ``actor.user.uid_alt``, ``userName`` -> ``actor.user.name``, ``accountId`` ->
  ``actor.user.account.uid``, ``accessKeyId`` -> ``actor.user.credential_uid``,
  ``sessionContext.sessionIssuer.arn`` -> ``actor.session.issuer``, ``invokedBy`` -> ``actor.invoked_by``;
* ``sourceIPAddress`` -> ``src_endpoint.ip`` when it is an address, ``src_endpoint.domain`` when it
  names a service ("AWS Internal", ``s3.amazonaws.com``); ``userAgent`` -> ``http_request.user_agent``;
  ``awsRegion`` -> ``cloud.region``; ``resources[]`` -> ``resources[]`` (``uid`` the ARN, ``type``,
  ``owner.account.uid``);
* what OCSF has no field for stays in ``unmapped`` (``map<string,string>``) under its CloudTrail name:
  ``readOnly``, ``eventType``, ``additionalEventData``, ``managementEvent``, ``recipientAccountId``...
* partitions: ``accountid`` (the recipient account), ``region``; files land in
  ``<root>/region=<region>/accountId=<account>/eventDay=<yyyymmdd>/`` as Security Lake writes them.
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from responder.query.rows import json_value_text as _text

OCSF_VERSION = "1.1.0"
API_ACTIVITY = (6003, "API Activity", 6, "Application Activity")
ACCOUNT_CHANGE = (3001, "Account Change", 3, "Identity & Access Management")
AUTHENTICATION = (3002, "Authentication", 3, "Identity & Access Management")
MANAGEMENT_TABLE = "cloud_trail_mgmt_2_0"
S3_DATA_TABLE = "s3_data_2_0"

# The columns written, as DuckDB types (a subset of Security Lake's table: the ones the mapping fills).
SCHEMA: dict[str, str] = {
    "metadata": "STRUCT(uid VARCHAR, version VARCHAR, profiles VARCHAR[], product STRUCT(name VARCHAR, "
    "vendor_name VARCHAR, version VARCHAR, feature STRUCT(name VARCHAR)))",
    "time": "BIGINT",
    "time_dt": "TIMESTAMPTZ",
    "cloud": "STRUCT(region VARCHAR, provider VARCHAR)",
    "api": "STRUCT(operation VARCHAR, version VARCHAR, service STRUCT(name VARCHAR), "
    "request STRUCT(uid VARCHAR, data VARCHAR), response STRUCT(error VARCHAR, message VARCHAR, data VARCHAR))",
    "actor": 'STRUCT("user" STRUCT(type VARCHAR, name VARCHAR, uid VARCHAR, uid_alt VARCHAR, '
    "credential_uid VARCHAR, account STRUCT(uid VARCHAR)), session STRUCT(issuer VARCHAR, is_mfa BOOLEAN), "
    "invoked_by VARCHAR)",
    "http_request": "STRUCT(user_agent VARCHAR)",
    "src_endpoint": "STRUCT(ip VARCHAR, domain VARCHAR, uid VARCHAR)",
    "resources": "STRUCT(uid VARCHAR, type VARCHAR, owner STRUCT(account STRUCT(uid VARCHAR)))[]",
    "class_uid": "INTEGER",
    "class_name": "VARCHAR",
    "category_uid": "INTEGER",
    "category_name": "VARCHAR",
    "activity_id": "INTEGER",
    "activity_name": "VARCHAR",
    "type_uid": "BIGINT",
    "severity_id": "INTEGER",
    "severity": "VARCHAR",
    "status": "VARCHAR",
    "status_id": "INTEGER",
    "unmapped": "MAP(VARCHAR, VARCHAR)",
    "accountid": "VARCHAR",
    "region": "VARCHAR",
}
# CloudTrail fields kept whole in `unmapped` (OCSF has no place for them).
_UNMAPPED = (
    "readOnly",
    "eventType",
    "additionalEventData",
    "managementEvent",
    "recipientAccountId",
    "sharedEventID",
    "serviceEventDetails",
    "vpcEndpointId",
    "eventCategory",
    "sessionCredentialFromConsole",
)
_ACCOUNT_CHANGE_PREFIXES = ("Create", "Delete", "Update", "Attach", "Detach", "Put", "Add", "Remove")
_ACCOUNT_CHANGE_OBJECTS = (
    "User", "Role", "Group", "AccessKey", "LoginProfile", "Policy", "PolicyVersion", "UserPolicy",
    "RolePolicy", "GroupPolicy", "VirtualMFADevice", "ServiceSpecificCredential",
)  # fmt: skip
_ACTIVITIES = {"Create": 1, "Get": 2, "List": 2, "Describe": 2, "Head": 2, "Update": 3, "Put": 3, "Delete": 4}
_ACCOUNT_ACTIVITIES = {"Create": 1, "Delete": 6, "Attach": 7, "Put": 7, "Detach": 8, "Remove": 8}


def _class(record: Mapping[str, Any]) -> tuple[int, str, int, str]:
    name = str(record.get("eventName") or "")
    if record.get("eventType") == "AwsConsoleSignIn" or name in ("ConsoleLogin", "CheckMfa"):
        return AUTHENTICATION
    if record.get("eventSource") == "iam.amazonaws.com" and any(
        name == f"{verb}{obj}" for verb in _ACCOUNT_CHANGE_PREFIXES for obj in _ACCOUNT_CHANGE_OBJECTS
    ):
        return ACCOUNT_CHANGE
    return API_ACTIVITY


def _activity(record: Mapping[str, Any], class_uid: int) -> int:
    name = str(record.get("eventName") or "")
    table = _ACCOUNT_ACTIVITIES if class_uid == ACCOUNT_CHANGE[0] else _ACTIVITIES
    if class_uid == AUTHENTICATION[0]:
        return 1  # Logon
    return next((v for k, v in table.items() if name.startswith(k)), 99)


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _millis(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp() * 1000)


def _resource(resource: Mapping[str, Any]) -> dict[str, Any]:
    # CloudTrail spells them ARN, accountId, type; some writers lower-case them (as Athena's DDL does).
    by_lower = {str(k).lower(): v for k, v in resource.items()}
    return {
        "uid": by_lower.get("arn"),
        "type": by_lower.get("type"),
        "owner": {"account": {"uid": by_lower.get("accountid")}},
    }


def to_ocsf(record: Mapping[str, Any]) -> dict[str, Any]:
    """One CloudTrail record as a Security Lake OCSF row (:data:`SCHEMA`'s columns)."""
    identity = record.get("userIdentity") or {}
    identity = identity if isinstance(identity, Mapping) else {}
    context = identity.get("sessionContext") or {}
    issuer = (context.get("sessionIssuer") or {}) if isinstance(context, Mapping) else {}
    attributes = (context.get("attributes") or {}) if isinstance(context, Mapping) else {}
    source = record.get("sourceIPAddress")
    class_uid, class_name, category_uid, category_name = _class(record)
    activity = _activity(record, class_uid)
    millis = _millis(record.get("eventTime"))
    error = record.get("errorCode") or None
    resources = record.get("resources")
    mfa = attributes.get("mfaAuthenticated") if isinstance(attributes, Mapping) else None
    return {
        "metadata": {
            "uid": record.get("eventID"),
            "version": OCSF_VERSION,
            "profiles": ["cloud", "datetime"],
            "product": {
                "name": "CloudTrail",
                "vendor_name": "AWS",
                "version": record.get("eventVersion"),
                "feature": {"name": record.get("eventCategory") or "Management"},
            },
        },
        "time": millis,
        "time_dt": None if millis is None else datetime.fromtimestamp(millis / 1000, tz=UTC).isoformat(),
        "cloud": {"region": record.get("awsRegion"), "provider": "AWS"},
        "api": {
            "operation": record.get("eventName"),
            "version": record.get("apiVersion"),
            "service": {"name": record.get("eventSource")},
            "request": {"uid": record.get("requestID"), "data": _text(record.get("requestParameters"))},
            "response": {
                "error": error,
                "message": record.get("errorMessage"),
                "data": _text(record.get("responseElements")),
            },
        },
        "actor": {
            "user": {
                "type": identity.get("type"),
                "name": identity.get("userName"),
                "uid": identity.get("arn"),
                "uid_alt": identity.get("principalId"),
                "credential_uid": identity.get("accessKeyId"),
                "account": {"uid": identity.get("accountId")},
            },
            "session": {
                "issuer": issuer.get("arn") if isinstance(issuer, Mapping) else None,
                "is_mfa": None if mfa is None else str(mfa).lower() == "true",
            },
            "invoked_by": identity.get("invokedBy"),
        },
        "http_request": {"user_agent": record.get("userAgent")},
        "src_endpoint": {
            "ip": source if isinstance(source, str) and _is_address(source) else None,
            "domain": source if isinstance(source, str) and not _is_address(source) else None,
            "uid": record.get("vpcEndpointId"),
        },
        "resources": (
            [_resource(r) for r in resources if isinstance(r, Mapping)]
            if isinstance(resources, list)
            else None
        ),
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity,
        "activity_name": None,
        "type_uid": class_uid * 100 + activity,
        "severity_id": 1,
        "severity": "Informational",
        "status": "Failure" if error else "Success",
        "status_id": 2 if error else 1,
        "unmapped": {k: _text(record[k]) for k in _UNMAPPED if record.get(k) is not None},
        "accountid": record.get("recipientAccountId"),
        "region": record.get("awsRegion"),
    }


# S3's object-level (data event) operations, for records that do not say their category.
_S3_DATA_OPERATIONS = frozenset(
    {
        "GetObject", "HeadObject", "GetObjectAcl", "GetObjectAttributes", "GetObjectTagging",
        "GetObjectVersion", "SelectObjectContent", "RestoreObject", "PutObject", "PutObjectAcl",
        "PutObjectTagging", "CopyObject", "UploadPart", "UploadPartCopy", "CreateMultipartUpload",
        "CompleteMultipartUpload", "AbortMultipartUpload", "DeleteObject", "DeleteObjects",
        "DeleteObjectTagging", "ListObjects", "ListObjectsV2", "ListObjectVersions", "ListMultipartUploads",
        "ListParts",
    }
)  # fmt: skip


def is_data_event(record: Mapping[str, Any]) -> bool:
    """An S3 data event (Security Lake's s3_data table) rather than a management event."""
    if record.get("eventCategory") is not None:
        return record.get("eventCategory") == "Data"
    if record.get("managementEvent") is not None:
        return record.get("managementEvent") is False
    return record.get("eventSource") == "s3.amazonaws.com" and record.get("eventName") in _S3_DATA_OPERATIONS


def write_parquet(records: Iterable[Mapping[str, Any]], path: Path) -> int:
    """``records`` as one OCSF Parquet file (Security Lake's column types); the number written."""
    rows = [to_ocsf(r) for r in records]
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in SCHEMA.items()) + "}"
    with tempfile.TemporaryDirectory(prefix="ocsf-") as tmp:
        staged = Path(tmp) / "rows.jsonl"
        staged.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        conn = duckdb.connect()
        try:
            conn.execute("SET TimeZone = 'UTC'")
            target = str(path).replace("'", "''")
            source = str(staged).replace("'", "''")
            conn.execute(
                f"COPY (SELECT * FROM read_json('{source}', format='newline_delimited', columns={columns})) "
                f"TO '{target}' (FORMAT parquet, COMPRESSION gzip)"
            )
        finally:
            conn.close()
    return len(rows)


def write_security_lake(records: Iterable[Mapping[str, Any]], root: Path) -> list[Path]:
    """The records in Security Lake's layout under ``root``: one file per table, region, account and day
    (``<table>/region=<r>/accountId=<a>/eventDay=<yyyymmdd>/<n>.gz.parquet``)."""
    groups: dict[tuple[str, str, str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        millis = _millis(record.get("eventTime"))
        # A record without a valid time has no day: its folder is read whatever the window.
        day = (
            datetime.fromtimestamp(millis / 1000, tz=UTC).strftime("%Y%m%d")
            if millis is not None
            else "unknown"
        )
        table = S3_DATA_TABLE if is_data_event(record) else MANAGEMENT_TABLE
        key = (
            table,
            str(record.get("awsRegion") or "unknown"),
            str(record.get("recipientAccountId") or "unknown"),
            day,
        )
        groups.setdefault(key, []).append(record)
    written = []
    for (table, region, account, day), group in sorted(groups.items()):
        path = (
            root
            / table
            / f"region={region}"
            / f"accountId={account}"
            / f"eventDay={day}"
            / "part-0.gz.parquet"
        )
        write_parquet(group, path)
        written.append(path)
    return written
