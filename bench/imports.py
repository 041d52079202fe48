"""``python -m bench.imports``: each handler's cold import against a bare ``import boto3``.

A cold start in Lambda is the handler module's import in a fresh interpreter; the runtime's own
``import boto3`` is the floor nothing of ours can go under, so the anchor is ``python -c "import
boto3"`` and every figure is a ratio to it, taken side by side: each handler's run is paired with an
anchor run just before it, in the same environment, and the ratio reported is the median of the
pairs' ratios (a shared machine slows both runs of a pair alike). Wall time of the whole process
(interpreter start-up included, the same in both) is what Lambda's Init phase pays.

The environment is Lambda's as far as importing goes (``LAMBDA_TASK_ROOT``, the X-Ray daemon
address, the Powertools variables the stack sets, fake credentials): Powertools' Tracer, for one,
patches botocore only when it believes it runs in Lambda. Bytecode is warm (a first, unmeasured
import writes ``__pycache__``) for the anchor and the handlers alike.

Also listed, from ``-X importtime``: the containment handler's heaviest modules by cumulative time,
and, for every handler, what it imports beyond boto3 (self time of the modules ``import boto3``
does not load, by top-level package). Writes ``bench/IMPORTS.md``. Timed here, never in tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lambdas.steps import STEPS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ANCHOR = "boto3"
# The automatic path's one Lambda (bench/CONTAINMENT.md): Triage contains the key itself.
CONTAINMENT = "triage"
AIM_CONTAINMENT = 1.5
AIM_OTHERS = 2.0
# Modules whose presence after the import is reported: what the issue names as the cost.
WATCHED = ("aws_xray_sdk", "pydantic")


def workstation_environment() -> dict[str, str]:
    """A clean environment with a region, fake credentials and the stack's Powertools variables."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIABENCHMARKFAKE000",
        "AWS_SECRET_ACCESS_KEY": "fake",
        "AWS_SESSION_TOKEN": "fake",
        # As stacks/responder_stack.py sets them on every function.
        "POWERTOOLS_SERVICE_NAME": "responder",
        "POWERTOOLS_METRICS_NAMESPACE": "IncidentResponder",
    }


def lambda_environment() -> dict[str, str]:
    """What a Python function's process sees at import time in Lambda (no secrets: fake credentials)."""
    return {
        **workstation_environment(),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
        "AWS_LAMBDA_FUNCTION_NAME": "responder-bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": str(REPO),
        "LAMBDA_RUNTIME_DIR": str(REPO),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
        "_AWS_XRAY_DAEMON_PORT": "2000",
    }


LAMBDA_ENVIRONMENT = (
    "Lambda's at import time (`LAMBDA_TASK_ROOT`, the X-Ray daemon address, the stack's `POWERTOOLS_*` "
    "variables, fake credentials)"
)


def handler_module(step: str) -> str:
    return f"lambdas.{step}.handler"


def wall(module: str, env: dict[str, str]) -> float:
    """Seconds for a fresh interpreter to import ``module`` and exit."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], env=env, cwd=REPO, check=True)
    return time.perf_counter() - began


@dataclass(frozen=True)
class Imported:
    """One ``-X importtime`` run: each module's self and cumulative microseconds, in import order."""

    self_us: dict[str, int]
    cumulative_us: dict[str, int]


def importtime(module: str, env: dict[str, str]) -> Imported:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    self_us: dict[str, int] = {}
    cumulative_us: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        self_us[name.strip()] = int(own)
        cumulative_us[name.strip()] = int(cumulative)
    return Imported(self_us, cumulative_us)


def beyond(imported: Imported, anchor: Imported) -> Counter[str]:
    """Self microseconds of the modules the anchor does not load, by top-level package."""
    out: Counter[str] = Counter()
    for name, us in imported.self_us.items():
        if name not in anchor.self_us:
            out[name.split(".")[0]] += us
    return out


@dataclass
class Measured:
    step: str
    anchor_s: list[float] = field(default_factory=list)
    handler_s: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(h / a for h, a in zip(self.handler_s, self.anchor_s, strict=True))

    @property
    def aim(self) -> float:
        return AIM_CONTAINMENT if self.step == CONTAINMENT else AIM_OTHERS


def measure(steps: list[str], runs: int, env: dict[str, str]) -> dict[str, Measured]:
    """``runs`` rounds; in each, every handler after its own anchor run, the order rotating."""
    for module in (ANCHOR, *map(handler_module, steps)):
        wall(module, env)  # warm: compile to __pycache__ once, unmeasured
    out = {s: Measured(s) for s in steps}
    for r in range(runs):
        order = steps[r % len(steps) :] + steps[: r % len(steps)]
        for step in order:
            out[step].anchor_s.append(wall(ANCHOR, env))
            out[step].handler_s.append(wall(handler_module(step), env))
        print(f"  round {r + 1}/{runs} done", flush=True)
    return out


def _ms(us: float) -> str:
    return f"{us / 1000:.0f}"


def _top(counter: Counter[str], n: int) -> str:
    return ", ".join(f"{name} {_ms(us)}" for name, us in counter.most_common(n) if us >= 1000) or "-"


def report(
    measured: dict[str, Measured],
    imported: dict[str, Imported],
    anchor: Imported,
    *,
    runs: int,
    top: int,
    command: str,
    environment: str,
    load: tuple[float, float],
) -> str:
    rows = []
    for step, m in measured.items():
        loaded = [w for w in WATCHED if w in imported[step].self_us]
        rows.append(
            f"| `{handler_module(step)}`{' (containment)' if step == CONTAINMENT else ''} "
            f"| {statistics.median(m.handler_s) * 1000:.0f} | {statistics.median(m.anchor_s) * 1000:.0f} "
            f"| **{m.ratio:.2f}x** | {m.aim:g}x | {'yes' if m.ratio <= m.aim else '**no**'} "
            f"| {', '.join(loaded) or '-'} | {_top(beyond(imported[step], anchor), 4)} |"
        )
    containment = imported[CONTAINMENT]
    heaviest = sorted(containment.cumulative_us.items(), key=lambda kv: -kv[1])[:top]
    met = all(m.ratio <= m.aim for m in measured.values())
    now = datetime.now(UTC)
    lines = [
        "# Benchmark: cold import of each handler against a bare `import boto3`",
        "",
        f"Regenerate: `{command}` (`make bench` runs it too). Measured {now:%Y-%m-%d %H:%M} UTC.",
        f"Wall time of a fresh interpreter importing the module and exiting, in {runs} rounds: each handler's "
        "run is paired with an `import boto3` run just before it, the order rotating each round; the ratio "
        f"is the median of the pairs' ratios, the times are medians. Environment: {environment}; "
        "bytecode warm for all. See `bench/imports.py`.",
        "",
        f"**Aims**: the containment handler at most {AIM_CONTAINMENT:g}x, every other at most "
        f"{AIM_OTHERS:g}x: **{'met' if met else 'NOT met'}**.",
        "",
        "| handler | ms | `import boto3` ms | ratio | aim | aim met | loaded | beyond boto3 (self ms, by package) |",
        "|---|---:|---:|---:|---:|---|---|---|",
        *rows,
        "",
        f"Heaviest modules of `{handler_module(CONTAINMENT)}` by cumulative import time (one "
        "`-X importtime` run; a module shared with boto3 is billed to whichever imports it first):",
        "",
        "| module | cumulative ms | self ms |",
        "|---|---:|---:|",
        *[f"| `{name}` | {_ms(us)} | {_ms(containment.self_us[name])} |" for name, us in heaviest],
        "",
        f"Beyond boto3, `{handler_module(CONTAINMENT)}` pays (self ms by package): "
        f"{_top(beyond(containment, anchor), 12)}.",
        "",
        f"**Machine**: {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}; load average before/after {load[0]:.1f}/{load[1]:.1f}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    ap.add_argument("--runs", type=int, default=11, help="paired rounds (default 11)")
    ap.add_argument(
        "--step", action="append", choices=[s.name for s in STEPS], help="only this step (repeatable)"
    )
    ap.add_argument("--top", type=int, default=15, help="heaviest modules listed for the containment handler")
    ap.add_argument(
        "--workstation",
        action="store_true",
        help="without Lambda's variables (as the CLI and the local runner import the handlers)",
    )
    ap.add_argument("--out", type=Path, default=HERE / "IMPORTS.md", help="'-' to print only")
    args = ap.parse_args(argv)
    steps = [s.name for s in STEPS if not args.step or s.name in args.step or s.name == CONTAINMENT]
    env = workstation_environment() if args.workstation else lambda_environment()
    load_before = os.getloadavg()
    measured = measure(steps, args.runs, env)
    load_after = os.getloadavg()
    anchor = importtime(ANCHOR, env)
    imported = {step: importtime(handler_module(step), env) for step in steps}
    options = [f"--runs {args.runs}"] if args.runs != 11 else []
    options += [f"--step {s}" for s in args.step or ()]
    options += ["--workstation"] if args.workstation else []
    text = report(
        measured,
        imported,
        anchor,
        runs=args.runs,
        top=args.top,
        command=" ".join([".venv/bin/python -m bench.imports", *options]),
        environment="the workstation's (no Lambda variables)" if args.workstation else LAMBDA_ENVIRONMENT,
        load=(load_before[0], load_after[0]),
    )
    print(text)
    if str(args.out) != "-":
        args.out.write_text(text)
    # Like the other benches, the exit status is about the run, not the aims (the table says those).
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
