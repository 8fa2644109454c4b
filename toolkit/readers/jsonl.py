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
from typing import BinaryIO

from toolkit.errors import NewsarchiveError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
COMPRESSED_SUFFIXES = ("", ".gz", ".zst", ".zstd")
BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DEFAULT_BLOCK_BYTES = 4 << 20


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
    """Expand paths (files, directories searched recursively, `-` for stdin) into inputs, in order."""
    if not paths:
        raise NewsarchiveError("no input given; pass one or more .jsonl files, directories, or - for stdin")
    found: list[InputFile] = []
    for raw in paths:
        text = os.fspath(raw)
        if text == "-":
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
            found.extend(InputFile(name=str(p), path=p) for p in members)
        elif path.is_file():
            found.append(InputFile(name=str(path), path=path))
        elif path.exists():
            raise NewsarchiveError(f"{path}: not a regular file or directory")
        else:
            raise NewsarchiveError(f"{path}: no such file or directory")
    return found


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
    head = _peek(counter, 4)
    if head.startswith(GZIP_MAGIC):
        stream: BinaryIO = gzip.GzipFile(fileobj=_Prefixed(head, counter), mode="rb")  # type: ignore[arg-type]
    elif head.startswith(ZSTD_MAGIC):
        import zstandard

        stream = zstandard.ZstdDecompressor().stream_reader(  # type: ignore[assignment]
            _Prefixed(head, counter), read_across_frames=True
        )
    else:
        stream = _Prefixed(head, counter)  # type: ignore[assignment]
    return stream, counter


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
    while stripped and data[stripped - 1] in b" \t\r\n":  # no rstrip(): it would copy the block
        stripped -= 1
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
    """Yield blocks of whole lines. Whitespace-only lines at the very end are not records."""
    stream, counter = _open(source)
    carry = b""
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
                carry += chunk
                continue
            body = b"".join((carry, memoryview(chunk)[: cut + 1]))  # one copy, not two
            carry = chunk[cut + 1:]
            keep = _split_trailing_blank(body)
            if keep < len(body):
                body, carry = body[:keep], body[keep:] + carry
            if body:
                yield Block(source, body, counter.count)
        if carry.strip(b" \t\r\n"):
            body = carry if carry.endswith(b"\n") else carry + b"\n"
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
            head = f.read(4)
            size = os.fstat(f.fileno()).st_size
            if head.startswith((GZIP_MAGIC, ZSTD_MAGIC)) or not source.path.is_file():
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
