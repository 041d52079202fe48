"""Triage step: the execution input (any GuardDuty form or a manual input) -> one incident, and,
on the automatic path, the exposed key Inactive before anything else happens.

Returns ``{"incident", "owner", "containment", "sighting"}``; the ASL routes on ``sighting.status``
(a repeat delivery of a handled finding ends there) and ``containment.status``.
Errors propagate by name (``InvalidInput``, ``UnsupportedFinding``, ``Throttled``,
``ContainmentFailed``) for the state machine's Retry and Catch.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.steps import STEP_BY_NAME
from responder.clients import account_of, client, throttling_retried
from responder.models import Decision, Incident, dump
from responder.observability import logger, metrics, record_time_to_contain
from responder.permissions import Permission
from responder.securityhub import PERMISSIONS_WRITE_BACK, mark_notified
from responder.settings import Settings, get_settings
from responder.sightings import Sighting
from responder.steps.triage import (
    ContainRules,
    FastContainment,
    accounts_in_scope,
    contain_now,
    follow_up,
    name_key_user,
    resolve_quarantined_key,
    scope_to_accounts,
    triage,
)

__all__ = ["PERMISSIONS", "handler", "logger", "metrics"]

# The fast path: four calls at most before the key is Inactive (see contain_now), one record after;
# five on an analyst's run that names the key only (name_key_user finds its user first).
PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        # GetAccessKeyLastUsed: an analyst's run names the key only, IAM names its user (name_key_user).
        (
            "iam:ListUserTags",
            "iam:ListAccessKeys",
            "iam:UpdateAccessKey",
            "iam:GetUser",
            "iam:GetAccessKeyLastUsed",
        ),
        ("arn:{partition}:iam::{account}:user/*",),
        reason="the exposed key's user is only known from the finding (or IAM) at run time",
    ),
    Permission(("dynamodb:PutItem", "dynamodb:UpdateItem"), ("@incident_table",)),
    *PERMISSIONS_WRITE_BACK,  # after the containment: the finding NOTIFIED in Security Hub
)

# A claim is stale once older than the longest step that claims keys can run (Triage or Disable).
CLAIM_STALE_SECONDS = max(STEP_BY_NAME[s].timeout_seconds for s in ("triage", "disable"))


@lru_cache(maxsize=1)
def _caller_account() -> str:
    # GetCallerIdentity needs no permission; only a direct invoke without a function ARN gets here.
    return str(client("sts").get_caller_identity()["Account"])


def own_account(context: LambdaContext) -> str:
    """This function's account: from its ARN, else (once per process) STS GetCallerIdentity."""
    return account_of(context) or _caller_account()


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@throttling_retried
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The state machine wraps the execution input with its execution id; a direct invoke does not.
    wrapped = isinstance(event, dict) and set(event) == {"input", "execution_id"}
    raw = event["input"] if wrapped else event
    execution_id = str(event["execution_id"]) if wrapped else "direct-invoke"
    settings = get_settings()
    account = own_account(context)
    # The account check comes first: nothing below may act on another account's say-so.
    incident = scope_to_accounts(
        triage(raw, settings, default_account_id=account), accounts_in_scope(account)
    )
    incident = name_key_user(client("iam"), resolve_quarantined_key(client("iam"), incident))
    fast = FastContainment(status="not_attempted", reason=f"decision is {incident.decision.action}")
    # Who is protected, whose the key is, how old a claim may be: the same for every key contained here.
    rules = ContainRules(
        owner_tag_keys=settings.owner_tag_keys,
        protected_tag=settings.protected_tag,
        protected_principals=settings.protected_principals,
        stale_after_seconds=CLAIM_STALE_SECONDS,
    )
    # await_approval: reads only, the owner known now, so a yes goes straight to Disable (the ASL's
    # Approved choice).
    if incident.decision.action in {"contain", "await_approval"}:
        fast = contain_now(
            client("iam"),
            client("dynamodb"),
            settings.incident_table,
            incident,
            execution_id=execution_id,
            ask_first=incident.decision.action == "await_approval",
            **rules,
        )
        if fast.status == "needs_approval":
            incident.decision = Decision(action="await_approval", reason=fast.reason)
    # After the first key is Inactive: the signal's other keys, then this delivery recorded (a repeat
    # of a handled finding ends at the ASL's UpdateRecorded).
    related, sighting = follow_up(
        client("iam"),
        client("dynamodb"),
        settings.incident_table,
        incident,
        fast,
        execution_id=execution_id,
        rules=rules,
    )
    logger.info(
        "triaged",
        extra={
            "incident_id": incident.incident_id,
            "finding_id": incident.finding.id if incident.finding else None,
            "access_key_id": incident.access_key_id,
            "decision": incident.decision.action,
            "containment": fast.status,
            "related_keys": [r["access_key_id"] for r in related],
            "sighting": sighting.status if sighting else None,
        },
    )
    metrics.add_dimension(name="decision", value=incident.decision.action)
    metrics.add_metric(name="IncidentsTriaged", unit=MetricUnit.Count, value=1)
    record_time_to_contain(incident, fast.actions)
    return _output(incident, fast, related, sighting, settings, execution_id)


def _output(
    incident: Incident,
    fast: FastContainment,
    related: list[dict[str, Any]],
    sighting: Sighting | None,
    settings: Settings,
    execution_id: str,
) -> dict[str, Any]:
    """The state's ``incident``, ``owner``, ``containment`` (with the related keys), ``sighting``, and
    ``securityhub``: off the fast path, Security Hub hears of the run once the key is Inactive (or the
    decision taken); a repeat delivery leaves the finding's workflow where the first run put it."""
    repeat = sighting is not None and sighting.status == "repeat"
    notified = (
        None
        if repeat
        else mark_notified(client, settings.securityhub_write_back, incident, fast.status, execution_id)
    )
    record = dump(incident)
    # The approval policy travels with the incident: the ASL's TimeoutSecondsPath reads it.
    record["approval"] = {
        "timeout_seconds": settings.approval_timeout_seconds,
        "on_timeout": settings.approval_on_timeout,
    }
    containment = fast.model_dump(mode="json", exclude={"owner"})
    containment["related"] = [{k: r[k] for k in ("access_key_id", "user_name", "status")} for r in related]
    return {
        "incident": record,
        "owner": fast.owner.model_dump(mode="json") if fast.owner else None,
        "containment": containment,
        "sighting": sighting.as_dict() if sighting else None,
        "securityhub": notified,
    }
