#!/usr/bin/env python3
"""`newsarchive serve` under load: 8 concurrent clients on a mix of explore, article and archive pages.

    python bench/bench_serve.py --size 20000                  # a few minutes on 2 cores (archive built once)
    python bench/bench_serve.py --size 1000000 --requests 50  # the issue's target (a quiet machine)
    python bench/bench_serve.py --archive /path/to/archive    # an archive you already have

gen_articles.py writes --size records (seed 1) that `append` puts in a fresh archive (kept in
--workdir to rerun); a real `newsarchive serve` subprocess serves it on a free port. After one warm-up
request per page (the first builds the search index), --clients threads each send --requests
requests, cycling through explore pages (one query, two queries, split by source), article pages
(ids sampled from the archive) and the archive page. Reported: latency p50/p95 per page kind and
overall (client side), the server's own time (its Server-Timing header), the p95 of the first request
of each address apart (serve keeps answers per version and parameters, so a repeated address is
cheaper), errors (any status but 200), the server's peak RSS (VmHWM) and its CPU seconds during the
run (steadier than latencies on a shared machine), once the server is idle after the warm-up (its
background work at start done). The attention time alone
at this size is bench_explore.py's.

`--cold`: instead of the clients, each explore address of the mix but the warmed one is requested once,
one at a time, and the server's CPU seconds for it (user + system of the whole process, from
/proc/PID/stat: steadier than wall time on a shared machine) are printed with its wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_explore import append_in_batches  # noqa: E402  (the same batches as bench_explore's archive)

GEN = ROOT.parent / "shared" / "tools" / "gen_articles.py"
NA = [sys.executable, "-m", "toolkit"]
# title: words are in ~15 % of the titles of gen_articles' French records (about 10 % of the archive)
EXPLORE = ["/?q=title:Bourse&by=week", "/?q=title:Bourse&q=title:Lions&by=month",
           "/?q=title:Bourse&by=month&split=source", '/?q="énergies renouvelables"&by=month&language=fr',
           "/?q=الاستثمار&by=month"]


def build(size: int, workdir: Path) -> Path:
    archive = workdir / f"archive-{size}"
    if (archive / "articles" / "_delta_log").is_dir():
        return archive
    batch = workdir / f"batch-{size}.jsonl"
    subprocess.run([sys.executable, str(GEN), str(size), str(batch), "--seed", "1"], check=True)
    append_in_batches(batch, archive)
    batch.unlink()
    return archive


def sample_ids(archive: Path, n: int) -> list[str]:
    from toolkit.sql import query

    table = query(f"SELECT id FROM articles USING SAMPLE {n} ROWS", archive=archive)
    return table.column("id").to_pylist()


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def _round(value: float | None) -> int | None:
    return None if value is None or value != value else round(value)


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        match = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    return int(match.group(1)) / 1024 if match else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, quiet: float = 0.5, longest: float = 60.0) -> None:
    """Wait until the server has used no CPU for `quiet` seconds: its work in the background at start
    (the article lookup, ~1.5 s of CPU at 1,000,000 articles) is then done and not counted in the run."""
    end = time.perf_counter() + longest
    last = cpu_seconds(pid)
    while time.perf_counter() < end:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            return
        last = now


def cold_addresses(url: str, pid: int) -> dict[str, dict[str, float]]:
    """Each explore address of the mix after the first (warmed), requested once, alone: wall ms and the
    server's CPU seconds."""
    import httpx

    out = {}
    with httpx.Client(base_url=url, timeout=600) as http:
        for path in EXPLORE[1:]:
            cpu, t0 = cpu_seconds(pid), time.perf_counter()
            status = http.get(quote(path, safe="/?=&:\"'")).status_code
            out[path] = {"status": status, "wall_ms": round((time.perf_counter() - t0) * 1000),
                         "cpu_s": round(cpu_seconds(pid) - cpu, 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000, help="records of the generated archive")
    parser.add_argument("--archive", type=Path, help="an existing archive instead of a generated one")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--cold", action="store_true",
                        help="measure the server's CPU seconds per new explore address, one at a time")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "newsarchive-bench-serve")
    args = parser.parse_args()
    import httpx

    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    archive = args.archive or build(args.size, args.workdir)
    print(f"archive {archive} ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    ids = sample_ids(archive, 200)
    server = subprocess.Popen([*NA, "serve", "--archive", str(archive), "--port", "0"], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "NEWSARCHIVE_SERVE_TOKEN": ""})
    try:
        first = server.stdout.readline()
        url = re.search(r"(http://\S+?)/? ", first).group(1)
        warm = {}
        for path in (EXPLORE[0], f"/article/{ids[0]}", "/archive"):
            t0 = time.perf_counter()
            status = httpx.get(url + path, timeout=3600).status_code
            warm[path] = (status, round(time.perf_counter() - t0, 2))
        settle(server.pid)
        if args.cold:
            cold = cold_addresses(url, server.pid)
            print(json.dumps(cold, indent=1, ensure_ascii=False))
            print(f"server CPU s per new explore address: {sum(c['cpu_s'] for c in cold.values()) / len(cold):.2f} "
                  f"(mean of {len(cold)}); reproduce: {shlex.join(['python', 'bench/bench_serve.py', *sys.argv[1:]])}")
            return
        mix = []
        turns = {"explore": 0, "article": 0, "archive": 0}
        for i in range(args.clients * args.requests):
            kind = ("explore", "explore", "article", "article", "archive")[i % 5]
            n = turns[kind]
            turns[kind] += 1
            path = EXPLORE[n % len(EXPLORE)] if kind == "explore" else \
                f"/article/{ids[n % len(ids)]}" if kind == "article" else "/archive"
            mix.append((kind, path))
        results: list[tuple[str, int, float, float, bool]] = []
        lock = threading.Lock()
        seen = set(warm)

        def client(worker: int) -> None:
            with httpx.Client(base_url=url, timeout=600) as http:
                for kind, path in mix[worker::args.clients]:
                    with lock:  # the first request of an address computes; later ones may reuse its answer
                        first = path not in seen
                        seen.add(path)
                    t0 = time.perf_counter()
                    try:
                        response = http.get(quote(path, safe="/?=&:\"'"))
                        status = response.status_code
                        timing = response.headers.get("server-timing", "dur=nan").split("dur=")[1]
                    except httpx.HTTPError:
                        status, timing = 0, "nan"
                    with lock:
                        results.append((kind, status, (time.perf_counter() - t0) * 1000, float(timing), first))

        threads = [threading.Thread(target=client, args=(w,)) for w in range(args.clients)]
        cpu0 = cpu_seconds(server.pid)
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(server.pid) - cpu0
        rss = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    report = {"archive": str(archive), "clients": args.clients, "requests": len(results),
              "seconds": round(wall, 1), "requests_per_s": round(len(results) / wall, 1),
              "errors": sum(1 for r in results if r[1] != 200), "server_peak_rss_mb": round(rss),
              "server_cpu_s": round(cpu, 2),
              "warm_up": warm}
    for kind in ("explore", "article", "archive", "all"):
        rows = [r for r in results if kind == "all" or r[0] == kind]
        report[kind] = {"n": len(rows), "p50_ms": _round(percentile([r[2] for r in rows], .5)),
                        "p95_ms": _round(percentile([r[2] for r in rows], .95)),
                        "server_p95_ms": _round(percentile([r[3] for r in rows], .95)),
                        "first_of_address": sum(r[4] for r in rows),
                        "first_p95_ms": _round(percentile([r[2] for r in rows if r[4]], .95))}
    print(json.dumps(report, indent=1, ensure_ascii=False))
    command = ["python", "bench/bench_serve.py", *sys.argv[1:]]
    print(f"p95 {report['all']['p95_ms']} ms (target < 500), errors {report['errors']} (target 0), server peak "
          f"RSS {report['server_peak_rss_mb']} MB (target < 1536); reproduce: {shlex.join(command)}")


if __name__ == "__main__":
    main()
