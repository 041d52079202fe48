"""Snapshot: the finding and each named bucket's policy go to evidence before anything changes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.models import Incident
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.settings import get_settings
from responder.steps.snapshot import snapshot

PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        (
            "s3:GetBucketPolicy",
            "s3:GetBucketAcl",
            "s3:GetBucketPublicAccessBlock",
            "s3:GetBucketOwnershipControls",
            "s3:GetBucketVersioning",
        ),
        ("arn:{partition}:s3:::*",),
    ),
    # GetObject backs the HEAD that checks an existing object's hash before refusing to overwrite.
    Permission(("s3:PutObject", "s3:GetObject"), ("@evidence_bucket/*",)),
)


class SnapshotInput(BaseModel):
    incident: Incident
    execution_input: Any = None
    execution_id: str


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=SnapshotInput)
    logger.append_keys(incident_id=request.incident.incident_id)
    result = snapshot(
        client("s3"),
        get_settings().evidence_bucket,
        request.incident,
        request.execution_input,
        execution_id=request.execution_id,
    )
    logger.info(
        "evidence saved", extra={"objects": len(result.evidence), "buckets": len(request.incident.buckets)}
    )
    return result.model_dump(mode="json")
