"""Run fault-matrix cases each in its own spawned process, a few at a time, with a time cap per case.

A case past the cap is killed and recorded as timed out, so one hung run cannot hang the generator
(``python -m tests.reliability``). Lives outside ``__main__`` so spawned workers can import it.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from tests.reliability.harness import Outcome, Pair

Case = tuple[Pair, str, str]  # pair, fault kind, scenario


@dataclass(frozen=True)
class Row:
    pair: Pair
    kind: str
    category: str  # survived / failed_told / soc_unreachable / broken / timed_out / not_reached / error
    label: str
    seconds: float


def _categorize(got: Outcome) -> str:
    if got.problems:
        return "broken"
    if not got.injected:
        return "not_reached"
    if got.status == "SUCCEEDED":
        return "survived"
    if got.soc_unreachable:
        return "soc_unreachable"
    return "failed_told" if got.soc_told else "broken"


def _child(case: Case, conn: Connection) -> None:
    """One case in its own (spawned) process; sends the Outcome or the harness's exception."""
    from tests.reliability.matrix import _one

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result: Any = _one(case)
    except BaseException as exc:
        result = f"{type(exc).__name__}: {exc}"
    conn.send(result)
    conn.close()


def run_cases(todo: list[Case], workers: int, timeout: float) -> list[Row]:
    """Every case in its own process, ``workers`` at a time; a case past ``timeout`` is killed."""
    ctx = multiprocessing.get_context("spawn")  # forking after DuckDB / moto threads aborts the child
    pending = list(todo)
    retried: set[Case] = set()  # a harness error (not an outcome) is run once more
    running: dict[Any, tuple[Case, float, Connection]] = {}
    rows: list[Row] = []
    done = 0

    def finish(case: Case, category: str, label: str, started: float) -> None:
        nonlocal done
        done += 1
        rows.append(Row(case[0], case[1], category, label, time.monotonic() - started))
        print(f"[{done}/{len(todo)}] {case[0][0]}:{case[0][1]} {case[1]}: {label}", file=sys.stderr)

    while pending or running:
        while pending and len(running) < workers:
            case = pending.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(case, child), daemon=True)
            proc.start()
            child.close()
            running[proc] = (case, time.monotonic(), parent)
        time.sleep(0.2)
        for proc, (case, started, conn) in list(running.items()):
            result: Any = None
            if conn.poll():
                try:
                    result = conn.recv()
                except EOFError:
                    result = f"the worker exited with code {proc.exitcode}"
            elif not proc.is_alive():
                result = f"the worker exited with code {proc.exitcode}"
            elif time.monotonic() - started > timeout:
                proc.kill()
                proc.join(5)
                del running[proc]
                finish(case, "timed_out", f"timed out (killed after {timeout:.0f} s)", started)
                continue
            if result is None:
                continue
            proc.join(5)
            del running[proc]
            if isinstance(result, Outcome):
                finish(case, _categorize(result), result.label, started)
            elif case not in retried:
                retried.add(case)
                pending.append(case)
                print(
                    f"{case[0][0]}:{case[0][1]} {case[1]}: harness error, once more: {result}",
                    file=sys.stderr,
                )
            else:
                finish(case, "error", f"harness error (twice): {result}", started)
    order = {(p, k): i for i, (p, k, _s) in enumerate(todo)}
    return sorted(rows, key=lambda r: order[(r.pair, r.kind)])
