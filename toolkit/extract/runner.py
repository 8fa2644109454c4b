"""Run extract over many inputs: find pages, parse them in worker processes, dedup and write in order.

The order of the output never depends on --jobs: inputs are sorted by path, WARC records keep
their file order, and work goes out in chunks whose results are consumed in submission order.
A bounded number of chunks is in flight, so memory stays flat on a large WARC.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from toolkit.core.errors import NewsarchiveError, note
from toolkit.core.executor import (  # noqa: F401 (default_jobs: re-exported)
    Executor,
    LocalExecutor,
    Task,
    default_jobs,
    executor,
)
from toolkit.core.jsonl import file_identity
from toolkit.core.outputs import AtomicFile
from toolkit.core.progress import byte_progress
from toolkit.extract.decode import decode
from toolkit.extract.errors import PageRejected
from toolkit.extract.language import DEFAULT_LANGUAGES, LanguageDetector
from toolkit.extract.records import build_record
from toolkit.extract.report import Duplicate, ExtractReport, Reject

FORMATS = ("auto", "maghress", "html", "warc")
#: What a directory is searched for, per --format ("" is a file name without extension).
SUFFIXES = {
    "maghress": (".txt", ""),
    "html": (".html", ".htm", ".xhtml", ".shtml", ".html.gz", ".htm.gz"),
    "warc": (".warc", ".warc.gz", ".arc", ".arc.gz", ".wacz"),
}
SUFFIXES["auto"] = SUFFIXES["maghress"] + SUFFIXES["html"] + SUFFIXES["warc"]

FILE_CHUNK_MAX = 256  # page files per chunk sent to a worker
WARC_CHUNK_MAX = 16  # WARC pages per chunk (each is a whole HTML parse)
CHUNK_BYTES = 8 << 20

WARC_MAGIC = b"WARC/"
GZIP_MAGIC = b"\x1f\x8b"
#: Source kinds read record by record in the parent (WARC and ARC files, WACZ zips of WARCs).
ARCHIVE_KINDS = ("warc", "wacz")


@dataclass(frozen=True)
class Source:
    """One input file and how to read it ("page" = maghress or HTML, decided from its content)."""

    name: str  # the path as found (given, or joined to the directory given): what reports show
    kind: str  # "maghress" | "html" | "page" | "warc" (WARC or ARC) | "wacz"
    size: int

    @property
    def path(self) -> Path:
        return Path(self.name)


def _suffix_of(name: str) -> str:
    lowered = name.lower()
    stem, suffix = os.path.splitext(lowered)
    if suffix == ".gz":  # .warc.gz, .arc.gz, .html.gz: the inner extension counts too
        return os.path.splitext(stem)[1] + suffix
    return suffix


def _kind_for(name: str, fmt: str) -> str:
    suffix = _suffix_of(name)
    if fmt == "warc" and suffix == ".wacz":
        return "wacz"
    if fmt != "auto":
        return fmt
    if suffix == ".wacz":
        return "wacz"
    if suffix in SUFFIXES["warc"]:
        return "warc"
    if suffix in SUFFIXES["html"]:
        return "html"
    return "page"


def discover(inputs: Sequence[str | os.PathLike], fmt: str = "auto") -> tuple[list[Source], list[str]]:
    """Expand files and directories (recursively) into sorted sources, plus the files left aside.

    A file named on the command line is always read; in a directory, only names with the
    format's extensions are (hidden files and folders are skipped), and the others are listed as
    ignored so nothing disappears unnoticed.
    """
    if fmt not in FORMATS:
        raise NewsarchiveError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not inputs:
        raise NewsarchiveError("no input given; pass page files or directories of them")
    wanted = SUFFIXES[fmt]
    found: dict[str, Source] = {}
    ignored: list[str] = []
    seen: dict[object, str] = {}  # file identity -> the name it was first found under: read once
    folders: set[str] = set()  # real paths of the folders walked (a symlink loop is walked once)
    for raw in inputs:
        name = os.fspath(raw)
        if os.path.isdir(name):
            if os.path.realpath(name) in folders:
                note(f"{name}: this folder was already searched; each file is read once")
            members = list(_walk(name, folders))
        elif os.path.isfile(name):
            members = [(name, _size(name))]
        elif os.path.exists(name):
            raise NewsarchiveError(f"{name}: not a regular file or directory")
        else:
            raise NewsarchiveError(f"{name}: no such file or directory; check the path")
        repeats = []
        for member, size in members:
            if member != name and _suffix_of(os.path.basename(member)) not in wanted:
                ignored.append(member)  # unless named later: a file named on the command line is read
                continue
            real = file_identity(member)
            if real in seen:
                repeats.append(seen[real])
                continue
            seen[real] = member
            found[member] = Source(member, _kind_for(member, fmt), size)
        if repeats:
            note(f"{name}: {len(repeats)} of its files were already found (such as {repeats[0]}); "
                 "each file is read once" if os.path.isdir(name)
                 else f"{name} is already among the inputs (as {repeats[0]}); it is read once")
    ignored = list(dict.fromkeys(m for m in ignored if file_identity(m) not in seen))
    if not found:
        raise NewsarchiveError(
            f"no pages found in {', '.join(map(os.fspath, inputs))}: directories are searched for "
            f"{', '.join(s or '(no extension)' for s in wanted)} files; "
            "name the files themselves, or pass another --format"
        )
    return [found[name] for name in sorted(found)], sorted(ignored)


def _walk(folder: str, walked: set[str]) -> Iterator[tuple[str, int]]:
    """Regular files under folder with their sizes; hidden files and folders are skipped, and a
    folder already walked (through a symlink, or named twice) is not walked again."""
    real = os.path.realpath(folder)
    if real in walked:
        return
    walked.add(real)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise NewsarchiveError(f"{folder}: cannot list the folder ({exc.strerror})") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk(entry.path, walked)
        elif entry.is_file():
            try:
                size = entry.stat().st_size
            except OSError:
                size = 0
            yield entry.path, size


def _size(name: str) -> int:
    try:
        return os.stat(name).st_size
    except OSError:
        return 0


# --- work done in the workers -------------------------------------------------------------------

# An outcome: ("ok", input, position, id, text_digest, language, line, repairs, format)
#          or ("reject", input, position, reason, format)
Outcome = tuple

_languages: tuple[str, ...] = DEFAULT_LANGUAGES
_source: str | None = None  # extract --source: the outlet of pages that name none


def _init_worker(languages: tuple[str, ...], source: str | None = None) -> None:
    global _languages, _source
    _languages = languages
    _source = source


def _run_chunk(chunk: tuple[list[tuple], int]) -> tuple[list[Outcome], int]:
    """A chunk's outcomes, and its progress mark passed through. A whole WARC file (a cluster's task)
    gives its pages' outcomes in file order, with its skips and warnings in their places."""
    tasks, mark = chunk
    outcomes: list = []
    for task in tasks:
        if task[0] != "warcfile":
            outcomes.append(_run_task(task))
            continue
        for entry, _ in _warc_entries(task[1]):
            outcomes.append(entry if entry[0] in ("skip", "warning") else _run_task(entry))
    return outcomes, mark


def _run_task(task: tuple) -> Outcome:
    kind = task[0]
    if kind == "done":  # an outcome decided while reading a WARC, kept in its place in the order
        return task[1]
    if kind == "file":
        _, name, fmt = task
        position = None
    else:  # "warc"
        _, name, position, content, url, crawled_at, charset = task
        fmt = "warc"
    try:
        if kind == "file":
            page, fmt = _parse_file(name, fmt)
        else:
            from toolkit.extract.html import parse_html

            page = parse_html(content, url=url, charset=charset, source=_source)
            page.crawled_at = crawled_at
        done = build_record(page, _languages)
    except PageRejected as exc:
        return ("reject", name, position, exc.reason, fmt)
    except Exception as exc:  # a parser bug on one page must not lose the others
        if os.environ.get("NEWSARCHIVE_DEBUG"):
            raise
        return ("reject", name, position,
                f"internal error while parsing ({type(exc).__name__}: {exc}); please report it", fmt)
    return ("ok", name, position, done.record["id"], done.text_digest, done.record["language"], done.line,
            page.repairs, fmt)


def _parse_file(path: str, fmt: str):
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise PageRejected(f"cannot read the file ({exc.strerror}); check that it exists and is readable") from None
    if data.startswith(GZIP_MAGIC):  # a saved page.html.gz: read what is inside
        data = _gunzip(data)
    if fmt == "page":
        fmt = sniff(data)
    if fmt == "html":
        from toolkit.extract.html import parse_html

        return parse_html(data, path=path, source=_source), fmt
    from toolkit.extract.maghress import parse_maghress

    decoded = decode(data)
    page = parse_maghress(decoded.text)
    page.repairs = decoded.repairs
    page.check_language = False  # French and Arabic editions: see toolkit/extract/language.py
    return page, "maghress"


def _gunzip(data: bytes) -> bytes:
    """The page inside a gzip file, up to the size of a page (a larger one is not an article)."""
    from toolkit.extract.warc import MAX_PAGE_BYTES

    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            inner = stream.read(MAX_PAGE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise PageRejected(f"damaged gzip data ({' '.join(str(exc).split())}); re-download or decompress the "
                           "file by hand") from None
    if len(inner) > MAX_PAGE_BYTES:
        raise PageRejected(f"gzip-compressed page larger than {MAX_PAGE_BYTES // 1_000_000} MB; not an article")
    return inner


def sniff(data: bytes) -> str:
    """'html' or 'maghress' for `--format auto`; a WARC or gzip file with a page's name is rejected."""
    if data.startswith(WARC_MAGIC):
        raise PageRejected("this is a WARC file: name it .warc or .warc.gz, or pass --format warc")
    if data.startswith(GZIP_MAGIC):  # gzip inside gzip
        raise PageRejected("gzip-compressed file: decompress it, or name it .warc.gz if it is a WARC")
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") and any(tag in head for tag in (b"<html", b"<!doctype html", b"<head", b"<body")):
        return "html"
    return "maghress"


# --- the parent: tasks out, outcomes back in order ---------------------------------------------


def _warc_entries(source: Source) -> Iterator[tuple[tuple, int | None]]:
    """(entry, offset) for each record of a WARC/ARC/WACZ file, in file order: ("skip", kind),
    ("warning", text), a "warc" page task, or ("done", reject); a read failure ends it with a reject."""
    from toolkit.extract.warc import WarcPage, WarcSkip, WarcWarning, iter_wacz, iter_warc

    if source.kind == "wacz":  # a WARC inside the zip is named file.wacz#archive/member.warc.gz
        items = ((f"{source.name}#{member}" if member else source.name, item)
                 for member, item in iter_wacz(source.path))
    else:
        items = ((source.name, item) for item in iter_warc(source.path))
    try:
        for name, item in items:
            if isinstance(item, WarcSkip):
                yield ("skip", item.kind), item.offset
            elif isinstance(item, WarcWarning):
                yield ("warning", f"{name}@{item.offset}: {item.message}"), item.offset
            elif isinstance(item, WarcPage):
                yield ("warc", name, item.offset, item.content, item.url, item.crawled_at, item.charset), item.offset
            else:
                yield ("done", ("reject", name, item.offset, item.reason, "warc")), item.offset
    except OSError as exc:
        reason = f"cannot read the file ({exc.strerror}); check that it exists and is readable"
        yield ("done", ("reject", source.name, None, reason, "warc")), None


def _tasks(sources: list[Source], report: ExtractReport,
           whole_files: bool = False) -> Iterator[tuple[tuple, int, int]]:
    """(task, payload bytes, progress mark in input bytes) in output order.

    With `whole_files` (a cluster, whose workers read the files themselves), a WARC is one task
    that its worker reads; otherwise this process reads it and hands out its pages.
    """
    done_bytes = 0
    for source in sources:
        if source.kind not in ARCHIVE_KINDS:
            done_bytes += source.size
            yield ("file", source.name, source.kind), 0, done_bytes
            continue
        if whole_files:
            done_bytes += source.size
            yield ("warcfile", source), CHUNK_BYTES, done_bytes  # a chunk of its own
            continue
        for entry, offset in _warc_entries(source):
            mark = done_bytes if offset is None else done_bytes + min(offset, source.size)
            if entry[0] == "skip":
                report.skipped[entry[1]] += 1
            elif entry[0] == "warning":
                report.warnings.append(entry[1])
            else:
                yield entry, len(entry[3]) if entry[0] == "warc" else 0, mark
        done_bytes += source.size


def _chunks(sources: list[Source], report: ExtractReport, jobs: int,
            whole_files: bool = False) -> Iterator[tuple[list[tuple], int]]:
    page_files = sum(1 for s in sources if s.kind not in ARCHIVE_KINDS)
    file_limit = max(1, min(FILE_CHUNK_MAX, math.ceil(page_files / (jobs * 4)) if page_files else 1))
    chunk: list[tuple] = []
    size = 0
    mark = 0
    for task, payload, mark in _tasks(sources, report, whole_files):
        chunk.append(task)
        size += payload
        limit = WARC_CHUNK_MAX if task[0] == "warc" else file_limit
        if len(chunk) >= limit or size >= CHUNK_BYTES:
            yield chunk, mark
            chunk, size = [], 0
    if chunk:
        yield chunk, mark


def _results(sources: list[Source], report: ExtractReport, pool: Executor,
             languages: tuple[str, ...], source: str | None = None) -> Iterator[tuple[list[Outcome], int]]:
    task = Task(_run_chunk, _init_worker, (languages, source), what="extract")
    return pool.map(task, _chunks(sources, report, pool.jobs, whole_files=not isinstance(pool, LocalExecutor)))


class _Sink:
    """A file written under a temporary name and renamed at the end, so a failed run leaves no half file."""

    def __init__(self, target: str, what: str) -> None:
        self.target = target
        self.file: AtomicFile | None = None
        if target == "-":
            self.handle: IO[str] = sys.stdout
            return
        path = Path(target)
        if path.is_dir():
            raise NewsarchiveError(f"{target}: is a directory; give the {what} a file name, e.g. {path / 'out.jsonl'}")
        self.file = AtomicFile(path, what)
        self.handle = self.file.handle

    def write(self, line: str) -> None:
        self.handle.write(line)
        self.handle.write("\n")

    def commit(self) -> None:
        if self.file is None:
            self.handle.flush()
            return
        self.file.commit()

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


def extract(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    fmt: str = "auto",
    rejects: str | os.PathLike | None = None,
    jobs: int | None = None,
    progress: bool = False,
    languages: Sequence[str] | None = None,
    source: str | None = None,
    backend: str | None = None,
) -> ExtractReport:
    """Turn page files into schema records (JSON Lines at `output`, "-" for stdout).

    `inputs` are files or directories (searched recursively). `fmt` is "auto" (by extension, then
    content), "maghress", "html" or "warc". Every page becomes a record, a duplicate (same id or same
    text as an earlier record: written once) or a reject (written to `rejects` as JSON Lines
    `{"input", "record", "reason"}` when given). `jobs` worker processes (default: the cores).
    `languages` are the candidate ISO 639-1 codes for detection (default `DEFAULT_LANGUAGES`).
    `source` names the outlet of HTML pages that name none (a folder saved from one site).
    `backend` is the executor: "local" or "ray" (default: $NEWSARCHIVE_EXECUTOR, else local); the
    output is the same bytes either way.
    Raises `NewsarchiveError` when the run cannot happen (no inputs, unwritable output).
    """
    started = time.perf_counter()
    codes = tuple(LanguageDetector(languages or DEFAULT_LANGUAGES).codes)  # fail early on a bad code
    source = _checked_source(source)
    if jobs is not None and jobs < 1:
        raise NewsarchiveError(f"--jobs must be at least 1, not {jobs}")
    sources, ignored = discover(inputs, fmt)
    report = ExtractReport(output=os.fspath(output), rejects_path=os.fspath(rejects) if rejects else None,
                           files=len(sources), ignored=ignored)
    if rejects is not None and os.fspath(rejects) != "-" and \
            os.path.abspath(os.fspath(rejects)) == os.path.abspath(os.fspath(output)):
        raise NewsarchiveError(f"--rejects {os.fspath(rejects)} is also the --output file; give it another name")
    _refuse_inputs_as_outputs(inputs, sources, fmt, output=output, rejects=rejects)
    pool = executor(jobs, backend, quiet=not progress)  # after the refusals: Ray is not started for nothing
    if sources and all(s.kind not in ARCHIVE_KINDS for s in sources) and pool.jobs > len(sources):
        pool = executor(len(sources), backend)  # no more workers than files: a WARC can feed any number
    out = _Sink(os.fspath(output), "output")
    rej = _Sink(os.fspath(rejects), "rejects file") if rejects else None
    seen_ids: dict[str, tuple[str, int | None]] = {}
    seen_texts: dict[bytes, tuple[str, int | None]] = {}
    try:
        total = sum(s.size for s in sources) or None
        with byte_progress(total, "extract", progress) as bar:
            for outcomes, mark in _results(sources, report, pool, codes, source):
                for outcome in outcomes:
                    if outcome[0] == "skip":  # from a WARC read by a worker (see _tasks)
                        report.skipped[outcome[1]] += 1
                    elif outcome[0] == "warning":
                        report.warnings.append(outcome[1])
                    else:
                        _consume(outcome, report, out, rej, seen_ids, seen_texts)
                bar.update(mark)
        out.commit()
        if rej is not None:
            rej.commit()
    finally:
        out.discard()
        if rej is not None:
            rej.discard()
    report.seconds = time.perf_counter() - started
    if not report.balanced():  # a bug, not bad input
        raise RuntimeError(f"extract lost count: {report.pages} pages != {report.records} records + "
                           f"{report.duplicate_count} duplicates + {report.rejected} rejects")
    return report


def _checked_source(source: str | None) -> str | None:
    """--source, cleaned like a page's site name, or a one-line error when it cannot be one."""
    if source is None:
        return None
    from toolkit.extract.normalize import clean_inline
    from toolkit.extract.records import MAX_SOURCE_CHARS

    cleaned = clean_inline(source)
    if not cleaned or len(cleaned) > MAX_SOURCE_CHARS:
        raise NewsarchiveError(f"--source {source[:60]!r}: an outlet name must have 1 to {MAX_SOURCE_CHARS} "
                               "characters besides spaces; give the site's name, e.g. --source 'Le Desk'")
    return cleaned


def _refuse_inputs_as_outputs(inputs: Sequence[str | os.PathLike], sources: list[Source], fmt: str,
                              **outputs: str | os.PathLike | None) -> None:
    """An output that is a page being read (or that a folder being read would read) is refused: exit 2."""
    from toolkit.core.outputs import refuse_input

    def reads(path: str) -> bool:
        name = os.path.basename(path)
        return not name.startswith(".") and _suffix_of(name) in SUFFIXES[fmt]

    for option, path in outputs.items():
        refuse_input(path, [*inputs, *(s.name for s in sources)], f"--{option}", reads=reads)


def _consume(outcome: Outcome, report: ExtractReport, out: _Sink, rej: _Sink | None,
             seen_ids: dict[str, Any], seen_texts: dict[bytes, Any]) -> None:
    report.pages += 1
    report.formats[outcome[-1]] += 1
    if outcome[0] == "reject":
        _, name, position, reason, _fmt = outcome
        reject = Reject(name, position, reason)
        report.rejects.append(reject)
        if rej is not None:
            rej.write(json.dumps(reject.as_dict(), ensure_ascii=False))
        return
    _, name, position, rid, digest, language, line, repairs, _fmt = outcome
    here = (name, position)
    kept = seen_ids.get(rid)
    why = "same id"
    if kept is None:
        kept = seen_texts.get(digest)
        why = "same text"
    if kept is not None:
        report.duplicates.append(Duplicate(name, position, kept[0], kept[1], why))
        return
    seen_ids[rid] = here
    seen_texts[digest] = here
    report.records += 1
    report.languages[language] += 1
    for kind, count in repairs.items():  # counted for the records written, like the languages
        report.repairs[kind] += count
        report.repaired_pages[kind] += 1
    out.write(line)
