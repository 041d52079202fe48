"""CloudTrail detections to the SOC, and AWS's compromised-key quarantine as a trigger of the responder.

:class:`Detections` (``responder:detections``, on by default): one EventBridge rule per risky management
event (new access keys, users and console passwords; bucket policy and ACL changes; Block Public Access
weakened or removed; CloudTrail stopped or deleted), each sending the SOC topic a short message - who,
what, where, from which IP, when - built by an input transformer, no Lambda. Principals in
``responder:detectionAllowList`` (the deployment role...) raise no alert.

:class:`QuarantineTrigger` (``responder:quarantineTrigger``, on by default, whatever the detections
switch): AWS attached ``AWSCompromisedKeyQuarantine*`` to a user, its own sign that the user's key was
found in public; the rule starts the state machine with a ``quarantine-policy`` input.

Region: the rules see the management events CloudTrail delivers to this region's default event bus.
IAM is global and its events are delivered in us-east-1 only, so deploy the stack in us-east-1 (or
forward ``aws.iam`` events from us-east-1 to this region's bus with a cross-region rule); the S3 and
CloudTrail rules see the calls made in the stack's region. CloudTrail must have a trail logging
management events (write events at least) for EventBridge to receive any of them.

The patterns are plain data in :mod:`deployment.patterns` (one definition for the stack, tests and tools).
Every target retries and dead-letters into the GuardDuty rule's queue, whose depth alarms the SOC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from deployment.patterns import (
    ALERT_FIELDS,
    DETECTIONS,
    QUARANTINE_INPUT,
    QUARANTINE_SOURCE,
    RESPONDER_WRITE_FIELDS,
    RESPONDER_WRITE_TITLE,
    alert_lines,
    detection_patterns,
    health_pattern,
    quarantine_pattern,
    responder_write_lines,
    responder_write_pattern,
)
from deployment.settings import StackSettings

_FIELD = re.compile(r"\{(\w+)\}")
# An alert not delivered within the hour goes to the dead-letter queue (and the SOC hears of it).
MAX_EVENT_AGE = Duration.hours(1)
RETRY_ATTEMPTS = 8


def _rule_pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    return events.EventPattern(
        source=list(pattern["source"]), detail_type=list(pattern["detail-type"]), detail=pattern["detail"]
    )


def _render(line: str, paths: Mapping[str, str]) -> str:
    """``{field}`` -> the EventBridge input-transformer variable of that field's JSON path."""
    return _FIELD.sub(lambda m: events.EventField.from_path(paths[m.group(1)]), line)


class Detections(Construct):
    """One rule per detection in :data:`deployment.patterns.DETECTIONS`, each alerting the SOC topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        topic: sns.ITopic,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.Rule] = {}
        for name, pattern in detection_patterns(settings).items():
            detection = DETECTIONS[name]
            rule = events.Rule(
                self,
                name,
                description=f"Incident responder detection: {detection.title}",
                event_pattern=_rule_pattern(pattern),
            )
            paths = {**ALERT_FIELDS, "target": detection.target_path}
            message = "\n".join(_render(line, paths) for line in alert_lines(detection))
            rule.add_target(
                targets.SnsTopic(
                    topic,
                    # One quoted line each: EventBridge sends a text template as JSON strings.
                    message=events.RuleTargetInput.from_multiline_text(message),
                    dead_letter_queue=dead_letter_queue,
                    max_event_age=MAX_EVENT_AGE,
                    retry_attempts=RETRY_ATTEMPTS,
                )
            )
            self.rules[name] = rule


def workflow_target(
    state_machine: sfn.IStateMachine,
    dead_letter_queue: sqs.IQueue,
    responder_input: events.RuleTargetInput | None = None,
) -> targets.SfnStateMachine:
    """A rule's start of the state machine (the event itself, or ``responder_input``): retried, then
    dead-lettered into the queue whose depth alarms the SOC."""
    return targets.SfnStateMachine(
        state_machine,
        input=responder_input,
        dead_letter_queue=dead_letter_queue,
        max_event_age=MAX_EVENT_AGE,
        retry_attempts=RETRY_ATTEMPTS,
    )


class QuarantineTrigger(Construct):
    """AWS's quarantine policy attached to a user starts the responder for that user."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "QuarantinePolicyAttached",
            description="AWS attached AWSCompromisedKeyQuarantine* to a user (its key was found in public): "
            "start the incident responder",
            event_pattern=_rule_pattern(quarantine_pattern()),
        )
        # {"source": "quarantine-policy", "userName": ..., "policyArn": ..., "accountId": ...,
        #  "region": ..., "eventTime": ..., "eventId": ..., and the caller: "userIdentity",
        #  "sourceIPAddress"}: responder.steps.triage reads this form and re-checks the caller is AWS.
        responder_input: dict[str, Any] = {"source": QUARANTINE_SOURCE}
        responder_input.update(
            {key: events.EventField.from_path(path) for key, path in QUARANTINE_INPUT.items()}
        )
        self.rule.add_target(
            workflow_target(
                state_machine, dead_letter_queue, events.RuleTargetInput.from_object(responder_input)
            )
        )


class HealthTrigger(Construct):
    """AWS Health's ``AWS_RISK_CREDENTIALS_EXPOSED`` starts the responder for the key it names.

    The event is sent as it is: responder.steps.triage reads the AWS Health form. AWS Health delivers
    this account-specific, global event in us-east-1: deploy there, or forward ``aws.health`` events
    from us-east-1 to this region's bus.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "CredentialsExposed",
            description="AWS Health: AWS found an access key of this account in public: start the incident responder",
            event_pattern=_rule_pattern(health_pattern()),
        )
        self.rule.add_target(workflow_target(state_machine, dead_letter_queue))


class ResponderWriteAlarm(Construct):
    """A responder role wrote (or was refused) a policy or trust outside its fixed forms: alert the SOC.

    Always on, whatever ``responder:detections`` and its allow-list say: it watches the responder's own
    roles (``role/<stack name>-*``), which no allow-list entry should silence. IAM events reach
    EventBridge in us-east-1 only (see the module docstring).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_name: str,
        deny_all_policy_arn: str,
        topic: sns.ITopic,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role_arn_prefix = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{stack_name}-"
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"Incident responder self-check: {RESPONDER_WRITE_TITLE}",
            event_pattern=_rule_pattern(responder_write_pattern(self.role_arn_prefix, deny_all_policy_arn)),
        )
        message = "\n".join(_render(line, RESPONDER_WRITE_FIELDS) for line in responder_write_lines())
        self.rule.add_target(
            targets.SnsTopic(
                topic,
                message=events.RuleTargetInput.from_multiline_text(message),
                dead_letter_queue=dead_letter_queue,
                max_event_age=MAX_EVENT_AGE,
                retry_attempts=RETRY_ATTEMPTS,
            )
        )
