"""Find JSON Lines inputs and read them as blocks of whole lines.

Every consumer (validate, append) sees the same thing: blocks of a few megabytes that end on a line
boundary, each with the number of its first line, so memory stays flat whatever the input size and
line numbers are exact. Compression is sniffed from the first bytes, not trusted from the name.
"""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, TypeVar

from toolkit.core.errors import NewsarchiveError, note

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11

JSONL_SUFFIXES = (".jsonl", ".ndjson")
COMPRESSED_SUFFIXES = ("", ".gz", ".zst", ".zstd")
BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DEFAULT_BLOCK_BYTES = 4 << 20
#: Compressions that are not read: a clear refusal beats quarantining every "line" of binary data.
_OTHER_MAGIC = {b"\xfd7zXZ\x00": "xz", b"\x04\x22\x4d\x18": "lz4", b"PK\x03\x04": "a zip archive",
                b"7z\xbc\xaf\x27\x1c": "a 7z archive"}


def _other_compression(head: bytes) -> str | None:
    """The compression the first 6 bytes show, among those not read (bzip2: "BZh", the block size
    digit, then the start of its block magic)."""
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:6] == b"1A":
        return "bzip2"
    return next((name for magic, name in _OTHER_MAGIC.items() if head.startswith(magic)), None)


@dataclass(frozen=True)
class InputFile:
    """One input: a path on disk, or standard input when `path` is None."""

    name: str
    path: Path | None

    @property
    def size(self) -> int | None:
        if self.path is None:
            return None
        try:
            return self.path.stat().st_size
        except OSError:
            return None


@dataclass
class Block:
    """Whole lines of one input, each ending in b"\\n", in input order.

    Blocks do not carry line numbers: counting newlines is left to the consumer, which scans the
    block anyway, and which numbers the lines as blocks come back in order.
    """

    source: InputFile
    data: bytes
    bytes_read: int  # compressed bytes consumed so far in this input, for progress bars


def is_jsonl_name(name: str) -> bool:
    lowered = name.lower()
    return any(lowered.endswith(s + c) for s in JSONL_SUFFIXES for c in COMPRESSED_SUFFIXES)


def discover(paths: Sequence[str | os.PathLike]) -> list[InputFile]:
    """Expand paths (files, directories searched recursively, `-` for stdin) into inputs, in order.

    Each file is read once, however often it is named (`x x`, `./x x`, `dir dir/x`, a symlink to
    it): the repeats are dropped with a note on stderr. Reading it twice counted its records twice,
    and made `append` start over forever (its second copy is "already archived" by the first).
    """
    if not paths:
        raise NewsarchiveError("no input given; pass one or more .jsonl files, directories, or - for stdin")
    found: list[InputFile] = []
    seen: dict[object, str] = {}  # file identity -> the name it was first found under
    for raw in paths:
        text = os.fspath(raw)
        if text == "-":
            if "-" in seen:
                note("- is named more than once; standard input is read once")
                continue
            seen["-"] = "-"
            found.append(InputFile(name="<stdin>", path=None))
            continue
        path = Path(text)
        if path.is_dir():
            members = sorted(
                p for p in path.rglob("*") if p.is_file() and is_jsonl_name(p.name)
            )
            if not members:
                raise NewsarchiveError(
                    f"{path}: directory holds no .jsonl or .ndjson files (optionally .gz or .zst)"
                )
        elif path.is_file():
            members = [path]
        elif path.exists():
            raise NewsarchiveError(f"{path}: not a regular file or directory")
        else:
            raise NewsarchiveError(f"{path}: no such file or directory")
        repeats: list[tuple[Path, str]] = []
        for member in members:
            real = file_identity(member)
            if real in seen:
                repeats.append((member, seen[real]))
                continue
            seen[real] = str(member)
            found.append(InputFile(name=display_name(member), path=member))
        if repeats and not path.is_dir():
            note(f"{text} is already among the inputs (as {repeats[0][1]}); it is read once")
        elif repeats:
            some = "its files were" if len(repeats) == len(members) else f"{len(repeats)} of its files were"
            note(f"{text}: {some} already named (such as {repeats[0][1]}); each file is read once")
    return found


def file_identity(path: str | os.PathLike) -> object:
    """What makes two paths the same file: device and inode (a symlink, a hard link, `./x` and `x`),
    else the real path."""
    try:
        info = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return (info.st_dev, info.st_ino)


def display_name(path: str | os.PathLike) -> str:
    """The path as text that can be written anywhere: bytes of a file name that are not UTF-8
    (Python keeps them as lone surrogates) become \\xNN escapes. Why: the name goes into JSON
    reports, the ledger and the quarantine, which only hold valid Unicode."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


class _CountingReader:
    """Wraps the raw file so progress can report compressed bytes consumed."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()


def _open(source: InputFile) -> tuple[BinaryIO, _CountingReader]:
    try:
        raw: BinaryIO = sys.stdin.buffer if source.path is None else open(source.path, "rb")  # noqa: SIM115
    except PermissionError:
        raise NewsarchiveError(f"{source.name}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise NewsarchiveError(f"{source.name}: cannot open ({exc.strerror})") from None
    counter = _CountingReader(raw)
    head = _peek(counter, 6)
    if head.startswith(GZIP_MAGIC):
        stream: BinaryIO = gzip.GzipFile(fileobj=_Prefixed(head, counter), mode="rb")  # type: ignore[arg-type]
    elif _is_zstd(head):
        stream = _ZstdFrames(_Prefixed(head, counter))  # type: ignore[assignment]
    elif kind := _other_compression(head):
        raise NewsarchiveError(f"{source.name}: this is {kind} data, which newsarchive does not read; "
                               "decompress it, or recompress it with gzip or zstd")
    else:
        stream = _Prefixed(head, counter)  # type: ignore[assignment]
    return stream, counter


def _is_zstd(head: bytes) -> bool:
    """A zstd frame, or a skippable frame (pzstd starts its files with one)."""
    return head.startswith(ZSTD_MAGIC) or (len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18")


class _ZstdFrames:
    """Zstandard frames one after another (pzstd and zstd -T write several), decompressed as read.

    Why not zstandard's `stream_reader`: it ends quietly when the data stops inside a frame, so a
    file cut in half would read as a shorter, whole one. Here the end of the input inside a frame is
    an EOFError, as gzip's reader raises. Compressed bytes are fed in small pieces (grown while the
    output stays small) so that a highly compressible frame cannot fill the memory in one call.
    """

    def __init__(self, raw: _Prefixed) -> None:
        import zstandard

        self.raw = raw
        self.context = zstandard.ZstdDecompressor()
        self.frame: zstandard.ZstdDecompressionObj | None = None
        self.buffer = bytearray()
        self.unused = b""  # compressed bytes after the end of a frame: the next frame's start
        self.piece = 1 << 12
        self.ended = False

    def read(self, n: int = -1) -> bytes:
        while not self.ended and (n < 0 or len(self.buffer) < n):
            self._decompress_more()
        n = len(self.buffer) if n < 0 else min(n, len(self.buffer))
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def _decompress_more(self) -> None:
        data, self.unused = (self.unused, b"") if self.unused else (self.raw.read(self.piece), b"")
        if not data:
            if self.frame is not None:
                raise EOFError("the data ends inside a zstd frame")
            self.ended = True
            return
        if self.frame is None:
            self.frame = self.context.decompressobj()
        out = self.frame.decompress(data)
        self.buffer += out
        if len(out) < (1 << 20):
            self.piece = min(self.piece * 2, 1 << 18)
        elif len(out) > (8 << 20):
            self.piece = max(1 << 8, self.piece // 8)
        if self.frame.eof:
            self.unused = self.frame.unused_data
            self.frame = None

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()


def _peek(reader: _CountingReader, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        more = reader.read(n - len(buf))
        if not more:
            break
        buf += more
    return buf


class _Prefixed:
    """A stream that first replays the bytes already peeked at."""

    def __init__(self, prefix: bytes, rest: _CountingReader) -> None:
        self.prefix = prefix
        self.rest = rest

    def read(self, n: int = -1) -> bytes:
        if self.prefix:
            if n < 0:
                data, self.prefix = self.prefix + self.rest.read(), b""
                return data
            data, self.prefix = self.prefix[:n], self.prefix[n:]
            if len(data) < n:
                data += self.rest.read(n - len(data))
            return data
        return self.rest.read(n)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.rest.close()


def _split_trailing_blank(data: bytes) -> int:
    """Index where the run of whitespace-only lines at the end of `data` begins."""
    stripped = len(data)
    while stripped and data[stripped - 1] in b" \t\r\n":  # no rstrip() for a few bytes: it copies the block
        stripped -= 1
        if len(data) - stripped > 64:  # a long blank run: one copy beats a Python loop per byte
            stripped = len(data.rstrip(b" \t\r\n"))
            break
    if stripped == len(data):
        return len(data)
    if stripped == 0:
        return 0
    nl = data.find(b"\n", stripped)
    return len(data) if nl < 0 else nl + 1


def read_blocks(
    source: InputFile,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Block]:
    """Yield blocks of whole lines. Whitespace-only lines at the very end are not records.

    Pieces of a line longer than a block, and runs of whitespace-only lines (records or not,
    depending on what follows), are kept in lists and joined once: concatenating them block after
    block took quadratic time (50 MB of newlines on standard input: a minute).
    """
    stream, counter = _open(source)
    carry: list[bytes] = []  # the start of a line whose newline has not been read yet
    blank: list[bytes] = []  # whole whitespace-only lines: records only if a record follows
    first = True
    try:
        while True:
            try:
                chunk = stream.read(block_bytes)
            except (OSError, EOFError, ValueError) as exc:
                raise NewsarchiveError(
                    f"{source.name}: cannot read it after {counter.count} bytes ({exc}); "
                    "the file is corrupt or truncated"
                ) from None
            except Exception as exc:  # zstandard raises its own error type
                raise NewsarchiveError(
                    f"{source.name}: cannot decompress it after {counter.count} bytes ({exc})"
                ) from None
            if first:
                while 0 < len(chunk) < len(BOM):  # tiny reads (pipes, tests): see the whole BOM
                    more = stream.read(block_bytes)
                    if not more:
                        break
                    chunk += more
                first = False
                if chunk.startswith(BOM):
                    chunk = chunk[len(BOM):]
                    if not chunk:
                        continue
            if on_progress is not None:
                on_progress(counter.count)
            if not chunk:
                break
            cut = chunk.rfind(b"\n")
            if cut < 0:  # one line longer than a block: keep reading
                carry.append(chunk)
                continue
            body = b"".join((*carry, memoryview(chunk)[: cut + 1]))  # one copy, not two
            carry = [chunk[cut + 1:]]
            keep = _split_trailing_blank(body)
            if keep == 0:
                blank.append(body)
                continue
            if blank:  # followed by a record: these lines are records (empty ones) after all
                keep += sum(map(len, blank))
                body = b"".join((*blank, body))
                blank = []
            if keep < len(body):
                blank.append(body[keep:])
                body = body[:keep]
            yield Block(source, body, counter.count)
        last = b"".join(carry)
        if last.strip(b" \t\r\n"):
            body = b"".join((*blank, last if last.endswith(b"\n") else last + b"\n"))
            keep = _split_trailing_blank(body)
            yield Block(source, body[:keep], counter.count)
    finally:
        if source.path is not None:
            stream.close()


@dataclass(frozen=True)
class FileRange:
    """Whole lines of a plain (uncompressed) file, as a byte range.

    Why: a worker process reads its range itself, so the bytes are not read by the parent and then
    copied through a pipe. `plain_ranges` cuts the same bytes `read_blocks` would yield.
    """

    source: InputFile
    start: int
    end: int
    last: bool  # the range ends the input: a last line without its newline gets one

    def load(self) -> Block:
        assert self.source.path is not None
        try:
            with open(self.source.path, "rb") as f:
                data = os.pread(f.fileno(), self.end - self.start, self.start)
        except OSError as exc:
            raise NewsarchiveError(f"{self.source.name}: cannot read it ({exc.strerror}); check that the file "
                                   "is still there and readable, then run again") from None
        if len(data) != self.end - self.start:
            raise NewsarchiveError(f"{self.source.name}: the file shrank while it was read; run again")
        if self.last and data and not data.endswith(b"\n"):
            data += b"\n"
        return Block(self.source, data, self.end)


_SCAN = 1 << 16
_BLANKS = b" \t\r\n"


def plain_ranges(source: InputFile, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[FileRange] | None:
    """Ranges of whole lines of a plain file, about `block_bytes` each; None for standard input or a
    compressed file, which can only be read as a stream (`read_blocks`)."""
    if source.path is None:
        return None
    try:
        with open(source.path, "rb") as f:
            head = f.read(6)
            size = os.fstat(f.fileno()).st_size
            if head.startswith(GZIP_MAGIC) or _is_zstd(head) or _other_compression(head) or not source.path.is_file():
                return None
            start = len(BOM) if head.startswith(BOM) else 0
            stop = _records_stop(f.fileno(), start, size)
    except OSError:
        return None  # `read_blocks` words the error
    return _ranges(source, start, stop, block_bytes)


def _ranges(source: InputFile, start: int, stop: int, block_bytes: int) -> Iterator[FileRange]:
    assert source.path is not None
    with open(source.path, "rb") as f:
        pos = start
        while pos < stop:
            end = stop if pos + block_bytes >= stop else _after_newline(f.fileno(), pos + block_bytes, stop)
            yield FileRange(source, pos, end, end == stop)
            pos = end


def _after_newline(fd: int, pos: int, stop: int) -> int:
    """The offset just after the first newline at or after `pos` (or `stop`)."""
    while pos < stop:
        chunk = os.pread(fd, min(_SCAN, stop - pos), pos)
        if not chunk:
            return stop
        nl = chunk.find(b"\n")
        if nl >= 0:
            return pos + nl + 1
        pos += len(chunk)
    return stop


def _records_stop(fd: int, start: int, size: int) -> int:
    """Where the records end: whitespace-only lines at the very end are not records (as in
    `read_blocks`), so stop after the newline that ends the last line holding anything else."""
    pos = size
    while pos > start:
        lo = max(start, pos - _SCAN)
        chunk = os.pread(fd, pos - lo, lo)
        kept = len(chunk.rstrip(_BLANKS))
        if kept:
            return _after_newline(fd, lo + kept, size)
        pos = lo
    return start


class Numbered(Protocol):
    """A block's outcome, its lines counted from 1 (validate's `BlockOutcome`)."""

    records: int
    end_of_input: bool

    def renumbered(self, offset: int) -> Self: ...


_N = TypeVar("_N", bound=Numbered)


class LineNumbering:
    """Numbers the lines of an input's blocks on from one another, from 1 again at each input.

    Blocks are checked on their own (in any worker) with lines counted from 1; this runs in the
    parent over outcomes in order, each with `renumbered(offset)`, `records` and `end_of_input`.
    """

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self, outcome: _N) -> _N:
        numbered = outcome.renumbered(self.offset)
        self.offset = 0 if outcome.end_of_input else self.offset + outcome.records
        return numbered
