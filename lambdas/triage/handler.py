"""Triage step: the execution input (any GuardDuty form or a manual input) -> one incident.

The ASL stores the returned dict at ``$.incident``. Errors propagate by name (``InvalidInput``,
``UnsupportedFinding``) for the state machine's Catch.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.models import dump
from responder.observability import logger, metrics, tracer
from responder.permissions import Permission
from responder.settings import get_settings
from responder.triage import triage

__all__ = ["PERMISSIONS", "handler", "logger", "metrics", "tracer"]

# Triage reads only its input: no AWS API call, so no permission beyond the basic execution role.
PERMISSIONS: tuple[Permission, ...] = ()


def account_of(context: LambdaContext) -> str | None:
    """The account this function runs in, from its ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME).

    A manual input usually names no account; the responder is deployed in the account it protects,
    so its own account is the right default. Reading it from the context costs no STS call, no
    permission and no extra environment variable.
    """
    parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
    return parts[4] if len(parts) > 4 and parts[4] else None


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    incident = triage(event, get_settings(), default_account_id=account_of(context))
    logger.info(
        "triaged",
        extra={
            "incident_id": incident.incident_id,
            "finding_id": incident.finding.id if incident.finding else None,
            "access_key_id": incident.access_key_id,
            "decision": incident.decision.action,
        },
    )
    metrics.add_dimension(name="decision", value=incident.decision.action)
    metrics.add_metric(name="IncidentsTriaged", unit=MetricUnit.Count, value=1)
    return dump(incident)
