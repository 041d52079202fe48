"""The responder stack: wires the constructs of stacks/constructs/, one concern each."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from deployment.settings import StackSettings
from lambdas.steps import MEMBER_POWER, STEPS, member_role_name
from responder.permissions import Permission
from responder.query import ENGINE_SPECS
from stacks.constructs.alarms import Alarms
from stacks.constructs.containment import DENY_ALL_POLICY_ENV, DenyAllPolicy
from stacks.constructs.detection import Detection
from stacks.constructs.detections import Detections, HealthTrigger, QuarantineTrigger, ResponderWriteAlarm
from stacks.constructs.evidence import EvidenceStore
from stacks.constructs.functions import References, StepFunctions, guardrails
from stacks.constructs.layers import newest_python_runtime
from stacks.constructs.log_encryption import LogEncryption
from stacks.constructs.member_roles import TRUST_ACTIONS
from stacks.constructs.notifications import Notifications
from stacks.constructs.operators import OPERATOR_ROLES, Operators, operator_role_arn
from stacks.constructs.query_engine import AthenaQueryEngine, SecurityLakeQueryEngine, log_group_arn
from stacks.constructs.redaction import REDACTION_KEY_SECRET_ENV, RedactionKey
from stacks.constructs.stack_set import MemberStackSet
from stacks.constructs.workflow import Workflow
from stacks.names import hub_role_name

# Resources only one query engine uses: each engine declares its own (responder/query/<engine>.py).
ENGINE_REFERENCES: dict[str, frozenset[str]] = {name: spec.references for name, spec in ENGINE_SPECS.items()}
# Resources that exist only when their context key is set (see responder.permissions): a permission
# that names only unconfigured ones is dropped.
OPTIONAL_REFERENCES: dict[str, str] = {
    "threat_list_object": "threatListUri",
    "webhook_secret": "chatWebhookSecretArn",
    "ticket_secret": "ticketWebhookSecretArn",
    "security_hub": "securityHubWriteBack",
}
# Stack resources whose ARN a step gets as an environment variable when its permissions name them.
REFERENCE_ENVIRONMENT: dict[str, str] = {
    "deny_all_policy": DENY_ALL_POLICY_ENV,
    "redaction_key_secret": REDACTION_KEY_SECRET_ENV,
}
# ...and the steps that get one whatever they declare: the containing steps recognise the deny-all
# policy among a principal's attachments (to detach it before deleting, or to report it as ours).
ALWAYS_ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "remediate": ("deny_all_policy",),
    "eradicate": ("deny_all_policy",),
}
POWERTOOLS_SERVICE_NAME = "responder"  # as responder.observability names it
POWERTOOLS_METRICS_NAMESPACE = "IncidentResponder"


def assume_member_role(step_name: str, organization_id: str) -> tuple[Permission, ...]:
    """What a hub step role gets in the organization deployment: assuming its power's member role
    (:data:`lambdas.steps.MEMBER_POWER`) in any account of the organization, with a source identity
    and session tags; nothing for a step that acts in the hub only."""
    power = MEMBER_POWER.get(step_name)
    if power is None:
        return ()
    return (
        Permission(
            TRUST_ACTIONS,
            (f"arn:{{partition}}:iam::*:role/{member_role_name(power)}",),
            "the finding's member account is known only at run time; one role name, in this "
            "organization's accounts only (aws:ResourceOrgID)",
            conditions={"StringEquals": {"aws:ResourceOrgID": [organization_id]}},
        ),
    )


class ResponderStack(Stack):
    """GuardDuty finding -> Step Functions workflow of Lambda steps -> evidence, report, SOC notice."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        member_template_body: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        hub = settings.organization
        notifications = Notifications(self, "Notifications", emails=settings.soc_emails)
        evidence = EvidenceStore(self, "Evidence", settings=settings)
        log_encryption = LogEncryption(self, "LogEncryption", retention_days=settings.log_retention_days)
        self.deny_all = DenyAllPolicy(self, "Containment")
        self.redaction_key = RedactionKey(self, "RedactionKey")
        self.query_engine: AthenaQueryEngine | SecurityLakeQueryEngine | None = None
        engine_arns, engine_environment, implied = self._query_engine(settings, evidence.access_logs)
        engine_unconfigured: frozenset[str] = (
            self.query_engine.unconfigured
            if isinstance(self.query_engine, SecurityLakeQueryEngine)
            else frozenset()
        )
        optional_arns, optional_implied = self._optional_references(settings)
        references = References(
            arns={
                "evidence_bucket": evidence.bucket.bucket_arn,
                "incident_table": evidence.table.table_arn,
                "soc_topic": notifications.topic.topic_arn,
                "soc_key": notifications.key.key_arn,
                "deny_all_policy": self.deny_all.arn,
                "redaction_key_secret": self.redaction_key.secret_arn,
                **engine_arns,
                **optional_arns,
            },
            elsewhere=frozenset().union(
                *(r for e, r in ENGINE_REFERENCES.items() if e != settings.query_engine)
            )
            - ENGINE_REFERENCES[settings.query_engine],
            unconfigured=(frozenset(OPTIONAL_REFERENCES) - set(optional_arns)) | engine_unconfigured,
            implied={**implied, **optional_implied, **self._redaction_implied()},
            environment=REFERENCE_ENVIRONMENT,
        )
        self.references = references
        environment = {
            "EVIDENCE_BUCKET": evidence.bucket.bucket_name,
            "INCIDENT_TABLE": evidence.table.table_name,
            "SOC_TOPIC_ARN": notifications.topic.topic_arn,
            **settings.function_environment(),
            **engine_environment,
            "POWERTOOLS_SERVICE_NAME": POWERTOOLS_SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": POWERTOOLS_METRICS_NAMESPACE,
        }
        functions = StepFunctions(
            self,
            "Steps",
            references=references,
            environment={k: v for k, v in environment.items() if v},
            log_retention=log_encryption.retention,
            log_key=log_encryption.key,
            runtime=newest_python_runtime(),
            guardrails=guardrails(
                stack_name=self.stack_name,
                deny_all_policy_arn=self.deny_all.arn,
                record_buckets=(evidence.bucket.bucket_arn,),
                log_buckets=(
                    evidence.access_logs.bucket_arn,
                    # The trail's bucket whenever it is named, whichever engine reads the trail.
                    *(
                        [f"arn:{Aws.PARTITION}:s3:::{settings.cloudtrail_bucket}"]
                        if settings.cloudtrail_bucket
                        else []
                    ),
                ),
                other_roles=tuple(operator_role_arn(name) for name in OPERATOR_ROLES) if hub else (),
            ),
            always_environment=ALWAYS_ENVIRONMENT,
            # The hub's step roles: fixed names, which the member roles' trust names exactly.
            role_names={s.name: hub_role_name(s.name, self.stack_name) for s in STEPS} if hub else None,
            assume={s.name: assume_member_role(s.name, settings.organization_id) for s in STEPS}
            if hub
            else None,
        )
        if isinstance(self.query_engine, SecurityLakeQueryEngine):
            self.query_engine.grant_lake_formation(
                {name: f.role for name, f in functions.by_name.items() if f.reads_security_lake}
            )
        workflow = Workflow(
            self,
            "Workflow",
            substitutions=functions.arn_substitutions,
            functions=[f.function for f in functions.by_name.values()],
            log_retention=log_encryption.retention,
            log_key=log_encryption.key,
        )
        detection = Detection(self, "Detection", settings=settings, state_machine=workflow.state_machine)
        # CloudTrail detections alert the SOC; AWS's quarantine policy starts the responder. Both share
        # the GuardDuty rule's dead-letter queue (and its alarm).
        self.detections: Detections | None = None
        if settings.detections:
            self.detections = Detections(
                self,
                "Detections",
                settings=settings,
                topic=notifications.topic,
                dead_letter_queue=detection.dead_letter_queue,
            )
        self.quarantine_trigger: QuarantineTrigger | None = None
        if settings.quarantine_trigger:
            self.quarantine_trigger = QuarantineTrigger(
                self,
                "QuarantineTrigger",
                state_machine=workflow.state_machine,
                dead_letter_queue=detection.dead_letter_queue,
            )
        self.health_trigger: HealthTrigger | None = None
        if settings.health_trigger:
            self.health_trigger = HealthTrigger(
                self,
                "HealthTrigger",
                state_machine=workflow.state_machine,
                dead_letter_queue=detection.dead_letter_queue,
            )
        # A responder role that writes a policy or trust other than its fixed ones is a compromised step.
        self.responder_write_alarm = ResponderWriteAlarm(
            self,
            "ResponderWriteAlarm",
            stack_name=self.stack_name,
            deny_all_policy_arn=self.deny_all.arn,
            topic=notifications.topic,
            dead_letter_queue=detection.dead_letter_queue,
        )
        Alarms(
            self,
            "Alarms",
            state_machine=workflow.state_machine,
            dead_letter_queue=detection.dead_letter_queue,
            topic=notifications.topic,
        )
        self.functions = functions
        self.workflow = workflow
        self.detection = detection
        self.operators: Operators | None = None
        self.member_stack_set: MemberStackSet | None = None
        if hub:
            self.operators = Operators(
                self,
                "Operators",
                settings=settings,
                references=references,
                workflow=workflow.state_machine,
                stack_arn=self.stack_id,
                log_retention=log_encryption.retention,
                log_key=log_encryption.key,
            )
            CfnOutput(
                self,
                "DryRunStateMachineArn",
                value=self.operators.dry_run.state_machine.state_machine_arn,
            )
            if settings.stack_set_call_as != "NONE":
                self.member_stack_set = MemberStackSet(
                    self, "Members", settings=settings, template_body=member_template_body
                )
                # A trust naming a role that does not exist yet is refused: the step roles come first.
                for function in functions.by_name.values():
                    self.member_stack_set.node.add_dependency(function.role)

        # The CLI finds the responder through these outputs.
        CfnOutput(self, "StateMachineArn", value=workflow.state_machine.state_machine_arn)
        CfnOutput(self, "EvidenceBucketName", value=evidence.bucket.bucket_name)
        CfnOutput(self, "SocTopicArn", value=notifications.topic.topic_arn)
        CfnOutput(self, "IncidentTableName", value=evidence.table.table_name)

    def _query_engine(
        self, settings: StackSettings, access_logs: s3.IBucket
    ) -> tuple[dict[str, str], dict[str, str], dict[str, tuple[Permission, ...]]]:
        """Only the chosen engine's resources: ``(references, environment, implied permissions)``.

        CloudTrail Lake needs nothing but the existing event data store, CloudWatch Logs the trail's log
        group. Athena gets its Glue database and table, workgroup and results bucket
        (stacks/constructs/query_engine.py) over the existing trail bucket, and ``kms:Decrypt`` on the
        trail's key for whoever reads the bucket, if it has one. Security Lake gets the workgroup and
        results bucket over Security Lake's own tables, and Lake Formation grants for its query roles.
        """
        if settings.query_engine == "lake":
            store_id = settings.lake_event_data_store_id
            arn = (
                settings.lake_event_data_store
                if settings.lake_event_data_store.startswith("arn:")
                else f"arn:{Aws.PARTITION}:cloudtrail:{Aws.REGION}:{Aws.ACCOUNT_ID}:eventdatastore/{store_id}"
            )
            return {"lake_event_data_store": arn}, {}, {}
        if settings.query_engine == "cloudwatch":
            # GetQueryResults and StopQuery take no resource: a query id is only reachable by its starter.
            return (
                {
                    "cloudwatch_log_group": log_group_arn(settings.cloudwatch_log_group),
                    "cloudwatch_queries": "*",
                },
                {},
                {},
            )
        if settings.query_engine == "securitylake":
            lake = SecurityLakeQueryEngine(self, "QueryEngine", settings=settings, access_logs=access_logs)
            self.query_engine = lake
            return lake.references, lake.environment, {}
        engine = AthenaQueryEngine(self, "QueryEngine", settings=settings, access_logs=access_logs)
        self.query_engine = engine
        implied: dict[str, tuple[Permission, ...]] = {}
        if settings.cloudtrail_kms_key_arn:
            implied["cloudtrail_bucket"] = (
                Permission(
                    ("kms:Decrypt",),
                    (settings.cloudtrail_kms_key_arn,),
                    "the trail encrypts its log files with this key (SSE-KMS)",
                ),
            )
        return (
            {
                **engine.references,
                "cloudtrail_bucket": f"arn:{Aws.PARTITION}:s3:::{settings.cloudtrail_bucket}",
                "cloudtrail_public_keys": "*",
            },
            engine.environment,
            implied,
        )

    def _redaction_implied(self) -> dict[str, tuple[Permission, ...]]:
        """Reading the redaction key secret takes its KMS key, through Secrets Manager only."""
        return {
            "redaction_key_secret": (
                Permission(
                    ("kms:Decrypt",),
                    (self.redaction_key.key_arn,),
                    "the redaction key secret is encrypted with the stack's key for it",
                    conditions={
                        "StringEquals": {"kms:ViaService": ["secretsmanager.{region}.amazonaws.com"]}
                    },
                ),
            )
        }

    @staticmethod
    def _optional_references(
        settings: StackSettings,
    ) -> tuple[dict[str, str], dict[str, tuple[Permission, ...]]]:
        """The configured :data:`OPTIONAL_REFERENCES` and what using them implies: ``(references,
        implied permissions)``. A webhook (chat or ticket) secret encrypted with a customer managed key
        takes ``kms:Decrypt`` on that key to read (``responder:chatWebhookKmsKeyArn``,
        ``ticketWebhookKmsKeyArn``); the Security Hub write-back names this account's hub."""
        arns: dict[str, str] = {}
        implied: dict[str, tuple[Permission, ...]] = {}
        if settings.threat_list_uri:
            arns["threat_list_object"] = (
                f"arn:{Aws.PARTITION}:s3:::{settings.threat_list_bucket}/{settings.threat_list_key}"
            )
        secrets = (
            ("webhook_secret", settings.chat_webhook_secret_arn, settings.chat_webhook_kms_key_arn),
            ("ticket_secret", settings.ticket_webhook_secret_arn, settings.ticket_webhook_kms_key_arn),
        )
        for name, secret_arn, key_arn in secrets:
            if not secret_arn:
                continue
            arns[name] = secret_arn
            if key_arn:
                implied[name] = (
                    Permission(
                        ("kms:Decrypt",),
                        (key_arn,),
                        f"the {name.replace('_', ' ')} is encrypted with this customer managed key",
                    ),
                )
        if settings.security_hub_write_back:
            # BatchUpdateFindings is authorized on the hub of this account and region.
            arns["security_hub"] = (
                f"arn:{Aws.PARTITION}:securityhub:{Aws.REGION}:{Aws.ACCOUNT_ID}:hub/default"
            )
        return arns, implied
