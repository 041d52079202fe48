"""``python -m bench``: the whole investigation on DuckDB against one ``zcat`` pass and a plain-Python
scan over the same synthetic CloudTrail logs, measured side by side in one run; writes bench/RESULTS.md.
Then each handler's cold import against a bare ``import boto3`` (``bench.imports``; bench/IMPORTS.md).

Each measurement runs in its own process (its peak RSS is its own); the kinds take turns, ``--repeat``
times, and each keeps its best time (the machine may be shared: the best run is the least disturbed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import sqlglot

from bench import imports
from bench.data import END, Dataset, generate
from responder.query import DuckDBEngine
from responder.query.sql import iso

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
AIM_ZCAT = 2.0  # the investigation within 2x of one zcat pass
AIM_PLAIN = 5.0  # and at least 5x faster than the plain-Python scan


def dataset(events: int, files: int, days: int, seed: int) -> Dataset:
    """The logs for these arguments, generated once into bench/.data/ and reused while they last."""
    root = DATA / f"events{events}-files{files}-days{days}-seed{seed}"
    manifest = root.with_suffix(".json")  # beside the logs, not among them
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        paths = [root / p for p in meta["files"]]
        if all(p.exists() for p in paths):
            return Dataset(
                root, paths, meta["events"], days, END, meta["exposed"], meta["session"], meta["backdoor"]
            )
    if root.exists():
        subprocess.run(["rm", "-rf", str(root)], check=True)
    began = time.perf_counter()
    data = generate(root, events=events, files=files, days=days, seed=seed)
    print(
        f"generated {data.events:,} events in {len(data.files)} files in {time.perf_counter() - began:.0f}s"
    )
    manifest.write_text(
        json.dumps(
            {
                "events": data.events,
                "files": [str(p.relative_to(root)) for p in data.files],
                "exposed": data.exposed_key_id,
                "session": data.session_key_id,
                "backdoor": data.backdoor_key_id,
            }
        )
    )
    return data


def uncompressed_bytes(files: list[Path]) -> int:
    total = 0
    for f in files:
        with f.open("rb") as fh:
            fh.seek(-4, 2)
            total += int.from_bytes(fh.read(4), "little")
    return total


def measure(
    what: str, data: Dataset, files: list[Path], start: datetime, answers: Path | None
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(map(str, files)))
    cmd = [
        sys.executable, "-m", "bench.measure", what, "--root", str(data.root), "--files", fh.name,
        "--key", data.exposed_key_id, "--start", iso(start), "--end", iso(data.end),
    ]  # fmt: skip
    if answers is not None:
        cmd += ["--answers", str(answers)]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE.parent)
    finally:
        os.unlink(fh.name)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--window-days", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="'-' to print only")
    ap.add_argument("--skip-imports", action="store_true", help="leave out the cold-import bench")
    args = ap.parse_args(argv)

    data = dataset(args.events, args.files, args.days, args.seed)
    full_start = data.end - timedelta(days=args.days)
    week_start = data.end - timedelta(days=args.window_days)
    week_files = DuckDBEngine([data.root]).files_for(
        {"access_key_id": data.exposed_key_id, "start": week_start, "end": data.end}
    )
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {}
    answer_dir = Path(tempfile.mkdtemp(prefix="bench-answers-"))
    plan_ = [
        ("zcat", "zcat", data.files, full_start),
        ("duckdb", "duckdb", data.files, full_start),
        ("plain", "naive", data.files, full_start),
        ("zcat_week", "zcat", week_files, week_start),
        ("duckdb_week", "duckdb", week_files, week_start),
    ]
    for rep in range(args.repeat):
        for label, what, files, start in plan_:
            answers = answer_dir / f"{label}.json" if rep == 0 and what != "zcat" else None
            result = measure(what, data, files, start, answers)
            runs.setdefault(label, []).append(result)
            print(f"  run {rep + 1}/{args.repeat} {label:12s} {result['seconds']:7.2f}s "
                  f"{result['max_rss_mb']:7.0f} MB", flush=True)  # fmt: skip
    load_after = os.getloadavg()
    best = {label: min(r, key=lambda x: x["seconds"]) for label, r in runs.items()}
    engine_answers = json.loads((answer_dir / "duckdb.json").read_text())
    plain_answers = json.loads((answer_dir / "plain.json").read_text())
    agree = engine_answers == plain_answers

    a, b, c = best["duckdb"]["seconds"], best["zcat"]["seconds"], best["plain"]["seconds"]
    aw, bw = best["duckdb_week"]["seconds"], best["zcat_week"]["seconds"]
    raw = uncompressed_bytes(data.files)
    labels = ["duckdb", "zcat", "plain", "duckdb_week", "zcat_week"]
    spread = {label: " / ".join(f"{r['seconds']:.2f}" for r in runs[label]) for label in labels}
    rows = [
        ("(a) investigation, DuckDB", a, best["duckdb"]["max_rss_mb"], f"a/b = **{a / b:.2f}x** (aim <= {AIM_ZCAT:g}x)"),
        ("(b) one `zcat` pass", b, best["zcat"]["max_rss_mb"], "1.00x (the floor)"),
        ("(c) plain-Python scan (six answers)", c, best["plain"]["max_rss_mb"], f"c/a = **{c / a:.1f}x** (aim >= {AIM_PLAIN:g}x)"),
        (f"(a') investigation, {args.window_days}-day window", aw, best["duckdb_week"]["max_rss_mb"], f"a'/b' = {aw / bw:.2f}x"),
        (f"(b') `zcat` of the {args.window_days}-day window's files", bw, best["zcat_week"]["max_rss_mb"], "1.00x"),
    ]  # fmt: skip
    verdict = (
        f"within {AIM_ZCAT:g}x of zcat: **{'met' if a / b <= AIM_ZCAT else 'NOT met'}**; "
        f"at least {AIM_PLAIN:g}x faster than the plain scan: **{'met' if c / a >= AIM_PLAIN else 'NOT met'}**"
    )
    now = datetime.now(UTC)
    cmd = "make bench" if args.events == 1_000_000 else f"python -m bench --events {args.events}"
    lines = [
        "# Benchmark: the whole investigation against the decompression floor",
        "",
        f"Regenerate: `{cmd}` (`.venv/bin/python -m bench`; `--events 100000` for a quick run).",
        f"Measured {now:%Y-%m-%d %H:%M} UTC; best of {args.repeat} runs each, the kinds taking turns, "
        "each in its own process.",
        "",
        f"**Data**: {data.events:,} synthetic CloudTrail events in {len(data.files)} gzip files "
        f"({data.compressed_bytes / 1e6:.0f} MB gzip, {raw / 1e6:.0f} MB JSON) over {args.days} days, in "
        "CloudTrail's layout (`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz`, "
        '`{"Records": [...]}`), from `bench/data.py` (seeded; the demo\'s records re-stamped over '
        "400 IAM users, and the demo's attack with the exposed key on the last day).",
        "",
        "**Work**: (a) the investigation as `responder investigate` runs it over the whole "
        f"{args.days} days: coverage, then `responder.plan.next_batch` until done, "
        f"{best['duckdb'].get('queries', '?')} queries (the six for the exposed key, the pivot set for "
        "the session it minted and the key its backdoor user got) with `DuckDBEngine.run_many`; "
        "(b) `zcat` of the same files to /dev/null; (c) gzip + `json.load` of each file in plain "
        "Python, answering the exposed key's six queries (no pivots). The engine's answers and the plain "
        f"scan's agree: **{'yes' if agree else 'NO'}**.",
        "",
        "| measurement | seconds (best) | every run (s) | peak RSS (MB) | ratio of the best |",
        "|---|---:|---|---:|---|",
        *[
            f"| {name} | {sec:.2f} | {spread[label]} | {rss:.0f} | {ratio} |"
            for (name, sec, rss, ratio), label in zip(rows, labels, strict=True)
        ],
        "",
        f"**Aims** (whole range, best runs): {verdict}. Small runs (`--events 100000`) are dominated by "
        "fixed costs (process start-up, reading the file list), not by the scan; rendering the saved "
        "queries with sqlglot costs about 0.06 CPU-s, once per process.",
        "",
        "**How the engine reads** (`responder/query/duckdb_engine.py`): one `read_json` pass over the "
        "window's files fills two tables: `base`, five columns of every event (all that coverage and "
        "same_ip_credentials read), and `wide`, every column of the events of the keys asked about (the "
        "other queries filter on their key; `classify` proves it from each query's SQL). A pivot key "
        "(a credential the exposed key minted) is added by reading again only the files that hold its "
        "events (a day or two here), not the whole window.",
        "",
        *(
            []
            if c / a >= AIM_PLAIN
            else [
                "**Why 5x is not met** (CPU-seconds at 1M events, one process each, on this shared machine): "
                "DuckDB's decompression plus JSON parse alone (`read_json_objects`, nothing converted) costs "
                "about 3.5; converting every record to a struct of five fields about 5.5; of every "
                "row-contract field about 7.4; the single-table load this replaced about 8-9, the two-table "
                "load about 7.2. The conversion is per field per record inside DuckDB's JSON reader (it cannot "
                "convert some records' fields and skip others'), so the exposed key's full rows cost a pass "
                "converting every record's fields; a second, narrower pass costs another decompression and "
                "parse (3.5+). The plain scan is about 5x a zcat pass and takes one core; the engine needs "
                "two cores busy for about one zcat pass to reach 5x, which the shared machine does not give. "
                "Left to try: a per-record text prefilter before conversion (DuckDB has no way to split a "
                "Records file into record texts without parsing it), or a different JSON reader.",
                "",
            ]
        ),
        f"**Files opened**: a {args.window_days}-day window over the {args.days} days opens "
        f"**{len(week_files)} of {len(data.files)}** files (its days plus one day of margin each side "
        "for late delivery); the whole-range investigation opens all of them.",
        "",
        f"**Machine**: {os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, duckdb {duckdb.__version__}, sqlglot {sqlglot.__version__}; "
        f"zcat is single-threaded, DuckDB uses every core. Load average before/after: "
        f"{load_before[0]:.1f}/{load_after[0]:.1f} (a shared machine makes every figure noisier; the "
        "ratios are taken side by side for that reason).",
        "",
        "Peak RSS is each process's own (`ru_maxrss`; zcat's is the child's), Python and its imports "
        "included.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if str(args.out) != "-":
        args.out.write_text(text)
    if not args.skip_imports:
        imports.main(["--out", "-"] if str(args.out) == "-" else [])
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
