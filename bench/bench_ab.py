#!/usr/bin/env python3
"""The same commands on two versions of the code, interleaved, with the ratio of their times.

    python bench/bench_ab.py --base a020aec            # this tree against the pools before the executor
    python bench/bench_ab.py --base HEAD~1 --records 100000 --rounds 5

Why interleaved: this machine is shared and noisy; running A, B, A, B... and comparing the medians
(and the best) of each side keeps a slow minute from landing on one side only. The base version is
exported with `git archive` into a temporary folder and run with PYTHONPATH pointing at it, with
the same interpreter and packages as this tree. Commands: `validate` and `append` of a gen_articles
batch (append once with near-duplicate indexing and once without, through the bench switch, so the
executor and staging are compared alone), and `extract` of the bundled sample pages copied
--copies times. Ratios are this tree / base: below 1 is faster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT.parent / "shared" / "tools" / "gen_articles.py"
PAGES = ROOT / "datasets" / "maghress-sample" / "pages"
NO_INDEX = "NEWSARCHIVE_BENCH_NO_NEAR_DUPLICATES"


def export(commit: str, into: Path) -> Path:
    """The base commit's files (its toolkit package and schema) in a folder of their own."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def timed(tree: Path | None, args: list[str], cwd: Path, env: dict[str, str]) -> float:
    run_env = dict(os.environ, **env)
    if tree is not None:
        run_env["PYTHONPATH"] = str(tree)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "toolkit", *args], cwd=tree or ROOT, env=run_env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{'base' if tree else 'this tree'}: newsarchive {' '.join(args)} -> {done.returncode}: "
                         f"{done.stderr.strip()[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the commit to compare with (e.g. a020aec, HEAD~1)")
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--copies", type=int, default=10, help="copies of the 42 sample pages for extract")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "base").mkdir()
        base = export(args.base, work / "base")
        batch = work / "batch.jsonl"
        subprocess.run([sys.executable, str(GEN), str(args.records), str(batch), "--seed", "1"], check=True,
                       capture_output=True)
        pages = work / "pages"
        for k in range(args.copies):
            shutil.copytree(PAGES, pages / f"copy{k}")
        jobs = ["--jobs", str(args.jobs)]
        cases = {
            "validate": (lambda out: ["validate", str(batch), "--quiet", *jobs], {}),
            "append (no near-duplicates)": (lambda out: ["append", str(batch), "--archive", str(out), "--quiet",
                                                         *jobs], {NO_INDEX: "1"}),
            "append": (lambda out: ["append", str(batch), "--archive", str(out), "--quiet", *jobs], {}),
            "extract": (lambda out: ["extract", str(pages), "--output", str(out) + ".jsonl", "--quiet", *jobs], {}),
        }
        times: dict[str, dict[str, list[float]]] = {name: {"base": [], "this": []} for name in cases}
        for round_ in range(args.rounds):
            for name, (command, env) in cases.items():
                for side, tree in (("base", base), ("this", None)) if round_ % 2 == 0 else \
                        (("this", None), ("base", base)):
                    out = work / f"out-{side}-{name.split()[0]}-{round_}"
                    times[name][side].append(timed(tree, command(out), work, env))
                    shutil.rmtree(out, ignore_errors=True)
        print(f"{args.records:,} records, {args.copies * 42:,} pages, --jobs {args.jobs}, {args.rounds} interleaved "
              f"rounds; this tree against {args.base} (ratio < 1: faster)")
        for name, sides in times.items():
            b, t = statistics.median(sides["base"]), statistics.median(sides["this"])
            best = min(sides["this"]) / min(sides["base"])
            print(f"  {name:28s} base {b:6.2f} s  this {t:6.2f} s  ratio {t / b:5.2f} (best {best:4.2f})")
        print(f"  command: python bench/bench_ab.py --base {args.base} --records {args.records} --rounds {args.rounds}")


if __name__ == "__main__":
    main()
