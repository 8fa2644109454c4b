"""The batch ledger, and completing batches whose append was interrupted.

A batch is in the archive exactly when its articles commit exists: that one commit carries the
rows and, in its commit metadata, everything the ledger and the quarantine need (batch id, input
files with their SHA-256, counts, and the quarantine file already written but not yet committed).
The quarantine and ledger commits that follow are derived from it, so a crash between commits loses
nothing: the next append (or compact) finds the articles commit without a ledger row and completes
it; verify reports it meanwhile.

Each of those follow-up commits carries a Delta transaction id for its batch. A commit is made only
if the table does not hold that id yet, and delta-rs rejects a commit whose id another writer
committed meanwhile, so a batch is recorded exactly once even when a repair races the original run.
Whether a follow-up commit landed is always read from its table (that id), never remembered: an
interrupt can strike right after a commit, and signals are held back during the commit call itself.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import CommitFailedError

from toolkit.archive.files import DataFile, TableFiles
from toolkit.archive.layout import (
    ARTICLES,
    BATCHES,
    BATCHES_SCHEMA,
    CLUSTERS,
    CLUSTERS_SCHEMA,
    META_KEY,
    QUARANTINE,
    QUARANTINE_SCHEMA,
)
from toolkit.archive.near_duplicates import Gathered, index_batch
from toolkit.archive.retry import attempts
from toolkit.archive.tables import Archive, ensure_table
from toolkit.core.interrupts import fault, held

#: A routine repair reads the commits after the newest ledgered one, plus this many before it (an
#: interrupted batch is older than the ledger's newest row only if other runs committed meanwhile).
#: `compact` and `verify` read the whole history.
REPAIR_SLACK = 50

#: Bench-only (bench/bench_near_duplicates.py measures append with and without indexing): set, it
#: skips near-duplicate indexing; `verify` then reports the batch's articles without bands.
BENCH_SWITCH = "NEWSARCHIVE_BENCH_NO_NEAR_DUPLICATES"


@dataclass
class BatchRecord:
    """A batch as its articles commit describes it."""

    batch: str
    files: list[dict[str, Any]]  # {"name", "sha256", "bytes"}
    input: int
    appended: int
    duplicates: int
    quarantined: int
    tool_version: str
    appended_at: dt.datetime
    quarantine_file: DataFile | None = None
    version: int | None = None  # of the articles table, once committed
    data_files: dict[str, str | None] = field(default_factory=dict)  # articles files added: path -> SHA-256

    def metadata(self) -> dict[str, Any]:
        """The commit metadata of the batch's articles commit (JSON)."""
        return {
            "batch": self.batch,
            "files": self.files,
            "input": self.input,
            "appended": self.appended,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "tool_version": self.tool_version,
            "appended_at": self.appended_at.isoformat(),
            "quarantine_file": self.quarantine_file.as_dict() if self.quarantine_file else None,
            "data_files": self.data_files,
        }

    @classmethod
    def from_commit(cls, info: dict[str, Any]) -> BatchRecord | None:
        """The batch described by one entry of `DeltaTable.history()`, if it is a batch commit."""
        meta = info.get(META_KEY)
        if not isinstance(meta, dict) or "batch" not in meta or "input" not in meta:
            return None
        qfile = meta.get("quarantine_file")
        return cls(
            batch=meta["batch"], files=list(meta.get("files") or []), input=int(meta["input"]),
            appended=int(meta["appended"]), duplicates=int(meta["duplicates"]),
            quarantined=int(meta["quarantined"]), tool_version=str(meta.get("tool_version", "")),
            appended_at=dt.datetime.fromisoformat(meta["appended_at"]),
            quarantine_file=DataFile.from_dict(qfile) if qfile else None, version=int(info["version"]),
            data_files=dict(meta.get("data_files") or {}),
        )

    def ledger_row(self) -> pa.Table:
        assert self.version is not None
        return pa.Table.from_pylist([{
            "batch": self.batch, "files": self.files, "input": self.input, "appended": self.appended,
            "duplicates": self.duplicates, "quarantined": self.quarantined, "version": self.version,
            "tool_version": self.tool_version, "appended_at": self.appended_at,
        }], schema=BATCHES_SCHEMA)


def app_id(batch: str) -> str:
    return f"newsarchive-batch:{batch}"


def batch_properties(record: BatchRecord, extra: dict[str, Any] | None = None, **kwargs: Any) -> CommitProperties:
    """Commit properties naming the batch: its transaction id, and its description (plus `extra`) as metadata."""
    return CommitProperties(custom_metadata={META_KEY: {**record.metadata(), **(extra or {})}},
                            app_transactions=[Transaction(app_id(record.batch), 1)], **kwargs)


def commit_once(archive: Archive, table: str, batch: str,
                commit: Callable[[DeltaTable], None], what: str) -> bool:
    """Run `commit` on the latest `table` unless the batch is already there; False if it was."""
    for _ in attempts(what):
        current = archive.table(table)
        if current.transaction_version(app_id(batch)) is not None:
            return False
        try:
            with held():  # a signal now is delivered once the commit is written (or refused)
                commit(current)
                fault(f"ledger.{table}")
            return True
        except CommitFailedError:
            continue  # someone committed meanwhile (maybe this very batch): look again
    raise AssertionError("unreachable")


def complete(archive: Archive, record: BatchRecord, jobs: int | None = None, signed: Gathered | None = None) -> int:
    """Record a committed batch in the quarantine and the ledger, then its near-duplicate bands and
    clusters (each commit at most once); returns how many of its articles joined a cluster. `signed`:
    the batch's committed articles as the staging workers signed them (None: read them back).

    A quarantine file that is gone (only a forced vacuum between the crash and the repair can do
    that) is not committed, so the quarantine table stays readable; verify then reports the batch's
    missing quarantine rows.
    """
    qfile = record.quarantine_file
    if qfile is not None and archive.storage.exists(QUARANTINE, *qfile.path.split("/")):
        def add_quarantine(table: DeltaTable) -> None:
            table.create_write_transaction([qfile.add_action()], mode="append", schema=QUARANTINE_SCHEMA,
                                           commit_properties=batch_properties(record, max_commit_retries=0))
        commit_once(archive, QUARANTINE, record.batch, add_quarantine, f"quarantine of batch {record.batch}")

    def add_row(table: DeltaTable) -> None:
        # The row's file is written here (not by write_deltalake) so that its SHA-256 is known and
        # recorded in the commit adding it, like every data file of the archive.
        files = TableFiles(archive.storage, BATCHES, BATCHES_SCHEMA)
        row = files.write(record.ledger_row())
        try:
            table.create_write_transaction([row.add_action()], mode="append", schema=BATCHES_SCHEMA,
                                           commit_properties=batch_properties(
                                               record, {"ledger_file": row.as_dict()}, max_commit_retries=0))
        except BaseException:
            files.delete([row])
            raise
    commit_once(archive, BATCHES, record.batch, add_row, f"ledger row of batch {record.batch}")
    return index_if_needed(archive, record, jobs, signed)


def index_if_needed(archive: Archive, record: BatchRecord, jobs: int | None = None,
                    signed: Gathered | None = None) -> int:
    """Index the batch's articles for near-duplicates unless done (or it appended none): those
    `signed` at staging, or else read back and signed on `jobs` threads (default: a thread per core)."""
    if not record.appended or not indexing():
        return 0
    return index_batch(archive, record.batch, record.data_files, jobs=jobs, signed=signed).near_duplicates


def indexing() -> bool:
    """Whether appends index near-duplicates (always, but for the bench's switch)."""
    return not os.environ.get(BENCH_SWITCH)


def committed_batches(archive: Archive, after: int | None = None) -> list[BatchRecord]:
    """Batches described by the articles log, oldest first: every one, or those after version `after`."""
    records = (BatchRecord.from_commit(info) for info in archive.commits(ARTICLES, after))
    return sorted((r for r in records if r is not None), key=lambda r: r.version or 0)


def unledgered(archive: Archive, full: bool = False) -> list[BatchRecord]:
    """Committed batches missing from the ledger: appends interrupted after their articles commit."""
    ledger = archive.dataset(BATCHES).to_table(columns=["batch", "version"])
    after = None
    if not full:
        newest = max(ledger.column("version").to_pylist(), default=0)
        after = max(-1, newest - REPAIR_SLACK)
    known = set(ledger.column("batch").to_pylist())  # one per batch: a small set
    return [r for r in committed_batches(archive, after) if r.batch not in known]


def repair(archive: Archive, full: bool = False) -> list[BatchRecord]:
    """Complete every interrupted batch found (among recent commits, or all with `full`); returns them.

    A batch interrupted after its ledger commit but before its minhash or clusters commit is
    completed too (and listed)."""
    pending = unledgered(archive, full)
    for record in pending:
        complete(archive, record)
    done = {r.batch for r in pending}
    for record in unindexed(archive, full):
        if record.batch not in done:
            index_if_needed(archive, record)
            pending.append(record)
    return pending


def unindexed(archive: Archive, full: bool = False) -> list[BatchRecord]:
    """Committed batches with appended rows whose clusters commit is missing (among recent ones)."""
    after = None
    if not full:
        ledger = archive.dataset(BATCHES).to_table(columns=["version"])
        after = max(-1, max(ledger.column("version").to_pylist(), default=0) - REPAIR_SLACK)
    ensure_table(archive, CLUSTERS, CLUSTERS_SCHEMA)
    clusters = archive.table(CLUSTERS)
    return [r for r in committed_batches(archive, after)
            if r.appended and clusters.transaction_version(app_id(r.batch)) is None]
