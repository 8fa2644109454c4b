"""Staging a batch as retryable tasks of the executor: how `append --executor ray` runs.

The local stagers (staging.py) keep each worker's valid rows in its own memory until the parent has
decided the duplicates: fast, but a worker lost mid-run loses rows nothing else holds. On a cluster
workers are lost (a node is preempted, a task is killed), and Ray's answer is to run the task again
from its input. So here both phases are stateless tasks whose only state is in the archive's storage
(a local folder the cluster sees, or S3):

1. one task per block: validate it, convert the valid rows, sign them for near-duplicate indexing,
   and write them, split by partition, to `<archive>/_staging/<batch>/b<block>-<piece>.parquet`;
   the driver gets the block's verdicts, its ids, positions and signatures (as from a local stager)
   and the pieces' names, sizes and partitions;
2. the driver decides duplicates exactly as for a local run; then one task per group of one
   partition's pieces (about FILE_BYTES of rows): read them, drop the rows at the positions the
   driver named, sort, write the archive's data files and return them. The driver makes the one
   Delta commit of the files the tasks returned.

A retried task writes the same names as its lost attempt did (staged pieces are named by block, a
group's data files by a writer id derived from the batch and the group), so what a dead attempt
left is overwritten, never committed twice nor left behind. The staging folder is removed when the
run ends, committed or not. If the run fails, the data files returned so far are removed; a file a
task was writing when the run was cancelled is unreferenced, and `newsarchive compact` vacuums it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toolkit.archive.convert import to_storage
from toolkit.archive.files import DataFile, TableFiles
from toolkit.archive.layout import ARTICLES, ID_FIELD, SORT_KEYS
from toolkit.archive.near_duplicates import sign_rows
from toolkit.archive.spool import _partition_runs
from toolkit.archive.staging import FILE_BYTES, SEQ, StagedBlock, StagingPool, member, positions
from toolkit.archive.storage import Storage
from toolkit.core.errors import environment_error
from toolkit.core.executor import Done, Executor, Task
from toolkit.core.interrupts import fault
from toolkit.core.jsonl import Block, FileRange
from toolkit.core.schema import Schema
from toolkit.validate.arrays import int64s, strings
from toolkit.validate.engine import LINE_COLUMN, Engine, is_marker

STAGING = "_staging"  # under the archive root: a task-staged batch's pieces, removed when its run ends
_NAMES = uuid.UUID("5d1f3c4e-8a0b-4c6e-9f21-7b3e2a1d0c9f")  # namespace of the groups' writer ids


@dataclass(frozen=True)
class TaskSpec:
    """What every task needs: small, shipped once per run."""

    schema: Schema
    table_schema: pa.Schema
    partition_by: tuple[str, ...]
    root: str  # the archive root, as the cluster's workers reach it
    batch: str
    sign: bool = True  # sign the valid rows for near-duplicate indexing (returned with the block's verdicts)


@dataclass(frozen=True)
class Piece:
    """One block's valid rows of one partition, staged in the archive's storage."""

    block: int
    key: tuple
    path: str  # relative to the archive root
    rows: int
    nbytes: int


# --- in a worker ------------------------------------------------------------------------------------
_spec: TaskSpec | None = None
_engine: Engine | None = None
_storage: Storage | None = None


def _setup(spec: TaskSpec) -> None:
    global _spec, _engine, _storage
    _spec, _engine, _storage = spec, Engine(spec.schema, keep_rows=True), Storage.at(spec.root)


@contextlib.contextmanager
def _storage_errors(table: str, what: str) -> Iterator[None]:
    """A storage failure in a task (S3 unreachable, refused, a missing bucket) as the archive's one
    line; a full or read-only local disk is left to `WorkerFailure`, which words it already."""
    assert _storage is not None
    try:
        yield
    except OSError as exc:
        if environment_error(exc) is not None:
            raise
        raise _storage.error(table, what, exc) from None


def _stage(item: tuple[int, Block | FileRange]) -> tuple[StagedBlock, list[Piece]]:
    """Phase 1: one block's verdicts, its valid rows staged per partition under names fixed by the block."""
    assert _spec is not None and _engine is not None and _storage is not None
    index, block = item
    fault("append.staging")
    outcome = _engine.check_block(block.load() if isinstance(block, FileRange) else block)
    rows = outcome.valid_rows
    ids, places, pieces, signed = strings([]), np.zeros(0, dtype=np.int64), [], None
    if rows is not None and rows.num_rows:
        places = positions(index, rows.column(LINE_COLUMN).to_numpy())
        table = to_storage(rows, _spec.table_schema).append_column(SEQ, int64s(places))
        ids = table.column(ID_FIELD).combine_chunks()
        signed = sign_rows(table) if _spec.sign else None  # in input order, row for row with `ids`
        if _spec.partition_by:
            table = table.take(pc.sort_indices(table, sort_keys=[(c, "ascending") for c in (*_spec.partition_by, SEQ)]))
        folder = _storage.fs_path(STAGING, _spec.batch)
        with _storage_errors(STAGING, "cannot write a staged file"):
            if not _storage.is_s3:
                _storage.filesystem.create_dir(folder, recursive=True)
            for number, (start, end, key) in enumerate(_partition_runs(table, _spec.partition_by)):
                piece = table.slice(start, end - start)
                name = f"b{index:08d}-{number:04d}.parquet"
                with _storage.filesystem.open_output_stream(f"{folder}/{name}") as out:
                    pq.write_table(piece, out, compression="lz4")
                pieces.append(Piece(index, key, f"{STAGING}/{_spec.batch}/{name}", piece.num_rows, piece.nbytes))
    return StagedBlock(index, replace(outcome, valid_rows=None), ids, places, signed), pieces


def _write(item: tuple[int, tuple, list[str], np.ndarray]) -> list[DataFile]:
    """Phase 2: one group of a partition's pieces, minus the dropped positions, as sorted data files."""
    assert _spec is not None and _storage is not None
    group, key, paths, drop = item
    with _storage_errors(STAGING, "cannot read a staged file"):
        rows = pa.concat_tables([pq.read_table(_storage.fs_path(*p.split("/")), filesystem=_storage.filesystem)
                                 for p in paths])
    if len(drop):
        rows = rows.filter(pa.array(~member(rows.column(SEQ).to_numpy(), drop)))
    if not rows.num_rows:
        return []
    files = TableFiles(_storage, ARTICLES, _spec.table_schema, _spec.partition_by, SORT_KEYS,
                       writer_id=uuid.uuid5(_NAMES, f"{_spec.batch}/{group}"))
    order = [(k, "ascending") for k in (*SORT_KEYS, SEQ) if k in rows.column_names]
    rows = rows.combine_chunks()
    rows = rows.take(pc.sort_indices(rows, sort_keys=order))
    row_bytes = rows.nbytes / rows.num_rows
    limit = max(1, int(FILE_BYTES / max(1.0, row_bytes)))
    written = []
    for start in range(0, rows.num_rows, limit):
        with _storage_errors(ARTICLES, "cannot write a data file"):
            written.append(files.write(rows.slice(start, limit), key, presorted=True, row_bytes=row_bytes))
        fault("append.write")
    return written


# --- the driver's side --------------------------------------------------------------------------------
class TaskStaging:
    """`StagingPool`'s interface (`staged`, `write`, `close`) over an executor's tasks."""

    def __init__(self, spec: TaskSpec, pool: Executor) -> None:
        self.spec = spec
        self.pool = pool
        self.storage = Storage.at(spec.root)
        self.pieces: list[Piece] = []
        self.what = f"append to {spec.root}"

    def staged(self, items: Iterable[Block | FileRange]) -> Iterator[StagedBlock]:
        """Verdicts for each item (`engine.work_items`), in order; end-of-input markers included."""
        work = (Done((StagingPool._pass(i, x), [])) if is_marker(x) else (i, x) for i, x in enumerate(items))
        for block, pieces in self.pool.map(Task(_stage, _setup, (self.spec,), what=self.what), work):
            self.pieces.extend(pieces)
            yield block

    def write(self, drop: np.ndarray) -> list[DataFile]:
        """Every partition's rows minus the positions in `drop`, written by tasks; their files."""
        drop = np.unique(drop)
        written: list[DataFile] = []
        try:
            for files in self.pool.map(Task(_write, _setup, (self.spec,), what=self.what), self._groups(drop)):
                written.extend(files)
        except BaseException:
            TableFiles(self.storage, ARTICLES, self.spec.table_schema).delete(written)
            raise
        return written

    def _groups(self, drop: np.ndarray) -> Iterator[tuple[int, tuple, list[str], np.ndarray]]:
        """(group, partition, pieces, dropped positions of their blocks): about FILE_BYTES of rows each."""
        by_key: dict[tuple, list[Piece]] = {}
        for piece in self.pieces:
            by_key.setdefault(piece.key, []).append(piece)
        number = 0
        for key in sorted(by_key, key=lambda k: tuple((v is not None, v) for v in k)):
            group: list[Piece] = []
            size = 0
            for piece in sorted(by_key[key], key=lambda p: p.block):
                if group and size + piece.nbytes > FILE_BYTES:
                    yield number, key, [p.path for p in group], _dropped(drop, group)
                    number, group, size = number + 1, [], 0
                group.append(piece)
                size += piece.nbytes
            if group:
                yield number, key, [p.path for p in group], _dropped(drop, group)
                number += 1

    def close(self, abort: bool = False) -> None:
        """The staging folder goes, whatever happened (the committed rows are in the data files)."""
        with contextlib.suppress(OSError):
            self.storage.filesystem.delete_dir(self.storage.fs_path(STAGING, self.spec.batch))
        if not self.storage.is_s3:  # the parent folder too, once no other run stages there
            with contextlib.suppress(OSError):
                os.rmdir(self.storage.fs_path(STAGING))


def _dropped(drop: np.ndarray, pieces: list[Piece]) -> np.ndarray:
    """The positions in `drop` (sorted) that fall in these pieces' blocks."""
    parts = []
    for block in sorted({p.block for p in pieces}):
        low, high = np.searchsorted(drop, [np.int64(block) << 32, np.int64(block + 1) << 32])
        parts.append(drop[low:high])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
