"""QueryStatus: one poll of the running query; the state machine's Wait/Choice loop calls it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.query_engine import ENGINE_PERMISSIONS, engine
from responder.clients import throttling_retried
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.state import QueryHandle
from responder.steps.query_status import poll_query

PERMISSIONS: tuple[Permission, ...] = ENGINE_PERMISSIONS


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    handle = poll_query(engine(), parse(event=event, model=QueryHandle))
    logger.info(
        "query polled", extra={"query_id": handle.query_id, "state": handle.state, "polls": handle.polls}
    )
    return handle.model_dump(mode="json")
