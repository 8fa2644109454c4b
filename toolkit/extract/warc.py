"""WARC and WARC.gz files: every HTML response record becomes a page to parse; the rest is counted.

Reading happens in the calling process (warcio is sequential); parsing the HTML, the costly part,
can then go to worker processes. A record's position is its byte offset in the file (compressed
offset for .warc.gz), which `warcio extract FILE OFFSET` accepts, so a reject can be looked at.

Older crawls come as ARC files (.arc, .arc.gz: the Internet Archive's format before WARC), which
warcio reads and converts to WARC records on the fly. WACZ files (Browsertrix, ArchiveWeb.page) are
zips with their WARCs under archive/; each is read in turn, straight from the zip (`iter_wacz`).
warcio prints what it finds odd (a record not followed by blank lines, a bad URI) to standard
error; those lines are caught and handed back as `WarcWarning`s, which extract counts.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

MAX_PAGE_BYTES = 20_000_000  # trafilatura's own limit: larger pages are not articles
WARC_MAGIC = b"WARC/"
ARC_MAGIC = b"filedesc://"
HTML_TYPES = ("text/html", "application/xhtml+xml")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class WarcPage:
    """An HTML response to parse."""

    offset: int
    content: bytes
    url: str | None
    crawled_at: str | None
    charset: str | None


@dataclass(frozen=True)
class WarcSkip:
    """A record that is not an HTML response: counted under `kind`, not rejected."""

    offset: int
    kind: str


@dataclass(frozen=True)
class WarcProblem:
    """A record that looked like an HTML page but cannot be one, or damage that ends the file."""

    offset: int
    reason: str


@dataclass(frozen=True)
class WarcWarning:
    """Something warcio warned about while reading (it would print it): counted, the reading goes on."""

    offset: int
    message: str


WarcItem = WarcPage | WarcSkip | WarcProblem | WarcWarning


def iter_warc(path: str | Path, opener: Callable[[], IO[bytes]] | None = None) -> Iterator[WarcItem]:
    """Every record of a WARC (or ARC) file, in order; damage ends the iteration with a WarcProblem.

    `opener` opens the bytes when they are not a plain file (a WARC inside a WACZ zip).

    A record is only yielded once all the bytes its Content-Length declares were read: warcio itself
    returns a record cut short by the end of the file (or of a gzip member) as if it were whole, so
    a truncated crawl would otherwise pass for a complete one.
    """
    from warcio.archiveiterator import ArchiveIterator

    open_stream = opener or (lambda: open(path, "rb"))  # noqa: SIM115 - closed by the with below
    end = 0  # where the next record starts: the position of any damage found
    seen = False
    problem = _not_a_warc(open_stream)
    if problem:
        yield WarcProblem(0, problem)
        return
    warned: list[str] = []
    with open_stream() as stream:
        iterator = ArchiveIterator(stream, arc2warc=True)
        records = iter(iterator)
        while True:
            try:
                with _caught(warned):
                    record = next(records)
            except StopIteration:
                yield from _flush(warned, end)
                rest = _left_over(stream, end)
                if rest:
                    yield WarcProblem(end, f"damaged WARC at byte {end}: {rest}; records before this point were "
                                           "extracted, the rest was not read (is the file truncated?)")
                return
            except OSError as exc:
                if exc.errno is not None:  # the disk, not the data: the caller words it
                    raise
                yield from _flush(warned, end)
                yield _damage(end, seen, exc)
                return
            except Exception as exc:  # noqa: BLE001 - whatever warcio raises on damaged bytes is damage
                yield from _flush(warned, end)
                yield _damage(end, seen, exc)
                return
            seen = True
            yield from _flush(warned, end)
            try:
                with _caught(warned):  # asking for the offset reads to the record's end: warcio warns there
                    item = _classify(record)
                    short = _missing_bytes(record)
                    offset = iterator.get_record_offset()
            except OSError as exc:
                if exc.errno is not None:
                    raise
                yield from _flush(warned, end)
                yield _damage(end, seen, exc, record=True)
                return
            except Exception as exc:  # noqa: BLE001 - same: warcio's errors on damaged content
                yield from _flush(warned, end)
                yield _damage(end, seen, exc, record=True)
                return
            yield from _flush(warned, offset)
            if short:
                yield WarcProblem(offset, f"damaged WARC at byte {offset}: {short}; records before this point "
                                          "were extracted, the rest was not read (is the file truncated?)")
                return
            # where the next record starts (the length leaves out the blank lines between records)
            end = max(offset, getattr(iterator, "offset", offset + iterator.get_record_length()))
            yield replace(item, offset=offset)


def _flush(warned: list[str], offset: int) -> Iterator[WarcWarning]:
    """The warnings warcio gave since the last call, as items; the list is emptied."""
    items = [WarcWarning(offset, message) for message in warned]
    warned.clear()
    return iter(items)


def _damage(end: int, seen: bool, exc: BaseException, record: bool = False) -> WarcProblem:
    if record:
        return WarcProblem(end, f"damaged WARC record at byte {end} ({_one_line(exc)}); "
                                "the rest of the file was not read")
    where = f"damaged WARC at byte {end}" if seen else "not a WARC file"
    return WarcProblem(end, f"{where} ({_one_line(exc)}); records before this point were extracted, "
                            "the rest was not read")


def _left_over(stream, end: int) -> str | None:
    """What follows the last whole record, when it is more than the blank lines that end a WARC.

    warcio stops without a word when the file ends inside a record's header block.
    """
    stream.seek(0, 2)
    size = stream.tell()
    if size <= end:
        return None
    stream.seek(end)
    tail = stream.read(min(size - end, 1 << 20))
    if tail.startswith(b"\x1f\x8b"):
        try:
            tail = gzip.decompress(tail)
        except (OSError, EOFError, zlib.error):
            return f"{size - end:,} bytes after the last whole record are not a whole gzip member"
    if not tail.strip():
        return None
    return f"{size - end:,} bytes after the last whole record are not a whole record"


def _missing_bytes(record) -> str | None:
    """Why the record is not whole (no Content-Length, or fewer bytes than it declares), else None.

    Reads what is left of the record: warcio would read (and drop) it anyway before the next one.
    """
    from warcio.limitreader import LimitReader

    declared = record.rec_headers.get_header("Content-Length")
    try:
        if declared is None or int(declared) < 0:
            raise ValueError
    except ValueError:
        return f"the record's WARC header has no valid Content-Length ({declared!r})"
    raw = record.raw_stream
    while raw.read(1 << 16):
        pass
    if isinstance(raw, LimitReader) and raw.limit > 0:
        return f"the record is cut short: {raw.limit:,} of its {int(declared):,} bytes are missing"
    return None


def _not_a_warc(open_stream: Callable[[], IO[bytes]]) -> str | None:
    """Why the file is not a WARC or an ARC, from its first bytes; warcio would take stray text for an ARC."""
    with open_stream() as stream:
        head = stream.read(2)
        stream.seek(0)
        if head == b"\x1f\x8b":
            try:
                with gzip.open(stream) as inner:
                    head = inner.read(len(ARC_MAGIC))
            except (OSError, EOFError, zlib.error) as exc:
                return f"not a WARC file: damaged gzip data ({_one_line(exc)})"
        else:
            head = stream.read(len(ARC_MAGIC))
    if not head.startswith((WARC_MAGIC, ARC_MAGIC)):
        return (f"not a WARC file: it starts with {head[:len(WARC_MAGIC)]!r}, not {WARC_MAGIC!r} "
                f"(nor an ARC's {ARC_MAGIC!r})")
    return None


class _Lines(io.StringIO):
    """Standard error while warcio runs: each write goes to `into` as one line, nothing reaches the terminal."""

    def __init__(self, into: list[str]) -> None:
        super().__init__()
        self.into = into

    def write(self, text: str) -> int:
        if text.strip():  # one write is one warning, even over several lines
            self.into.append(" ".join(text.split())[:300])
        return len(text)


class _LogLines(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(_one_line(Exception(record.getMessage())))


@contextlib.contextmanager
def _caught(into: list[str]) -> Iterator[None]:
    """warcio's warnings (stderr writes and its logger) while reading, collected into `into`."""
    logger = logging.getLogger("warcio")
    handler = _LogLines(into)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with contextlib.redirect_stderr(_Lines(into)):
            yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def iter_wacz(path: str | Path) -> Iterator[tuple[str, WarcItem]]:
    """(member name, item) for every WARC inside a WACZ file (a zip with its WARCs under archive/).

    The members are read straight from the zip, in name order; a zip without any WARC, or one that is
    not a zip, is one WarcProblem.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        yield "", WarcProblem(0, f"not a WACZ file: not a readable zip ({_one_line(exc)})")
        return
    with archive:
        members = sorted(name for name in archive.namelist()
                         if name.startswith("archive/") and name.lower().endswith((".warc", ".warc.gz")))
        if not members:
            yield "", WarcProblem(0, "WACZ file without WARCs: nothing under archive/ ends in .warc or .warc.gz")
            return
        for member in members:
            try:
                yield from ((member, item) for item in iter_warc(member, lambda m=member: archive.open(m)))
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                yield member, WarcProblem(0, f"damaged WACZ member {member} ({_one_line(exc)})")


def _classify(record) -> WarcItem:
    rec_type = record.rec_type
    headers = record.rec_headers
    if rec_type == "response":
        http = record.http_headers
        if http is None:
            return WarcSkip(0, "non-HTTP response")
        status = http.get_statuscode() or ""
        if not status.startswith("2"):
            return WarcSkip(0, f"HTTP {status or '?'} response")
        content_type = http.get_header("Content-Type")
    elif rec_type == "resource":
        content_type = headers.get_header("Content-Type")
    else:
        return WarcSkip(0, f"{rec_type} record")
    stream = record.content_stream()
    content = stream.read(MAX_PAGE_BYTES + 1)
    if not _is_html(content_type, content):
        return WarcSkip(0, f"non-HTML {rec_type}")
    if len(content) > MAX_PAGE_BYTES:
        return WarcProblem(0, f"HTML page larger than {MAX_PAGE_BYTES // 1_000_000} MB; not an article")
    charset = None
    if content_type:
        match = _CHARSET.search(content_type)
        charset = match.group(1) if match else None
    return WarcPage(0, content, headers.get_header("WARC-Target-URI"), headers.get_header("WARC-Date"), charset)


def _is_html(content_type: str | None, content: bytes) -> bool:
    if content_type:
        mime = content_type.split(";", 1)[0].strip().lower()
        return mime in HTML_TYPES
    head = content[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
