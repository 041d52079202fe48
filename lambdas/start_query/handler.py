"""StartQuery: the key's CloudTrail activity over the window, on the configured engine."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.query_engine import ENGINE_PERMISSIONS, engine
from responder.clients import throttling_retried
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.settings import get_settings
from responder.state import QueryTask
from responder.steps.start_query import start_query

PERMISSIONS: tuple[Permission, ...] = ENGINE_PERMISSIONS


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse(event=event, model=QueryTask)
    handle = start_query(engine(), task, poll_seconds=get_settings().poll_seconds)
    logger.info(
        "query started",
        extra={
            "incident_id": handle.incident_id,
            "query": handle.name,
            "access_key_id": handle.access_key_id,
            "query_id": handle.query_id,
            "engine": handle.engine,
        },
    )
    return handle.model_dump(mode="json")
