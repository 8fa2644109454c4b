"""The archive's tables and their columns: the contract in docs/archive-layout.md, in code.

The articles schema is derived from the article JSON Schema (`Schema.storage_schema()`), so a field
added there is archived without a second list to update. The ledger and quarantine schemas are the
archive's own.
"""

from __future__ import annotations

import pyarrow as pa

from toolkit.core.errors import NewsarchiveError
from toolkit.core.schema import Schema

ARTICLES = "articles"
QUARANTINE = "quarantine"
BATCHES = "batches"
MINHASH = "minhash"  # near-duplicate detection: LSH bands of every article (near_duplicates.py)
CLUSTERS = "clusters"  # near-duplicate cluster membership, latest row per id wins

DATE_FIELD = "published_date"  # year and month are derived from it
DERIVED = ("year", "month")
DEFAULT_PARTITIONING = ("year", "month")
SORT_KEYS = ("source", "published_date", "id")  # within each data file, where the columns exist
ID_FIELD = "id"

#: Commit metadata key holding a batch's description in the articles log (see ledger.py).
META_KEY = "newsarchive"

TABLE_CONFIGURATION = {
    # Keep every commit file, so every version stays reproducible until `compact` vacuums it.
    "delta.enableExpiredLogCleanup": "false",
    "delta.deletedFileRetentionDuration": "interval 168 hours",
}

TIMESTAMP = pa.timestamp("us", tz="UTC")

QUARANTINE_SCHEMA = pa.schema([
    pa.field("batch", pa.string(), nullable=False),
    pa.field("file", pa.string(), nullable=False),
    pa.field("line", pa.int64(), nullable=False),
    pa.field("id", pa.string()),
    pa.field("raw", pa.string(), nullable=False),
    pa.field("raw_base64", pa.bool_(), nullable=False),
    pa.field("errors", pa.string(), nullable=False),
    pa.field("quarantined_at", TIMESTAMP, nullable=False),
])

FILE_TYPE = pa.struct([
    pa.field("name", pa.string()),
    pa.field("sha256", pa.string()),
    pa.field("bytes", pa.int64()),
])

BATCHES_SCHEMA = pa.schema([
    pa.field("batch", pa.string(), nullable=False),
    pa.field("files", pa.list_(FILE_TYPE)),
    pa.field("input", pa.int64(), nullable=False),
    pa.field("appended", pa.int64(), nullable=False),
    pa.field("duplicates", pa.int64(), nullable=False),
    pa.field("quarantined", pa.int64(), nullable=False),
    pa.field("version", pa.int64(), nullable=False),
    pa.field("tool_version", pa.string(), nullable=False),
    pa.field("appended_at", TIMESTAMP, nullable=False),
])


#: One row per article and LSH band: the band's hash (joined on to find candidates) and its slice of
#: the MinHash signature (`mins`, little-endian uint32s: an article's bands in order are its signature).
MINHASH_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("band", pa.int16(), nullable=False),
    pa.field("hash", pa.int64(), nullable=False),
    pa.field("mins", pa.binary(), nullable=False),
    pa.field("published_date", pa.date32()),
    pa.field("source", pa.string()),
])

#: Columns of (near) random bytes, per table: written as plain Parquet, without compression,
#: dictionary or min/max statistics, which cost time there and give nothing (hashes) or little
#: (`mins`: 9 % of a band file, for a third of its encoding time). Measured in docs/near-duplicates.md.
PLAIN_COLUMNS = {MINHASH: ("hash", "mins")}

#: Cluster membership, appended as clusters change: for each id the row with the highest `seq` (the
#: clusters table version that wrote it) is current. Only articles in clusters of two or more.
CLUSTERS_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("cluster", pa.string(), nullable=False),
    pa.field("similarity", pa.float32(), nullable=False),
    pa.field("published_date", pa.date32()),
    pa.field("source", pa.string()),
    pa.field("seq", pa.int64(), nullable=False),
])


def articles_schema(schema: Schema) -> pa.Schema:
    """Every schema field in its storage type, then `year` and `month` derived from published_date."""
    storage = schema.storage_schema()
    index = storage.get_field_index(DATE_FIELD)
    if index < 0 or storage.field(index).type != pa.date32():
        raise NewsarchiveError(
            f"schema {schema.path}: the archive needs a `{DATE_FIELD}` field with format date "
            "(year and month are derived from it)"
        )
    if storage.get_field_index(ID_FIELD) < 0 or storage.field(ID_FIELD).type != pa.string():
        raise NewsarchiveError(f"schema {schema.path}: the archive needs a string `{ID_FIELD}` field to deduplicate")
    clash = [name for name in DERIVED if name in storage.names]
    if clash:
        raise NewsarchiveError(f"schema {schema.path}: fields {', '.join(clash)} clash with derived columns")
    return storage.append(pa.field("year", pa.int32())).append(pa.field("month", pa.int32()))


def check_partitioning(columns: tuple[str, ...] | list[str], schema: pa.Schema) -> tuple[str, ...]:
    """Partition columns a recipe may choose: top-level scalar columns of the articles table."""
    columns = tuple(columns)
    for name in columns:
        index = schema.get_field_index(name)
        if index < 0:
            raise NewsarchiveError(f"partitioning: no column `{name}` in the articles table")
        kind = schema.field(index).type
        if not (pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_date(kind)):
            raise NewsarchiveError(f"partitioning: column `{name}` ({kind}) cannot partition files")
    if len(set(columns)) != len(columns):
        raise NewsarchiveError(f"partitioning: a column appears twice in {list(columns)}")
    if len(columns) == len(schema):
        raise NewsarchiveError("partitioning: at least one column must stay in the data files")
    return columns


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def escape_partition_value(value: str | None) -> str:
    """A folder-safe spelling of a partition value: anything but [A-Za-z0-9_.-] becomes %XX.

    So `/`, `\\`, quotes, newlines and `=` can never make or break a path segment, and `..` stays
    inside `column=..`, never a segment of its own.
    """
    if value is None:
        return NULL_PARTITION
    return "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in value)


def partition_path(columns: tuple[str, ...], values: tuple[object, ...]) -> str:
    """Hive-style folders (`year=2021/month=6`) for one partition; '' when unpartitioned."""
    return "/".join(f"{c}={escape_partition_value(None if v is None else str(v))}"
                    for c, v in zip(columns, values, strict=True))
