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
import gzip
import json
import logging
import shlex
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
from moto import mock_aws

from deployment.patterns import health_pattern
from lambdas.steps import STEPS
from responder.approval import approve, caller, check_token, deny
from responder.bundle import FINAL_FOLDER, write_report
from responder.clients import client
from responder.encode import terminal_writer
from responder.evidence import incident_prefix, read_evidence
from responder.models import Action, utc_now
from responder.policy_doc import decode_policy
from responder.policy_eval import evaluate
from responder.state import WorkflowState, response_of
from responder.steps.notify import final_report
from workstation.demo.account import (
    ACCOUNT_ID,
    REGION,
    ResponderResources,
    VictimUser,
    account_state,
    backdate_iam,
    create_victim_bucket,
    create_victim_user,
    deploy_responder_resources,
    key_status,
    resource_changes,
    soc_inbox,
    state_differences,
)
from workstation.demo.cloudtrail import generate_logs
from workstation.demo.finding import guardduty_event
from workstation.demo.scenario import default_scenario
from workstation.demo.scenarios import DEFAULT_SCENARIO, SCENARIOS
from workstation.demo.securityhub import BatchUpdateFindings, emulated
from workstation.demo.setup import Setup
from workstation.local.events import matches_rule
from workstation.local.lambdas import Invocation
from workstation.local.responder import asl_text, rule_pattern, step_functions
from workstation.local.runner import MOTO_CONFIG, ExecutionResult, LocalWorkflow

Narrate = Callable[[str], None]

_STATE_TEXT = {s.name: s.description for s in STEPS}
ANSWER_WAIT_SECONDS = 60.0


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
    executions: list[dict[str, Any]] = field(default_factory=list)  # status and actions of each run
    facts: dict[str, str] = field(default_factory=dict)
    # The session tokens written into the demo's CloudTrail logs: none may reach any output.
    planted_secrets: list[str] = field(default_factory=list, repr=False)
    attacker_account_id: str = ""
    backdoor_key_id: str = ""
    session_key_id: str = ""
    account_changes: list[str] | None = None  # paths of the account state a run changed (compare_account)
    # Every resource of the emulated account the runs changed (account-changes.json), always computed.
    resource_changes: list[dict[str, Any]] = field(default_factory=list)
    # What the runs may change (the blast radius the story allows): see Setup.may_change.
    may_change: set[str] = field(default_factory=set)
    # Security Hub: each GuardDuty finding's workflow updates, in order ({id, status, note}), and its
    # status and note at the end, as GetFindings reads them back.
    securityhub_history: list[dict[str, str]] = field(default_factory=list)
    securityhub_findings: dict[str, tuple[str, str]] = field(default_factory=dict)


def _narrator(narrate: Narrate) -> Callable[[Invocation], None]:
    """One line per step as it ends (queries summarized); Map iterations run in parallel threads."""
    lock = threading.Lock()

    def line(inv: Invocation) -> str | None:
        step = inv.function_name.removeprefix("responder-").replace("-", "_")
        took = f"{inv.duration_ms:.0f} ms" if inv.duration_ms is not None else ""
        result = inv.result if isinstance(inv.result, dict) else {}
        if inv.phase == "failed":
            return f"  !!  {inv.state_name or step:<14} raised {inv.error_type}: {inv.error_message}"
        if step in ("start_query", "query_status"):
            return None  # QueryResults says what the query found
        if step == "plan_queries":
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


def _last_state(result: ExecutionResult) -> dict[str, Any]:
    """The workflow's state at its end: the output, or for a failed run the input of its last task."""
    if isinstance(result.output, dict):
        return result.output
    for event in reversed(result.history):
        details = event.get("stateEnteredEventDetails")
        if details and details.get("input"):
            state = json.loads(details["input"])
            if isinstance(state, dict) and "incident" in state:
                return state
    return {}


def _final_report(s3: Any, bucket: str, result: ExecutionResult) -> dict[str, Any] | None:
    """The final report Notify (or NotifyFailure) wrote after the run's last action.

    Where it is missing (the final bundle could not be written: the action says so), composed here as
    Notify composes it, from the draft and what happened after it, so the demo always shows the
    record of what was and was not done.
    """
    output = _last_state(result)
    known = {k: output[k] for k in WorkflowState.model_fields if k in output}
    state = WorkflowState.model_validate(known) if known.get("incident") else None
    if state is None or state.incident is None:
        return None
    final = f"{incident_prefix(state.incident.incident_id, result.execution_arn)}/{FINAL_FOLDER}/report.json"
    try:
        written: dict[str, Any] = json.loads(read_evidence(s3, f"s3://{bucket}/{final}"))
    except s3.exceptions.NoSuchKey:
        pass
    else:
        written["execution_arn"] = result.execution_arn
        return written
    notified = [Action.model_validate(a) for a in (output.get("notification") or {}).get("actions", [])]
    response = response_of(state, result.status)
    response["actions"] += [a.model_dump(mode="json") for a in notified]
    # What Notify would have written: the same composition (responder/steps/notify.py).
    report = final_report(s3, state, response, ended_at=result.stopped_at or utc_now())
    report["execution_arn"] = result.execution_arn
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


@dataclass
class _World:
    """The emulated account of one demo run."""

    clients: dict[str, Any]
    account_id: str
    victim: VictimUser
    resources: ResponderResources
    event: dict[str, Any]
    log_root: Path
    victim_bucket: str = ""
    inbox: list[dict[str, str]] = field(default_factory=list)
    # The story's ground truth: the exposed key, its user, and what the attacker created or changed.
    attacker_resources: list[str] = field(default_factory=list)

    def client_as(self, service: str, credentials: dict[str, Any]) -> Any:
        """A client acting with other credentials (another account, a role session)."""
        return boto3.client(
            service,
            region_name=REGION,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials.get("SessionToken"),
        )

    def read_inbox(self) -> list[dict[str, str]]:
        """SOC messages delivered since the last read (all are kept in ``inbox``)."""
        new = soc_inbox(self.clients["sqs"], self.resources)
        self.inbox += new
        return new


LogFormat = Literal["cloudtrail", "securitylake"]


def _as_security_lake(log_root: Path, target: Path) -> tuple[int, int]:
    """The scenario's CloudTrail files as Security Lake's OCSF Parquet under ``target`` (a file that
    is not CloudTrail JSON is left out, as Security Lake would never have received it)."""
    from responder.query.logs import select_files
    from workstation.demo.ocsf import write_security_lake

    shutil.rmtree(target, ignore_errors=True)
    records: list[dict[str, Any]] = []
    for path in select_files([log_root]):
        try:
            with (gzip.open if path.name.endswith(".gz") else open)(path, "rt", encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, EOFError, ValueError):
            continue
        found = data.get("Records") if isinstance(data, dict) else data
        records += [r for r in found or [] if isinstance(r, dict)]
    return len(records), len(write_security_lake(records, target))


# CloudTrail's public key for the demo trail's digests, as `aws cloudtrail list-public-keys` prints it.
PUBLIC_KEYS_FILE = "cloudtrail-public-keys.json"


def _build_world(out_dir: Path, result: DemoResult, narrate: Narrate) -> _World:
    """The victim account as the attacker left it, the responder's resources, and the finding."""
    names = ("iam", "s3", "dynamodb", "sns", "sqs", "sts", "stepfunctions")
    clients = {n: boto3.client(n, region_name=REGION) for n in names}
    iam, s3 = clients["iam"], clients["s3"]
    victim = create_victim_user(iam, "dana.reyes", owner="dana.reyes@example.com")
    backdoor_id = iam.create_user(UserName="svc-backup-sync")["User"]["UserId"]
    backdoor_key = iam.create_access_key(UserName="svc-backup-sync")["AccessKey"]["AccessKeyId"]
    story = default_scenario(
        utc_now().replace(microsecond=0),
        backdoor_user_id=backdoor_id,
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
    # The account as CloudTrail tells it: the backdoor user and key created when the attacker's calls
    # say (the responder checks each record against the live account before acting on it).
    made = {
        c.event_name: c.event_time
        for c in logs.attack_calls
        if c.event_name in ("CreateUser", "CreateAccessKey")
    }
    backdate_iam(
        ACCOUNT_ID,
        users={"svc-backup-sync": made["CreateUser"]},
        keys={backdoor_key: made["CreateAccessKey"]},
    )
    narrate(
        f"  emulated account {ACCOUNT_ID}: user {victim.user_name} with keys {victim.exposed_key_id} (exposed)"
        f" and {victim.innocent_key_id}; {logs.total_events} CloudTrail events in {len(logs.files)} files"
        f" under {logs.root}"
    )
    create_victim_bucket(
        s3, story.victim_bucket, policy=logs.bucket_policy_after, objects=list(logs.objects_read)
    )
    resources = deploy_responder_resources(s3, clients["dynamodb"], clients["sns"], clients["sqs"], iam=iam)
    event = guardduty_event(story, logs)
    story_resources = [
        f"access-key/{victim.exposed_key_id}",
        f"user/{victim.user_name}",  # the revocation policy and the containment tags
        "user/svc-backup-sync",
        f"access-key/{backdoor_key}",
        f"bucket/{story.victim_bucket}",
    ]
    world = _World(
        clients,
        ACCOUNT_ID,
        victim,
        resources,
        event,
        logs.root,
        story.victim_bucket,
        attacker_resources=story_resources,
    )
    # The owner set the victim bucket's policy with the same key days before it leaked: the policy
    # before the attacker's PutBucketPolicy is in the window, so only the attacker's statement goes.
    from workstation.demo.bucket_stories import owner_policy_history

    owner_policy_history(world)
    _sign_trail(out_dir, logs.root, story.trail_bucket)
    return world


def _sign_trail(out_dir: Path, root: Path, bucket: str) -> None:
    """The trail validates its log files: it signs what it delivered (the story's files), before any
    scenario forges one. Digests go beside the logs; its public key outside them."""
    from responder.query.logs import select_files
    from workstation.demo.digests import write_digests

    _, public_keys = write_digests(root, select_files([root]), account_id=ACCOUNT_ID, bucket=bucket)
    (out_dir / PUBLIC_KEYS_FILE).write_text(json.dumps(public_keys, indent=2) + "\n")


@dataclass
class DemoHooks:
    """For tests and benchmarks: look at (or fault) the emulated account around the executions.

    ``before_run(world)`` is called once the workflow is deployed, just before the first execution
    starts (IAM already holds the runner's own role); ``after_run(world, executions)`` once they all
    ended, before the account is torn down. ``environment`` overrides the functions' environment
    (e.g. ``POLL_SECONDS=0``); ``retry_interval_scale`` scales the ASL Retry intervals (0 = at once).
    """

    before_run: Callable[[_World], None] | None = None
    after_run: Callable[[_World, list[ExecutionResult]], None] | None = None
    # Once the approval request reached the SOC, just before the analyst answers: what can happen
    # while a human takes their time (the key deleted meanwhile, say).
    before_answer: Callable[[_World], None] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    retry_interval_scale: float = 1.0


def _answer_approval(
    world: _World, answer: str, narrate: Narrate, before: Callable[[_World], None] | None = None
) -> None:
    """Play the analyst: read the approval request from the SOC inbox and give its answer.

    What ``responder approve|deny --token`` does (workstation/cli.py), called directly: the CLI sits
    above the demo, and its own tests (tests/test_cli_approval.py) cover the command line."""

    deadline = time.monotonic() + ANSWER_WAIT_SECONDS
    while time.monotonic() < deadline:
        for message in world.read_inbox():
            for line in message["Message"].splitlines():
                words = shlex.split(line.strip()) if line.strip().startswith("responder approve") else []
                if len(words) >= 4 and words[2] == "--token":
                    if before is not None:
                        before(world)
                    narrate(f"  the analyst runs: responder {answer} --token <token from the SOC message>")
                    send = approve if answer == "approve" else deny
                    by = caller(client("sts"))
                    send(
                        client("stepfunctions"), check_token(words[3]), by=by, reason="demo analyst decision"
                    )
                    return
        time.sleep(0.05)
    raise RuntimeError("no approval request reached the SOC inbox")


def _run_executions(
    flow: LocalWorkflow, world: _World, setup: Setup, narrate: Narrate, hooks: DemoHooks
) -> list[ExecutionResult]:
    if setup.concurrent:
        arns = [flow.start(event) for event in setup.inputs]
        return flow.wait_all(arns, timeout=300)
    results = []
    for event in setup.inputs:
        arn = flow.start(event)
        if setup.answer:
            _answer_approval(world, setup.answer, narrate, hooks.before_answer)
        results.append(flow.wait(arn, timeout=300))
    return results


def _outcome_lines(world: _World, setup: Setup, result: DemoResult) -> list[str]:
    """What the account looks like now, for the parts this scenario is about."""
    iam, victim = world.clients["iam"], world.victim
    result.key_status = {
        victim.exposed_key_id: key_status(iam, victim.user_name, victim.exposed_key_id),
        victim.innocent_key_id: key_status(iam, victim.user_name, victim.innocent_key_id),
    }
    lines = [
        f"  exposed key {victim.exposed_key_id}: {result.key_status[victim.exposed_key_id]}; "
        f"the user's other key {victim.innocent_key_id}: {result.key_status[victim.innocent_key_id]}"
    ]
    user_policies = iam.list_user_policies(UserName=victim.user_name)["PolicyNames"]
    if user_policies:
        lines.append(f"  inline policies on {victim.user_name}: {', '.join(user_policies)}")
    minted_at = setup.facts.get("session_minted_at")
    if minted_at:
        lines.append("  " + session_check(iam, victim.user_name, minted_at))
    quarantined = setup.facts.get("quarantined_user")
    if quarantined:
        keys = iam.list_access_keys(UserName=quarantined)["AccessKeyMetadata"]
        lines.append(
            f"  quarantined user {quarantined}: {', '.join(k['AccessKeyId'] + ' ' + k['Status'] for k in keys)}"
        )
    bucket = setup.facts.get("bucket")
    if bucket:
        policy = json.loads(world.clients["s3"].get_bucket_policy(Bucket=bucket)["Policy"])
        sids = [st.get("Sid", "?") for st in policy.get("Statement", [])]
        outsiders = [
            st.get("Sid", "?")
            for st in policy.get("Statement", [])
            if result.attacker_account_id in json.dumps(st)
        ]
        lines.append(
            f"  bucket {bucket}: statements {', '.join(sids)}; granting {result.attacker_account_id}: {outsiders or 'none'}"
        )
    backdoor = setup.facts.get("backdoor_user")
    if backdoor:
        try:
            keys = iam.list_access_keys(UserName=backdoor)["AccessKeyMetadata"]
            policies = iam.list_user_policies(UserName=backdoor)["PolicyNames"]
            lines.append(
                f"  attacker-made user {backdoor}: keys {', '.join(k['AccessKeyId'] + ' ' + k['Status'] for k in keys)};"
                f" inline policies {', '.join(policies) or 'none'}"
            )
        except iam.exceptions.NoSuchEntityException:
            lines.append(f"  attacker-made user {backdoor}: deleted")
    if result.account_changes is not None:
        changed = sorted({"/".join(p.split("/")[:3]) for p in result.account_changes})
        lines.append(
            f"  account state changed at: {', '.join(changed) or 'nothing (identical before and after)'}"
        )
    role = setup.facts.get("role")
    if role:
        role_policies = iam.list_role_policies(RoleName=role)["PolicyNames"]
        lines.append(
            f"  role {role}: inline policies {', '.join(role_policies) or 'none'}; the role stays assumable"
        )
    return lines


def _record_securityhub(result: DemoResult, hub: BatchUpdateFindings) -> None:
    result.securityhub_history = list(hub.history)
    result.securityhub_findings = hub.findings()


def _securityhub_lines(result: DemoResult) -> list[str]:
    """Each GuardDuty finding's Security Hub workflow, from NEW through the run's updates."""
    lines = []
    for finding_id, (status, _note) in result.securityhub_findings.items():
        updates = [h["status"] for h in result.securityhub_history if h["id"] == finding_id]
        steps = " -> ".join(["NEW", *updates])
        lines.append(f"Security Hub: finding {finding_id.rsplit('/', 1)[-1]} workflow {steps} (now {status})")
    return lines


def _account(world: _World) -> dict[str, Any]:
    ours = (world.resources.evidence_bucket,)
    return account_state(world.clients["iam"], world.clients["s3"], exclude_buckets=ours)


def session_check(iam: Any, user_name: str, issued_at: str) -> str:
    """Would the user's inline policies deny a session issued at ``issued_at``? A policy simulation.

    moto stores policies but does not evaluate their conditions (see responder.policy_eval), so the
    decision comes from :func:`responder.policy_eval.evaluate` over the user's inline policies.
    """
    names = iam.list_user_policies(UserName=user_name)["PolicyNames"]
    documents = {
        n: decode_policy(iam.get_user_policy(UserName=user_name, PolicyName=n)["PolicyDocument"])
        for n in names
    }
    context = {"aws:TokenIssueTime": issued_at}
    decision = evaluate(list(documents.values()), action="s3:GetObject", resource="*", context=context)
    denying = [
        n
        for n, doc in documents.items()
        if evaluate([doc], action="s3:GetObject", resource="*", context=context) == "explicit_deny"
    ]
    return (
        f"session minted before containment: {decision} "
        f"(policy simulation of {', '.join(denying or names) or 'no inline policy'})"
    )


def _write_outputs(result: DemoResult, reports: list[dict[str, Any] | None], narrate: Narrate) -> None:
    out = result.out_dir
    # What the runs changed in the account, whatever the report says: the one output no step writes.
    (out / "account-changes.json").write_text(
        json.dumps(result.resource_changes, indent=2, sort_keys=True) + "\n"
    )
    changed = [c["resource"] for c in result.resource_changes]
    narrate(
        f"\nAccount changes: {len(changed)} resource(s) ({out / 'account-changes.json'})"
        + (
            f": {', '.join(changed[:8])}" + (f" (+{len(changed) - 8} more)" if len(changed) > 8 else "")
            if changed
            else ""
        )
    )
    (out / "soc-message.txt").write_text(
        "\n\n".join(f"Subject: {m['Subject']}\n\n{m['Message']}" for m in result.soc_messages)
    )
    for n, report in enumerate(reports, start=1):
        if report is None:
            continue
        # With several executions, report.json is the last one's; each is also kept by number.
        names = ["report.json"] if len(reports) == 1 else [f"report.{n}.json", "report.json"]
        for name in names if n == len(reports) else names[:1]:
            (out / name).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        result.report_path = out / "report.json"
        write_report(report, out)
    if result.report_path:
        narrate(f"\nReport: {result.report_path} (and report.md, report.html)")


def _announce_inputs(setup: Setup, narrate: Narrate) -> bool:
    """Say what starts each execution; False when the detection rule would not start the first."""
    pattern = rule_pattern()
    for event in setup.inputs:
        if event.get("source") == "aws.health":
            matched = matches_rule(health_pattern(), event)
            narrate(
                f"AWS Health {event['detail'].get('eventTypeCode')}: "
                + ("the Health rule starts the responder" if matched else "the Health rule ignores it")
            )
            if not matched:
                return False
        elif "detail" in event:
            matched = matches_rule(pattern, event)
            narrate(
                f"GuardDuty finding {event['detail']['type']} (severity {event['detail']['severity']}): "
                + ("matches the detection rule" if matched else "the detection rule ignores it")
            )
            if not matched:
                return False
        elif event.get("source") == "quarantine-policy" and (event.get("userIdentity") or {}).get("arn"):
            narrate(
                f"{event['userIdentity']['arn']} attached {event['policyArn'].rsplit('/', 1)[-1]} to {event['userName']}:"
                " the quarantine rule does not match (not AWS); sent by hand, triage decides"
            )
        elif event.get("source") == "quarantine-policy":
            narrate(
                f"AWS attached {event['policyArn'].rsplit('/', 1)[-1]} to {event['userName']}: the quarantine rule starts the responder"
            )
        else:
            narrate(f"Manual run from the console: {json.dumps(event)}")
    return True


def run_demo(
    out_dir: Path,
    *,
    scenario: str = DEFAULT_SCENARIO,
    narrate: Narrate | None = None,
    hooks: DemoHooks | None = None,
    log_format: LogFormat = "cloudtrail",
) -> DemoResult:
    """Build the incident, run the workflow, write the report; narrate as it goes.

    ``log_format`` ``securitylake`` investigates the same events as Amazon Security Lake stores them
    (OCSF Parquet, workstation/demo/ocsf.py) instead of CloudTrail's own files."""
    hooks = hooks or DemoHooks()
    if narrate is None:
        narrate = functools.partial(print, file=sys.stdout, flush=True)
    # Narration quotes the logs and the SOC message: the terminal gets no escape sequence from them.
    narrate = terminal_writer(narrate)
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    spec = SCENARIOS[scenario]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "lambda-logs.jsonl").unlink(missing_ok=True)
    result = DemoResult(scenario=scenario, status="NOT_STARTED", out_dir=out_dir)
    with mock_aws(config=MOTO_CONFIG):
        narrate(f"Scenario {scenario}: {spec.summary}")
        world = _build_world(out_dir, result, narrate)
        setup = spec.prepare(world)
        result.facts = setup.facts
        result.may_change = {*world.attacker_resources, *setup.may_change}
        result.planted_secrets += setup.secrets
        if not _announce_inputs(setup, narrate):
            result.ignored, result.status = True, "IGNORED"
            return result
        log_paths = world.log_root
        if log_format == "securitylake":
            log_paths = out_dir / "security-lake"
            records, written = _as_security_lake(world.log_root, log_paths)
            narrate(
                f"Logs as Amazon Security Lake stores them: {records} CloudTrail records in OCSF, "
                f"{written} Parquet files under {log_paths}"
            )
        environment = {
            **world.resources.environment(),
            "SECURITYHUB_WRITE_BACK": "true",  # the deployed default (responder:securityHubWriteBack)
            "QUERY_ENGINE": "duckdb",
            "LOCAL_LOG_PATHS": str(log_paths),
            "DIGEST_PUBLIC_KEYS": str(out_dir / PUBLIC_KEYS_FILE),
            "POLL_SECONDS": "1",
            "AWS_DEFAULT_REGION": REGION,
            **setup.environment,
            **hooks.environment,
        }
        with (
            _lambda_logs(out_dir / "lambda-logs.jsonl"),
            LocalWorkflow(
                asl_text(),
                step_functions(),
                environment=environment,
                on_invoke=_narrator(narrate),
                retry_interval_scale=hooks.retry_interval_scale,
            ) as flow,
            # Security Hub enabled and holding the GuardDuty findings, as a deployed account would.
            emulated(ACCOUNT_ID, REGION, setup.inputs, ended=functools.partial(_record_securityhub, result)),
        ):
            if hooks.before_run:
                hooks.before_run(world)
            before = _account(world)
            executions = _run_executions(flow, world, setup, narrate, hooks)
            after = _account(world)
            result.resource_changes = resource_changes(before, after)
            if setup.compare_account:
                result.account_changes = state_differences(before, after)
            if hooks.after_run:
                hooks.after_run(world, executions)
            reports = [
                _final_report(world.clients["s3"], world.resources.evidence_bucket, e) for e in executions
            ]
        result.steps = executions[-1].states_entered()
        result.status = "SUCCEEDED" if all(e.succeeded for e in executions) else executions[-1].status
        for execution, report in zip(executions, reports, strict=True):
            actions = (report or {}).get("response", {}).get("actions", [])
            result.executions.append({"status": execution.status, "actions": actions})
            summary = ", ".join(f"{a['action']} {a['status']}" for a in actions)
            narrate(f"Workflow {execution.status}: {summary}")
        for line in [*_outcome_lines(world, setup, result), *_securityhub_lines(result)]:
            narrate(line)
        world.read_inbox()
        result.soc_messages = world.inbox
        for message in result.soc_messages:
            narrate("\n--- SOC notification " + "-" * 50)
            narrate(f"Subject: {message['Subject']}\n\n{message['Message']}")
        _write_outputs(result, reports, narrate)
    return result
