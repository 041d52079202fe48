"""Security Hub in the emulated account: enabled, holding each GuardDuty finding as GuardDuty imports
it (ASFF, workflow ``NEW``), and answering ``BatchUpdateFindings``, which moto does not implement.

:class:`BatchUpdateFindings` stands in for that one operation: a botocore ``before-call`` handler on
boto3's default session (which every handler's client is built from) that applies the update to
moto's own store of findings and answers with the API's response shape, so that moto's
``GetFindings`` reads the status back. It answers as Security Hub does: ``InvalidAccessException``
when Security Hub is not enabled, an ``UnprocessedFindings`` entry for a finding it does not hold.
Every update is kept in :attr:`BatchUpdateFindings.history`, for tests and the demo's narration.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from responder import clients
from responder.securityhub import guardduty_identifiers

OPERATION = "BatchUpdateFindings"
EVENT = f"before-call.securityhub.{OPERATION}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def asff_of(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ASFF finding GuardDuty imports into Security Hub for a GuardDuty EventBridge event (the
    fields this responder and Security Hub's console use), or None for any other input."""
    if not isinstance(event, Mapping) or event.get("source") != "aws.guardduty":
        return None
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return None
    finding_id, product_arn = guardduty_identifiers(detail)
    if finding_id is None:
        return None
    key = (detail.get("resource") or {}).get("accessKeyDetails") or {}
    severity = float(detail.get("severity") or 0)
    label = "HIGH" if severity >= 7 else "MEDIUM" if severity >= 4 else "LOW"
    created = str(detail.get("createdAt") or _now())
    family = str(detail.get("type") or "Unknown:IAMUser/Unknown").replace("/", "-")
    return {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id,
        "ProductArn": product_arn,
        "GeneratorId": str(detail.get("type") or "guardduty"),
        "AwsAccountId": str(detail.get("accountId") or event.get("account") or ""),
        "Types": [f"TTPs/{family}"],
        "CreatedAt": created,
        "UpdatedAt": str(detail.get("updatedAt") or created),
        "Severity": {"Label": label, "Normalized": int(severity * 10)},
        "Title": str(detail.get("title") or "GuardDuty finding"),
        "Description": str(detail.get("description") or "GuardDuty finding"),
        "Resources": [
            {
                "Type": "AwsIamAccessKey",
                "Id": f"AWS::IAM::AccessKey:{key.get('accessKeyId') or 'null'}",
                "Region": str(detail.get("region") or event.get("region") or ""),
                "Details": {
                    "AwsIamAccessKey": {
                        k: str(v)
                        for k, v in (
                            ("AccessKeyId", key.get("accessKeyId")),
                            ("PrincipalName", key.get("userName")),
                            ("PrincipalType", key.get("userType")),
                        )
                        if v
                    }
                },
            }
        ],
        "Workflow": {"Status": "NEW"},
        "WorkflowState": "NEW",
        "RecordState": "ACTIVE",
    }


def import_findings(securityhub: Any, inputs: list[Any]) -> list[str]:
    """Enable Security Hub and import the GuardDuty findings among ``inputs``; their Security Hub ids."""
    securityhub.enable_security_hub(EnableDefaultStandards=False)
    findings = [f for f in (asff_of(i) for i in inputs) if f is not None]
    if findings:
        securityhub.batch_import_findings(Findings=findings)
    return [f["Id"] for f in findings]


def workflow_of(securityhub: Any, finding_id: str) -> tuple[str, str]:
    """``(workflow status, note text)`` of one finding, as GetFindings returns it."""
    found = securityhub.get_findings()["Findings"]
    finding = next(f for f in found if f["Id"] == finding_id)
    return finding.get("Workflow", {}).get("Status", ""), finding.get("Note", {}).get("Text", "")


def _answer(status: int, body: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    meta = {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
    return AWSResponse("https://securityhub.amazonaws.com/findings/batchupdate", status, {}, None), {
        **body,
        "ResponseMetadata": meta,
    }


@dataclass
class BatchUpdateFindings:
    """``BatchUpdateFindings`` over moto's Security Hub store of ``account_id`` in ``region``."""

    account_id: str
    region: str
    history: list[dict[str, str]] = field(default_factory=list)
    finding_ids: list[str] = field(default_factory=list)  # what import_findings put in

    def findings(self) -> dict[str, tuple[str, str]]:
        """``{id: (workflow status, note)}`` of the imported findings, read back with GetFindings."""
        securityhub = boto3.client("securityhub", region_name=self.region)
        return {i: workflow_of(securityhub, i) for i in self.finding_ids}

    def _backend(self) -> Any:
        from moto.securityhub.models import securityhub_backends

        return securityhub_backends[self.account_id][self.region]

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        backend = self._backend()
        if not backend.enabled:
            error = {
                "Code": "InvalidAccessException",
                "Message": "Account is not subscribed to AWS Security Hub",
            }
            return _answer(403, {"Error": error})
        request = json.loads(params.get("body") or b"{}")
        processed, unprocessed = [], []
        for ident in request.get("FindingIdentifiers", []):
            finding = next(
                (
                    f
                    for f in backend.findings
                    if f.id == ident.get("Id") and f.data.get("ProductArn") == ident.get("ProductArn")
                ),
                None,
            )
            if finding is None:
                unprocessed.append(
                    {"FindingIdentifier": ident, "ErrorCode": "FindingNotFound", "ErrorMessage": "not found"}
                )
                continue
            status = (request.get("Workflow") or {}).get("Status")
            if status:
                finding.data["Workflow"] = {"Status": status}
                finding.data["WorkflowState"] = "NEW" if status == "NEW" else "IN_PROGRESS"
            if request.get("Note"):
                finding.data["Note"] = {**request["Note"], "UpdatedAt": _now()}
            self.history.append(
                {
                    "id": finding.id,
                    "status": status or "",
                    "note": (request.get("Note") or {}).get("Text", ""),
                }
            )
            processed.append(ident)
        return _answer(200, {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


@contextlib.contextmanager
def emulated(
    account_id: str,
    region: str,
    inputs: list[Any] | None = None,
    *,
    ended: Callable[[BatchUpdateFindings], None] | None = None,
) -> Iterator[BatchUpdateFindings]:
    """Security Hub enabled with the GuardDuty findings among ``inputs``, answering
    ``BatchUpdateFindings`` while inside (the handlers' cached clients are rebuilt); ``ended`` is
    called with the emulator on the way out, while the findings can still be read."""
    emulator = BatchUpdateFindings(account_id, region)
    emulator.finding_ids = import_findings(boto3.client("securityhub", region_name=region), inputs or [])
    events = boto3._get_default_session().events
    events.register(EVENT, emulator)
    clients.reset()  # a cached client copied the session's handlers before this one was registered
    try:
        yield emulator
    finally:
        events.unregister(EVENT, emulator)
        clients.reset()
        if ended is not None:
            ended(emulator)
