"""Remediate: the backdoored bucket policies and the IAM persistence the key created, contained
under the same approval policy as the key (playbook step 8); a dry run reports would_do.

Only what the live account confirms is touched (each record's ids and dates checked first), never a
protected principal, at most ``MAX_AUTO_CONTAIN`` principals (the rest wait for a person, listed in
evidence), each once across executions; deny-all is the stack's managed policy (``DENY_ALL_POLICY_ARN``),
attached, so this function writes no policy document."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.insiders import PERMISSIONS_INSIDERS, insiders_here
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.remediate import PERMISSIONS_BUCKET_FIX, PERMISSIONS_CONTAIN_PERSISTENCE
from responder.settings import get_settings
from responder.state import WorkflowState
from responder.steps.remediate import remediate

PERMISSIONS: tuple[Permission, ...] = (
    *PERMISSIONS_BUCKET_FIX,
    *PERMISSIONS_CONTAIN_PERSISTENCE,
    *PERMISSIONS_INSIDERS,
    Permission(("s3:ListBucket",), ("@evidence_bucket",)),
    Permission(("s3:GetObject", "s3:PutObject"), ("@evidence_bucket/*",)),
)


class RemediateInput(BaseModel):
    state: WorkflowState
    execution_id: str


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=RemediateInput)
    settings = get_settings()
    # This account is the one the function runs in, never the one the finding claims (issue 12, point 13).
    account = context.invoked_function_arn.split(":")[4]
    insiders = insiders_here(account, settings, client)
    result = remediate(
        client("s3"),
        client("iam"),
        client("dynamodb"),
        settings.incident_table,
        settings.evidence_bucket,
        request.state,
        execution_id=request.execution_id,
        insiders=insiders,
    )
    for action in result.actions:
        logger.info(
            "remediation", extra={"action": action.action, "target": action.target, "status": action.status}
        )
    return result.model_dump(mode="json")
