"""Opening and creating an archive: its three Delta tables under one root.

    >>> archive = open_archive("archive")          # doctest: +SKIP
    >>> archive.articles().to_table().num_rows     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import CommitProperties, DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import DeltaError, TableNotFoundError

from toolkit.archive.layout import (
    ARTICLES,
    BATCHES,
    BATCHES_SCHEMA,
    CLUSTERS,
    CLUSTERS_SCHEMA,
    DEFAULT_PARTITIONING,
    MINHASH,
    MINHASH_SCHEMA,
    QUARANTINE,
    QUARANTINE_SCHEMA,
    TABLE_CONFIGURATION,
    articles_schema,
    check_partitioning,
)
from toolkit.archive.storage import Storage
from toolkit.core.errors import NewsarchiveError
from toolkit.core.schema import Schema


class DamagedLog(NewsarchiveError):
    """A commit file of a table's `_delta_log` does not parse (cut short, overwritten): a fault
    `verify` names (exit 1); every other command cannot run (exit 2)."""


def _damaged_log(storage: Storage, name: str) -> str | None:
    """The first commit file of `name`'s log that is not JSON Lines, and where, or None.

    Why: delta-rs only says "Json error: Truncated record" (with a Rust backtrace when RUST_BACKTRACE
    is set), not which of the table's commits is damaged.
    """
    import pyarrow.fs as pafs

    fs = storage.filesystem
    try:
        infos = fs.get_file_info(pafs.FileSelector(storage.fs_path(name, "_delta_log"), allow_not_found=True))
    except (OSError, pa.ArrowException):
        return None
    for info in sorted((i for i in infos if i.path.endswith(".json")), key=lambda i: i.path):
        try:
            with fs.open_input_stream(info.path) as stream:
                lines = stream.read().decode("utf-8").splitlines()
        except UnicodeDecodeError:
            return f"_delta_log/{info.base_name} is not UTF-8 text"
        except (OSError, pa.ArrowException):
            continue
        for number, line in enumerate(lines, 1):
            try:
                if line.strip():
                    json.loads(line)
            except json.JSONDecodeError as exc:
                return f"_delta_log/{info.base_name}, line {number}: not valid JSON ({exc.msg})"
    return None


_DESCRIPTIONS = {
    ARTICLES: "newsarchive: validated, deduplicated article records",
    QUARANTINE: "newsarchive: rejected input lines with their errors",
    BATCHES: "newsarchive: the ledger, one row per appended batch",
    MINHASH: "newsarchive: MinHash LSH bands of every article (near-duplicate candidates)",
    CLUSTERS: "newsarchive: near-duplicate cluster membership (latest seq per id)",
}


class Archive:
    """An archive root: `articles/`, `quarantine/` and `batches/` Delta tables (see docs/archive-layout.md)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    # --- where things are ------------------------------------------------------------------------
    @property
    def root(self) -> str:
        return self.storage.root

    @property
    def storage_options(self) -> dict[str, str]:
        """Options for deltalake (and object stores) to reach this archive; empty for a local one."""
        return dict(self.storage.options)

    @property
    def articles_uri(self) -> str:
        return self.storage.uri(ARTICLES)

    @property
    def quarantine_uri(self) -> str:
        return self.storage.uri(QUARANTINE)

    @property
    def batches_uri(self) -> str:
        return self.storage.uri(BATCHES)

    def has(self, name: str) -> bool:
        """Whether the table `name` exists (an archive written by other tools may lack some)."""
        return _exists(self, name)

    def table(self, name: str, version: int | None = None) -> DeltaTable:
        """The Delta table `name` (articles, quarantine or batches), at its latest or a given version."""
        try:
            return DeltaTable(self.storage.uri(name), version=version, storage_options=self.storage_options or None)
        except TableNotFoundError:
            raise NewsarchiveError(
                f"{self.root}: no archive here ({name}/ is missing); create one with `newsarchive append`"
            ) from None
        except (DeltaError, OSError) as exc:
            damage = _damaged_log(self.storage, name)
            if damage:
                raise DamagedLog(f"{self.storage.uri(name)}: the transaction log is damaged: {damage}; restore "
                                 "that file from a backup (the table cannot be read without it)") from None
            if version is not None and "version" in str(exc).lower():
                raise self.storage.error(name, f"no version {version}", exc) from None
            raise self.storage.error(name, "cannot open the table", exc) from None

    # --- what is in it ---------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The current version of `articles/` (one commit per appended batch, plus compactions)."""
        return self.table(ARTICLES).version()

    def commits(self, name: str = ARTICLES, after: int | None = None) -> list[dict]:
        """Commit infos of a table, newest first, each with its `version`: all, or those after `after`.

        deltalake 1.6.6's `DeltaTable.history()` lists the commits in storage but numbers them down
        from the version the table object loaded, so a commit landing in between shifts every label.
        The list is read until the table's version is the same before and after it.
        """
        for _ in range(100):
            table = self.table(name)
            version = table.version()
            limit = None if after is None else version - after
            if limit is not None and limit <= 0:
                return []
            infos = table.history(limit)
            table.update_incremental()
            if table.version() == version:
                return infos
        raise NewsarchiveError(f"{self.storage.uri(name)}: the table kept changing while its history was read; "
                               "run the command again")

    @cached_property
    def partition_by(self) -> tuple[str, ...]:
        return tuple(self.table(ARTICLES).metadata().partition_columns)

    @property
    def articles_schema(self) -> pa.Schema:
        return pa.schema(self.table(ARTICLES).schema().to_arrow())

    def articles(self, version: int | None = None) -> ds.Dataset:
        """The articles at a version (default: the latest) as a pyarrow Dataset, read lazily."""
        return self.dataset(ARTICLES, version)

    def batches(self) -> pa.Table:
        """The ledger: one row per appended batch, in commit order."""
        if not self.has(BATCHES):
            return BATCHES_SCHEMA.empty_table()
        table = self.dataset(BATCHES).to_table()
        return table.sort_by([("version", "ascending")]) if table.num_rows else table

    def quarantine(self) -> pa.Table:
        """Every quarantined line, with its batch, file, line number and errors."""
        if not self.has(QUARANTINE):
            return QUARANTINE_SCHEMA.empty_table()
        return self.dataset(QUARANTINE).to_table()

    def at(self, as_of: int | None = None) -> ArchiveVersion:
        """The archive as of articles version `as_of` (default: the latest), checked to exist.

        The one "archive at version N" that sql's views, the search index and publish read.
        """
        current = self.table(ARTICLES)  # one read of the log: the version and its files agree
        latest = current.version()
        if as_of is not None and not 0 <= as_of <= latest:
            raise NewsarchiveError(f"{self.root}: no version {as_of}; the archive has versions 0 to {latest} "
                                   "(see `newsarchive history`)")
        table = current if as_of is None or as_of == latest else self.table(ARTICLES, as_of)
        return ArchiveVersion(self, latest if as_of is None else as_of, latest, as_of, table)

    def dataset(self, name: str, version: int | None = None, table: DeltaTable | None = None) -> ds.Dataset:
        """A table version's files as a pyarrow Dataset over a native filesystem (`table`: already loaded).

        Built from the add actions in one call (deltalake's `to_pyarrow_dataset` makes fragments one
        by one, about 1.5 ms per file), with each file's partition values as its partition expression.
        """
        table = table if table is not None else self.table(name, version)
        schema = pa.schema(table.schema().to_arrow())
        columns = table.metadata().partition_columns
        actions = file_actions(table)
        expressions: dict[tuple, ds.Expression | None] = {}
        partitions = []
        for values in zip(*(actions.column(f"partition.{c}").to_pylist() for c in columns), strict=True) \
                if columns else [()] * actions.num_rows:
            if values not in expressions:
                expressions[values] = _partition_expression(schema, columns, values)
            partitions.append(expressions[values])
        fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True))
        return ds.FileSystemDataset.from_paths(actions.column("path").to_pylist(), schema=schema, format=fmt,
                                               filesystem=self.storage.subtree(name),
                                               partitions=partitions if columns else None)

    def __repr__(self) -> str:
        return f"Archive({self.root!r})"


@dataclass(frozen=True)
class ArchiveVersion:
    """The archive as of one articles version: nothing committed later is seen.

    `as_of` is what the caller asked for (None: the latest, `version`). The ledger (`batches/`) and
    the quarantine are read at their latest version and cut to the batches whose articles commit is
    at or before `version`, so the version applies to all three tables.
    """

    archive: Archive
    version: int
    latest: int
    as_of: int | None
    articles_table: DeltaTable  # the articles table loaded at `version`

    @property
    def root(self) -> str:
        return self.archive.root

    @cached_property
    def articles(self) -> ds.Dataset:
        """The articles at this version, read lazily."""
        return self.archive.dataset(ARTICLES, table=self.articles_table)

    @cached_property
    def batches(self) -> pa.Table:
        """The ledger rows of the batches in this version, ordered by version and batch."""
        batches = self.archive.batches()
        if batches.num_rows == 0 or "version" not in batches.column_names:
            return batches
        kept = batches.filter(pc.less_equal(batches["version"], self.version))
        keys = [(name, "ascending") for name in ("version", "batch") if name in kept.column_names]
        return kept.sort_by(keys) if keys else kept

    def files(self) -> pa.Table:
        """The articles' add actions at this version (`file_actions`)."""
        return file_actions(self.articles_table)


def open_archive(uri: str | os.PathLike | None = None) -> Archive:
    """Open an existing archive (a local folder, or s3://bucket/prefix with AWS settings from env).

    Only `articles/` must exist to read one; `append` creates the ledger and the quarantine too.
    """
    archive = Archive(Storage.at(uri))
    if not _exists(archive, ARTICLES):
        raise NewsarchiveError(
            f"{archive.root}: no archive here (no articles/ Delta table); create one with `newsarchive append` "
            "or pass --archive URI"
        )
    return archive


def ensure_archive(uri: str | os.PathLike | None, schema: Schema,
                   partition_by: tuple[str, ...] | list[str] | None = None) -> Archive:
    """Open the archive, creating any missing table; the articles columns must match `schema`."""
    archive = Archive(Storage.at(uri))
    expected = articles_schema(schema)
    partitioning = check_partitioning(tuple(partition_by or DEFAULT_PARTITIONING), expected)
    for name, arrow, parts in ((ARTICLES, expected, partitioning), (QUARANTINE, QUARANTINE_SCHEMA, ()),
                               (BATCHES, BATCHES_SCHEMA, ()), (MINHASH, MINHASH_SCHEMA, ()),
                               (CLUSTERS, CLUSTERS_SCHEMA, ())):
        if not _exists(archive, name):
            _create(archive, name, arrow, parts)
        found = archive.table(name)
        if _columns(found.schema()) != _columns(DeltaSchema.from_arrow(arrow)):
            raise NewsarchiveError(
                f"{archive.storage.uri(name)}: the table's columns differ from "
                + (f"schema {schema.path}" if name == ARTICLES else "this version of newsarchive")
                + "; append with the schema the archive was created with"
            )
        if name == ARTICLES and partition_by is not None and tuple(found.metadata().partition_columns) != partitioning:
            raise NewsarchiveError(
                f"{archive.articles_uri}: partitioned by {list(found.metadata().partition_columns)}, "
                f"not {list(partitioning)}; partitioning is chosen when the archive is created"
            )
    return archive


def ensure_table(archive: Archive, name: str, schema: pa.Schema) -> None:
    """Create an unpartitioned table of the archive's own if it is missing (near-duplicate tables of
    archives written before them)."""
    if not _exists(archive, name):
        _create(archive, name, schema, ())


def _partition_expression(schema: pa.Schema, columns: list[str], values: tuple) -> ds.Expression | None:
    expression = None
    for column, value in zip(columns, values, strict=True):
        term = (ds.field(column).is_null() if value is None
                else ds.field(column) == pa.scalar(value).cast(schema.field(column).type))
        expression = term if expression is None else expression & term
    return expression


def file_actions(table: DeltaTable) -> pa.Table:
    """The add actions of a table version (flattened), with `path` decoded to the file's real name.

    The log stores paths URI-encoded (a folder `source=a%2Fb` is logged as `source=a%252Fb`);
    `get_add_actions` returns them as logged.
    """
    actions = pa.table(table.get_add_actions(flatten=True))
    paths = pa.array([unquote(p) for p in actions.column("path").to_pylist()], pa.string())
    return actions.set_column(actions.schema.get_field_index("path"), "path", paths)


def _exists(archive: Archive, name: str) -> bool:
    try:
        return DeltaTable.is_deltatable(archive.storage.uri(name), archive.storage_options or None)
    except (DeltaError, OSError) as exc:
        raise archive.storage.error(name, "cannot reach it", exc) from None


def _create(archive: Archive, name: str, schema: pa.Schema, partition_by: tuple[str, ...]) -> None:
    try:
        # No retries: a writer that loses the race for version 0 must not commit a second
        # CREATE TABLE as version 1 (delta-rs would); it finds the table made by the winner.
        DeltaTable.create(archive.storage.uri(name), schema, mode="ignore", partition_by=list(partition_by) or None,
                          name=name, description=_DESCRIPTIONS[name], configuration=TABLE_CONFIGURATION,
                          storage_options=archive.storage_options or None,
                          commit_properties=CommitProperties(max_commit_retries=0))
    except (DeltaError, OSError) as exc:
        if _exists(archive, name):  # another process created it first
            return
        raise archive.storage.error(name, "cannot create the table", exc) from None


def _columns(schema: DeltaSchema) -> list[tuple[str, str]]:
    return [(f.name, json.dumps(json.loads(f.to_json())["type"], sort_keys=True)) for f in schema.fields]
