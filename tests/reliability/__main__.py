"""Write the "Fault matrix", "Exactly once under load" and "Least privilege" sections of docs/reliability.md.

    .venv/bin/python -m tests.reliability [--workers N] [--timeout SECONDS] [--only SUBSTRING]

Records the (service, operation) pairs the handlers call in clean runs, runs every pair x every fault
kind (tests/reliability/matrix.py) each in its own process with a time cap (a run past the cap is
killed and recorded as "timed out"), the CloudTrail Lake / Athena query-step faults, and the three
exactly-once load runs; reads the step roles from cdk.out/IncidentResponder.template.json when it
exists. Replaces only the text between ``<!-- faults:start -->`` and ``<!-- faults:end -->`` (the
other generator, tests/hostile/report.py, owns its own sections). ``--only`` restricts the matrix to
cases whose "service:Operation-kind" contains the substring (a smoke run; the document then says so).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.reliability.harness import FAULT_KINDS, FAULT_TEXT, Pair
from tests.reliability.runner import Row, run_cases

DOC = REPO / "docs" / "reliability.md"
COMMAND = ".venv/bin/python -m tests.reliability"
HOSTILE_COMMAND = ".venv/bin/python -m tests.hostile.report"
START, END = "<!-- faults:start -->", "<!-- faults:end -->"
TEMPLATE = REPO / "cdk.out" / "IncidentResponder.template.json"
HEADER = (
    "# Reliability\n\n"
    "Figures measured by generators; each section says how to regenerate it:\n\n"
    f"- Fault matrix, Exactly once under load, Least privilege: `{COMMAND}` (about 20 minutes on 2 CPUs)\n"
    f"- Hostile input, Secrets scan: `{HOSTILE_COMMAND}` (about two minutes)\n"
)


SHORT = {
    "survived": "survived",
    "failed_told": "failed, SOC told",
    "soc_unreachable": "failed, SOC unreachable",
    "broken": "**RULE BROKEN**",
    "timed_out": "**timed out**",
    "not_reached": "not reached",
    "error": "**harness error**",
}


def _cell(row: Row) -> str:
    text = row.label.replace("|", "\\|").replace("\n", " ")
    if row.category in ("broken", "timed_out", "error"):
        text = f"**{text}**"
    return f"{text} ({row.seconds:.0f} s)"


def matrix_section(
    pairs: dict[Pair, str], rows: list[Row], wall: float, timeout: float, only: str | None
) -> str:
    by = {(r.pair, r.kind): r for r in rows}
    counts = Counter(r.category for r in rows)
    lines = [
        "## Fault matrix",
        "",
        f"Every AWS call the handlers make in clean runs ({len(pairs)} service:operation pairs, recorded "
        "from the iam-user-key and approval-timeout scenarios) failed with each fault kind, through the "
        "real workflow on moto's Step Functions engine. A fault is raised where the SDK hands back its "
        "error once its own retries are spent. Each run is capped at "
        f"{timeout:.0f} s (a run past the cap is killed and counted as timed out). Invariants checked "
        "after each run: evidence hashes match and nothing is overwritten; every account change has a "
        "done record and every done record matches the account; the exposed key is disabled with a "
        "record, or the SOC is told it was not; a failed run's SOC message names the error and what was "
        "and was not done.",
        "",
    ]
    if only:
        lines += [f"**Partial run** (`--only {only}`): {len(rows)} case(s), not the full matrix.", ""]
    kinds = [k for k in FAULT_KINDS if any(r.kind == k for r in rows)]
    lines += [
        "| service:operation (scenario) | " + " | ".join(FAULT_TEXT[k] for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for pair, scenario in sorted(pairs.items()):
        if not any((pair, k) in by for k in kinds):
            continue
        cells = [_cell(by[(pair, k)]) if (pair, k) in by else "" for k in kinds]
        lines.append(f"| {pair[0]}:{pair[1]} ({scenario}) | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"- Injected: {len(rows)} cases; survived (SUCCEEDED): {counts['survived']}; failed with the SOC "
        f"told: {counts['failed_told']}; rules broken: {counts['broken']}; timed out: "
        f"{counts['timed_out']}.",
    ]
    extra = [f"{SHORT[c]}: {counts[c]}" for c in ("soc_unreachable", "not_reached", "error") if counts[c]]
    if extra:
        lines.append("- Also: " + "; ".join(extra) + ".")
    if counts["soc_unreachable"]:
        lines.append(
            "- SOC unreachable: when SNS Publish fails on every call, the SOC's only channel is down, so "
            "no message can reach it; the other invariants hold. A known limit, not counted as broken."
        )
    for category, what in (("broken", "Rules broken"), ("timed_out", "Timed out"), ("error", "Errors")):
        bad = [r for r in rows if r.category == category]
        if bad:
            lines.append(f"- {what}:")
            lines += [f"  - {r.pair[0]}:{r.pair[1]} {FAULT_TEXT[r.kind]}: {r.label}" for r in bad]
    lines.append(f"- Wall time: {wall / 60:.1f} min.")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the query faults


def query_section() -> str:
    import pytest

    # The query-step faults need the handlers' environment and moto's S3; reuse the test's fixture by
    # running that module (27 quick cases) and reporting what each step did.
    from tests.reliability import test_query_faults as tq
    from tests.reliability.query_faults import STEPS, run_step_fault

    outcomes: dict[tuple[str, str], str] = {}

    class Collect:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_call(self, item: Any) -> Any:
            step, kind = item.callspec.params["step"], item.callspec.params["kind"]
            with _capture(outcomes, step, kind, run_step_fault, tq):
                yield

    with contextlib.redirect_stdout(io.StringIO()):
        code = pytest.main(
            [str(Path(tq.__file__)), "-q", "-p", "no:cacheprovider", "-p", "no:xdist"], plugins=[Collect()]
        )
    kinds = list(tq.KINDS)
    lines = [
        "### Query steps (CloudTrail Lake, Athena)",
        "",
        "Locally the workflow queries DuckDB, so these calls are faulted step by step: each query step's "
        "handler against a botocore Stubber answering with the fault (then success, for a retry), and the "
        "ASL's Retry/Catch read from statemachine/responder.asl.json.",
        "",
        "| step | " + " | ".join(FAULT_TEXT[k] for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for step in STEPS:
        cells = [outcomes.get((f"{step.engine}-{step.step}", k), "not run") for k in kinds]
        lines.append(f"| {step.pair} ({step.step}) | " + " | ".join(cells) + " |")
    lines += ["", f"- {len(outcomes)} cases; pytest exit code {int(code)} (0: every expectation held)."]
    return "\n".join(lines)


@contextlib.contextmanager
def _capture(outcomes: dict[tuple[str, str], str], step: Any, kind: str, real: Any, module: Any) -> Any:
    """Record the label of the run_step_fault call the test makes."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        got = real(*args, **kwargs)
        outcomes[(f"{step.engine}-{step.step}", kind)] = got.label
        return got

    original = module.run_step_fault
    module.run_step_fault = wrapped
    try:
        yield
    finally:
        module.run_step_fault = original


# --------------------------------------------------------------------------------- exactly once


def exactly_once_section() -> str:
    from tests.reliability.exactly_once import MODES, RUNS, run_load

    lines = [
        "## Exactly once under load",
        "",
        f"One key, {RUNS} executions each, through the real workflow (moto runs concurrent executions "
        "in threads).",
        "",
        "| run | executions | disable_access_key | revoke_sessions | done disable records | revocation "
        "policies | incidents | evidence prefixes | evidence conflicts | SOC subjects | problems | time |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|---|---:|",
    ]

    def fmt(c: Counter[str]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"

    for mode, text in MODES.items():
        started = time.monotonic()
        try:
            with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
                load = run_load(Path(tmp), mode)
        except Exception as exc:
            lines.append(f"| {mode}: {text} | **error: {type(exc).__name__}: {exc}** |" + " |" * 10)
            continue
        ok = (
            load.disable == {"done": 1, "already_done": RUNS - 1}
            and load.revoke == {"done": 1, "already_done": RUNS - 1}
            and load.disable_records == 1
            and len(load.revocation_policies) == 1
            and not load.problems
        )
        problems = "; ".join(load.problems) or "none"
        lines.append(
            f"| {mode}: {text} | {fmt(load.statuses)} | {fmt(load.disable)} | {fmt(load.revoke)} | "
            f"{load.disable_records} | {len(load.revocation_policies)} | {load.incidents} | "
            f"{load.report_prefixes} | {load.evidence_conflicts} | {fmt(load.subjects)} | "
            f"{problems if ok else '**' + problems + ' (not exactly once)**'} | "
            f"{time.monotonic() - started:.0f} s |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ least privilege

XRAY_REASON = "X-Ray's trace APIs support no resource-level permission (added by CDK for tracing)"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def declared_reasons() -> dict[str, str]:
    """action -> the reason its step declares for a ``*`` resource."""
    from lambdas.steps import STEPS

    reasons: dict[str, str] = {}
    for step in STEPS:
        name = getattr(step, "name", step)
        module = importlib.import_module(f"lambdas.{name}.handler")
        for p in getattr(module, "PERMISSIONS", ()):
            if "*" in p.resources:
                for a in p.actions:
                    reasons[a] = p.reason
    return reasons


def privilege_section() -> str:
    lines = ["## Least privilege", ""]
    if not TEMPLATE.is_file():
        return "\n".join(
            [
                *lines,
                f"No synthesized template at {TEMPLATE.relative_to(REPO)}: run `npx cdk synth` (or "
                f"`make synth`) and then `{COMMAND}` again.",
            ]
        )
    resources = json.loads(TEMPLATE.read_text())["Resources"]
    roles = {
        r["Properties"]["Role"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
        and isinstance(r["Properties"].get("Role"), dict)
        and "Fn::GetAtt" in r["Properties"]["Role"]
    }
    actions: dict[str, set[str]] = {role: set() for role in roles}
    wildcard: dict[str, set[str]] = {}
    for r in resources.values():
        if r["Type"] != "AWS::IAM::Policy":
            continue
        attached = [ref["Ref"] for ref in r["Properties"].get("Roles", []) if isinstance(ref, dict)]
        for role in (x for x in attached if x in roles):
            for s in r["Properties"]["PolicyDocument"]["Statement"]:
                if s.get("Effect", "Allow") != "Allow":
                    continue
                acts = _as_list(s["Action"])
                actions[role].update(acts)
                if "*" in _as_list(s.get("Resource")):
                    for a in acts:
                        wildcard.setdefault(a, set()).add(re.sub(r"[0-9A-F]{8}$", "", role))
    reasons = declared_reasons()
    total = sum(len(a) for a in actions.values())
    lines += [
        f"From {TEMPLATE.relative_to(REPO)} (synthesized {time.strftime('%Y-%m-%d', time.gmtime(TEMPLATE.stat().st_mtime))}; "
        "re-synthesize with `npx cdk synth` first if the stack changed):",
        "",
        f"- Lambda roles: {len(roles)}; granted actions (summed over roles, each counted once per role): "
        f"{total}; no action is a wildcard (tests/stack/test_functions.py).",
        f"- Actions granted on `*`: {len(wildcard)}, each where the API has no resource-level permission:",
    ]
    for action in sorted(wildcard):
        reason = reasons.get(action) or (
            XRAY_REASON if action.startswith("xray:") else "**no reason declared**"
        )
        lines.append(f"  - `{action}` ({len(wildcard[action])} role(s)): {reason}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- main


def write_section(body: str) -> None:
    doc = DOC.read_text() if DOC.is_file() else HEADER
    block = f"{START}\n{body.rstrip()}\n\nRegenerate: `{COMMAND}`.\n{END}"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    doc = (
        pattern.sub(lambda _m: block, doc, count=1)
        if pattern.search(doc)
        else doc.rstrip() + "\n\n" + block + "\n"
    )
    # The header lists every generator's command: replace whatever precedes the first section.
    first = doc.find("<!-- ")
    DOC.write_text(HEADER + "\n" + doc[first:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per fault run")
    parser.add_argument(
        "--only", help="run only the matrix cases whose 'service:Operation-kind' contains this"
    )
    parser.add_argument("--skip-load", action="store_true", help="leave out the exactly-once runs")
    args = parser.parse_args(argv)

    from tests.reliability.matrix import cases, record_pairs

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        pairs = record_pairs(Path(tmp))
    print(f"recorded {len(pairs)} pairs in {time.monotonic() - started:.0f} s", file=sys.stderr)
    todo = [c for c in cases(pairs) if not args.only or args.only in f"{c[0][0]}:{c[0][1]}-{c[1]}"]
    started = time.monotonic()
    rows = run_cases(todo, args.workers, args.timeout)
    sections = [matrix_section(pairs, rows, time.monotonic() - started, args.timeout, args.only)]
    sections.append(query_section())
    if not args.skip_load:
        sections.append(exactly_once_section())
    else:
        sections.append("## Exactly once under load\n\nNot run (`--skip-load`).")
    sections.append(privilege_section())
    write_section("\n\n".join(sections))
    print(f"wrote {DOC.relative_to(REPO)}", file=sys.stderr)
    broken = [r for r in rows if r.category in ("broken", "timed_out", "error")]
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
