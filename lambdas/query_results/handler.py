"""QueryResults: every row, redacted, to evidence as JSON lines with its SHA-256."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.query_engine import ENGINE_PERMISSIONS, engine
from responder.clients import client, throttling_retried
from responder.investigation import QueryHandle, save_results
from responder.observability import logger, metrics, tracer
from responder.permissions import Permission
from responder.settings import get_settings

PERMISSIONS: tuple[Permission, ...] = (
    *ENGINE_PERMISSIONS,
    Permission(("s3:PutObject", "s3:GetObject"), ("@evidence_bucket/*",)),
)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    handle = parse(event=event, model=QueryHandle)
    result = save_results(client("s3"), get_settings().evidence_bucket, engine(), handle)
    logger.info(
        "query results saved",
        extra={
            "query_id": handle.query_id,
            "rows": result.row_count,
            "coverage": result.coverage.get("status"),
        },
    )
    return result.model_dump(mode="json")
