"""`responder demo`: a realistic incident in an emulated account, handled by the real workflow.

The story: an IAM user's access key leaked; the attacker ran recon, minted a session token,
created a backdoor user, backdoored a bucket policy to grant an external account and read the
data. GuardDuty raised a finding. The demo builds that account in moto, writes the CloudTrail logs
of the attack and of two weeks of ordinary work, sends the finding through the detection rule's
pattern, runs our ASL on moto's Step Functions engine with every Lambda step in-process, and
writes the report.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from lambdas.steps import STEPS
from responder.demo.account import (
    ACCOUNT_ID,
    REGION,
    create_victim_bucket,
    create_victim_user,
    deploy_responder_resources,
    key_status,
    soc_inbox,
)
from responder.demo.cloudtrail import generate_logs
from responder.demo.finding import guardduty_event
from responder.demo.scenario import default_scenario
from responder.evidence import read_evidence
from responder.investigation import response_of
from responder.local.events import matches_rule
from responder.local.lambdas import Invocation
from responder.local.responder import asl_text, rule_pattern, step_functions
from responder.local.runner import MOTO_CONFIG, ExecutionResult, LocalWorkflow
from responder.models import Action, utc_now
from responder.report import render_markdown, validate_report
from responder.state import WorkflowState

Narrate = Callable[[str], None]

SCENARIOS: dict[str, str] = {
    "iam-user-key": "an IAM user's key leaked: recon, a backdoor user, a bucket-policy backdoor, exfiltration",
}
DEFAULT_SCENARIO = "iam-user-key"
_STATE_TEXT = {s.name: s.description for s in STEPS}


@dataclass
class DemoResult:
    scenario: str
    status: str
    out_dir: Path
    report_path: Path | None = None
    key_status: dict[str, str | None] = field(default_factory=dict)
    soc_messages: list[dict[str, str]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    ignored: bool = False
    # The session tokens written into the demo's CloudTrail logs: none may reach any output.
    planted_secrets: list[str] = field(default_factory=list, repr=False)
    attacker_account_id: str = ""
    backdoor_key_id: str = ""
    session_key_id: str = ""


def _narrator(narrate: Narrate) -> Callable[[Invocation], None]:
    def on_invoke(inv: Invocation) -> None:
        if inv.phase == "started":
            return
        step = inv.function_name.removeprefix("responder-").replace("-", "_")
        took = f"{inv.duration_ms:.0f} ms" if inv.duration_ms is not None else ""
        if inv.phase == "succeeded":
            narrate(f"  ok  {inv.state_name or step:<14} {_STATE_TEXT.get(step, '')} ({took})")
        else:
            narrate(f"  !!  {inv.state_name or step:<14} raised {inv.error_type}: {inv.error_message}")

    return on_invoke


def _final_report(s3: Any, result: ExecutionResult) -> dict[str, Any] | None:
    """The report the Report step wrote, completed with what happened after it (notify, status)."""
    output = result.output if isinstance(result.output, dict) else {}
    report_uri = (output.get("report") or {}).get("uri")
    if not report_uri:
        return None
    report: dict[str, Any] = json.loads(read_evidence(s3, report_uri))
    state = WorkflowState.model_validate({k: output[k] for k in WorkflowState.model_fields if k in output})
    notified = [Action.model_validate(a) for a in (output.get("notification") or {}).get("actions", [])]
    response = response_of(state, result.status)
    response["actions"] += [a.model_dump(mode="json") for a in notified]
    report["response"] = response
    report["execution_arn"] = result.execution_arn
    validate_report(report)
    return report


@contextlib.contextmanager
def _lambda_logs(path: Path) -> Iterator[None]:
    """Send what the functions would write to CloudWatch (JSON logs, EMF metrics) to a file.

    The terminal keeps the narration; the file keeps the structured logs, as CloudWatch would.
    """
    from responder.observability import logger

    handler = logger.registered_handler
    with path.open("a") as sink, contextlib.redirect_stdout(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Powertools: "no application metrics"
        previous = handler.setStream(sink) if isinstance(handler, logging.StreamHandler) else None
        moto_log = logging.getLogger("moto")
        level = moto_log.level
        moto_log.setLevel(logging.CRITICAL)  # moto logs every caught task failure with its whole AST
        try:
            yield
        finally:
            moto_log.setLevel(level)
            if previous is not None and isinstance(handler, logging.StreamHandler):
                handler.setStream(previous)


def run_demo(
    out_dir: Path, *, scenario: str = DEFAULT_SCENARIO, narrate: Narrate | None = None
) -> DemoResult:
    """Build the incident, run the workflow, write ``report.json``/``report.md``; narrate as it goes."""
    if narrate is None:
        terminal = sys.stdout
        narrate = functools.partial(print, file=terminal, flush=True)
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(scenario=scenario, status="NOT_STARTED", out_dir=out_dir)
    now = utc_now().replace(microsecond=0)
    with mock_aws(config=MOTO_CONFIG):
        iam, s3, ddb, sns, sqs = (
            boto3.client(n, region_name=REGION) for n in ("iam", "s3", "dynamodb", "sns", "sqs")
        )
        narrate(f"Scenario {scenario}: {SCENARIOS[scenario]}")
        victim = create_victim_user(iam, "dana.reyes", owner="dana.reyes@example.com")
        iam.create_user(UserName="svc-backup-sync")
        backdoor_key = iam.create_access_key(UserName="svc-backup-sync")["AccessKey"]["AccessKeyId"]
        story = default_scenario(
            now,
            account_id=ACCOUNT_ID,
            exposed_key_id=victim.exposed_key_id,
            innocent_key_id=victim.innocent_key_id,
            user_name=victim.user_name,
            backdoor_key_id=backdoor_key,
        )
        logs = generate_logs(story, out_dir / "logs")
        result.planted_secrets = list(logs.session_tokens)
        result.attacker_account_id = story.attacker_account_id
        result.backdoor_key_id, result.session_key_id = logs.backdoor_key_id, logs.session_key_id
        narrate(
            f"  emulated account {ACCOUNT_ID}: user {victim.user_name} with keys {victim.exposed_key_id} (exposed)"
            f" and {victim.innocent_key_id}; {logs.total_events} CloudTrail events in {len(logs.files)} files"
            f" under {logs.root}"
        )
        create_victim_bucket(
            s3, story.victim_bucket, policy=logs.bucket_policy_after, objects=list(logs.objects_read)
        )
        resources = deploy_responder_resources(s3, ddb, sns, sqs)
        event = guardduty_event(story, logs)
        narrate(f"GuardDuty finding {event['detail']['type']} (severity {event['detail']['severity']})")
        if not matches_rule(rule_pattern(), event):
            narrate("  the detection rule's pattern does not match this event: ignored")
            result.ignored, result.status = True, "IGNORED"
            return result
        narrate("  matched the detection rule's event pattern; starting the workflow")
        environment = {
            **resources.environment(),
            "QUERY_ENGINE": "duckdb",
            "LOCAL_LOG_PATHS": str(logs.root),
            "POLL_SECONDS": "1",
            "AWS_DEFAULT_REGION": REGION,
        }
        with (
            _lambda_logs(out_dir / "lambda-logs.jsonl"),
            LocalWorkflow(
                asl_text(), step_functions(), environment=environment, on_invoke=_narrator(narrate)
            ) as workflow,
        ):
            execution = workflow.run(event, timeout=300)
            result.steps = execution.states_entered()
            final = _final_report(s3, execution)
        result.status = execution.status
        narrate(f"Workflow {execution.status}")
        if execution.error:
            narrate(f"  {execution.error}: {execution.cause}")
        result.key_status = {
            victim.exposed_key_id: key_status(iam, victim.user_name, victim.exposed_key_id),
            victim.innocent_key_id: key_status(iam, victim.user_name, victim.innocent_key_id),
        }
        narrate(
            f"  exposed key {victim.exposed_key_id}: {result.key_status[victim.exposed_key_id]}; "
            f"the user's other key {victim.innocent_key_id}: {result.key_status[victim.innocent_key_id]}"
        )
        result.soc_messages = soc_inbox(sqs, resources)
        for message in result.soc_messages:
            narrate("\n--- SOC notification " + "-" * 50)
            narrate(f"Subject: {message['Subject']}\n\n{message['Message']}")
        (out_dir / "soc-message.txt").write_text(
            "\n\n".join(f"Subject: {m['Subject']}\n\n{m['Message']}" for m in result.soc_messages)
        )
        if final is not None:
            result.report_path = out_dir / "report.json"
            result.report_path.write_text(json.dumps(final, indent=2, sort_keys=True) + "\n")
            (out_dir / "report.md").write_text(render_markdown(final))
            narrate(f"\nReport: {result.report_path} and {out_dir / 'report.md'}")
            summary = final.get("summary", {})
            if summary.get("headline"):
                narrate(f"  {summary['headline']}")
    return result
