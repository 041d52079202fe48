"""QueryResults: every row, redacted, to evidence as JSON lines with its SHA-256."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.query_engine import ENGINE_PERMISSIONS, engine
from responder.clients import client, throttling_retried
from responder.models import utc_now
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.query import QueryParams
from responder.query.digest import validate_for_run
from responder.redact import deployment_key, keyed
from responder.settings import get_settings
from responder.state import QueryHandle
from responder.steps.query_results import save_results

PERMISSIONS: tuple[Permission, ...] = (
    *ENGINE_PERMISSIONS,
    Permission(("s3:PutObject", "s3:GetObject"), ("@evidence_bucket/*",)),
    # The HMAC key of redaction digests in the saved rows.
    Permission(("secretsmanager:GetSecretValue",), ("@redaction_key_secret",)),
    Permission(
        ("cloudtrail:ListPublicKeys",),
        ("@cloudtrail_public_keys",),
        "ListPublicKeys supports no resource-level permission; it lists CloudTrail's public keys, which "
        "verify the signatures of the trail's digest files (log-file validation)",
    ),
)


def _log_validation(params: QueryParams) -> dict[str, Any] | None:
    """Log-file validation of the window's days with this deployment's engine and trail."""
    return validate_for_run(
        get_settings(),
        params.window_start,
        params.window_end,
        s3=client("s3"),
        cloudtrail_for_region=lambda region: client("cloudtrail", region),
        now=utc_now(),
    )


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    handle = parse(event=event, model=QueryHandle)
    settings = get_settings()
    key = deployment_key(settings.redaction_key_secret_arn, lambda: client("secretsmanager"))
    with keyed(key):  # every row's secrets replaced by keyed digests before it reaches evidence
        result = save_results(
            client("s3"), settings.evidence_bucket, engine(), handle, log_validation=_log_validation
        )
    logger.info(
        "query results saved",
        extra={
            "query_id": handle.query_id,
            "rows": result.row_count,
            "coverage": result.coverage.get("status"),
            "log_file_validation": (result.coverage.get("log_file_validation") or {}).get("status"),
        },
    )
    return result.model_dump(mode="json")
