#!/usr/bin/env python3
"""Extraction throughput: newsarchive against plain loops, in one run, printed as pages/s and ratios.

    python bench/bench_extract.py                       # 20,000 Maghress dumps, 1,000 HTML pages
    python bench/bench_extract.py --pages 5000 --html 300 --jobs 2

The pages are generated from the bundled sample (datasets/maghress-sample/pages), each made unique,
in a temporary folder. Peers, over the same files:
  maghress  naive        read + split lines + find the publication line + json.dumps: no
                         normalization, no language, no checks (the floor of any Python loop)
            naive+lingua the same plus lingua on title + full text (8 languages, low-accuracy mode)
  html      trafilatura  bare_extraction(with_metadata=True) + json.dumps per file
  newsarchive            toolkit.extract.extract, the CLI's engine, with --jobs 1 and --jobs N
The machine is shared and noisy: compare the ratios, not the absolute numbers.

Accuracy on a public benchmark with ground truth (its pages are read from where it lies, never
copied into this repository):

    git clone https://github.com/scrapinghub/article-extraction-benchmark /tmp/aeb
    python bench/bench_extract.py --benchmark /tmp/aeb

prints body F1 (the benchmark's own measure: 4-gram shingles of word tokens, precision and recall
averaged over pages) for trafilatura run directly (its defaults) beside newsarchive's HTML parser
with include_tables and favour_precision on and off, plus title and date accuracy when the
benchmark's ground truth has them (`headline`, `datePublished`). htmldate's evaluation sets (a
JSON file of {url: {"file", "date"}} beside the folders of pages) give date accuracy:

    git clone https://github.com/adbar/htmldate /tmp/htmldate
    python bench/bench_extract.py --benchmark /tmp/htmldate/tests/eval_mediacloud_2020.json

Mozilla Readability's test pages (test/test-pages/NAME/source.html with expected-metadata.json and
expected.html, Apache-2.0) give titles for every page, dates for some and bodies:

    git clone https://github.com/mozilla/readability /tmp/readability
    python bench/bench_extract.py --benchmark /tmp/readability

Titles are compared exactly after NFKC and whitespace normalization, and leniently (token F1 of
case-folded words >= 0.9). A benchmark folder may also be a bare git mirror (read with git, not
checked out). `--benchmark` without a path reads $NEWSARCHIVE_BENCHMARK, else the Readability
mirror the `fetch` tool leaves in /work/.mirror, else says how to get one (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "datasets" / "maghress-sample" / "pages"
_DEFAULT = Path("<default>")  # --benchmark given without a path


def make_maghress(folder: Path, count: int) -> list[Path]:
    """Sample pages, each with a numbered title and first paragraph so no two are duplicates."""
    from toolkit.extract.decode import decode_bytes

    templates = [decode_bytes(p.read_bytes()) for p in sorted(SAMPLE.glob("*.txt"))]
    paths = []
    for i in range(count):
        text = templates[i % len(templates)]
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.splitlines()
        pub = next(k for k, line in enumerate(lines) if line.strip().startswith(("Publi", "نشر")))
        lines[pub - 1] += f" — {i}"
        first = next(k for k in range(pub + 1, len(lines)) if lines[k].strip())
        lines[first] += f" ({i})"
        path = folder / f"{i // 1000:03d}" / f"{i:07d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(newline.join(lines), encoding="utf-8", newline="")
        paths.append(path)
    return paths


def make_html(folder: Path, count: int, records: list[dict]) -> list[Path]:
    """Article pages with the usual furniture (nav, aside, footer) around the sample's texts."""
    paths = []
    for i in range(count):
        r = records[i % len(records)]
        paragraphs = "".join(f"<p>{p}</p>" for p in r["text"].split("\n\n"))
        nav = "".join(f'<li><a href="/rubrique/{k}">Rubrique {k}</a></li>' for k in range(25))
        html = (
            f'<!DOCTYPE html><html lang="{r["language"]}"><head><meta charset="utf-8">'
            f"<title>{r['title']} ({i}) | {r['source']}</title>"
            f'<link rel="canonical" href="https://news.example/{i}/article.html">'
            f'<meta property="og:site_name" content="{r["source"]}">'
            f'<meta property="article:published_time" content="{r["published_date"]}T10:00:00+01:00">'
            f'<meta name="author" content="Rédaction {i % 7}"></head><body><header><ul>{nav}</ul></header>'
            f"<main><article><h1>{r['title']} ({i})</h1>{paragraphs}<p>Réf. {i}.</p></article>"
            f"<aside><h3>À lire aussi</h3><ul>{nav}</ul></aside></main>"
            "<footer><p>© Tous droits réservés</p><p>Mentions légales · Contact · Publicité</p></footer>"
            "</body></html>"
        )
        path = folder / f"{i:06d}.html"
        path.write_text(html, encoding="utf-8")
        paths.append(path)
    return paths


_PUB = re.compile(r"^(?:Publié dans|نشر في) (.+?) (?:le|يوم) (\d{1,2}) - (\d{1,2}) - (\d{4})$")


def naive_maghress(paths: list[Path], out: Path, detector=None) -> int:
    """The plain loop a script would do; with `detector`, plus lingua over title + full text."""
    n = 0
    with open(out, "w", encoding="utf-8") as sink:
        for path in paths:
            lines = path.read_text(encoding="utf-8").splitlines()
            k = next((k for k, line in enumerate(lines) if _PUB.match(line)), None)
            if k is None:
                continue
            match = _PUB.match(lines[k])
            title = next(t for t in reversed(lines[:k]) if t.strip())
            body = []
            for line in lines[k + 1:]:
                if line.startswith(("Cliquez ici", "انقر هنا")):
                    break
                if line.strip():
                    body.append(line.strip())
            record = {"title": title, "source": match.group(1),
                      "published_date": f"{match.group(4)}-{int(match.group(3)):02d}-{int(match.group(2)):02d}",
                      "text": "\n\n".join(body)}
            if detector is not None:
                found = detector.detect_language_of(title + " " + record["text"])
                record["language"] = found.iso_code_639_1.name.lower() if found else None
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


def trafilatura_loop(paths: list[Path], out: Path) -> int:
    from trafilatura import bare_extraction

    n = 0
    with open(out, "w", encoding="utf-8") as sink:
        for path in paths:
            doc = bare_extraction(path.read_bytes(), with_metadata=True, include_comments=False)
            if doc is not None:
                sink.write(json.dumps({"title": doc.title, "date": doc.date, "text": doc.text,
                                       "url": doc.url, "source": doc.sitename}, ensure_ascii=False) + "\n")
                n += 1
    return n


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the worker pools)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(label: str, fn, pages: int) -> tuple[str, tuple[float, float]]:
    """Wall-clock pages/s, and pages per CPU-second: the per-core figure, steadier on a busy machine."""
    start, cpu = time.perf_counter(), _cpu()
    done = fn()
    seconds, cpu_seconds = time.perf_counter() - start, _cpu() - cpu
    rate, cpu_rate = pages / seconds, pages / cpu_seconds
    print(f"  {label:<28} {done:>7} records {seconds:7.2f} s {rate:>9,.0f} pages/s "
          f"{cpu_seconds:7.2f} CPU-s {cpu_rate:>9,.0f} pages/CPU-s", flush=True)
    return label, (rate, cpu_rate)


def ratios(rates: dict[str, tuple[float, float]], peer: str) -> None:
    wall, cpu = rates[peer]
    for label, (rate, cpu_rate) in rates.items():
        if label != peer:
            print(f"  {label} / {peer}: {rate / wall:.2f}x wall-clock, {cpu_rate / cpu:.2f}x per CPU-second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=20_000, help="Maghress dumps to generate")
    parser.add_argument("--html", type=int, default=1_000, help="HTML pages to generate")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers for the parallel runs")
    parser.add_argument("--benchmark", type=Path, nargs="?", default=None, const=_DEFAULT, metavar="PATH",
                        help="measure accuracy instead of speed, on: a checkout or bare git mirror of "
                             "article-extraction-benchmark (ground-truth.json, html/) or of Mozilla "
                             "Readability (test/test-pages/), or one of htmldate's tests/eval_*.json; "
                             "without PATH, $NEWSARCHIVE_BENCHMARK, else " + str(READABILITY_MIRROR))
    parser.add_argument("--limit", type=int, default=None, help="with --benchmark: only the first N pages")
    args = parser.parse_args()
    if args.benchmark is not None:
        accuracy(default_benchmark() if args.benchmark is _DEFAULT else args.benchmark, args.limit)
        return

    import logging

    from lingua import Language, LanguageDetectorBuilder

    from toolkit.extract import DEFAULT_LANGUAGES, extract

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    codes = {lang.iso_code_639_1.name.lower(): lang for lang in Language.all()}
    languages = [codes[c] for c in DEFAULT_LANGUAGES]
    detector = LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()
    print(f"cores: {os.cpu_count()}  jobs for parallel runs: {args.jobs}")

    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "maghress").mkdir()
        (tmp_path / "html").mkdir()
        dumps = make_maghress(tmp_path / "maghress", args.pages)
        print(f"\nMaghress dumps: {len(dumps):,} pages, "
              f"{sum(p.stat().st_size for p in dumps) / 1e6:.1f} MB")
        out = tmp_path / "out.jsonl"
        rates = dict([
            timed("naive loop", lambda: naive_maghress(dumps, out), len(dumps)),
            timed("naive loop + lingua (full)", lambda: naive_maghress(dumps, out, detector), len(dumps)),
            timed("newsarchive --jobs 1", lambda: extract([tmp_path / "maghress"], out, jobs=1).records,
                  len(dumps)),
            timed(f"newsarchive --jobs {args.jobs}",
                  lambda: extract([tmp_path / "maghress"], out, jobs=args.jobs).records, len(dumps)),
        ])
        ratios(rates, "naive loop")
        ratios({k: v for k, v in rates.items() if k != "naive loop"}, "naive loop + lingua (full)")
        print(f"  newsarchive per core (pages per CPU-second, --jobs 1): {rates['newsarchive --jobs 1'][1]:,.0f}")

        records = [json.loads(line) for line in _sample_records(tmp_path)]
        pages = make_html(tmp_path / "html", args.html, records)
        print(f"\nHTML pages: {len(pages):,} pages, {sum(p.stat().st_size for p in pages) / 1e6:.1f} MB")
        rates = dict([
            timed("trafilatura loop", lambda: trafilatura_loop(pages, out), len(pages)),
            timed("newsarchive --jobs 1", lambda: extract([tmp_path / "html"], out, jobs=1).records, len(pages)),
            timed(f"newsarchive --jobs {args.jobs}",
                  lambda: extract([tmp_path / "html"], out, jobs=args.jobs).records, len(pages)),
        ])
        ratios(rates, "trafilatura loop")


# --- accuracy on a public benchmark -------------------------------------------------------------

_TOKEN = re.compile(r"\w+")


def _shingles(text: str, n: int = 4) -> dict[tuple[str, ...], int]:
    tokens = _TOKEN.findall(text or "")
    counts: dict[tuple[str, ...], int] = {}
    for i in range(max(1, len(tokens) - n + 1)):
        shingle = tuple(tokens[i:i + n])
        if shingle:
            counts[shingle] = counts.get(shingle, 0) + 1
    return counts


def _tp_fp_fn(true: str, pred: str) -> tuple[float, float, float]:
    """The benchmark's measure for one page: shingle overlap, normalised so long pages weigh the same."""
    t, p = _shingles(true), _shingles(pred)
    tp = fp = fn = 0
    for key in t.keys() | p.keys():
        a, b = t.get(key, 0), p.get(key, 0)
        tp, fp, fn = tp + min(a, b), fp + max(0, b - a), fn + max(0, a - b)
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _f1(scores: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    def ratio(a: float, b: float, other: float) -> float:
        return 1.0 if b == other == 0 else 0.0 if a == b == 0 else a / (a + b)

    precision = [ratio(tp, fp, fn) for tp, fp, fn in scores if tp + fp > 0]
    recall = [ratio(tp, fn, fp) for tp, fp, fn in scores if tp + fn > 0]
    p = sum(precision) / len(precision) if precision else 0.0
    r = sum(recall) / len(recall) if recall else 0.0
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


class _Files:
    """A benchmark's files, from a checkout or from a bare git repository (a mirror): never copied."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git = (root / "HEAD").is_file() and (root / "objects").is_dir()
        self._names: list[str] | None = None
        self._set: set[str] = set()

    def names(self) -> list[str]:
        """Every file's path, relative to the root ('/'-separated)."""
        if self._names is None:
            if self.git:
                import subprocess

                out = subprocess.run(["git", "--git-dir", str(self.root), "ls-tree", "-r", "-z", "--name-only",
                                      "HEAD"], capture_output=True, check=True).stdout
                self._names = [n.decode("utf-8", "surrogateescape") for n in out.split(b"\0") if n]
            else:
                self._names = [p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()]
            self._set = set(self._names)
        return self._names

    def exists(self, name: str) -> bool:
        if self.git:
            self.names()
            return name in self._set
        return (self.root / name).is_file()

    def read(self, name: str) -> bytes:
        if self.git:
            import subprocess

            return subprocess.run(["git", "--git-dir", str(self.root), "cat-file", "blob", f"HEAD:{name}"],
                                  capture_output=True, check=True).stdout
        return (self.root / name).read_bytes()


def _read_page(files: _Files, key: str) -> bytes:
    import gzip

    for name in (f"html/{key}.html.gz", f"html/{key}.html"):
        if files.exists(name):
            data = files.read(name)
            return gzip.decompress(data) if name.endswith(".gz") else data
    _fail(f"{files.root}/html has no page {key}.html(.gz): is this the article-extraction-benchmark?")


def _fail(message: str) -> NoReturn:
    """The bench's one-line error, exit status 2 (could not run)."""
    print(f"bench_extract: {message}", file=sys.stderr)
    raise SystemExit(2)


#: Where the `fetch` tool puts a mirror of Mozilla Readability's test pages (a bare git repository).
READABILITY_MIRROR = Path("/work/.mirror/mozilla+readability/repo")
READABILITY_HINT = ("git clone https://github.com/mozilla/readability /tmp/readability, then "
                    "--benchmark /tmp/readability (or set NEWSARCHIVE_BENCHMARK)")


def default_benchmark() -> Path:
    """--benchmark without a path: $NEWSARCHIVE_BENCHMARK, else the fetched Readability mirror."""
    env = os.environ.get("NEWSARCHIVE_BENCHMARK")
    if env:
        return Path(env)
    if READABILITY_MIRROR.exists():
        return READABILITY_MIRROR
    _fail(f"no benchmark given and none at {READABILITY_MIRROR}: {READABILITY_HINT}")


def _readability(files: _Files) -> tuple[dict[str, dict], dict[str, bytes]]:
    """Mozilla Readability's test pages: test/test-pages/NAME/{source.html, expected-metadata.json,
    expected.html}. Titles for every page, a date where `publishedTime` is given (a null only says
    Readability found none, so those pages are not scored on dates), the body from expected.html."""
    from lxml import html as lxml_html

    truth, pages = {}, {}
    prefix = "test/test-pages/" if any(n.startswith("test/test-pages/") for n in files.names()) else ""
    folders = sorted({n[len(prefix):].split("/")[0] for n in files.names()
                      if n.startswith(prefix) and n.endswith("/expected-metadata.json")})
    for name in folders:
        meta = json.loads(files.read(f"{prefix}{name}/expected-metadata.json"))
        entry = {"headline": meta.get("title") or ""}
        if meta.get("publishedTime"):
            entry["datePublished"] = meta["publishedTime"]
        expected = files.read(f"{prefix}{name}/expected.html")
        if expected.strip():
            entry["articleBody"] = lxml_html.fromstring(expected).text_content()
        truth[name] = entry
        pages[name] = files.read(f"{prefix}{name}/source.html")
    return truth, pages


def _load_benchmark(path: Path) -> tuple[dict[str, dict], dict[str, bytes]]:
    """Ground truth by key ({"articleBody"?, "headline"?, "datePublished"?, "url"?}) and the pages.

    A page is scored on a field only when its ground truth has that key (htmldate's "" means "no
    date is right"); a benchmark is a checkout or a bare git mirror of one."""
    if path.is_file():  # htmldate's {url: {"file", "date"}}, pages in cache/, eval/ or test_set/ beside it
        raw = json.loads(path.read_text(encoding="utf-8"))
        truth, pages = {}, {}
        for url, entry in raw.items():
            found = [p for d in ("cache", "eval", "test_set") if (p := path.parent / d / entry["file"]).is_file()]
            if found:
                date = entry.get("date")  # not a string (NaN) where the page has no date: none is right
                truth[url] = {"url": url, "datePublished": date if isinstance(date, str) else ""}
                pages[url] = found[0].read_bytes()
        return truth, pages
    if not path.is_dir():
        _fail(f"{path}: no such benchmark; {READABILITY_HINT}")
    files = _Files(path)
    if files.exists("ground-truth.json"):
        truth = json.loads(files.read("ground-truth.json"))
        return truth, {key: _read_page(files, key) for key in truth}
    if any(n.endswith("/expected-metadata.json") for n in files.names()):
        return _readability(files)
    _fail(f"{path}: neither ground-truth.json (article-extraction-benchmark) nor test/test-pages "
          f"(Mozilla Readability); point --benchmark at a checkout or mirror of one")


def title_key(text: str | None) -> str:
    """A title for exact comparison: NFKC (full-width "？" is "?"), whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFKC", text or "").split())


def title_f1(true: str | None, pred: str | None) -> float:
    """Token F1 of two titles (case-folded word tokens): the lenient measure, which forgives a site
    name left beside the headline or a dropped kicker, not another headline."""
    t = Counter(_TOKEN.findall(title_key(true).casefold()))
    p = Counter(_TOKEN.findall(title_key(pred).casefold()))
    common = sum((t & p).values())
    if not t or not p:
        return float(t == p)
    if not common:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(t.values())
    return 2 * precision * recall / (precision + recall)


def accuracy(folder: Path, limit: int | None) -> None:
    """Body F1, title accuracy (exact and token F1 >= 0.9) and date accuracy, each where the
    benchmark's ground truth has it, of trafilatura run directly and of newsarchive's parser."""
    import logging

    from trafilatura import bare_extraction

    from toolkit.extract import html as html_mod
    from toolkit.extract.errors import PageRejected
    from toolkit.extract.normalize import clean_inline, join_paragraphs

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    truth, pages = _load_benchmark(folder)
    keys = sorted(truth)[:limit]
    if not keys:
        _fail(f"{folder}: the benchmark has no page with ground truth")
    with_body = [k for k in keys if "articleBody" in truth[k]]
    with_title = [k for k in keys if truth[k].get("headline")]
    with_date = [k for k in keys if "datePublished" in truth[k]]
    print(f"benchmark: {folder} ({len(keys)} pages; ground truth: {len(with_body)} bodies, "
          f"{len(with_title)} titles, {len(with_date)} dates)")

    def trafilatura_direct(key: str) -> tuple[str, str | None, str | None]:
        doc = bare_extraction(pages[key], url=truth[key].get("url"), with_metadata=True)
        return (doc.text or "", doc.title, doc.date) if doc is not None else ("", None, None)

    def ours(key: str) -> tuple[str, str | None, str | None]:
        try:
            page = html_mod.parse_html(pages[key], url=truth[key].get("url"))
        except PageRejected:
            return "", None, None
        return join_paragraphs(page.paragraphs), clean_inline(page.title or ""), page.published_date

    default = (html_mod.INCLUDE_TABLES, html_mod.FAVOUR_PRECISION)
    runs = [("trafilatura (defaults)", None, None)]
    if with_body:  # the settings only change the body: without its ground truth, newsarchive's alone
        runs += [(f"newsarchive tables={t} precision={p}", t, p) for t in (True, False) for p in (False, True)]
    else:
        runs.append((f"newsarchive tables={default[0]} precision={default[1]}", *default))

    def share(hits: int, scored: list[str]) -> str:
        return f"{hits / len(scored):6.3f}" if scored else f"{'-':>6}"

    print(f"  {'':<56} {'F1':>6} {'prec':>6} {'recall':>6} {'title':>6} {'title~':>6} {'date':>6} {'s':>6}")
    try:
        for label, tables, precision in runs:
            if tables is not None:
                html_mod.INCLUDE_TABLES, html_mod.FAVOUR_PRECISION = tables, precision
            extract_fn = trafilatura_direct if tables is None else ours
            start = time.perf_counter()
            scores, titles, near, dates = [], 0, 0, 0
            for key in keys:
                text, title, date = extract_fn(key)
                expected = truth[key]
                if "articleBody" in expected:
                    scores.append(_tp_fp_fn(expected["articleBody"], text))
                if expected.get("headline"):
                    titles += title_key(title) == title_key(expected["headline"])
                    near += title_f1(expected["headline"], title) >= 0.9
                if "datePublished" in expected:
                    dates += (date or "")[:10] == (expected["datePublished"] or "")[:10]
            body = " ".join(f"{v:6.3f}" for v in _f1(scores)) if scores else f"{'-':>6} {'-':>6} {'-':>6}"
            mark = " (newsarchive's)" if (tables, precision) == default else ""
            print(f"  {label + mark:<56} {body} {share(titles, with_title)} {share(near, with_title)} "
                  f"{share(dates, with_date)} {time.perf_counter() - start:6.1f}", flush=True)
    finally:
        html_mod.INCLUDE_TABLES, html_mod.FAVOUR_PRECISION = default
    print("  title: exact after NFKC and whitespace; title~: token F1 >= 0.9; each over the pages whose "
          "ground truth has the field ('-': none has)")


def _sample_records(tmp_path: Path) -> list[str]:
    from toolkit.extract import extract

    out = tmp_path / "sample.jsonl"
    extract([SAMPLE], out, jobs=1)
    return out.read_text(encoding="utf-8").splitlines()


if __name__ == "__main__":
    main()
