"""A forwarder stack: one region's findings sent on to the hub's region (organization deployment).

GuardDuty findings are regional: the delegated administrator receives every member's findings of a
region on its default event bus *in that region*. Rather than a whole responder per region (a
workflow, evidence bucket, incident table and SOC topic each, and incidents split across regions),
each other enabled region gets this small stack: the hub's own rules' patterns (the GuardDuty rule's,
from :func:`deployment.patterns.event_pattern`, and AWS Health's exposed-credentials event, which AWS
Health delivers in us-east-1) forwarded to the hub region's default bus, whose rules start the one
workflow. A forwarded event keeps its ``region`` and ``account``.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from deployment.patterns import event_pattern, health_pattern
from deployment.settings import StackSettings


def hub_bus_arn(hub_region: str) -> str:
    """The hub region's default event bus, in this (the hub's) account."""
    return f"arn:{Aws.PARTITION}:events:{hub_region}:{Aws.ACCOUNT_ID}:event-bus/default"


def forwarded_patterns(settings: StackSettings) -> dict[str, dict[str, Any]]:
    """``{rule id: pattern}``: the hub's patterns a forwarder sends on (Health's when the hub starts on it)."""
    patterns = {"GuardDutyFindings": event_pattern(settings)}
    if settings.health_trigger:
        patterns["CredentialsExposed"] = health_pattern()
    return patterns


class ForwarderStack(Stack):
    """Rules on this region's default bus, each targeting the hub region's default bus."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.bus_arn = hub_bus_arn(settings.hub_region)
        hub_bus = events.EventBus.from_event_bus_arn(self, "HubBus", self.bus_arn)
        # One role for the rules: events:PutEvents on the hub's bus, nothing else.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description=f"Incident responder: forward this region's findings to {settings.hub_region}",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[self.bus_arn])
        )
        self.rules: dict[str, events.Rule] = {}
        for rule_id, pattern in forwarded_patterns(settings).items():
            rule = events.Rule(
                self,
                rule_id,
                description=f"Incident responder: forward to the hub's bus in {settings.hub_region}",
                event_pattern=events.EventPattern(
                    source=list(pattern["source"]),
                    detail_type=list(pattern["detail-type"]),
                    detail=pattern["detail"],
                ),
            )
            rule.add_target(targets.EventBus(hub_bus, role=self.role))
            self.rules[rule_id] = rule
