"""Validate: is the exposed key ours, whose is it, who owns it (playbook steps 1-2)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from responder.clients import client, throttling_retried
from responder.models import Incident
from responder.observability import logger, metrics
from responder.permissions import Permission
from responder.settings import get_settings
from responder.steps.validate import validate_key

PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        ("sts:GetAccessKeyInfo",),
        ("*",),
        reason="sts:GetAccessKeyInfo supports no resource-level permissions",
    ),
    Permission(
        ("iam:GetAccessKeyLastUsed", "iam:GetUser", "iam:ListUserTags"),
        ("arn:{partition}:iam::{account}:user/*",),
    ),
    # A role session's key: the finding's role, checked against the live one, and its protected tag.
    Permission(("iam:GetRole", "iam:ListRoleTags"), ("arn:{partition}:iam::{account}:role/*",)),
)


class ValidateInput(BaseModel):
    incident: Incident


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    incident = parse(event=event, model=ValidateInput).incident
    settings = get_settings()
    logger.append_keys(incident_id=incident.incident_id, access_key_id=incident.access_key_id)
    owner = validate_key(
        client("sts"),
        client("iam"),
        incident,
        owner_tag_keys=settings.owner_tag_keys,
        protected_tag=settings.protected_tag,
        protected_principals=settings.protected_principals,
    )
    logger.info(
        "key validated",
        extra={"user_name": owner.user_name, "owner_found": bool(owner.owner), "protected": owner.protected},
    )
    return owner.model_dump(mode="json")
