"""One measurement in a fresh process (so that its peak RSS is its own): ``python -m bench.measure``.

Prints one JSON line: ``seconds`` (wall time of the work, imports excluded), ``max_rss_mb`` and, for
the engine and the plain scan, where the answers were written.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.naive import engine_answers, scan
from responder.analysis import pivot
from responder.query import DuckDBEngine, QueryParams


def investigate(root: Path, key: str, start: str, end: str) -> tuple[dict[tuple[str, str], list[Any]], int]:
    """The offline investigation's work: coverage, then the plan's batches until it has no more."""
    with DuckDBEngine([root]) as engine:
        window = QueryParams.of({"access_key_id": key, "start": start, "end": end})
        engine.coverage(window)
        results: dict[tuple[str, str], list[Any]] = {}
        while batch := pivot.next_batch(key, results):
            tasks = [(t.name, {"access_key_id": t.access_key_id, "start": start, "end": end}) for t in batch]
            results.update(engine.run_many(tasks))
        return results, len(engine.files_for(window))


def _jsonable(answers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in answers.items():
        if isinstance(value, dict):
            out[name] = {
                "|".join(map(str, k)) if isinstance(k, tuple) else str(k): v for k, v in value.items()
            }
        else:
            out[name] = value
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("duckdb", "zcat", "naive"))
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--files", type=Path, help="a file listing the log files, one a line")
    ap.add_argument("--key", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--answers", type=Path, help="write the answers here (JSON)")
    args = ap.parse_args(argv)
    files = [Path(line) for line in args.files.read_text().split()] if args.files else []
    extra: dict[str, Any] = {}
    answers: dict[str, Any] | None = None
    began = time.perf_counter()
    if args.what == "duckdb":
        results, opened = investigate(args.root, args.key, args.start, args.end)
        seconds = time.perf_counter() - began
        answers = engine_answers(results, args.key)
        extra = {"queries": len(results), "files_opened": opened}
    elif args.what == "zcat":
        subprocess.run(["zcat", *map(str, files)], stdout=subprocess.DEVNULL, check=True)
        seconds = time.perf_counter() - began
    else:
        answers = scan(files, args.key, args.start, args.end)
        seconds = time.perf_counter() - began
        answers.pop("coverage")
    who = resource.RUSAGE_CHILDREN if args.what == "zcat" else resource.RUSAGE_SELF
    rss = resource.getrusage(who).ru_maxrss / 1024
    if answers is not None and args.answers:
        args.answers.write_text(json.dumps(_jsonable(answers), sort_keys=True))
    json.dump({"seconds": seconds, "max_rss_mb": rss, **extra}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
