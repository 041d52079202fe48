"""PlanQueries: the next batch of CloudTrail queries (the exposed key's six, then a pivot to every
credential it minted), decided from what this execution has already saved to evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.models import Incident
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.settings import get_settings
from responder.steps.plan_queries import plan_queries

PERMISSIONS: tuple[Permission, ...] = (
    Permission(("s3:ListBucket",), ("@evidence_bucket",)),
    Permission(("s3:GetObject",), ("@evidence_bucket/*",)),
)


class PlanInput(BaseModel):
    incident: Incident
    execution_id: str
    started_at: datetime  # the execution's start: one window for every round
    round: int = 0


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=PlanInput)
    plan = plan_queries(
        client("s3"),
        get_settings().evidence_bucket,
        request.incident,
        execution_id=request.execution_id,
        started_at=request.started_at,
        round_=request.round,
    )
    logger.info(
        "query plan",
        extra={"incident_id": request.incident.incident_id, "round": plan.round, "batch": len(plan.batch)},
    )
    return plan.model_dump(mode="json")
