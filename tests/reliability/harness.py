"""Run a demo scenario with AWS faults injected into the workflow's own calls, then check invariants.

Faults are botocore ``before-parameter-build`` hooks on boto3's default session (as in
tests/e2e/test_faults.py): raised before the request is built and sent, so the SDK's own retries never
see them; a raise stands for what the SDK hands back once its attempts are spent. Only the clients of
``responder.clients.client`` (the handlers') are recorded and faulted: they carry our user agent.
The demo's own clients (building the account, reading the SOC inbox) and moto's engine are left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from responder import clients
from workstation.demo.account import state_differences
from workstation.demo.run import DemoHooks, DemoResult, _account, run_demo
from workstation.demo.scenarios import SCENARIOS
from workstation.demo.setup import DemoScenario, Setup
from workstation.local.runner import ExecutionResult

USER_AGENT_MARK = "aws-incident-responder/"
Pair = tuple[str, str]  # (botocore service name, operation name)

# The codes each service really answers with (after the SDK's own retries are spent).
THROTTLE = {"s3": ("SlowDown", 503), "dynamodb": ("ThrottlingException", 400), "sns": ("Throttled", 400)}
SERVER = {"dynamodb": ("InternalServerError", 500), "iam": ("ServiceFailure", 500)}
DENIED = {"dynamodb": ("AccessDeniedException", 400), "sns": ("AuthorizationError", 403)}

FAULT_KINDS = ("throttle_once", "throttle_persistent", "internal_error", "access_denied")
FAULT_TEXT = {
    "throttle_once": "throttled once",
    "throttle_persistent": "throttled on every call",
    "internal_error": "500 on every call",
    "access_denied": "AccessDenied on every call",
}


def fault_code(service: str, kind: str) -> tuple[str, int]:
    if kind.startswith("throttle"):
        return THROTTLE.get(service, ("Throttling", 400))
    if kind == "internal_error":
        return SERVER.get(service, ("InternalError", 500))
    return DENIED.get(service, ("AccessDenied", 403))


def _ours(context: dict[str, Any] | None) -> bool:
    config = (context or {}).get("client_config")
    return config is not None and USER_AGENT_MARK in (config.user_agent_extra or "")


class Recorder:
    """Counts the (service, operation) calls the handlers make while installed."""

    def __init__(self) -> None:
        self.calls: Counter[Pair] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
        if _ours(context):
            with self._lock:
                self.calls[(model.service_model.service_name, model.name)] += 1


class Injector:
    """Fails the handlers' calls of one operation: the first (``throttle_once``) or every one."""

    def __init__(self, pair: Pair, kind: str) -> None:
        self.pair, self.kind = pair, kind
        self.code, self.status = fault_code(pair[0], kind)
        self.times = 1 if kind == "throttle_once" else 10**9
        self.calls = 0
        self.injected = 0
        self._lock = threading.Lock()

    def __call__(self, model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
        if not _ours(context) or (model.service_model.service_name, model.name) != self.pair:
            return
        with self._lock:
            self.calls += 1
            fail = self.calls <= self.times
            if fail:
                self.injected += 1
        if fail:
            raise ClientError(
                {
                    "Error": {"Code": self.code, "Message": f"injected {self.code}"},
                    "ResponseMetadata": {"HTTPStatusCode": self.status},
                },
                self.pair[1],
            )


@contextlib.contextmanager
def hooked(*handlers: Callable[..., None]) -> Iterator[None]:
    """Register ``handlers`` on every API call of boto3's default session while inside."""
    events = boto3._get_default_session().events
    for handler in handlers:
        events.register("before-parameter-build", handler)
    clients.reset()  # a cached client copied the session's handlers before they were registered
    try:
        yield
    finally:
        for handler in handlers:
            events.unregister("before-parameter-build", handler)
        clients.reset()


@contextlib.contextmanager
def custom_scenario(name: str, prepare: Callable[[Any], Setup]) -> Iterator[str]:
    """A scenario only this process knows, for run_demo (removed on exit)."""
    SCENARIOS[name] = DemoScenario(name, "a reliability test's own setup", prepare)
    try:
        yield name
    finally:
        SCENARIOS.pop(name, None)


@dataclass
class Run:
    """What one workflow run left behind, read before the emulated account is torn down."""

    scenario: str
    result: DemoResult | None = None
    executions: list[ExecutionResult] = field(default_factory=list)
    records: list[dict[str, str]] = field(default_factory=list)  # INCIDENT#... ACTION# items
    claims: list[dict[str, str]] = field(default_factory=list)  # KEY#... items
    changes: list[str] = field(default_factory=list)  # account paths that changed during the runs
    account_after: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # key -> versions
    exposed_key: str = ""
    exposed_user: str = ""
    reports: list[dict[str, Any]] = field(default_factory=list)
    narration: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.result.soc_messages if self.result else []


def _items(world: Any) -> list[dict[str, str]]:
    items = world.clients["dynamodb"].scan(TableName=world.resources.incident_table)["Items"]
    return [{k: str(next(iter(v.values()))) for k, v in item.items()} for item in items]


def _evidence(world: Any) -> dict[str, list[dict[str, Any]]]:
    s3, bucket = world.clients["s3"], world.resources.evidence_bucket
    out: dict[str, list[dict[str, Any]]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            obj = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
            body = obj["Body"].read()
            out.setdefault(version["Key"], []).append(
                {
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "recorded": obj.get("Metadata", {}).get("sha256"),
                    "uri": f"s3://{bucket}/{version['Key']}",
                }
            )
    return out


def run_scenario(
    out_dir: Path,
    scenario: str,
    *,
    handlers: tuple[Callable[..., None], ...] = (),
    environment: dict[str, str] | None = None,
) -> Run:
    """``scenario`` through the real workflow with ``handlers`` hooked during the executions only."""
    run = Run(scenario=scenario)
    stack = contextlib.ExitStack()
    before: dict[str, Any] = {}

    def before_run(world: Any) -> None:
        before.update(_account(world))
        run.exposed_key, run.exposed_user = world.victim.exposed_key_id, world.victim.user_name
        stack.enter_context(hooked(*handlers))

    def after_run(world: Any, executions: list[ExecutionResult]) -> None:
        stack.close()
        run.executions = executions
        items = _items(world)
        run.records = [i for i in items if i["pk"].startswith("INCIDENT#") and i["sk"].startswith("ACTION#")]
        run.claims = [i for i in items if i["pk"].startswith("KEY#")]
        run.account_after = _account(world)
        run.changes = state_differences(before, run.account_after)
        run.evidence = _evidence(world)

    hooks = DemoHooks(
        before_run=before_run,
        after_run=after_run,
        environment={"POLL_SECONDS": "0", **(environment or {})},
        retry_interval_scale=0.0,
    )
    try:
        run.result = run_demo(out_dir, scenario=scenario, narrate=run.narration.append, hooks=hooks)
    finally:
        stack.close()
    for path in sorted(out_dir.glob("report*.json")):
        if path.name != "report.json" or len(run.executions) == 1:
            run.reports.append(json.loads(path.read_text()))
    return run


# ------------------------------------------------------------------------------------ invariants

_SHA_LINE = re.compile(r"(s3://\S+) sha256 ([0-9a-f]{64})")


def evidence_problems(run: Run) -> list[str]:
    """(a) every object hashes to its recorded SHA-256, was written once, and every listed hash matches."""
    problems = []
    by_uri: dict[str, str] = {}
    for key, versions in run.evidence.items():
        if len(versions) != 1:
            problems.append(f"{key}: {len(versions)} versions (overwritten)")
        for v in versions:
            by_uri[v["uri"]] = v["sha256"]
            if v["recorded"] != v["sha256"]:
                problems.append(f"{key}: bytes hash {v['sha256'][:12]}, metadata says {v['recorded']}")
    listed: list[tuple[str, str, str]] = []
    for report in run.reports:
        for ref in [*report.get("evidence", []), report.get("evidence_manifest") or {}]:
            if ref.get("uri") and ref.get("sha256"):
                listed.append(("report", ref["uri"], ref["sha256"]))
    for message in run.messages:
        listed += [("SOC message", uri, sha) for uri, sha in _SHA_LINE.findall(message["Message"])]
    for where, uri, sha in listed:
        if uri not in by_uri:
            problems.append(f"{where} lists {uri}, which is not in the evidence bucket")
        elif by_uri[uri] != sha:
            problems.append(
                f"{where} lists {uri} with sha256 {sha[:12]}, the object hashes to {by_uri[uri][:12]}"
            )
    return problems


def _targets_of(path: str) -> set[str]:
    parts = path.strip("/").split("/")
    kind, name = parts[0], parts[1] if len(parts) > 1 else ""
    if kind == "users":
        out = {f"user/{name}", f"login-profile/{name}"}
        if len(parts) > 3 and parts[2] == "keys":
            out |= {parts[3], f"access-key/{parts[3]}"}
        return out
    if kind == "roles":
        return {f"role/{name}"}
    return {name}


def _decoded(document: Any) -> Any:
    from responder.policy_doc import decode_policy

    return decode_policy(document)


def record_problems(run: Run) -> list[str]:
    """(b) every change in the account has a done record, and every done record matches the account."""
    problems = []
    done = [r for r in run.records if r.get("status") == "done"]
    done_targets = {r["target"] for r in done}
    for path in run.changes:
        if not _targets_of(path) & done_targets:
            problems.append(f"account changed at {path} without a done record in the incident table")
    users = run.account_after.get("users", {})
    changed_targets = set().union(*(_targets_of(p) for p in run.changes)) if run.changes else set()
    # A retried RevokeSessions replaces its policy with a later cutoff (a new record each time): the
    # account holds the last one.
    last_revoke = {
        r["target"]: r for r in sorted(done, key=lambda r: r["sk"]) if r["action"] == "revoke_sessions"
    }
    for r in done:
        if r["action"] == "revoke_sessions" and last_revoke[r["target"]] is not r:
            continue
        target, after = r["target"], json.loads(r.get("after") or "null")
        if r["action"] == "disable_access_key":
            status = next((u["keys"][target] for u in users.values() if target in u["keys"]), None)
            if status != "Inactive":
                problems.append(f"record says {target} disabled; the key is {status}")
        elif r["action"] == "revoke_sessions" and target.startswith("user/"):
            inline = users.get(target[5:], {}).get("inline", {})
            got = inline.get(after["policy_name"])
            if got is None or _decoded(got) != after["document"]:
                problems.append(
                    f"record says {after['policy_name']} on {target}; the account does not hold it"
                )
        elif r["action"] == "tag_principal" and target.startswith("user/"):
            tags = users.get(target[5:], {}).get("tags", {})
            if any(tags.get(k) != v for k, v in after.items()):
                problems.append(f"record says {target} tagged {after}; its tags are {tags}")
        elif target not in changed_targets:
            problems.append(f"record says {r['action']} {target} done; nothing of {target} changed")
    return problems


def key_problems(run: Run) -> list[str]:
    """(c) the exposed key is Inactive with a done record, or Active and the SOC was told it was not disabled."""
    key = run.exposed_key
    status = run.account_after.get("users", {}).get(run.exposed_user, {}).get("keys", {}).get(key)
    recorded = any(
        r["action"] == "disable_access_key" and r["target"] == key
        for r in run.records
        if r["status"] == "done"
    )
    if status == "Inactive":
        return [] if recorded else [f"{key} is Inactive without a done disable_access_key record"]
    told = [m for m in run.messages if key in m["Message"] and key_not_disabled(m["Message"], key)]
    return [] if told else [f"{key} is {status} and no SOC message says it was not disabled"]


def key_not_disabled(body: str, key: str) -> bool:
    """The SOC message says the key was not disabled (an explicit line, or its action not done)."""
    lines = [line for line in body.splitlines() if key in line]
    return any(
        "NOT disabled" in line
        or "the key is still Active" in line
        or re.search(rf"disable_access_key {re.escape(key)}: (skipped|failed|would_do)", line)
        for line in lines
    )


def soc_problems(run: Run) -> list[str]:
    """A failed run: the SOC message names the error, lists what was done, and says what was not."""
    problems = []
    failed = [e for e in run.executions if e.status != "SUCCEEDED"]
    if not failed:
        return []
    failures = [m for m in run.messages if "FAILED" in m["Subject"]]
    if not failures:
        return ["the run FAILED and the SOC got no failure message"]
    body = failures[-1]["Message"]
    error = next((_error_name(e) for e in failed if _error_name(e)), None)
    if error and error not in failures[-1]["Subject"]:
        problems.append(f"the failure message does not name {error}: {failures[-1]['Subject']}")
    if "What was NOT done" not in body:
        problems.append("the failure message does not say what was not done")
    text = "\n".join(m["Message"] for m in run.messages)
    for r in run.records:
        if r["status"] == "done" and r["target"] not in text:
            problems.append(f"{r['action']} {r['target']} was done, and no SOC message says so")
    return problems


def _error_name(execution: ExecutionResult) -> str | None:
    """The name of the error the NotifyFailure step was given (the step's Catch)."""
    for inv in execution.invocations:
        if inv.state_name == "NotifyFailure" and isinstance(inv.event, dict):
            error = (inv.event.get("state") or {}).get("error") or {}
            return str(error.get("Error")) if error.get("Error") else None
    return None


def problems(run: Run) -> list[str]:
    return [*evidence_problems(run), *record_problems(run), *key_problems(run), *soc_problems(run)]


# -------------------------------------------------------------------------------- classification


@dataclass(frozen=True)
class Outcome:
    pair: Pair
    kind: str
    scenario: str
    status: str  # SUCCEEDED / FAILED / ...
    injected: int
    retried: int  # Lambda failures the state machine retried
    error: str | None  # what NotifyFailure was told
    soc_told: bool
    problems: tuple[str, ...]
    soc_unreachable: bool = False

    @property
    def label(self) -> str:
        if self.problems:
            return "VIOLATION: " + "; ".join(self.problems)
        if not self.injected:
            return "not reached"
        if self.status == "SUCCEEDED":
            return (
                f"SUCCEEDED after {self.retried} retr{'y' if self.retried == 1 else 'ies'}"
                if self.retried
                else "SUCCEEDED (absorbed)"
            )
        told = "SOC told" if self.soc_told else "SOC NOT told"
        if self.soc_unreachable:
            told = f"SOC unreachable ({SOC_UNREACHABLE})"
        return f"FAILED {self.error or '?'}, {told}"


SOC_UNREACHABLE = "SNS is the SOC's channel"


def outcome(run: Run, injector: Injector) -> Outcome:
    [execution] = run.executions
    found = problems(run)
    unreachable = (
        injector.pair == ("sns", "Publish") and injector.kind != "throttle_once" and not run.messages
    )
    if unreachable:
        # Nothing can tell the SOC when its only channel refuses every message: a known limit, shown
        # as such in the matrix; the other invariants still hold.
        found = [p for p in found if "SOC" not in p]
    failed = [i for i in execution.invocations if i.phase == "failed" and i.state_name != "NotifyFailure"]
    retried = sum(
        1
        for inv in failed
        if any(
            later.state_name == inv.state_name and (later.retry_count or 0) == (inv.retry_count or 0) + 1
            for later in execution.invocations
        )
    )
    return Outcome(
        pair=injector.pair,
        kind=injector.kind,
        scenario=run.scenario,
        status=execution.status,
        injected=injector.injected,
        retried=retried,
        error=_error_name(execution),
        soc_told=any("FAILED" in m["Subject"] for m in run.messages),
        soc_unreachable=unreachable,
        problems=tuple(found),
    )


def run_fault(out_dir: Path, scenario: str, pair: Pair, kind: str) -> tuple[Outcome, Run]:
    injector = Injector(pair, kind)
    run = run_scenario(out_dir, scenario, handlers=(injector,))
    return outcome(run, injector), run
