"""Write the records as Hub-ready Parquet shards: flat, ordered, zstd, byte-sized row groups, bounded memory.

The archive is read through DuckDB, one publication-date range of about `chunk_bytes` at a time, each
with ORDER BY (published_date, id), and streamed out as Arrow batches: the ranges follow the date, so
their concatenation is the global order, and memory follows the chunk and the row group, never the
archive (a single global ORDER BY held about twice the archive in memory). Row-group and shard
boundaries are decided from the records' content alone (fixed units of rows, sized by their content
bytes), never from how batches happen to arrive, so the same archive version always gives the same
bytes.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from toolkit.core.errors import NewsarchiveError
from toolkit.core.schema import Schema

MB = 1_000_000
DEFAULT_MAX_SHARD_BYTES = 500 * MB
DEFAULT_ROW_GROUP_BYTES = 100 * MB
ORDER_BY = ("published_date", "id")
PARTITION_COLUMNS = ("year", "month")
SPLIT = "train"


@dataclass(frozen=True)
class ShardOptions:
    """Sizes and limits; the defaults are the Hub's sweet spot, tests shrink them."""

    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES
    row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES
    unit_rows: int = 1024  # row groups are cut between units of this many rows
    compression_level: int | None = None  # zstd's default level
    memory_limit: str = "1GB"  # DuckDB's budget for the sort; it spills to disk past it
    chunk_bytes: int = 128 * MB  # records sorted at once (a date range of about this many bytes)
    batch_rows: int = 8192


@dataclass(frozen=True)
class ShardFile:
    path: str  # relative to the snapshot, POSIX separators
    rows: int
    bytes: int
    row_groups: int


@dataclass(frozen=True)
class ShardSet:
    files: tuple[ShardFile, ...]
    num_examples: int
    num_bytes: int  # what `datasets` records as the split's num_bytes (Arrow bytes after loading)
    content_bytes: int  # uncompressed content, for the row-group budget

    @property
    def download_size(self) -> int:
        return sum(f.bytes for f in self.files)


def snapshot_schema(schema: Schema) -> pa.Schema:
    """Arrow schema of the published files: the storage schema, then year and month, plus Hub features."""
    from datasets import Features

    date = next((f for f in schema.fields if f.name == "published_date"), None)
    fields = list(schema.storage_schema())
    names = {f.name for f in fields}
    for name in PARTITION_COLUMNS:
        if name not in names:
            fields.append(pa.field(name, pa.int32(), nullable=not (date is not None and date.required)))
    plain = pa.schema(fields)
    features = Features.from_arrow_schema(plain)
    return plain.with_metadata({"huggingface": json.dumps({"info": {"features": features.to_dict()}})})


def shard_name(index: int, count: int) -> str:
    return f"data/{SPLIT}-{index:05d}-of-{count:05d}.parquet"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select_sql(source: pa.Schema, target: pa.Schema) -> tuple[str, list[str]]:
    """SELECT list over the archive; returns it and the optional columns the archive lacks."""
    present = set(source.names)
    if "published_date" not in present or "id" not in present:
        raise NewsarchiveError("archive articles/ has no published_date or id column; it does not follow the layout")
    columns, missing = [], []
    for field in target:
        if field.name in PARTITION_COLUMNS:
            part = "year" if field.name == "year" else "month"
            columns.append(f"CAST({part}(published_date) AS INTEGER) AS {_quote(field.name)}")
        elif field.name in present:
            columns.append(_quote(field.name))
        elif field.nullable:
            missing.append(field.name)
        else:
            raise NewsarchiveError(
                f"archive articles/ lacks the required column {field.name!r}; it predates the schema or "
                "does not follow the layout"
            )
    return f"SELECT {', '.join(columns)} FROM articles", missing


def _row_bytes(articles: pads.Dataset, sample: int = 64) -> float:
    """Average uncompressed bytes per record, from a sample of Parquet footers (no data is read)."""
    import itertools

    rows = size = 0
    try:
        for fragment in itertools.islice(articles.get_fragments(), sample):
            metadata = fragment.metadata
            rows += metadata.num_rows
            size += sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    except (AttributeError, OSError, pa.ArrowException):
        return 4096.0
    return size / rows if rows else 4096.0


def date_chunks(articles: pads.Dataset, con, chunk_bytes: int) -> list[tuple[object, object, int]]:
    """Consecutive publication-date ranges of about `chunk_bytes` each, in order (None: undated rows).

    Sorting one range at a time keeps memory bounded by the chunk, not the archive, and because the
    ranges follow published_date, their concatenation is the global (published_date, id) order.
    """
    per_chunk = max(1, int(chunk_bytes / max(1.0, _row_bytes(articles))))
    days = con.execute("SELECT published_date, count(*) FROM articles GROUP BY ALL "
                       "ORDER BY published_date NULLS LAST").fetchall()
    chunks: list[tuple[object, object, int]] = []
    start = end = None
    rows = 0
    for day, count in days:
        if day is None:
            continue
        if rows and rows + count > per_chunk:
            chunks.append((start, end, rows))
            start, rows = None, 0
        start = day if start is None else start
        end = day
        rows += count
    if rows:
        chunks.append((start, end, rows))
    undated = sum(count for day, count in days if day is None)
    if undated:
        chunks.append((None, None, undated))
    return chunks


def ordered_batches(articles: pads.Dataset, target: pa.Schema, options: ShardOptions,
                    spill_dir: str, exclude: pa.Array | None = None) -> Iterator[pa.RecordBatch]:
    """Every record in (published_date, id) order, as batches of the target schema, one date range at a
    time; records whose id is in `exclude` (near-duplicate copies, `publish --dedup near`) left out."""
    import duckdb

    select, missing = _select_sql(articles.schema, target)
    order = ", ".join(_quote(c) for c in ORDER_BY)
    partitioned = "year" in articles.schema.names
    con = duckdb.connect(config={"memory_limit": options.memory_limit, "temp_directory": spill_dir})
    try:
        if exclude is None:
            con.register("articles", articles)
        else:  # an anti-join in DuckDB: the archive streams past a hash table of the excluded ids
            con.register("stored", articles)
            con.register("excluded", pa.table({"id": exclude}))
            con.execute("CREATE VIEW articles AS SELECT s.* FROM stored s ANTI JOIN excluded e ON s.id = e.id")
        for first, last, expected in date_chunks(articles, con, options.chunk_bytes):
            if first is None:
                sql, params = f"{select} WHERE published_date IS NULL ORDER BY {order}", []
            else:
                # the year bounds let the scan skip whole year=/month= partitions
                where = "published_date BETWEEN ? AND ?" + (" AND year BETWEEN ? AND ?" if partitioned else "")
                params = [first, last] + ([first.year, last.year] if partitioned else [])  # type: ignore[attr-defined]
                sql = f"{select} WHERE {where} ORDER BY {order}"
            got = 0
            for batch in con.execute(sql, params).to_arrow_reader(options.batch_rows):
                got += batch.num_rows
                arrays = []
                for field in target:
                    if field.name in missing:
                        arrays.append(pa.nulls(batch.num_rows, field.type))
                    else:
                        arrays.append(batch.column(field.name).cast(field.type))
                yield pa.RecordBatch.from_arrays(arrays, schema=target)
            if got != expected:
                raise NewsarchiveError(
                    f"archive articles/: {expected - got} records dated {first} to {last} have a year column "
                    "that disagrees with published_date; the archive is inconsistent (run newsarchive verify)"
                )
    finally:
        con.close()


def _units(batches: Iterator[pa.RecordBatch], unit_rows: int, schema: pa.Schema) -> Iterator[pa.Table]:
    """Re-cut the stream into tables of exactly `unit_rows` rows (the last may be shorter)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= unit_rows:
            table = pa.Table.from_batches(pending, schema=schema)
            yield table.slice(0, unit_rows)
            rest = table.slice(unit_rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending, schema=schema)


def content_bytes(column: pa.ChunkedArray | pa.Array) -> int:
    """Uncompressed size of a column's values, from the values alone (never from buffer layout)."""
    kind = column.type
    n = len(column)
    if pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_string(kind) \
            or pa.types.is_large_binary(kind):
        total = pc.sum(pc.binary_length(column)).as_py() or 0
        return int(total) + 4 * n
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return 4 * n + content_bytes(pc.list_flatten(column))
    if pa.types.is_boolean(kind):
        return (n + 7) // 8
    try:
        return n * kind.bit_width // 8
    except ValueError:
        return int(column.nbytes)


def _table_content_bytes(table: pa.Table) -> int:
    return sum(content_bytes(column) for column in table.columns)


def _writer_options(options: ShardOptions) -> dict:
    params = inspect.signature(pq.ParquetWriter.__init__).parameters
    kwargs: dict = {
        "compression": "zstd",
        "compression_level": options.compression_level,
        "write_page_index": True,
        "write_statistics": True,
        "use_dictionary": True,
        "version": "2.6",
        "sorting_columns": None,
    }
    if "use_content_defined_chunking" in params:  # pyarrow 21+
        kwargs["use_content_defined_chunking"] = True
    return kwargs


def _row_groups(units: Iterator[pa.Table], budget: int) -> Iterator[tuple[pa.Table, int]]:
    """Group units into row groups of at most `budget` content bytes (a lone oversized unit stands alone)."""
    group: list[pa.Table] = []
    size = 0
    for unit in units:
        unit_size = _table_content_bytes(unit)
        if group and size + unit_size > budget:
            yield pa.concat_tables(group).combine_chunks(), size
            group, size = [], 0
        group.append(unit)
        size += unit_size
    if group:
        yield pa.concat_tables(group).combine_chunks(), size


def _datasets_num_bytes(path: Path, features_schema: pa.Schema) -> int:
    """The split bytes `datasets` will record for this file: it reads it back exactly as its loader does."""
    from datasets.table import table_cast

    total = 0
    with open(path, "rb") as handle:
        fragment = pads.ParquetFileFormat().make_fragment(handle)
        if not fragment.row_groups:
            return 0
        batch_size = fragment.row_groups[0].num_rows
        for batch in fragment.to_batches(batch_size=batch_size, batch_readahead=0, fragment_readahead=0):
            table = table_cast(pa.Table.from_batches([batch]), features_schema).combine_chunks()
            total += table.nbytes
    return total


class _Footer:
    """A safe over-estimate of what a shard's footer and page indexes add, learnt from closed shards.

    Every byte a closed shard holds beyond its row groups' data is charged to its row groups, so the
    per-group figure never falls below the real marginal cost.
    """

    def __init__(self, schema: pa.Schema, group_budget: int) -> None:
        metadata = sum(len(k) + len(v) for k, v in (schema.metadata or {}).items())
        self.fixed = 2 * metadata + 4096  # key-value metadata plus the ARROW:schema copy
        self.per_group = 2048 * len(schema) + group_budget // 100  # until measured

    def estimate(self, groups: int) -> int:
        return self.fixed + groups * self.per_group

    def learn(self, file_bytes: int, data_bytes: int, groups: int) -> None:
        if groups:
            self.per_group = max(256, -(-(file_bytes - data_bytes) // groups))


def write_shards(articles: pads.Dataset, schema: Schema, data_dir: Path,
                 options: ShardOptions | None = None, exclude: pa.Array | None = None) -> ShardSet:
    """Write `data/train-NNNNN-of-NNNNN.parquet` into `data_dir`; returns what was written. Records
    whose id is in `exclude` are left out."""
    from datasets import Features

    options = options or ShardOptions()
    target = snapshot_schema(schema)
    features_schema = Features.from_arrow_schema(target).arrow_schema
    budget = max(1, min(options.row_group_bytes, options.max_shard_bytes // 2))
    footer = _Footer(target, budget)
    data_dir.mkdir(parents=True, exist_ok=True)
    writer_kwargs = _writer_options(options)

    written: list[tuple[Path, int, int]] = []  # temporary path, rows, row groups
    total_rows = total_content = total_compressed = 0
    writer: pq.ParquetWriter | None = None
    sink: pa.NativeFile | None = None
    path = data_dir
    rows = groups = data_bytes = 0

    def close_shard() -> None:
        nonlocal writer, sink
        if writer is not None and sink is not None:
            writer.close()
            sink.close()
            footer.learn(path.stat().st_size, data_bytes, groups)
            written.append((path, rows, groups))
        writer, sink = None, None

    with tempfile.TemporaryDirectory(prefix="newsarchive-sort-") as spill:
        batches = ordered_batches(articles, target, options, spill, exclude)
        for group, group_bytes in _row_groups(_units(batches, options.unit_rows, target), budget):
            ratio = total_compressed / total_content if total_content else 1.0
            projected = int(group_bytes * ratio)
            if sink is not None and sink.tell() + projected + footer.estimate(groups + 1) > options.max_shard_bytes:
                close_shard()
            if writer is None or sink is None:
                path = data_dir / f".shard-{len(written):05d}.parquet"
                sink = pa.OSFile(str(path), "wb")
                writer = pq.ParquetWriter(sink, target, **writer_kwargs)
                rows = groups = data_bytes = 0
            before = sink.tell()
            writer.write_table(group, row_group_size=max(1, group.num_rows))
            data_bytes += sink.tell() - before
            total_compressed += sink.tell() - before
            total_content += group_bytes
            total_rows += group.num_rows
            rows += group.num_rows
            groups += 1
        close_shard()

    if not written:  # an empty archive version still publishes one valid, empty shard
        path = data_dir / ".shard-00000.parquet"
        pq.ParquetWriter(str(path), target, **writer_kwargs).close()  # no row group: datasets reads 0 rows
        written.append((path, 0, 0))

    files = []
    num_bytes = 0
    for index, (temporary, shard_rows, shard_groups) in enumerate(written):
        final = data_dir.parent / shard_name(index, len(written))
        os.replace(temporary, final)
        num_bytes += _datasets_num_bytes(final, features_schema)
        files.append(ShardFile(final.relative_to(data_dir.parent).as_posix(), shard_rows, final.stat().st_size,
                               shard_groups))
    return ShardSet(tuple(files), total_rows, num_bytes, total_content)
