#!/usr/bin/env python3
"""Search at scale: the tantivy segment index against the former DuckDB fts index, same archive, one run.

    python bench/bench_search.py --sizes 50000,100000           # what the issue's table measures
    python bench/bench_search.py --sizes 1000000 --big-mb 20,100  # the targets (minutes, a quiet machine)
    python bench/bench_search.py --sizes 20000 --parts big --big-mb 5,20,100 --baseline-big-mb 5

For each size N, gen_articles.py writes N records (seed 1) that `append` puts in a fresh archive, then:
- build: the first index (seconds, peak RSS of the process, bytes of the index);
- update: N/50 more records appended (2 %, the issue's +20,000 at 1 M), then the index brought up to
  date (seconds, bytes written by the process (/proc/self/io wchar), index bytes);
- query: queries in a running process (p50, p95 over a word list, after one warm-up), and the
  `newsarchive search` command end to end (tantivy only: the fts command is gone).
- big (once, not per size): 10,000 records, then one article of each --big-mb size appended alone; the
  time to bring the index up to date, and its ratio to the size (linear means a flat ms/MB).
The baseline is toolkit/sql/fulltext.py as it was (bench/_fts_baseline.py), which needs the
duckdb-extension-fts wheel (`pip install -e '.[bench]'`); without it only tantivy runs. Every measured
step is its own process. The machine is shared and noisy: compare the ratios, not the numbers.
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
GEN = ROOT.parent / "shared" / "tools" / "gen_articles.py"
NA = [sys.executable, "-m", "toolkit"]
QUERIES = ["Maroc", "Bourita Blinken", "ministre gouvernement", "énergies renouvelables", "Casablanca Bourse",
           "المغرب", "الاستثمار الرباط", "Lions de l'Atlas", "dirhams milliards", "coopération africaine",
           "partenariat stratégique bilatéral", "réformes politiques", "région", "الحكومة", "hausse demande"]

# Each step runs in a fresh interpreter (imports excluded from the timing) and prints one JSON object.
STEP = """
import json, resource, sys, time
engine, step, archive, index = sys.argv[1:5]
if engine == "fts":
    sys.path.insert(0, {bench!r})
    import _fts_baseline as impl
else:
    import toolkit.search as impl
kwargs = {{"index": index}} if engine == "fts" else {{}}
def io():
    with open("/proc/self/io") as f:
        return dict(line.split(": ") for line in f.read().splitlines())
written = int(io()["wchar"])
out = {{}}
if step in ("build", "update"):
    start = time.perf_counter()
    update = impl.update_index(archive, **kwargs)
    out["seconds"] = time.perf_counter() - start
    out["added"] = update.added
else:
    words = json.loads(sys.argv[5])
    impl.search(words[0], archive, **kwargs)  # warm-up (and checks the index is current)
    times = []
    for _ in range(3):
        for w in words:
            start = time.perf_counter()
            impl.search(w, archive, limit=10, **kwargs)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    out["p50_ms"] = times[len(times) // 2]
    out["p95_ms"] = times[int(len(times) * 0.95)]
out["written_mb"] = (int(io()["wchar"]) - written) / 1e6
usage = resource.getrusage(resource.RUSAGE_SELF)
out["maxrss_mb"] = usage.ru_maxrss / 1024
out["cpu_s"] = usage.ru_utime + usage.ru_stime  # all threads: a load-independent view of the work
print(json.dumps(out))
"""


def run_step(engine: str, step: str, archive: Path, index: Path, *extra: str) -> dict:
    code = STEP.format(bench=str(ROOT / "bench"))
    proc = subprocess.run([sys.executable, "-c", code, engine, step, str(archive), str(index), *extra],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{engine} {step} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def size_of(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def generate(count: int, out: Path, seed: int, start: int = 0) -> Path:
    subprocess.run([sys.executable, str(GEN), str(count), str(out), "--seed", str(seed), "--start", str(start)],
                   check=True)
    return out


def append(batch: Path, archive: Path) -> None:
    subprocess.run([*NA, "append", str(batch), "--archive", str(archive), "--quiet"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def has_baseline() -> bool:
    import importlib.util

    return importlib.util.find_spec("duckdb_extension_fts") is not None


def bench_size(n: int, work: Path, engines: list[str], parts: set[str]) -> list[str]:
    archive = work / f"archive-{n}"
    shutil.rmtree(archive, ignore_errors=True)
    append(generate(n, work / f"batch-{n}.jsonl", seed=1), archive)
    index = {"fts": work / f"fts-{n}.duckdb", "tantivy": archive / "search-index"}
    result: dict[str, dict] = {e: {} for e in engines}
    for e in engines:
        result[e]["build"] = run_step(e, "build", archive, index[e])
        result[e]["build"]["size_mb"] = size_of(index[e])
    if "update" in parts:
        extra = max(1, n // 50)
        append(generate(extra, work / f"more-{n}.jsonl", seed=2, start=n), archive)
        for e in engines:
            result[e]["update"] = run_step(e, "update", archive, index[e])
            result[e]["update"]["size_mb"] = size_of(index[e])
    if "query" in parts:
        for e in engines:
            result[e]["query"] = run_step(e, "query", archive, index[e], json.dumps(QUERIES, ensure_ascii=False))
        start = time.perf_counter()
        subprocess.run([*NA, "search", "--archive", str(archive), "Maroc", "--limit", "10"], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        result["tantivy"]["cli_s"] = time.perf_counter() - start
    lines = [f"== {n:,} articles" + (f" (+{max(1, n // 50):,})" if "update" in parts else "")]
    rows = [("first index, s", "build", "seconds"), ("  CPU (user+sys), s", "build", "cpu_s"),
            ("  peak RSS, MB", "build", "maxrss_mb"),
            ("  index size, MB", "build", "size_mb")]
    if "update" in parts:
        rows += [("update, s", "update", "seconds"), ("  CPU (user+sys), s", "update", "cpu_s"),
                 ("  written, MB", "update", "written_mb"),
                 ("  index size after, MB", "update", "size_mb")]
    if "query" in parts:
        rows += [("query p50, ms", "query", "p50_ms"), ("query p95, ms", "query", "p95_ms"),
                 ("  query process RSS, MB", "query", "maxrss_mb")]
    lines.append(f"{'':28}{'fts (before)':>14}{'tantivy':>12}{'ratio':>10}")
    for label, step, key in rows:
        values = [result[e].get(step, {}).get(key) for e in ("fts", "tantivy") if e in result]
        cells = [f"{v:14.2f}" if v is not None else f"{'-':>14}" for v in values]
        if len(values) == 1:
            cells = [f"{'-':>14}", f"{values[0]:12.2f}"]
        ratio = f"{values[0] / values[1]:9.1f}x" if len(values) == 2 and values[1] else ""
        lines.append(f"{label:28}{cells[0]}{cells[1][-12:] if len(cells) > 1 else ''}{ratio:>10}")
    if "update" in parts:
        t = result["tantivy"]["update"]
        lines.append(f"  tantivy update wrote {100 * t['written_mb'] / result['tantivy']['build']['size_mb']:.1f} % "
                     "of the index's bytes")
    if "query" in parts:
        lines.append(f"  newsarchive search (CLI, end to end): {result['tantivy']['cli_s']:.2f} s")
    return lines


def bench_big(sizes_mb: list[int], baseline_max: int, work: Path, engines: list[str]) -> list[str]:
    lines = ["== one big article added to a 10,000-article index (linear: flat ms per MB)",
             f"{'MB':>6}{'fts, s':>12}{'tantivy, s':>12}{'tantivy ms/MB':>15}"]
    base = generate(10_000, work / "big-base.jsonl", seed=3)
    for mb in sizes_mb:
        archive = work / f"archive-big-{mb}"
        shutil.rmtree(archive, ignore_errors=True)
        append(base, archive)
        index = {"fts": work / f"fts-big-{mb}.duckdb", "tantivy": archive / "search-index"}
        for e in engines:
            run_step(e, "build", archive, index[e])
        words = ["Maroc", "Rabat", "économie", "partenariat", "région", "المغرب"]
        text = " ".join(words[i % len(words)] + str(i % 997) for i in range(mb * 1_000_000 // 12))
        record = {"id": f"{0xb16000 + mb:032x}", "source": "Big", "title": f"Un article de {mb} Mo",
                  "text": text, "published_date": "2021-06-28", "language": "fr"}
        batch = work / f"big-{mb}.jsonl"
        batch.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
        append(batch, archive)
        seconds = {}
        for e in engines:
            if e == "fts" and mb > baseline_max:
                continue
            seconds[e] = run_step(e, "update", archive, index[e])["seconds"]
        fts = f"{seconds['fts']:12.2f}" if "fts" in seconds else f"{'skipped':>12}"
        lines.append(f"{mb:6}{fts}{seconds['tantivy']:12.2f}{1000 * seconds['tantivy'] / mb:15.0f}")
        shutil.rmtree(archive, ignore_errors=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50000,100000", help="archive sizes in articles, comma-separated")
    ap.add_argument("--parts", default="build,update,query,big",
                    help="comma-separated: build (always, per size), update, query, big")
    ap.add_argument("--big-mb", default="5,20,100", help="sizes of the single big article, in MB")
    ap.add_argument("--baseline-big-mb", type=int, default=20,
                    help="largest big article the fts baseline indexes (it is quadratic: 100 MB > 300 s)")
    ap.add_argument("--no-baseline", action="store_true", help="tantivy only")
    ap.add_argument("--workdir", default=None, help="where archives go (default: a temporary folder, removed)")
    a = ap.parse_args()
    if not GEN.is_file():
        raise SystemExit(f"{GEN}: gen_articles.py not found (it lives in ../shared/tools)")
    engines = ["tantivy"] if a.no_baseline or not has_baseline() else ["fts", "tantivy"]
    if "fts" not in engines and not a.no_baseline:
        print("duckdb-extension-fts is not installed: tantivy only (pip install -e '.[bench]' for the baseline)")
    parts = set(a.parts.split(","))
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="bench-search-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}, work: {work}")
    try:
        for n in [int(s) for s in a.sizes.split(",") if s]:
            print("\n".join(bench_size(n, work, engines, parts)), flush=True)
        if "big" in parts:
            print("\n".join(bench_big([int(s) for s in a.big_mb.split(",") if s], a.baseline_big_mb, work, engines)))
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
