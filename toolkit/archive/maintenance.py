"""`compact`: merge small data files, then vacuum files no version within the retention needs.

Appends write at least one file per partition per batch, so a month touched by many small batches
ends up as many small files, and readers pay per file. Compaction rewrites the small files of each
partition into files of about TARGET_FILE_BYTES, sorted like appended files (delta-rs's optimize
would concatenate them and lose the order), and commits the swap with `dataChange: false`: the rows
are unchanged, only their files are. Like append, the commit must land right on the version it was
planned from; if another writer committed first, groups whose files are still there are committed on
the next attempt, and groups whose files another compaction already replaced are dropped.

Vacuum then deletes files removed more than `retention_hours` ago, and files no commit references
(left by interrupted appends) that are older than that. Versions older than the retention can no
longer be read after a vacuum: the retention is how far back time travel keeps working.

Interrupted at any point, compact leaves the archive whole: its commit carries a transaction id of
its own, and after a failure the merged files are removed only if the log shows that commit did not
land (signals are held back during the commit call). Vacuum only deletes files no version within the
retention references, so stopping it part-way leaves the rest for the next run.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import RemoveAction

from toolkit.archive.files import DataFile, TableFiles
from toolkit.archive.hooks import committed
from toolkit.archive.layout import ARTICLES, BATCHES, CLUSTERS, META_KEY, MINHASH, QUARANTINE, SORT_KEYS
from toolkit.archive.ledger import repair
from toolkit.archive.near_duplicates import backfill
from toolkit.archive.retry import attempts
from toolkit.archive.tables import Archive, file_actions, open_archive
from toolkit.core.errors import NewsarchiveError
from toolkit.core.interrupts import fault, held

DEFAULT_RETENTION_HOURS = 168
SMALL_FILE_BYTES = 32 << 20  # Parquet files smaller than this are merged
TARGET_FILE_BYTES = 64 << 20  # Parquet bytes read into one merged file (about 4x that in memory)


@dataclass
class CompactResult:
    """What `compact` did: files merged per table, files vacuumed, batches completed."""

    version: int  # of articles/ afterwards
    files_removed: dict[str, int] = field(default_factory=dict)
    files_added: dict[str, int] = field(default_factory=dict)
    vacuumed: dict[str, int] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "files_removed": self.files_removed, "files_added": self.files_added,
                "vacuumed": self.vacuumed, "repaired": self.repaired}


def compact(archive: str | os.PathLike | Archive | None = None, retention_hours: int = DEFAULT_RETENTION_HOURS,
            *, force: bool = False) -> CompactResult:
    """Complete interrupted batches, merge small files (articles stay sorted), vacuum old files.

    A retention shorter than the tables' deleted-file retention (7 days) is refused unless `force`:
    readers of older versions, and appends still running, could lose files they need.
    """
    target = archive if isinstance(archive, Archive) else open_archive(archive)
    if retention_hours < 0:
        raise NewsarchiveError(f"--retention-hours {retention_hours:g}: must be zero or more")
    configured = _configured_retention_hours(target.table(ARTICLES))
    if retention_hours < configured and not force:
        raise NewsarchiveError(
            f"--retention-hours {retention_hours:g} is below the archive's deleted-file retention "
            f"({configured:g} hours): readers of older versions and appends still running could lose "
            "files; pass --force if nothing else uses the archive now"
        )
    result = CompactResult(version=0, repaired=[r.batch for r in repair(target, full=True)])
    # Every table is merged by newsarchive's own writer (not delta-rs's optimize), so that each file
    # written gets its SHA-256 recorded in the commit that adds it.
    tables = [(ARTICLES, SORT_KEYS), (QUARANTINE, ()), (BATCHES, ())]
    for name, keys in tables:
        result.files_removed[name], result.files_added[name] = _compact_articles(target, name, keys)
    # Articles without bands (archived before near-duplicate detection, or whose batch's files were
    # merged before it was indexed) are indexed now, so the band table covers the articles.
    backfill(target)
    for name, keys in ((MINHASH, ("band", "hash")), (CLUSTERS, ("cluster", "id"))):
        result.files_removed[name], result.files_added[name] = _compact_articles(target, name, keys)
        tables.append((name, keys))
    fault("compact.optimize")
    for name, _ in tables:
        result.vacuumed[name] = _vacuum(target, name, retention_hours, force)
        if name == ARTICLES:
            fault("compact.vacuum")
    result.version = target.version
    committed(target, rebuild=bool(result.repaired))
    return result


# --- articles: sorted merge -----------------------------------------------------------------------
@dataclass
class _Group:
    key: tuple[object, ...]  # partition values, typed
    sources: list[tuple[str, int]]  # (path, size) of the small files merged
    output: list[DataFile] = field(default_factory=list)


def _plan(table: DeltaTable, partition_by: tuple[str, ...]) -> list[_Group]:
    """Groups of small files of one partition, each about TARGET_FILE_BYTES, with two files or more;
    and files whose logged statistics deltalake misreads (see `misread_stats`), even alone."""
    actions = file_actions(table)
    misread = misread_stats(table, actions)
    by_partition: dict[tuple, list[tuple[str, int]]] = {}
    columns = [actions.column(f"partition.{c}").to_pylist() for c in partition_by]
    for i, (path, size) in enumerate(zip(actions.column("path").to_pylist(),
                                         actions.column("size_bytes").to_pylist(), strict=True)):
        if size < SMALL_FILE_BYTES or path in misread:
            by_partition.setdefault(tuple(col[i] for col in columns), []).append((path, size))
    groups: list[_Group] = []
    for key, files in sorted(by_partition.items(), key=lambda kv: str(kv[0])):
        if len(files) < 2 and files[0][0] not in misread:
            continue
        current = _Group(key, [])
        total = 0
        for path, size in sorted(files):
            if current.sources and total + size > TARGET_FILE_BYTES:
                groups.append(current)
                current, total = _Group(key, []), 0
            current.sources.append((path, size))
            total += size
        groups.append(current)
    return [g for g in groups if len(g.sources) > 1 or g.sources[0][0] in misread]


def misread_stats(table: DeltaTable, actions: pa.Table) -> set[str]:
    """Files whose log statistics have a null count but no min/max for a column holding values.

    Archives written before newsarchive bounded every column have such files (long strings,
    timestamps); deltalake prunes them for any filter on that column (see `files.file_stats`), so
    `compact` rewrites them, with full statistics and a SHA-256, rows unchanged.
    """
    rows = actions.column("num_records").to_pylist() if "num_records" in actions.column_names else None
    if rows is None:
        return set()
    misread = [False] * actions.num_rows
    names = actions.column_names
    for column in pa.schema(table.schema().to_arrow()):
        name = column.name
        if f"null_count.{name}" not in names or pa.types.is_nested(column.type):
            continue
        nulls = actions.column(f"null_count.{name}").to_pylist()
        lows = actions.column(f"min.{name}").to_pylist() if f"min.{name}" in names else [None] * len(nulls)
        for i, (n, low, total) in enumerate(zip(nulls, lows, rows, strict=True)):
            if n is not None and low is None and total is not None and n < total:
                misread[i] = True
    return {p for p, bad in zip(actions.column("path").to_pylist(), misread, strict=True) if bad}


def _compact_articles(archive: Archive, name: str = ARTICLES, sort_keys: tuple[str, ...] = SORT_KEYS
                      ) -> tuple[int, int]:
    """Merge the small files of table `name` (articles by default), rows sorted by `sort_keys`."""
    table = archive.table(name)
    partition_by = tuple(table.metadata().partition_columns)
    groups = _plan(table, partition_by)
    if not groups:
        return 0, 0
    schema = pa.schema(table.schema().to_arrow())
    writer = TableFiles(archive.storage, name, schema, partition_by, sort_keys)
    fs = archive.storage.filesystem
    transaction = f"newsarchive-compact:{uuid.uuid4().hex}"  # tells whether this commit landed
    try:
        for group in groups:
            parts = [_read_source(archive, name, fs, p, writer.file_schema) for p, _ in group.sources]
            group.output = [writer.write(pa.concat_tables(parts), group.key)]
        fault("compact.staged")
        for _ in attempts("compact"):
            current = archive.table(name)
            active = set(file_actions(current).column("path").to_pylist())
            stale = [g for g in groups if not all(p in active for p, _ in g.sources)]
            for g in stale:  # another compaction replaced some of these files: ours would duplicate rows
                writer.delete(g.output)
            groups = [g for g in groups if g not in stale]
            if not groups:
                return 0, 0
            now = int(time.time() * 1000)
            actions: list[Any] = []
            for g in groups:
                actions += [f.add_action(data_change=False) for f in g.output]
                actions += [RemoveAction(p, False, now, s, g.output[0].partition) for p, s in g.sources]
            removed = sum(len(g.sources) for g in groups)
            added = sum(len(g.output) for g in groups)
            properties = CommitProperties(
                custom_metadata={META_KEY: {"operation": "compact", "files_removed": removed, "files_added": added,
                                            "data_files": {f.path: f.sha256 for g in groups for f in g.output}}},
                app_transactions=[Transaction(transaction, 1)], max_commit_retries=0)
            try:
                with held():  # a signal now is delivered once the commit is written (or refused)
                    current.create_write_transaction(actions, mode="append", schema=current.schema(),
                                                     partition_by=list(partition_by) or None,
                                                     commit_properties=properties)
                    fault("compact.commit")
            except CommitFailedError:
                continue
            return removed, added
    except BaseException:
        if not _landed(archive, name, transaction):  # the merged files belong to no version: remove them
            for g in groups:
                writer.delete(g.output)
        raise
    raise AssertionError("unreachable")


def _read_source(archive: Archive, name: str, fs: Any, path: str, schema: pa.Schema) -> pa.Table:
    """One file to merge; a missing or unreadable one stops the compaction (nothing is committed):
    merging around it would commit a version that silently lacks its rows."""
    try:
        return pq.read_table(fs.open_input_file(archive.storage.fs_path(name, *path.split("/"))), schema=schema)
    except (OSError, pa.ArrowException) as exc:
        missing = isinstance(exc, FileNotFoundError) or "No such file" in str(exc)
        why = "it is missing" if missing else f"it cannot be read ({' '.join(str(exc).split())[:200]})"
        raise NewsarchiveError(f"{archive.storage.uri(name)}/{path}: {why}; nothing was compacted: run "
                               "`newsarchive verify` to list the damaged files, restore them, then compact") from None


def _landed(archive: Archive, name: str, transaction: str) -> bool:
    """Whether the commit carrying `transaction` is in the table's log (read afresh, never from a
    flag); if the log cannot be read, True: keeping unreferenced files is safe, deleting live ones is not."""
    try:
        return archive.table(name).transaction_version(transaction) is not None
    except Exception:
        return True


# --- vacuum ----------------------------------------------------------------------------------------
_INTERVAL = re.compile(r"interval\s+(\d+(?:\.\d+)?)\s+(second|minute|hour|day|week)s?", re.IGNORECASE)
_HOURS = {"second": 1 / 3600, "minute": 1 / 60, "hour": 1.0, "day": 24.0, "week": 168.0}


def _configured_retention_hours(table: DeltaTable) -> float:
    text = table.metadata().configuration.get("delta.deletedFileRetentionDuration", "interval 1 week")
    match = _INTERVAL.fullmatch(text.strip())
    return float(match.group(1)) * _HOURS[match.group(2).lower()] if match else float(DEFAULT_RETENTION_HOURS)


def _vacuum(archive: Archive, name: str, retention_hours: int, force: bool) -> int:
    table = archive.table(name)
    try:
        deleted = table.vacuum(retention_hours=retention_hours, dry_run=False,
                               enforce_retention_duration=not force, full=True)
    except (DeltaError, OSError, ValueError) as exc:
        raise archive.storage.error(name, "vacuum failed", exc) from None
    return len(deleted)
