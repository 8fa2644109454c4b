"""Writing Parquet data files into a Delta table's folder, ready to be committed by delta-rs.

delta-rs's own writer keeps every partition's file in memory until the whole write ends (a 1.5 GB
append spread over 168 months peaked at 2 GB of RSS), so a multi-gigabyte batch cannot stream
through it. Files are written here instead, one at a time, sorted and zstd-compressed, and their
add actions (path, size, partition values, statistics) are committed together by delta-rs's
transaction API (`DeltaTable.create_write_transaction`): one atomic commit, delta-rs's protocol.

Every file is hashed (SHA-256) as its bytes go out, so its fixity costs no second read; the hash
travels in the DataFile to the commit that records it (docs/archive-layout.md, "Fixity").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake.transaction import AddAction

from toolkit.archive.layout import PLAIN_COLUMNS, partition_path
from toolkit.archive.storage import Storage
from toolkit.core.errors import NewsarchiveError

ROW_GROUP_BYTES = 64 << 20  # uncompressed Arrow bytes per row group
MAX_STATS_STRING = 32  # string bounds in the log are cut to this many characters (see file_stats)
COMPRESSION = "zstd"
DICTIONARY_BYTES = 24  # average bytes per string value (with its offset) to dictionary-encode a column
STATISTICS_BYTES = 48  # ... to write Parquet min/max statistics for it


@dataclass
class DataFile:
    """A Parquet file written under a table's folder, not necessarily committed yet."""

    path: str  # relative to the table root, unescaped (delta-rs encodes it in the log)
    size: int
    rows: int
    partition: dict[str, str | None]
    stats: str
    modified_ms: int
    sha256: str | None = None  # of the file's bytes, computed while writing them (None: unknown)

    def add_action(self, data_change: bool = True) -> AddAction:
        """The add action committing this file (data_change False when rows are only rearranged)."""
        return AddAction(self.path, self.size, self.partition, self.modified_ms, data_change, self.stats)

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "rows": self.rows, "partition": self.partition,
                "stats": self.stats, "modified_ms": self.modified_ms, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataFile:
        """Read `as_dict`'s output, also from metadata written before files had a `sha256`."""
        return cls(**{k: data[k] for k in ("path", "size", "rows", "partition", "stats", "modified_ms")},
                   sha256=data.get("sha256"))


class TableFiles:
    """Writes sorted, zstd-compressed Parquet files for one Delta table."""

    def __init__(self, storage: Storage, table: str, schema: pa.Schema, partition_by: Iterable[str] = (),
                 sort_keys: Iterable[str] = (), writer_id: uuid.UUID | None = None) -> None:
        """`writer_id` names this writer's files (default: a random one); a task that may be retried
        passes a fixed one, so a retry overwrites its lost attempt's files instead of adding more."""
        self.storage = storage
        self.table = table
        self.partition_by = tuple(partition_by)
        self.file_schema = pa.schema([f for f in schema if f.name not in self.partition_by])
        self.sort_keys = [(k, "ascending") for k in sort_keys if k in self.file_schema.names]
        self.fs = storage.filesystem
        self._writer_id = writer_id or uuid.uuid4()
        self._numbers = itertools.count(1)  # thread-safe under the GIL: files may be written in parallel
        self._folders: set[str] = set()  # partition folders made by this writer

    def write(self, rows: pa.Table, partition: tuple[object, ...] = (), *, presorted: bool = False,
              row_bytes: float | None = None) -> DataFile:
        """Write one file holding `rows` (all of one partition), sorted by the sort keys unless they
        already are. `row_bytes`, the average Arrow size of a row when the caller knows it, sizes the
        row groups (measuring a slice of a large table costs a pass over its buffers)."""
        values = {c: None if v is None else str(v) for c, v in zip(self.partition_by, partition, strict=True)}
        empty = [c for c, v in values.items() if v == ""]
        if empty:
            raise NewsarchiveError(f"partition column {empty[0]} holds an empty string, which Delta reads back as "
                                   "null; partition the archive by another column")
        rows = rows.select(self.file_schema.names).cast(self.file_schema)
        if self.sort_keys and not presorted and rows.num_rows > 1:
            rows = rows.combine_chunks()  # a take from a chunked table concatenates it first anyway
            rows = rows.take(pc.sort_indices(rows, sort_keys=self.sort_keys))
        rel = self.new_path(partition)
        full = self.full_path(rel)
        per_row = max(1, int(row_bytes or rows.nbytes / max(1, rows.num_rows)))
        try:
            with self.fs.open_output_stream(full) as stream:
                out = HashingSink(stream)
                # Dictionaries for short values (outlet, language, dates, tags), not for long text where
                # Parquet would build one only to give it up; min/max statistics for the columns that
                # can prune (ids too), not for article bodies, where they cost comparisons for nothing;
                # the table's PLAIN_COLUMNS (random bytes) get none of it, nor compression.
                plain = PLAIN_COLUMNS.get(self.table, ())
                codecs = {c: "none" if c in plain else COMPRESSION for c in rows.schema.names}
                pq.write_table(rows, out, compression=codecs,
                               use_dictionary=[c for c in _short_columns(rows, DICTIONARY_BYTES) if c not in plain],
                               write_statistics=[c for c in _short_columns(rows, STATISTICS_BYTES) if c not in plain],
                               row_group_size=max(1024, ROW_GROUP_BYTES // per_row))
                size = stream.tell()
        except BaseException:  # a full disk mid-file: the part written is nobody's, remove it
            with contextlib.suppress(OSError):
                self.fs.delete_file(full)
            raise
        return DataFile(rel, size, rows.num_rows, values, file_stats(rows), int(time.time() * 1000), out.hexdigest())

    def new_path(self, partition: tuple[object, ...] = ()) -> str:
        """A new file's path relative to the table: partition folders, then a unique name."""
        folder = partition_path(self.partition_by, partition)
        name = f"part-{next(self._numbers):05d}-{self._writer_id}-c000.{COMPRESSION}.parquet"
        return f"{folder}/{name}" if folder else name

    def full_path(self, rel: str) -> str:
        """Where the filesystem writes `rel` (its folders made, on a local disk)."""
        full = self.storage.fs_path(self.table, *rel.split("/"))
        folder = full.rsplit("/", 1)[0]
        if not self.storage.is_s3 and folder not in self._folders:
            self.fs.create_dir(folder, recursive=True)
            self._folders.add(folder)
        return full

    def stream(self) -> StreamedFile:
        """One unpartitioned file written a table at a time (for rows that arrive in a stream)."""
        return StreamedFile(self)

    def delete(self, files: Iterable[DataFile]) -> None:
        """Remove files that will not be committed (best effort: vacuum removes leftovers)."""
        for f in files:
            with contextlib.suppress(OSError):
                self.fs.delete_file(self.storage.fs_path(self.table, *f.path.split("/")))


class StreamedFile:
    """A Parquet file whose rows are written as they come; `close()` gives its DataFile."""

    def __init__(self, files: TableFiles) -> None:
        self.files = files
        self.rel = ""
        self.rows = 0
        self._out = None
        self._writer: pq.ParquetWriter | None = None

    def write(self, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        if self._writer is None:
            self.rel = self.files.new_path()
            self._out = HashingSink(self.files.fs.open_output_stream(self.files.full_path(self.rel)))
            self._writer = pq.ParquetWriter(self._out, self.files.file_schema, compression=COMPRESSION)
        self._writer.write_table(rows.select(self.files.file_schema.names).cast(self.files.file_schema))
        self.rows += rows.num_rows

    def close(self) -> DataFile | None:
        """Finish the file; None when no row was written (no file then)."""
        if self._writer is None:
            return None
        self._writer.close()
        size = self._out.tell()
        self._out.close()
        self._writer = None
        stats = json.dumps({"numRecords": self.rows})
        return DataFile(self.rel, size, self.rows, {}, stats, int(time.time() * 1000), self._out.hexdigest())


class HashingSink:
    """A writable file that hashes (SHA-256) every byte on its way to the underlying stream.

    pyarrow writes Parquet to any object with `write`; wrapping the output stream this way gives the
    file's hash without reading it back (the bytes are hashed once, while still in memory).
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self._hash = hashlib.sha256()

    def write(self, data: Any) -> int:
        self._hash.update(data)
        return self.stream.write(data)

    def tell(self) -> int:
        return self.stream.tell()

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()

    @property
    def closed(self) -> bool:
        return self.stream.closed

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _short_columns(rows: pa.Table, most: int) -> list[str]:
    """Columns whose values take at most `most` bytes on average (strings, with their offsets)."""
    n = max(1, rows.num_rows)
    return [name for name, col in zip(rows.column_names, rows.columns, strict=True)
            if not pa.types.is_string(col.type) or col.nbytes / n <= most]


def file_stats(rows: pa.Table) -> str:
    """Delta statistics JSON: row count, null counts, and min/max for every column that can have them.

    Every non-nested column holding a value gets bounds, because deltalake (1.6.6) turns a column
    that has a null count but no min/max into `column >= null` in the guarantees of its pyarrow
    fragments, which prunes the file for any filter on that column: `to_pyarrow_table(filters=...)`
    returned no row for titles that exist. Bounds follow Delta's rules for inexact statistics, which
    every reader handles: a long string's minimum is cut to MAX_STATS_STRING characters (a prefix
    sorts first) and its maximum is cut and followed by U+10FFFF (which sorts after any character
    that could follow); timestamps are in milliseconds (the log's precision), the minimum rounded
    down and the maximum up. A column that is all null gets its null count only (no value to bound).
    A file with a column that cannot be bounded (NaN, a timestamp at the end of the calendar) gets
    its row count only, which readers take as "no statistics".
    """
    nulls: dict[str, int] = {}
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    for name, col in zip(rows.column_names, rows.columns, strict=True):
        kind = col.type
        if pa.types.is_nested(kind):
            continue
        nulls[name] = col.null_count
        if col.null_count == len(col):
            continue
        bounds = _bounds(col)
        if bounds is None:
            return json.dumps({"numRecords": rows.num_rows})
        mins[name], maxs[name] = bounds
    return json.dumps({"numRecords": rows.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls},
                      ensure_ascii=False)


_AFTER_ALL = "\U0010ffff"  # the largest code point: sorts after any character a cut string could go on with
_EPOCH = dt.datetime(1970, 1, 1)


def _bounds(col: pa.ChunkedArray | pa.Array) -> tuple[Any, Any] | None:
    """(min, max) of a column with at least one value, as the Delta log spells them; None if unsupported."""
    kind = col.type
    if pa.types.is_timestamp(kind):
        per_ms = {"s": None, "ms": 1, "us": 1000, "ns": 1_000_000}[kind.unit]
        low, high = (v.as_py() for v in pc.min_max(col.cast(pa.int64())).values())
        if per_ms is None:
            low, high = low * 1000, high * 1000
        else:
            low, high = low // per_ms, -(-high // per_ms)  # floor, ceiling
        suffix = "Z" if kind.tz is not None else ""

        def spell(ms: int) -> str:
            return (_EPOCH + dt.timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + suffix
        try:
            return spell(low), spell(high)
        except OverflowError:  # rounded up past year 9999
            return None
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_date32(kind)
            or pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    if pa.types.is_floating(kind) and pc.any(pc.is_nan(col)).as_py():
        return None  # readers order NaN differently (DuckDB: above every number); no bound fits them all
    low, high = (v.as_py() for v in pc.min_max(col).values())
    if isinstance(low, dt.date):
        return low.isoformat(), high.isoformat()
    if isinstance(low, str):
        low = low[:MAX_STATS_STRING]
        if len(high) > MAX_STATS_STRING:
            cut = high[:MAX_STATS_STRING] + _AFTER_ALL
            high = cut if cut >= high else high  # (only a value going on with U+10FFFF itself stays whole)
    return low, high
