#!/usr/bin/env python3
"""Attention over time at scale: server-side time of toolkit.explore on a gen_articles archive.

    python bench/bench_explore.py --size 100000                 # a few minutes on 2 shared cores
    python bench/bench_explore.py --size 1000000 --keep /tmp/a1m  # the issue's target (a quiet machine)
    python bench/bench_explore.py --archive /tmp/a1m/archive      # again, on a kept archive

The archive is N generated records (seed 1) appended for real, then its search index built (timed
apart). The measured process then calls the API the page calls, as a server would: `attention` for a
query matching about 10 % of the archive ('"Lions Atlas"', a phrase), by day, by week and by month,
without and with `split="source"`, plus `summary`, `outlets`, `sample_articles`, `top_terms`,
`archive_overview` and `article_detail`. For each, the first call (denominators
not yet cached) and the p50 / p95 of 10 later calls with the same scope, in milliseconds. Issue 19's
targets: attention < 300 ms, split by source < 500 ms, at 1,000,000 articles on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT.parent / "shared" / "tools" / "gen_articles.py"
QUERY = '"Lions Atlas"'  # a phrase of two words that every generated article holds: positions are read
REPEAT = 10


APPEND_CHUNK = 250_000  # records per appended batch: one batch of 1,000,000 gen_articles records (~3 GB of
# text) fails in append's near-duplicate signatures (a string array over 2 GB), so the size is cut in batches


def append_in_batches(batch: Path, archive: Path, cwd: Path | None = None) -> None:
    """`newsarchive append` of the batch's lines, APPEND_CHUNK at a time (same records, in order)."""
    part = batch.with_name(batch.name + ".part")
    with open(batch, encoding="utf-8") as lines:
        while True:
            with open(part, "w", encoding="utf-8") as out:
                n = 0
                for line in lines:
                    out.write(line)
                    n += 1
                    if n == APPEND_CHUNK:
                        break
            if n:
                subprocess.run([sys.executable, "-m", "toolkit", "append", str(part), "--archive", str(archive),
                                "--quiet"], check=True, cwd=cwd, stdout=subprocess.DEVNULL)
            if n < APPEND_CHUNK:
                break
    part.unlink()


def build(size: int, work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    batch = work / "batch.jsonl"
    archive = work / "archive"
    start = time.perf_counter()
    subprocess.run([sys.executable, str(GEN), str(size), str(batch), "--seed", "1"], check=True)
    append_in_batches(batch, archive, cwd=ROOT)
    batch.unlink()
    print(f"archive of {size:,} articles appended in {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    from toolkit.search import update_index

    update_index(archive)
    print(f"search index built in {time.perf_counter() - start:.0f} s", flush=True)
    return archive


def forget() -> None:
    """Drop the answers explore keeps per scope and query (matches, samples, top terms), so that later
    calls measure the work of a new query in a known scope (the denominators stay kept, as in serve)."""
    from toolkit.explore import articles, counts

    counts._MATCHES.clear()
    articles._ANSWERS.clear()


def timed(call) -> tuple[float, list[float], float]:
    """The first call's wall ms, the later calls' wall ms (sorted), and their median CPU ms: on a shared
    machine CPU time is what a quiet one would take as wall time (the work is one thread)."""
    start = time.perf_counter()
    call()
    first = (time.perf_counter() - start) * 1000
    later, cpu = [], []
    for _ in range(REPEAT):
        forget()
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        later.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return first, sorted(later), sorted(cpu)[len(cpu) // 2]


def measure(archive: Path) -> list[dict]:
    from toolkit.explore import (
        Scope,
        archive_overview,
        article_detail,
        attention,
        outlets,
        sample_articles,
        summary,
        top_terms,
    )

    scope = Scope(archive).resolved()  # a page pins the version once
    share = summary(scope, [QUERY]).to_pylist()[0]
    some_id = sample_articles(scope, "Casablanca", limit=1)[0]["id"]
    print(f"{QUERY} matches {share['matches']:,} of {share['articles']:,} articles ({share['share']:.1%})")
    cases = [(f"attention by {by}{' split by source' if split else ''}",
              lambda by=by, split=split: attention(scope, [QUERY], by=by, split=split))
             for split in (None, "source") for by in ("day", "week", "month")]
    cases += [("summary", lambda: summary(scope, [QUERY])), ("outlets", lambda: outlets(scope, [QUERY])),
              ("sample_articles (20)", lambda: sample_articles(scope, QUERY)),
              ("top_terms (sample of 1,000)", lambda: top_terms(scope, QUERY)),
              ("archive_overview", lambda: archive_overview(scope.archive, scope.as_of)),
              ("article_detail", lambda: article_detail(scope.archive, some_id, scope.as_of))]
    rows = []
    for name, call in cases:
        first, later, cpu = timed(call)
        rows.append({"what": name, "first_ms": round(first, 1), "p50_ms": round(later[len(later) // 2], 1),
                     "p95_ms": round(later[min(len(later) - 1, int(len(later) * 0.95))], 1),
                     "cpu_p50_ms": round(cpu, 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000, help="articles to generate (default 100,000)")
    parser.add_argument("--archive", type=Path, default=None, help="an archive already built (skips the build)")
    parser.add_argument("--keep", type=Path, default=None, help="build in this folder and keep it")
    args = parser.parse_args()
    work = None
    if args.archive is not None:
        archive = args.archive
    else:
        work = args.keep or Path(tempfile.mkdtemp(prefix="bench-explore-"))
        work.mkdir(parents=True, exist_ok=True)
        archive = build(args.size, work)
    try:
        rows = measure(archive)
        print(f"{'what':<36}{'first ms':>10}{'p50 ms':>10}{'p95 ms':>10}{'CPU p50':>10}")
        for row in rows:
            print(f"{row['what']:<36}{row['first_ms']:>10}{row['p50_ms']:>10}{row['p95_ms']:>10}"
                  f"{row['cpu_p50_ms']:>10}")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        print("command: python " + " ".join([sys.argv[0], *sys.argv[1:]]))
        print(json.dumps(rows))
    finally:
        if work is not None and args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
