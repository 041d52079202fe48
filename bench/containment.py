"""``python -m bench.containment``: how much work stands between a decision and an Inactive key.

Five paths, each a demo scenario (our ASL on moto's Step Functions engine, every handler in-process):

- automatic (``iam-user-key``, a GuardDuty finding): at most one Lambda invocation and four AWS API
  calls from the start of the execution, before any query runs;
- manual (``manual-key``, the console's input naming the key only): one Lambda; five calls, one more
  than the finding's path because the input names no user (IAM's GetAccessKeyLastUsed does);
- AWS Health (``health-exposed-key``, AWS_RISK_CREDENTIALS_EXPOSED): as the manual path, the event
  names the key only;
- an attack sequence (``attack-sequence``): the finding's path, for the sequence's first key;
- approved (``approval-granted``): from the human's yes (SendTaskSuccess), one Lambda and at most
  four calls (Triage confirmed the owner before asking).

Each is counted with botocore ``before-parameter-build`` hooks (one per API call, with its
parameters, before the SDK's retries) on boto3's default session, which every client built after
them copies (our handlers', and moto's Lambda invoker's, built per task):

- from just before ``StartExecution`` (the demo's ``before_run`` hook), or from the approval's
  ``SendTaskSuccess``, until the first ``UpdateAccessKey`` (Status=Inactive) that returns HTTP 200;
- Lambda invocations: the ``lambda:Invoke`` calls moto's engine makes, one per Task attempt;
- AWS API calls made by our handlers: every other call except Step Functions (the runner polling
  ``DescribeExecution``) -- the engine's plumbing is not the responder's work;
- whether any query started first (a ``QueryStart`` invocation, or a CloudTrail Lake / Athena call).

It counts calls, not time (a shared machine makes times noise). Writes ``bench/CONTAINMENT.md``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import boto3

from responder import clients
from responder.timing import BY_REQUEST
from workstation.demo.run import DemoHooks, run_demo
from workstation.local.runner import ExecutionResult

HERE = Path(__file__).resolve().parent
MAX_INVOCATIONS = 1
MAX_CALLS = 4


@dataclass(frozen=True)
class ContainmentPath:
    name: str
    scenario: str
    from_approval: bool  # count from the human's yes, not from the execution's start
    max_calls: int
    why: str


PATHS = (
    ContainmentPath(
        "automatic",
        "iam-user-key",
        False,
        MAX_CALLS,
        "ListUserTags (owner, protected tag), ListAccessKeys (the key is this user's, and its status "
        "before), a conditional DynamoDB PutItem (the claim that makes containment exactly-once per "
        "key), UpdateAccessKey",
    ),
    ContainmentPath(
        "manual",
        "manual-key",
        False,
        MAX_CALLS + 1,
        "GetAccessKeyLastUsed (the input names the key only: IAM names its user), then the automatic "
        "path's four",
    ),
    ContainmentPath(
        "aws-health",
        "health-exposed-key",
        False,
        MAX_CALLS + 1,
        "GetAccessKeyLastUsed (AWS Health's event names the key only: IAM names its user), then the "
        "automatic path's four",
    ),
    ContainmentPath(
        "attack-sequence",
        "attack-sequence",
        False,
        MAX_CALLS,
        "the automatic path's four for the sequence's first key (its actor names the user); the "
        "sequence's other keys follow in the same Lambda, after the first is Inactive",
    ),
    ContainmentPath(
        "approved",
        "approval-granted",
        True,
        MAX_CALLS,
        "ListAccessKeys (the key's status now: hours may have passed), PutItem (the claim), "
        "UpdateAccessKey; Triage confirmed the owner before the human was asked",
    ),
)
PATH_BY_NAME = {p.name: p for p in PATHS}
PLUMBING = {"lambda", "stepfunctions"}  # the engine invoking functions; the runner polling it
QUERY_SERVICES = {"cloudtrail", "athena"}
QUERY_FUNCTION = "responder-start-query"


@dataclass
class Containment:
    """What happened between the execution's start and the key going Inactive."""

    invocations: list[str] = field(default_factory=list)  # function names, in order
    calls: list[str] = field(default_factory=list)  # "service:Operation", in order
    query_started: bool = False
    disabled_key: str | None = None
    exposed_key: str = ""
    innocent_key: str = ""
    key_status: dict[str, str | None] = field(default_factory=dict)
    workflow_status: str = ""
    triage_attempts: int = 0
    path: ContainmentPath = PATHS[0]
    # The run's own report.json response.time_to_contain (responder/timing.py): a figure, not an aim.
    time_to_contain: dict[str, Any] | None = None

    @property
    def meets(self) -> bool:
        return (
            self.disabled_key == self.exposed_key
            and self.key_status.get(self.exposed_key) == "Inactive"
            and self.key_status.get(self.innocent_key) == "Active"
            and len(self.invocations) <= MAX_INVOCATIONS
            and len(self.calls) <= self.path.max_calls
            and not self.query_started
        )


class _Counter:
    """botocore hooks: record calls from StartExecution until UpdateAccessKey first returns 200."""

    def __init__(self, into: Containment) -> None:
        self.into = into
        self.lock = threading.Lock()
        self.counting = False
        self.done = False
        self.pending = threading.local()  # after-call carries no API params: keep them, per thread

    def install(self, world: Any) -> None:
        self.into.exposed_key = world.victim.exposed_key_id
        self.into.innocent_key = world.victim.innocent_key_id
        events = boto3._get_default_session().events
        events.register("before-parameter-build", self.before_call)
        events.register("after-call.iam.UpdateAccessKey", self.after_update)
        clients.reset()  # clients copy the session's handlers when built: build them after this
        # The demo calls this right before StartExecution (the runner's own client predates the hooks);
        # the approved path starts counting at the yes instead.
        self.counting = not self.into.path.from_approval

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        with self.lock:
            if self.done:
                return
            if not self.counting:
                self.counting = (service, operation) == ("stepfunctions", "SendTaskSuccess")
                return
            if (service, operation) == ("iam", "UpdateAccessKey"):
                self.pending.params = dict(params)
            if (service, operation) == ("lambda", "Invoke"):
                function = str(params.get("FunctionName", "")).split(":function:")[-1].split(":")[0]
                self.into.invocations.append(function)
                self.into.query_started |= function == QUERY_FUNCTION
            elif service not in PLUMBING:
                self.into.calls.append(f"{service}:{operation}")
                self.into.query_started |= service in QUERY_SERVICES

    def after_update(self, http_response: Any, **_: Any) -> None:
        params: dict[str, Any] = getattr(self.pending, "params", {})
        with self.lock:
            ok = http_response.status_code == 200 and params.get("Status") == "Inactive"
            if self.counting and not self.done and ok:
                self.done = True
                self.into.disabled_key = params.get("AccessKeyId")


def measure(out_dir: Path, path: str = "automatic") -> Containment:
    """Run the path's scenario once and count what came before the key went Inactive."""
    found = Containment(path=PATH_BY_NAME[path])
    counter = _Counter(found)

    def after(world: Any, executions: list[ExecutionResult]) -> None:
        found.workflow_status = executions[0].status
        found.triage_attempts = sum(1 for i in executions[0].invocations if i.state_name == "Triage")

    hooks = DemoHooks(
        before_run=counter.install,
        after_run=after,
        environment={"POLL_SECONDS": "0"},  # Wait states need not sleep: only counts matter here
        retry_interval_scale=0.0,
    )
    result = run_demo(out_dir, scenario=found.path.scenario, narrate=lambda _: None, hooks=hooks)
    found.key_status = dict(result.key_status)
    if result.report_path is not None:
        found.time_to_contain = json.loads(result.report_path.read_text())["response"].get("time_to_contain")
    return found


def _row(found: Containment) -> str:
    p = found.path
    key = "yes" if found.disabled_key == found.exposed_key else "NO"
    after = f"{found.key_status.get(found.exposed_key)} / {found.key_status.get(found.innocent_key)}"
    return (
        f"| {p.name} (`{p.scenario}`) | {len(found.invocations)} ({', '.join(found.invocations) or 'none'}) "
        f"| {len(found.calls)} | <= {MAX_INVOCATIONS} / <= {p.max_calls} "
        f"| {'yes' if found.query_started else 'no'} | {key} | {after} | {found.workflow_status} "
        f"| {_timing(found.time_to_contain)} | {'**met**' if found.meets else '**NOT met**'} |"
    )


def _timing(timing: dict[str, Any] | None) -> str:
    if not timing or timing.get("seconds") is None:
        return "none"
    received = timing.get("seconds_after_received")
    by_request = timing["since"] == BY_REQUEST  # the same start: said once
    own = f"; {received:.0f} s after Triage read it" if received is not None and not by_request else ""
    return f"{timing['seconds']:.0f} s after {timing['since']}{own}"


def markdown(results: list[Containment]) -> str:
    rows = "\n".join(_row(f) for f in results)
    calls = "\n\n".join(
        f"**{f.path.name}** ({f.path.why}):\n\n"
        + ("\n".join(f"{n}. `{c}`" for n, c in enumerate(f.calls, start=1)) or "none")
        for f in results
    )
    verdict = "**met**" if all(f.meets for f in results) else "**NOT met**"
    return f"""# Benchmark: containment, automatic, manual and approved

Regenerate: `.venv/bin/python -m bench.containment`. Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.
Counted, not timed: a demo scenario per path on the local runner (our ASL on moto
{version("moto")}'s Step Functions engine, every Lambda step in-process), from just before the
execution's `StartExecution` (the approved path: from the human's `SendTaskSuccess`) until the first
`UpdateAccessKey` (Status=Inactive) returned HTTP 200, with botocore `before-parameter-build` hooks on
boto3's default session (one per API call, before the SDK's retries). Step Functions and Lambda
`Invoke` calls are the engine's plumbing: each `Invoke` is counted as a Lambda invocation (one per
Task attempt), not as an API call.

| path (scenario) | Lambda invocations | AWS API calls | aim (Lambdas / calls) | a query first | the exposed key disabled | after: exposed / other key | workflow | time to contain (report.json) | aim |
|---|---|---:|---|---|---|---|---|---|---|
{rows}

**Aims**: {verdict}.

The calls, in order:

{calls}

The record of each change is written after the key is Inactive, off the critical path.

**Time to contain** is the run's own figure (`response.time_to_contain_seconds`, also the
`TimeToContain` CloudWatch metric): from the finding's `createdAt` (the demo's GuardDuty finding is
created minutes after the attack's first call, as GuardDuty's are; the run starts later, when the
demo is run), else from the request; and the responder's own share, from Triage reading the input.
Seconds from a second-resolution clock, on an emulated account: the count of calls above is the
figure to compare across machines.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.containment", description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "CONTAINMENT.md", help="the Markdown to write")
    args = parser.parse_args(argv)
    results = []
    for path in PATHS:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(measure(Path(tmp), path.name))
    text = markdown(results)
    args.out.write_text(text)
    print(text)
    return 0 if all(f.meets for f in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
