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
import shutil
import sys
import threading
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
    ResponderResources,
    VictimUser,
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
    """One line per step as it ends (queries summarized); Map iterations run in parallel threads."""
    lock = threading.Lock()

    def line(inv: Invocation) -> str | None:
        step = inv.function_name.removeprefix("responder-").replace("-", "_")
        took = f"{inv.duration_ms:.0f} ms" if inv.duration_ms is not None else ""
        result = inv.result if isinstance(inv.result, dict) else {}
        if inv.phase == "failed":
            return f"  !!  {inv.state_name or step:<14} raised {inv.error_type}: {inv.error_message}"
        if step in ("query_start", "query_status"):
            return None  # QueryResults says what the query found
        if step == "query_plan":
            batch = result.get("batch") or []
            if not batch:
                return f"  ok  {'PlanQueries':<14} done after {result.get('queries_run', 0)} queries"
            keys = sorted({t["access_key_id"] for t in batch})
            return f"  ok  {'PlanQueries':<14} round {result.get('round')}: {len(batch)} queries for {', '.join(keys)}"
        if step == "query_results":
            query = result.get("rows_uri", "").rsplit("/queries/", 1)[-1].removesuffix(".jsonl")
            return f"  ok  {'QueryResults':<14} {query}: {result.get('row_count', 0)} rows saved with SHA-256"
        return f"  ok  {inv.state_name or step:<14} {_STATE_TEXT.get(step, '')} ({took})"

    def on_invoke(inv: Invocation) -> None:
        if inv.phase == "started":
            return
        text = line(inv)
        if text:
            with lock:
                narrate(text)

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


@dataclass(frozen=True)
class _World:
    """The emulated account of one demo run."""

    iam: Any
    s3: Any
    sqs: Any
    victim: VictimUser
    resources: ResponderResources
    event: dict[str, Any]
    log_root: Path


def _build_world(out_dir: Path, result: DemoResult, narrate: Narrate) -> _World:
    """The victim account as the attacker left it, the responder's resources, and the finding."""
    iam, s3, ddb, sns, sqs = (
        boto3.client(n, region_name=REGION) for n in ("iam", "s3", "dynamodb", "sns", "sqs")
    )
    victim = create_victim_user(iam, "dana.reyes", owner="dana.reyes@example.com")
    iam.create_user(UserName="svc-backup-sync")
    backdoor_key = iam.create_access_key(UserName="svc-backup-sync")["AccessKey"]["AccessKeyId"]
    story = default_scenario(
        utc_now().replace(microsecond=0),
        account_id=ACCOUNT_ID,
        exposed_key_id=victim.exposed_key_id,
        innocent_key_id=victim.innocent_key_id,
        user_name=victim.user_name,
        backdoor_key_id=backdoor_key,
    )
    # A previous run's logs would mix other keys into this investigation.
    shutil.rmtree(out_dir / "logs", ignore_errors=True)
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
    return _World(iam, s3, sqs, victim, resources, event, logs.root)


def _report_outcome(
    world: _World, result: DemoResult, final: dict[str, Any] | None, narrate: Narrate
) -> None:
    victim = world.victim
    result.key_status = {
        victim.exposed_key_id: key_status(world.iam, victim.user_name, victim.exposed_key_id),
        victim.innocent_key_id: key_status(world.iam, victim.user_name, victim.innocent_key_id),
    }
    narrate(
        f"  exposed key {victim.exposed_key_id}: {result.key_status[victim.exposed_key_id]}; "
        f"the user's other key {victim.innocent_key_id}: {result.key_status[victim.innocent_key_id]}"
    )
    result.soc_messages = soc_inbox(world.sqs, world.resources)
    for message in result.soc_messages:
        narrate("\n--- SOC notification " + "-" * 50)
        narrate(f"Subject: {message['Subject']}\n\n{message['Message']}")
    (result.out_dir / "soc-message.txt").write_text(
        "\n\n".join(f"Subject: {m['Subject']}\n\n{m['Message']}" for m in result.soc_messages)
    )
    if final is not None:
        result.report_path = result.out_dir / "report.json"
        result.report_path.write_text(json.dumps(final, indent=2, sort_keys=True) + "\n")
        (result.out_dir / "report.md").write_text(render_markdown(final))
        narrate(f"\nReport: {result.report_path} and {result.out_dir / 'report.md'}")
        headline = final.get("summary", {}).get("headline")
        if headline:
            narrate(f"  {headline}")


def run_demo(
    out_dir: Path, *, scenario: str = DEFAULT_SCENARIO, narrate: Narrate | None = None
) -> DemoResult:
    """Build the incident, run the workflow, write ``report.json``/``report.md``; narrate as it goes."""
    if narrate is None:
        narrate = functools.partial(print, file=sys.stdout, flush=True)
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "lambda-logs.jsonl").unlink(missing_ok=True)
    result = DemoResult(scenario=scenario, status="NOT_STARTED", out_dir=out_dir)
    with mock_aws(config=MOTO_CONFIG):
        narrate(f"Scenario {scenario}: {SCENARIOS[scenario]}")
        world = _build_world(out_dir, result, narrate)
        narrate(
            f"GuardDuty finding {world.event['detail']['type']} (severity {world.event['detail']['severity']})"
        )
        if not matches_rule(rule_pattern(), world.event):
            narrate("  the detection rule's pattern does not match this event: ignored")
            result.ignored, result.status = True, "IGNORED"
            return result
        narrate("  matched the detection rule's event pattern; starting the workflow")
        environment = {
            **world.resources.environment(),
            "QUERY_ENGINE": "duckdb",
            "LOCAL_LOG_PATHS": str(world.log_root),
            "POLL_SECONDS": "1",
            "AWS_DEFAULT_REGION": REGION,
        }
        with (
            _lambda_logs(out_dir / "lambda-logs.jsonl"),
            LocalWorkflow(
                asl_text(), step_functions(), environment=environment, on_invoke=_narrator(narrate)
            ) as flow,
        ):
            execution = flow.run(world.event, timeout=300)
            result.steps = execution.states_entered()
            final = _final_report(world.s3, execution)
        result.status = execution.status
        narrate(f"Workflow {execution.status}")
        if execution.error:
            narrate(f"  {execution.error}: {execution.cause}")
        _report_outcome(world, result, final, narrate)
    return result
