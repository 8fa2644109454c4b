"""The archive's tables as DuckDB views over plain Parquet files, at one version.

A Delta table's version is a list of Parquet files (its log's adds minus its removes). The views read
exactly that list with `read_parquet`, which every DuckDB has built in, so neither the catalog file
nor `newsarchive sql` needs the delta extension; files that a compaction replaced, or that an
interrupted append left behind, are never read. Partition columns (`year`, `month`) come from the
hive folders (`year=2021/month=6`), so DuckDB skips the files of other months when a query filters
on them.

Views (see docs/archive-layout.md for the columns of the first three):

- `articles`: the articles at the version, with `year` and `month`;
- `batches`: the ledger rows of the batches in that version;
- `quarantine`: the lines those batches quarantined;
- `articles_per_month`: articles per (year, month, source, language);
- `sources`: one row per outlet: languages, counts, first and last date, days silent;
- `catalog_info`: the version the views show, the archive's latest version, and whether they agree;
- `near_duplicates`: `id`, `cluster` (its representative's id), `cluster_size`, `similarity` (estimated
  Jaccard to the representative) for every article in a near-duplicate cluster of two or more
  (docs/near-duplicates.md); the clusters are the latest, restricted to the articles of the version;
- `unique_articles`: the articles minus the members of a cluster that are not its representative.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

from toolkit import __version__
from toolkit.archive.layout import (
    ARTICLES,
    BATCHES,
    BATCHES_SCHEMA,
    CLUSTERS,
    CLUSTERS_SCHEMA,
    QUARANTINE,
    QUARANTINE_SCHEMA,
)
from toolkit.archive.tables import Archive, ArchiveVersion, file_actions, open_archive
from toolkit.core.errors import NewsarchiveError
from toolkit.sql.quote import identifier, literal, string_list

#: The views every connection and catalog defines, in the order they are created.
VIEWS = ("articles", "batches", "quarantine", "articles_per_month", "sources", "catalog_info", "near_duplicates",
         "unique_articles")

#: Delta reader features plain Parquet reads would get wrong (rows deleted by vector, renamed columns).
_UNSUPPORTED_FEATURES = ("deletionVectors", "columnMapping")


@dataclass(frozen=True)
class TableFiles:
    """One Delta table at one version: its data files (absolute paths or URIs) and its columns."""

    name: str
    files: list[str]
    columns: list[tuple[str, str]]  # (name, DuckDB type), in the table's order
    partition_by: tuple[str, ...] = ()
    relative: list[str] = field(default_factory=list)  # the same files as the log names them

    def type_of(self, column: str) -> str:
        return dict(self.columns)[column]


@dataclass(frozen=True)
class Snapshot:
    """The three tables of an archive at one version (`toolkit.archive.ArchiveVersion`) as DuckDB sees
    them: file lists and columns."""

    at: ArchiveVersion
    articles: TableFiles
    batches: TableFiles
    quarantine: TableFiles
    clusters: TableFiles
    taken_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def root(self) -> str:
        return self.at.root

    @property
    def version(self) -> int:
        return self.at.version

    @property
    def latest(self) -> int:
        return self.at.latest

    @property
    def as_of(self) -> int | None:
        return self.at.as_of

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def data_files(self) -> list[str]:
        return [*self.articles.files, *self.batches.files, *self.quarantine.files, *self.clusters.files]


def snapshot(archive: str | os.PathLike | Archive | None = None, as_of: int | None = None) -> Snapshot:
    """The file lists and columns of the archive's tables at articles version `as_of` (default: latest).

    The ledger and quarantine are read at their latest version; the views keep the batches whose
    articles commit is at or before the version, so the version applies to all three.
    """
    target = archive if isinstance(archive, Archive) else open_archive(archive)
    at = target.at(as_of)
    articles = _table_files(target, ARTICLES, at.articles_table)
    if as_of is not None and not target.storage.is_s3:
        gone = sum(not os.path.exists(f) for f in articles.files)
        if gone:
            raise NewsarchiveError(
                f"{target.root}: version {as_of} can no longer be read: `compact` vacuumed {gone} of its "
                f"{len(articles.files)} data files (versions older than its retention are gone); "
                "query a later version (see `newsarchive history`)"
            )
    batches = _table_files(target, BATCHES, None, BATCHES_SCHEMA)
    quarantine = _table_files(target, QUARANTINE, None, QUARANTINE_SCHEMA)
    clusters = _table_files(target, CLUSTERS, None, CLUSTERS_SCHEMA)
    return Snapshot(at, articles, batches, quarantine, clusters)


def _table_files(archive: Archive, name: str, table: DeltaTable | None, fallback: pa.Schema | None = None
                 ) -> TableFiles:
    if fallback is not None and not archive.storage.exists(name, "_delta_log"):
        return TableFiles(name, [], duckdb_columns(fallback))  # an archive written by other tools may lack it
    table = table if table is not None else archive.table(name)
    _check_protocol(archive, name, table)
    schema = pa.schema(table.schema().to_arrow())
    partition_by = tuple(table.metadata().partition_columns)
    base = archive.storage.uri(name)
    paths = file_actions(table).column("path").to_pylist()
    files, relative = [], sorted(paths)
    for path in relative:
        if partition_by and not all(f"{c}=" in path for c in partition_by):
            raise NewsarchiveError(
                f"{base}: data file {path} is not in hive folders ({'/'.join(c + '=...' for c in partition_by)}); "
                "DuckDB could not see its partition values; rewrite the table with newsarchive or delta-rs"
            )
        files.append(_join(base, path))
    return TableFiles(name, files, duckdb_columns(schema), partition_by, relative)


def _check_protocol(archive: Archive, name: str, table: DeltaTable) -> None:
    protocol = table.protocol()
    features = set(protocol.reader_features or [])
    if protocol.min_reader_version == 2:
        features.add("columnMapping")
    bad = [f for f in _UNSUPPORTED_FEATURES if f in features]
    if bad:
        raise NewsarchiveError(
            f"{archive.storage.uri(name)}: the table uses Delta features ({', '.join(bad)}) that plain Parquet "
            "reads would get wrong; query it with DuckDB's delta extension (delta_scan) instead"
        )


def _join(base: str, path: str) -> str:
    if "://" in path or path.startswith("/"):
        return path  # the log may name a file by its full URI
    if base.startswith("s3://"):
        return posixpath.join(base, path)
    return os.path.join(base, *path.split("/"))


def duckdb_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each Arrow field, as DuckDB itself maps them (and as it reads Parquet)."""
    con = duckdb.connect()
    try:
        con.register("empty_table", schema.empty_table())
        return [(row[0], row[1]) for row in con.execute("DESCRIBE empty_table").fetchall()]
    finally:
        con.close()


# --- SQL ---------------------------------------------------------------------------------------
def table_sql(table: TableFiles, where: Callable[[str], str]) -> str:
    """A SELECT of the table's columns from its files (named through `where`), or an empty typed SELECT."""
    if not table.files:
        columns = ", ".join(f"CAST(NULL AS {kind}) AS {identifier(name)}" for name, kind in table.columns)
        return f"SELECT {columns} WHERE false"
    columns = ", ".join(identifier(name) for name, _ in table.columns)
    if table.partition_by:
        types = ", ".join(f"{literal(c)}: {literal(table.type_of(c))}" for c in table.partition_by)
        options = f"hive_partitioning = true, hive_types = {{{types}}}, hive_types_autocast = false"
    else:
        options = "hive_partitioning = false"
    return f"SELECT {columns} FROM read_parquet({string_list([where(f) for f in table.files])}, {options})"


def view_statements(snap: Snapshot, where: Callable[[str], str], log_dir: str) -> list[str]:
    """CREATE VIEW statements for the snapshot; `where` spells a file's path, `log_dir` the articles log."""
    # The ledger row of a batch names the articles version it made: the batches (and their quarantined
    # lines) of the version shown, even if another append committed while the file lists were read.
    batches = f"SELECT * FROM ({table_sql(snap.batches, where)}) WHERE version <= {int(snap.version)}"
    quarantine = f"SELECT * FROM ({table_sql(snap.quarantine, where)}) WHERE batch IN (SELECT batch FROM batches)"
    log_glob = literal(log_dir.rstrip("/") + "/*.json")
    # The clusters table is appended to as clusters change: each id's row with the highest seq is
    # current. At an older version, ids not in its articles are left out (and sizes counted without).
    present = "" if snap.as_of is None else " WHERE id IN (SELECT id FROM articles)"
    near = ("CREATE OR REPLACE VIEW near_duplicates AS "
            "SELECT id, cluster, count(*) OVER (PARTITION BY cluster) AS cluster_size, similarity FROM ("
            "SELECT id, arg_max(cluster, seq) AS cluster, arg_max(similarity, seq) AS similarity "
            f"FROM ({table_sql(snap.clusters, where)}){present} GROUP BY id) "
            "QUALIFY cluster_size >= 2")
    return [
        f"CREATE OR REPLACE VIEW articles AS {table_sql(snap.articles, where)}",
        f"CREATE OR REPLACE VIEW batches AS {batches}",
        f"CREATE OR REPLACE VIEW quarantine AS {quarantine}",
        "CREATE OR REPLACE VIEW articles_per_month AS "
        "SELECT year, month, make_date(year, month, 1) AS month_start, source, language, count(*) AS articles, "
        "min(published_date) AS first_date, max(published_date) AS last_date "
        "FROM articles GROUP BY ALL ORDER BY year, month, source, language",
        "CREATE OR REPLACE VIEW sources AS "
        "SELECT source, list(DISTINCT language ORDER BY language) AS languages, count(*) AS articles, "
        "count(DISTINCT (year, month)) AS active_months, min(published_date) AS first_date, "
        "max(published_date) AS last_date, "
        "max(max(published_date)) OVER () - max(published_date) AS days_silent "
        "FROM articles GROUP BY source ORDER BY source",
        # The latest version is read from the log's file names at query time (core glob(), no
        # extension), so a catalog file can tell its reader that it is behind the archive.
        "CREATE OR REPLACE VIEW catalog_info AS "
        f"SELECT {int(snap.version)}::BIGINT AS version, latest_version, "
        f"{int(snap.version)} = latest_version AS up_to_date, {'false' if snap.as_of is None else 'true'} AS as_of, "
        f"{literal(snap.taken_at.isoformat())}::TIMESTAMPTZ AS built_at, {literal(__version__)} AS newsarchive "
        f"FROM (SELECT max(TRY_CAST(parse_filename(file, true) AS BIGINT)) AS latest_version FROM glob({log_glob}))",
        near,
        "CREATE OR REPLACE VIEW unique_articles AS SELECT * FROM articles "
        "WHERE id NOT IN (SELECT id FROM near_duplicates WHERE id <> cluster)",
    ]


def define_views(con: duckdb.DuckDBPyConnection, snap: Snapshot, where: Callable[[str], str] | None = None,
                 log_dir: str | None = None) -> None:
    """Create the views in `con` (absolute paths unless `where` spells them otherwise)."""
    spell = where or (lambda path: path)
    log = log_dir if log_dir is not None else spell(_join(_articles_uri(snap), "_delta_log"))
    try:
        for statement in view_statements(snap, spell, log):
            con.execute(statement)
    except duckdb.Error as exc:
        from toolkit.sql.extensions import first_line

        raise NewsarchiveError(
            f"{snap.root}: cannot define the views over the archive's files ({first_line(exc)}); "
            "run `newsarchive verify` to check the archive"
        ) from None


def _articles_uri(snap: Snapshot) -> str:
    return posixpath.join(snap.root, ARTICLES) if snap.is_s3 else os.path.join(snap.root, ARTICLES)
