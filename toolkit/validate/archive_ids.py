"""Which records of a batch carry an `id` the archive already holds (`newsarchive validate --archive`).

The batch's ids are spooled to a Parquet file as they are validated, and looked up in one DuckDB semi
join against the archive's `id` column (read from the `articles/` Delta table, projected to that one
column). Neither side becomes a Python set, and DuckDB spills to disk when the join outgrows memory,
so an archive of millions of records costs one columnar scan.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from toolkit.core.errors import NewsarchiveError

ID_SPOOL_SCHEMA = pa.schema([
    pa.field("file", pa.int32()),  # index of the input in the report's file list
    pa.field("line", pa.int64()),
    pa.field("id", pa.string()),
    pa.field("valid", pa.bool_()),  # whether the record passed the schema
])


@dataclass(frozen=True)
class ArchivedIds:
    """The archive's ids as a lazily read dataset, and the version they come from.

    Made by the archive stage (`toolkit.archive.archived_ids`), which the caller (the CLI) asks: a
    stage does not import a later one, so validate never opens an archive itself.
    """

    uri: str
    version: int | None
    dataset: pads.Dataset


class IdSpool:
    """The (file, line, id, valid) of each record of a run, written to Parquet for one bulk join."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.path = Path(directory) / "batch-ids.parquet"
        self._writer = pq.ParquetWriter(self.path, ID_SPOOL_SCHEMA, compression="zstd")
        self.rows = 0

    def add(self, file: int, lines: pa.Array, ids: pa.Array, valid: bool) -> None:
        """Add records of one input; records without a string id (null) are left out."""
        if len(ids) == 0:
            return
        n = len(ids)
        table = pa.table([pa.repeat(pa.scalar(file, pa.int32()), n), lines.cast(pa.int64()), ids.cast(pa.string()),
                          pa.repeat(pa.scalar(valid), n)], schema=ID_SPOOL_SCHEMA)
        table = table.filter(pc.is_valid(table["id"]))
        if table.num_rows:
            self._writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> Path:
        self._writer.close()
        return self.path


def find_archived(spool: Path, archived: ArchivedIds, workdir: str | os.PathLike) -> Iterator[pa.RecordBatch]:
    """Rows of the spool whose id is in the archive, ordered by (file, line), as record batches.

    The hash table is built on the batch's ids and the archive's id column streams past it. DuckDB
    has no row estimate for an Arrow dataset, so its build-side optimizer would otherwise choose the
    archive (the large side); it is switched off and the sides are fixed by the query's shape.
    """
    import duckdb

    con = duckdb.connect(config={"temp_directory": os.fspath(workdir)})
    try:
        con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        con.register("archive_articles", archived.dataset)
        reader = con.execute(
            "WITH batch AS (SELECT * FROM read_parquet($spool)), "
            "hits AS (SELECT a.id FROM archive_articles AS a SEMI JOIN batch AS b ON a.id = b.id) "
            "SELECT b.file, b.line, b.id, b.valid FROM batch AS b SEMI JOIN hits AS h ON h.id = b.id "
            "ORDER BY b.file, b.line",
            {"spool": os.fspath(spool)},
        ).to_arrow_reader(64 * 1024)
        yield from reader
    except duckdb.Error as exc:
        raise NewsarchiveError(f"archive {archived.uri}: cannot look the batch's ids up ({exc})") from None
    finally:
        con.unregister("archive_articles")
        con.close()
