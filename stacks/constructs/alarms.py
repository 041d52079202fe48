"""Alarms to the SOC when the responder itself fails: failed, timed-out or aborted runs, lost findings."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

PERIOD = Duration.minutes(5)


class Alarms(Construct):
    """One alarm per way the responder can fail silently, each notifying the SOC topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        dead_letter_queue: sqs.IQueue,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        runs = {
            "ExecutionsFailed": state_machine.metric_failed(period=PERIOD, statistic="Sum"),
            "ExecutionsTimedOut": state_machine.metric_timed_out(period=PERIOD, statistic="Sum"),
            "ExecutionsAborted": state_machine.metric_aborted(period=PERIOD, statistic="Sum"),
        }
        self.alarms: dict[str, cloudwatch.Alarm] = {
            name: cloudwatch.Alarm(
                self,
                name,
                alarm_description=f"Incident responder: {name} - a run ended without its report; see the "
                "execution history and the SOC failure notice",
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for name, metric in runs.items()
        }
        self.alarms["DeadLetterQueueNotEmpty"] = cloudwatch.Alarm(
            self,
            "DeadLetterQueueNotEmpty",
            alarm_description="Incident responder: an event could not reach its target (a GuardDuty finding or "
            "quarantine-policy attachment did not start the workflow, or a detection alert missed the SOC "
            "topic); it waits in the dead-letter queue",
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            ),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        action = actions.SnsAction(topic)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(action)
