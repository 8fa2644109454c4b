#!/usr/bin/env python3
"""The Ray backend's overhead on one machine: records/s with --executor ray against local, same input.

    python bench/bench_executor.py                     # 10,000 records, 400 HTML pages, 2 runs each
    python bench/bench_executor.py --records 50000 --pages 2000 --repeat 3 --jobs 4

Runs are interleaved (local, ray, local, ray...) so a noisy neighbour hits both sides alike; the
best run of each side is compared. Ray is started once, before the timings, with `--jobs` CPUs (its
start-up, printed apart, is what a command line pays on top when RAY_ADDRESS is unset). On one
machine Ray can only add cost: object-store copies of each task's item and result, a scheduler round
trip per task, and for append a second pass over the rows (staged Parquet in the archive's storage,
read back by the writing tasks, see toolkit/archive/staging_tasks.py). What it buys is more machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
GENERATOR = ROOT.parent / "shared" / "tools" / "gen_articles.py"


def usable(batch: Path, most: int = 200) -> list[dict]:
    """Valid-looking records of the batch, to dress as HTML pages."""
    fields = ("title", "text", "source", "language", "published_date")
    found = []
    for line in batch.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and all(isinstance(record.get(f), str) for f in fields):
            found.append(record)
        if len(found) == most:
            break
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000, help="records in the validate and append batch")
    parser.add_argument("--pages", type=int, default=400, help="HTML pages to extract")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side")
    parser.add_argument("--jobs", type=int, default=2, help="workers (local) and CPUs (Ray)")
    args = parser.parse_args()

    import ray
    from bench_extract import make_html

    from toolkit.archive import append
    from toolkit.extract import extract
    from toolkit.validate import validate

    work = Path(tempfile.mkdtemp(prefix="bench-executor-"))
    try:
        batch = work / "batch.jsonl"
        subprocess.run([sys.executable, str(GENERATOR), str(args.records), str(batch), "--invalid-rate", "0.02"],
                       check=True, stdout=subprocess.DEVNULL)
        pages = work / "pages"
        pages.mkdir()
        make_html(pages, args.pages, usable(batch))

        start = time.perf_counter()
        ray.init(num_cpus=args.jobs, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        print(f"Ray start-up (local, {args.jobs} CPUs): {time.perf_counter() - start:.1f} s")
        print(f"{args.records:,} records ({batch.stat().st_size / 1e6:.0f} MB), {args.pages} HTML pages, "
              f"--jobs {args.jobs}, best of {args.repeat} interleaved runs\n")
        counter = iter(range(1_000_000))

        def run_append(backend: str) -> None:
            root = work / f"archive-{next(counter)}"
            append([batch], archive=root, jobs=args.jobs, backend=backend)
            shutil.rmtree(root)

        stages = {
            "validate": (args.records, lambda b: validate([batch], jobs=args.jobs, backend=b)),
            "extract": (args.pages, lambda b: extract([pages], work / "out.jsonl", jobs=args.jobs, backend=b)),
            "append": (args.records, run_append),
        }
        for name, (count, fn) in stages.items():
            best = {"local": float("inf"), "ray": float("inf")}
            for _ in range(args.repeat):
                for backend in ("local", "ray"):
                    start = time.perf_counter()
                    fn(backend)
                    best[backend] = min(best[backend], time.perf_counter() - start)
            local, remote = count / best["local"], count / best["ray"]
            unit = "pages" if name == "extract" else "records"
            print(f"  {name:<9} local {local:>9,.0f} {unit}/s   ray {remote:>9,.0f} {unit}/s   "
                  f"ray/local {remote / local:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.environ.pop("RAY_ADDRESS", None)


if __name__ == "__main__":
    main()
