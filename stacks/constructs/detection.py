"""What starts the workflow: GuardDuty findings about IAM credentials and S3, above a severity.

The pattern is :func:`deployment.patterns.event_pattern`, the one definition: the rule uses it, and tests
and the local runner check events against it (that module is plain data, free of the CDK's jsii).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from deployment.patterns import event_pattern
from deployment.settings import StackSettings
from stacks.nag import acknowledge


class Detection(Construct):
    """The rule, its target (the state machine) and the target's dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.dead_letter_queue.node.default_child.add_metadata(  # type: ignore[union-attr]
            "checkov",
            {
                "skip": [
                    {
                        "id": "CKV_AWS_27",
                        "comment": "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled); checkov's check "
                        "only recognizes a KmsMasterKeyId.",
                    }
                ]
            },
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the GuardDuty rule's target; its depth raises "
            "an alarm to the SOC.",
        )
        pattern = event_pattern(settings)
        self.rule = events.Rule(
            self,
            "GuardDutyFindings",
            description="GuardDuty findings on IAM credentials and S3 start the incident responder",
            event_pattern=events.EventPattern(
                source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"]
            ),
        )
        self.rule.add_target(
            targets.SfnStateMachine(
                state_machine,
                dead_letter_queue=self.dead_letter_queue,
                # A finding not started within the hour goes to the DLQ (and the SOC hears of it).
                max_event_age=Duration.hours(1),
                retry_attempts=8,
            )
        )
