#!/usr/bin/env python3
"""Near-duplicate detection: library choice, parameters from a labelled set, cost and scale.

    python bench/bench_near_duplicates.py --only libraries   # rensa vs datasketch: speed, agreement
    python bench/bench_near_duplicates.py --only labelled    # precision/recall per exact-Jaccard band
    python bench/bench_near_duplicates.py --only cost --records 20000   # append with/without, A/B
    python bench/bench_near_duplicates.py --only cost --records 20000 --repeat 5 --base 389cd87
    python bench/bench_near_duplicates.py --only scale --archived 100000 --records 10000

- libraries: signatures of the real articles (the bundled maghress sample, extracted, and the shared
  marsum sample) and of a gen_articles.py batch with rensa's RMinHash and datasketch's MinHash (same
  shingles, 128 permutations), on one core: signatures per second, and the mean absolute error of
  each estimate against the exact Jaccard over every labelled pair.
- labelled: labelled pairs built from the real articles with known edits (new headline and last
  paragraph cut; a paragraph added; agency byline and "read also" boilerplate; paragraphs reordered;
  combinations) and negatives (every other pair of distinct real articles: same outlets, same
  weeks, often the same topic). Prints the exact Jaccard of the shingle sets per label, and precision
  and recall of the archive's rule (LSH candidate, then estimated Jaccard >= threshold) per band of
  exact Jaccard, for the chosen parameters and a few alternatives.
- cost: one run appends the same gen_articles.py batch to a fresh archive with near-duplicate
  detection and without it (NEWSARCHIVE_BENCH_NO_NEAR_DUPLICATES=1 in that process only), runs
  alternating, --repeat each: prints wall and CPU seconds (medians and best) and their ratios, and
  the CPU added in the parent and in the workers. `--base COMMIT` runs that version too, interleaved.
- scale: an archive of --archived gen_articles.py records (appended in batches of --records), then
  one more batch of --records: the band join's time and the process's peak RSS. The lead runs
  --archived 500000 and 1000000 on a quiet machine; memory must not grow with the archive.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT.parent / "shared" / "tools" / "gen_articles.py"
MARSUM = ROOT.parent / "shared" / "data" / "marsum-goud-sample.jsonl"
PAGES = ROOT / "datasets" / "maghress-sample" / "pages"
sys.path.insert(0, str(ROOT))

from toolkit.archive.near_duplicates import (  # noqa: E402
    PARAMETERS,
    PUNCTUATION,
    Parameters,
    band_hashes,
    estimated_jaccard,
    shingle_hashes,
    signatures,
)


def shingles(text: str, size: int = PARAMETERS.shingle) -> list[str]:
    """The archive's shingles as strings (same tokenization as shingle_hashes), for the libraries."""
    words = [w.strip(PUNCTUATION) for w in text.lower().split()]
    words = [w for w in words if w]
    if len(words) <= size:
        return [" ".join(words)] if words else []
    return [" ".join(words[i:i + size]) for i in range(len(words) - size + 1)]


def shingle_sets(texts: list[str], size: int) -> list[set]:
    """The archive's hashed shingle sets of each text (exact Jaccard is computed on these)."""
    hashes, offsets = shingle_hashes(texts, [str(i) for i in range(len(texts))], Parameters(shingle=size))
    offsets = offsets.astype(np.int64)
    return [set(hashes[offsets[i]:offsets[i + 1]].tolist()) for i in range(len(texts))]

BYLINES = ["(MAP) - ", "Rabat - (MAP) ", "(AFP) - ", "(Reuters) - ", "Casablanca, (MAP) - "]
READ_ALSO = ["Lire aussi : {}", "اقرأ أيضا: {}", "Read also: {}"]


def real_articles() -> list[dict]:
    """The bundled maghress pages (extracted) and the shared marsum sample."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "sample.jsonl"
        subprocess.run([sys.executable, "-m", "toolkit", "extract", str(PAGES), "--output", str(target),
                        "--rejects", str(Path(tmp) / "rejects.jsonl"), "--quiet"], check=True, cwd=ROOT)
        out += [json.loads(line) for line in target.open(encoding="utf-8")]
    if MARSUM.exists():
        out += [json.loads(line) for line in MARSUM.open(encoding="utf-8")]
    return [a for a in out if len(a.get("text", "").split()) >= 40]


def units(text: str) -> list[str]:
    """Paragraphs, or sentences when the article is one paragraph (the marsum sample)."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    if len(paragraphs) >= 3:
        return paragraphs
    sentences = [s.strip() + "." for s in text.replace("\n", " ").split(". ") if s.strip()]
    return sentences if len(sentences) >= 3 else paragraphs


def edits(article: dict, other: dict, rng: random.Random) -> dict[str, str]:
    """The article's text under each known edit (`other` lends a paragraph or a title)."""
    parts = units(article["text"])
    extra = units(other["text"])[0]
    cut = parts[:-1] if len(parts) > 3 else parts[:-1] or parts
    bylined = [rng.choice(BYLINES) + parts[0], *parts[1:]]
    read_also = list(parts)
    read_also.insert(len(parts) // 2, rng.choice(READ_ALSO).format(other.get("title", "")))
    reordered = list(parts)
    rng.shuffle(reordered)
    return {
        "headline+last cut": "\n\n".join(cut),  # the title is not part of the shingled text
        "paragraph added": "\n\n".join([*parts, extra]),
        "byline+read also": "\n\n".join([bylined[0], *read_also[1:]]),
        "reordered": "\n\n".join(reordered),
        "cut+byline+added": "\n\n".join([rng.choice(BYLINES) + cut[0], *cut[1:], extra]),
        "half cut": "\n\n".join(parts[: max(1, len(parts) // 2)]),
    }


def exact_jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def labelled_pairs(articles: list[dict], seed: int = 7) -> list[tuple[str, str, str, bool]]:
    """(label, text a, text b, is a near-duplicate) for every edit of every article, and every pair of
    distinct articles as negatives."""
    rng = random.Random(seed)
    pairs = []
    for i, article in enumerate(articles):
        other = articles[(i + 1) % len(articles)]
        for label, text in edits(article, other, rng).items():
            pairs.append((label, article["text"], text, True))
    for a, b in itertools.combinations(articles, 2):
        pairs.append(("different article" + (" (same outlet)" if a["source"] == b["source"] else ""),
                      a["text"], b["text"], False))
    return pairs


def decide(pairs: list[tuple[str, str, str, bool]], params: Parameters) -> tuple[np.ndarray, np.ndarray]:
    """The archive's rule on each pair (LSH candidate and estimated Jaccard >= threshold), and the exact
    Jaccard of its shingle sets."""
    a = signatures([p[1] for p in pairs], [f"a{i}" for i in range(len(pairs))], params)
    b = signatures([p[2] for p in pairs], [f"b{i}" for i in range(len(pairs))], params)
    candidate = (band_hashes(a, params) == band_hashes(b, params)).any(axis=1)
    found = candidate & (estimated_jaccard(a, b) >= params.threshold)
    sa = shingle_sets([p[1] for p in pairs], params.shingle)
    sb = shingle_sets([p[2] for p in pairs], params.shingle)
    exact = np.array([exact_jaccard(x, y) for x, y in zip(sa, sb, strict=True)])
    return found, exact


def labelled(args: argparse.Namespace) -> None:
    articles = real_articles()
    pairs = labelled_pairs(articles)
    truth = np.array([p[3] for p in pairs])
    labels = np.array([p[0] for p in pairs])
    print(f"labelled set: {len(articles)} real articles, {int(truth.sum())} near-duplicate pairs, "
          f"{int((~truth).sum())} different-article pairs")
    variants = [PARAMETERS, Parameters(bands=64, rows=2), Parameters(shingle=3), Parameters(threshold=0.2),
                Parameters(threshold=0.5), Parameters(bands=16, rows=8, threshold=0.5)]
    if args.brief:
        variants = variants[:1]
    for params in variants:
        found, exact = decide(pairs, params)
        print(f"\n{params}")
        print(f"  {'label':<32} {'pairs':>6} {'exact J min/median/max':>24} {'found':>7}")
        for label in dict.fromkeys(labels):
            m = labels == label
            e = exact[m]
            print(f"  {label:<32} {int(m.sum()):>6} {e.min():>8.2f}{np.median(e):>8.2f}{e.max():>8.2f} "
                  f"{found[m].mean():>7.1%}")
        print(f"  {'exact Jaccard band':<32} {'pos':>6} {'neg':>6} {'precision':>10} {'recall':>8}")
        edges = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01]
        for lo, hi in itertools.pairwise(edges):
            m = (exact >= lo) & (exact < hi)
            if not m.any():
                continue
            tp = int((found & truth & m).sum())
            fp = int((found & ~truth & m).sum())
            pos = int((truth & m).sum())
            precision = f"{tp / (tp + fp):.3f}" if tp + fp else "-"
            recall = f"{tp / pos:.3f}" if pos else "-"
            print(f"  [{lo:.1f}, {min(hi, 1.0):.1f}){'':<22} {pos:>6} {int((~truth & m).sum()):>6} "
                  f"{precision:>10} {recall:>8}")
        tp, fp = int((found & truth).sum()), int((found & ~truth).sum())
        print(f"  overall: precision {tp / max(1, tp + fp):.4f}, recall {tp / max(1, int(truth.sum())):.4f}")


def libraries(args: argparse.Namespace) -> None:
    import datasketch
    import rensa

    articles = real_articles()
    with tempfile.TemporaryDirectory() as tmp:
        gen = Path(tmp) / "gen.jsonl"
        subprocess.run([sys.executable, str(GEN), str(args.records), str(gen)], check=True)
        texts = [a["text"] for a in articles] + [json.loads(line)["text"] for line in gen.open(encoding="utf-8")]
    sets = [shingles(t) for t in texts]
    p = PARAMETERS
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    t = time.perf_counter()
    rensa.RMinHash.digests_from_token_sets(sets, p.permutations, p.seed)
    r_time = time.perf_counter() - t
    t = time.perf_counter()
    for s in sets:
        m = rensa.RMinHash(p.permutations, p.seed)
        m.update(s)
        m.digest()
    r1_time = time.perf_counter() - t
    t = time.perf_counter()
    encoded = [[x.encode("utf-8") for x in s] for s in sets]
    for s in encoded:
        m = datasketch.MinHash(num_perm=p.permutations, seed=p.seed)
        m.update_batch(s)
        m.digest()
    d_time = time.perf_counter() - t
    t = time.perf_counter()
    list(datasketch.MinHash.bulk(encoded, num_perm=p.permutations, seed=p.seed))
    db_time = time.perf_counter() - t
    n = len(sets)
    print(f"{n} texts ({len(articles)} real, {args.records} gen_articles), 128 permutations, one core:")
    print(f"  rensa RMinHash bulk (digests_from_token_sets) {n / r_time:>9,.0f} signatures/s")
    print(f"  rensa RMinHash one by one                    {n / r1_time:>9,.0f} signatures/s")
    print(f"  datasketch MinHash.update_batch              {n / d_time:>9,.0f} signatures/s")
    print(f"  datasketch MinHash.bulk                      {n / db_time:>9,.0f} signatures/s")
    # Agreement with exact Jaccard on the labelled pairs (positives and a sample of negatives).
    pairs = labelled_pairs(articles)
    pos = [q for q in pairs if q[3]]
    neg = random.Random(3).sample([q for q in pairs if not q[3]], min(2000, len(pairs) - len(pos)))
    chosen = pos + neg
    exact = np.array([exact_jaccard(set(shingles(a)), set(shingles(b))) for _, a, b, _ in chosen])
    ra = rensa.RMinHash.digests_from_token_sets([shingles(a) for _, a, _, _ in chosen], p.permutations, p.seed)
    rb = rensa.RMinHash.digests_from_token_sets([shingles(b) for _, _, b, _ in chosen], p.permutations, p.seed)
    r_est = estimated_jaccard(np.array(ra), np.array(rb))
    d_est = []
    for _, a, b, _ in chosen:
        ma = datasketch.MinHash(num_perm=p.permutations, seed=p.seed)
        ma.update_batch([x.encode() for x in shingles(a)])
        mb = datasketch.MinHash(num_perm=p.permutations, seed=p.seed)
        mb.update_batch([x.encode() for x in shingles(b)])
        d_est.append(ma.jaccard(mb))
    d_est = np.array(d_est)
    for name, est in (("rensa", r_est), ("datasketch", d_est)):
        err = np.abs(est - exact)
        print(f"  {name:<10} |estimate - exact Jaccard| over {len(chosen)} pairs: mean {err.mean():.4f}, "
              f"p95 {np.quantile(err, 0.95):.4f}, max {err.max():.4f}")


APPEND = """
import json, os, resource, sys, time
from toolkit.archive import append
def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime
c, k, t = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
r = append([sys.argv[1]], archive=sys.argv[2], jobs=int(sys.argv[3]))
parent, children = cpu(resource.RUSAGE_SELF) - c, cpu(resource.RUSAGE_CHILDREN) - k
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": parent + children, "parent": parent,
                  "near_duplicates": r.near_duplicates}))
"""


def _append(batch: Path, archive: Path, jobs: int, without: bool, tree: Path | None = None) -> dict:
    """One append in a fresh process (of this tree, or of the exported `tree`): wall and CPU seconds."""
    env = dict(os.environ)
    if without:
        env["NEWSARCHIVE_BENCH_NO_NEAR_DUPLICATES"] = "1"
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    out = subprocess.run([sys.executable, "-c", APPEND, str(batch), str(archive), str(jobs)], env=env,
                         check=True, capture_output=True, text=True, cwd=tree or ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cost(args: argparse.Namespace) -> None:
    """Append with and without near-duplicate detection, alternating, --repeat times; with --base, the
    same for that commit (exported by `git archive`), interleaved in the same run, so both versions
    see the same machine."""
    import statistics

    with tempfile.TemporaryDirectory() as tmp:
        batch = Path(tmp) / "batch.jsonl"
        subprocess.run([sys.executable, str(GEN), str(args.records), str(batch)], check=True)
        sides: dict[str, Path | None] = {"this": None}
        if args.base:
            tree = Path(tmp) / "base"
            tree.mkdir()
            exported = subprocess.run(["git", "-C", str(ROOT), "archive", args.base], check=True,
                                      capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=exported, check=True)
            sides = {"base": tree, "this": None}
        runs: dict[tuple[str, bool], list[dict]] = {(side, w): [] for side in sides for w in (False, True)}
        loads = []
        for round_ in range(args.repeat):
            order = list(sides.items()) if round_ % 2 == 0 else list(sides.items())[::-1]
            for side, tree in order:
                for without in (False, True) if round_ % 2 == 0 else (True, False):
                    archive = Path(tmp) / "archive"
                    shutil.rmtree(archive, ignore_errors=True)
                    runs[side, without].append(_append(batch, archive, args.jobs, without, tree))
                    loads.append(os.getloadavg()[0])
        print(f"append of {args.records:,} gen_articles.py records (--jobs {args.jobs}, {args.repeat} alternating "
              f"rounds; load average {min(loads):.1f}-{max(loads):.1f}):")
        for side in sides:
            label = f"{side} ({args.base})" if side == "base" else side
            for key, name in (("seconds", "wall"), ("cpu", "cpu ")):
                with_ = [r[key] for r in runs[side, False]]
                without_ = [r[key] for r in runs[side, True]]
                med = statistics.median(with_) / statistics.median(without_)
                best = min(with_) / min(without_)
                print(f"  {label:14s} {name}: without near-duplicates {statistics.median(without_):.2f} s, with "
                      f"{statistics.median(with_):.2f} s (medians), ratio {med:.3f} (+{med - 1:.1%}); "
                      f"best of each {min(without_):.2f} / {min(with_):.2f} s, ratio {best:.3f} (+{best - 1:.1%})")
            parent = statistics.median(r["parent"] for r in runs[side, False]) - statistics.median(
                r["parent"] for r in runs[side, True])
            workers = (statistics.median(r["cpu"] - r["parent"] for r in runs[side, False])
                       - statistics.median(r["cpu"] - r["parent"] for r in runs[side, True]))
            print(f"  {'':14s} cpu added: {parent:+.2f} s in the parent, {workers:+.2f} s in the workers (medians)")


SIGN = """
import json, sys, time
import pyarrow as pa, pyarrow.compute as pc, pyarrow.json as pj
from toolkit.archive.near_duplicates import Signed, signatures, spill
schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("published_date", pa.string()),
                    ("source", pa.string())])
rows = pj.read_json(sys.argv[1], parse_options=pj.ParseOptions(explicit_schema=schema,
                                                               unexpected_field_behavior="ignore"))
rows = rows.set_column(2, "published_date", pc.cast(pc.strptime(rows["published_date"], "%Y-%m-%d", "s"),
                                                    pa.date32()))
t = time.perf_counter()
sigs = signatures(rows.column("text").combine_chunks(), rows.column("id").to_pylist(), threads=1)  # one core
seconds = time.perf_counter() - t
part = spill(Signed(rows.drop_columns(["text"]).combine_chunks(), sigs), sys.argv[2])
print(json.dumps({"signatures": seconds, "path": part.path, "rows": part.rows}))
"""

# Indexing alone, in a process of its own (as append's parent runs it after its commit: the
# staging workers' signatures spilled to a file, read back slice by slice), so that its peak RSS is
# not the bench's loading and signing of the texts.
SCALE = """
import json, resource, sys, time
import numpy as np
from toolkit.archive import open_archive
from toolkit.archive.files import TableFiles
from toolkit.archive.layout import MINHASH, MINHASH_SCHEMA
from toolkit.archive import near_duplicates as nd
from toolkit.archive.near_duplicates import Gathered, Spilled, cluster_batch, slice_articles
join = [0.0]


class Done:
    def __init__(self, table):
        self.table = table

    def to_arrow_table(self):
        return self.table


class Timed:  # times the band join (the query and its result), nothing else
    def __init__(self, con):
        self.con = con

    def __getattr__(self, name):
        return getattr(self.con, name)

    def execute(self, sql, *args):
        if not sql.startswith("SELECT DISTINCT n.row"):
            return self.con.execute(sql, *args)
        t = time.perf_counter()
        table = self.con.execute(sql, *args).to_arrow_table()
        join[0] += time.perf_counter() - t
        return Done(table)


connect = nd._connect
nd._connect = lambda *args: Timed(connect(*args))
a = open_archive(sys.argv[1])
part = Spilled(sys.argv[2], int(sys.argv[3]))
t = time.perf_counter()
found = cluster_batch(a, Gathered([part], np.ones(part.rows, bool)).slices(slice_articles()))
total = time.perf_counter() - t
TableFiles(a.storage, MINHASH, MINHASH_SCHEMA).delete(found.bands)  # never committed: the archive is as it was
print(json.dumps({"seconds": total, "join": join[0], "joined": found.joined,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def scale(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = args.archive or Path(tmp) / "archive"
        step = args.records
        if args.archive is not None:  # an archive already built (read only here): its size is counted
            from toolkit.sql import query

            args.archived = query("SELECT count(*) AS n FROM articles", archive=archive).column("n")[0].as_py()
        for start in range(0, args.archived if args.archive is None else 0, step):
            batch = Path(tmp) / "b.jsonl"
            subprocess.run([sys.executable, str(GEN), str(min(step, args.archived - start)), str(batch),
                            "--start", str(start), "--seed", str(start)], check=True)
            _append(batch, archive, args.jobs, False)
        batch = Path(tmp) / "new.jsonl"
        subprocess.run([sys.executable, str(GEN), str(step), str(batch), "--start", str(args.archived),
                        "--seed", "99"], check=True)
        signed = _python(SIGN, batch, tmp)
        r = _python(SCALE, archive, signed["path"], signed["rows"])
        print(f"{step:,} new articles against {args.archived:,} archived: signatures {signed['signatures']:.2f} s "
              f"({step / signed['signatures']:,.0f}/s on one core); indexing (bands written in slices, band join, "
              f"clusters) {r['seconds']:.2f} s of which the band join {r['join']:.2f} s, "
              f"{r['joined']} joined a cluster, peak RSS of indexing {r['peak_rss_mb']:.0f} MB")


def _python(script: str, *args: object) -> dict:
    """Run `script` in a new Python process; its last line of output, as JSON."""
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["libraries", "labelled", "cost", "scale"], action="append")
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--archived", type=int, default=100_000)
    parser.add_argument("--archive", type=Path, default=None,
                        help="scale: an archive already built (e.g. by bench_serve.py) instead of --archived N new")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--base", help="cost: also run this commit (e.g. HEAD~1), interleaved, to compare")
    parser.add_argument("--brief", action="store_true", help="labelled: the chosen parameters only")
    args = parser.parse_args()
    for name in args.only or ["libraries", "labelled", "cost"]:
        print(f"== {name}")
        globals()[name](args)


if __name__ == "__main__":
    main()
