"""Staging a batch in worker processes: validate, convert, hold and encode there; decide in the parent.

An append costs per record: decoding and checking the line, converting the valid row, sorting it
into its partition and encoding it as zstd Parquet. All of that runs in worker processes, each of
which keeps the rows it validated in its own `PartitionSpool`. Only what the parent needs in order
to decide crosses a pipe: per block, the counts, the failures (for the quarantine), the ids of
the valid rows, and the name of a file in the run's work folder holding their near-duplicate
signatures with the columns their bands carry (signed and written here, while the rows are held:
the parent indexes the committed rows without reading the batch back, and without unpickling and
writing again 512 bytes a row). Once the parent has decided the duplicates (over the whole batch and the archive),
it sends every worker the same list of rows to drop, and each worker writes its partitions' files
and reports them for the one Delta commit. Rows therefore never travel between processes, and
encoding runs on every core.

A row's place in the batch is `block index << 32 | line in block`: increasing in input order, so
"the first occurrence of an id wins" is "the smallest position wins", whichever worker holds it.

With one job, or a batch of one block, the same stager runs in the parent process.

Why not `toolkit.core.executor`'s `map`: the second phase is worker-affine (each worker writes the
rows it holds, after the parent's decision), which a pool of interchangeable workers cannot express
without sending the rows back through a pipe. So staging keeps its own processes and queues, and
takes every shared piece from core: `default_jobs`, the start context, the worker's set-up
(`prepare_worker`), the in-flight bound, how a worker's error travels (`WorkerFailure`) and the one
line for its death (`worker_died`).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from toolkit.archive.convert import to_storage
from toolkit.archive.files import DataFile, TableFiles
from toolkit.archive.layout import ARTICLES, ID_FIELD, SORT_KEYS
from toolkit.archive.near_duplicates import Signed, Spilled, forked_children_can_sign, sign_rows, spill
from toolkit.archive.spool import PartitionSpool
from toolkit.archive.storage import Storage
from toolkit.core.errors import NewsarchiveError
from toolkit.core.executor import IN_FLIGHT_PER_JOB, WorkerFailure, prepare_worker, start_context, worker_died
from toolkit.core.interrupts import fault
from toolkit.core.jsonl import Block, FileRange
from toolkit.core.schema import Schema
from toolkit.validate.arrays import int64s, strings
from toolkit.validate.engine import LINE_COLUMN, BlockOutcome, Engine, is_marker, marker_outcome

SEQ = "_seq"  # a held row's position in the batch (see the module docstring)
FILE_BYTES = 256 << 20  # Arrow bytes per data file (about 60-80 MB of zstd Parquet for articles)
POLL_SECONDS = 0.5  # how often the parent checks that its workers are alive while it waits


def positions(block: int, lines: np.ndarray) -> np.ndarray:
    """The batch positions of rows at these 1-based lines of a block."""
    return (np.int64(block) << np.int64(32)) + (np.asarray(lines, dtype=np.int64) - 1)


@dataclass
class StageSpec:
    """Everything a stager needs, small enough to pass to a worker process."""

    schema: Schema
    table_schema: pa.Schema  # the articles table's schema (storage types, year and month)
    partition_by: tuple[str, ...]
    write_root: str  # archive root the data files go under (a local staging root for S3 archives)
    spill_dir: str
    memory_budget: int  # Arrow bytes of rows held in memory before spilling, per stager
    sign: bool = True  # sign the valid rows for near-duplicate indexing (near_duplicates.sign_rows)


@dataclass
class StagedBlock:
    """One block's verdicts as the parent gets them: no rows, only the valid rows' ids."""

    index: int
    outcome: BlockOutcome
    ids: pa.Array
    positions: np.ndarray  # of the ids' rows in the batch
    # the valid rows signed, row for row with `ids` (None: not signed): a local stager spills them to
    # its work folder and sends the file's name; Ray's tasks send them (staging_tasks.py)
    signed: Signed | Spilled | None = None


class Stager:
    """One worker's share of a batch: validates blocks, holds their valid rows, writes their files."""

    def __init__(self, spec: StageSpec, name: str, threads: int = 1) -> None:
        self.spec = spec
        self.name = name
        self.threads = threads  # signing threads: one per worker process, --jobs for the parent's stager
        self.engine = Engine(spec.schema, keep_rows=True)
        folder = os.path.join(spec.spill_dir, name)
        os.makedirs(folder, exist_ok=True)
        self.spool = PartitionSpool(spec.table_schema.append(pa.field(SEQ, pa.int64())), spec.partition_by,
                                    SORT_KEYS, spec.memory_budget, folder)
        # Signatures spilled here, one file per block, read by the parent when it indexes (after its
        # commit; the run's work folder is removed after that, not when the stager closes).
        self.signed_dir = os.path.join(folder, "signed")
        self.files = TableFiles(Storage.at(spec.write_root), ARTICLES, spec.table_schema, spec.partition_by,
                                SORT_KEYS)

    def check(self, index: int, item: Block | FileRange) -> StagedBlock:
        """Validate one block and keep its valid rows, converted to storage types."""
        fault("append.staging")
        outcome = self.engine.check_block(item.load() if isinstance(item, FileRange) else item)
        rows = outcome.valid_rows
        ids = strings([])
        places = np.zeros(0, dtype=np.int64)
        signed = None
        if rows is not None and rows.num_rows:
            places = positions(index, rows.column(LINE_COLUMN).to_numpy())
            table = to_storage(rows, self.spec.table_schema).append_column(SEQ, int64s(places))
            ids = table.column(ID_FIELD).combine_chunks()
            signed = sign_rows(table, self.threads) if self.spec.sign else None
            if signed is not None:  # to a file: only its name crosses the pipe (512 bytes a row otherwise,
                signed = spill(signed, self.signed_dir)  # pickled here, unpickled and written again there)
            self.spool.add(table)
        return StagedBlock(index, replace(outcome, valid_rows=None), ids, places, signed)

    def write(self, drop: np.ndarray) -> list[DataFile]:
        """Write the held rows, minus the positions in `drop`, as data files per partition:
        files of about FILE_BYTES, each sorted. On failure, the files written so far are removed."""
        self.spool.finish()
        drop = np.unique(drop)  # sorted, for the binary search
        limit = max(1, int(FILE_BYTES / max(1.0, self.spool.row_bytes)))  # rows per file
        written: list[DataFile] = []
        try:
            for key, pieces in self.spool.pieces(lambda seq: ~member(seq, drop), SEQ):
                for rows, presorted in file_groups(pieces, limit):
                    written.append(self.files.write(rows, key, presorted=presorted, row_bytes=self.spool.row_bytes))
        except BaseException:
            self.files.delete(written)
            raise
        return written

    def close(self) -> None:
        self.spool.close()


def member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """values[i] in sorted_set, by binary search (the set is a sorted numpy array): no hash table."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    at = np.searchsorted(sorted_set, values)
    return sorted_set[np.minimum(at, len(sorted_set) - 1)] == values


def file_groups(pieces: Iterable[pa.Table], limit: int) -> Iterator[tuple[pa.Table, bool]]:
    """One partition's sorted pieces as files of at most `limit` rows: (rows, already sorted).

    A lone piece is written as it is (sliced if too long: slices of a sorted piece are sorted);
    pieces that share a file are merged by sorting them together.
    """
    group: list[pa.Table] = []
    size = 0
    for piece in pieces:
        if piece.num_rows > limit:
            for start in range(0, piece.num_rows, limit):
                yield piece.slice(start, limit), True
            continue
        if size + piece.num_rows > limit and group:
            yield (group[0], True) if len(group) == 1 else (pa.concat_tables(group), False)
            group, size = [], 0
        group.append(piece)
        size += piece.num_rows
    if group:
        yield (group[0], True) if len(group) == 1 else (pa.concat_tables(group), False)


# --- the parent's side --------------------------------------------------------------------------
class StagingPool:
    """Stagers in worker processes (or one in this process), fed blocks, asked for files at the end.

    Use: `staged(items)` yields a StagedBlock per item in item order, then `write(drop)` returns the
    data files of every stager. `close()` always, even after an error.
    """

    def __init__(self, spec: StageSpec, jobs: int) -> None:
        self.spec = spec
        self.jobs = max(1, jobs)
        self._local: Stager | None = None
        self._procs: list[multiprocessing.process.BaseProcess] = []
        self._controls: list[Any] = []
        self._tasks: Any = None
        self._results: Any = None
        self._fed_all = False

    def staged(self, items: Iterable[Block | FileRange]) -> Iterator[StagedBlock]:
        """Verdicts for each item (`engine.work_items`), in order; end-of-input markers included."""
        stream = iter(items)
        head: list[Block | FileRange] = []
        for item in stream:  # look ahead to a second block (markers do not count)
            head.append(item)
            if sum(not is_marker(x) for x in head) == 2:
                break
        if self.jobs == 1 or sum(not is_marker(x) for x in head) < 2:  # one block: no process
            self._local = Stager(self.spec, "local", threads=self.jobs)
            for index, item in enumerate(itertools.chain(head, stream)):
                yield self._pass(index, item) if is_marker(item) else self._local.check(index, item)
            return
        self._start()
        ready: dict[int, StagedBlock] = {}
        expected = 0
        in_flight = 0

        def drain(limit: int) -> Iterator[StagedBlock]:
            """Receive blocks until at most `limit` are in flight, then yield the ones now in order."""
            nonlocal expected, in_flight
            while in_flight > limit:
                block = self._block()
                ready[block.index] = block
                in_flight -= 1
            while expected in ready:
                yield ready.pop(expected)
                expected += 1

        for index, item in enumerate(itertools.chain(head, stream)):
            if is_marker(item):
                ready[index] = self._pass(index, item)
            else:
                self._tasks.put((index, item))
                in_flight += 1
            yield from drain(self.jobs * IN_FLIGHT_PER_JOB - 1)  # so `ready` holds a few blocks at most
        for _ in self._procs:
            self._tasks.put(None)
        self._fed_all = True
        yield from drain(0)

    def write(self, drop: np.ndarray) -> list[DataFile]:
        """Every stager writes its rows minus the positions in `drop` (int64)."""
        if self._local is not None:
            return self._local.write(drop)
        if not self._procs:
            return []
        for control in self._controls:
            control.put(drop)
        written: list[DataFile] = []
        errors: list[BaseException] = []
        waiting = set(range(len(self._procs)))
        while waiting:  # every worker's answer, even after a failure: its files must be known to remove them
            kind, worker, payload = self._next(waiting)
            waiting.discard(worker)
            if kind == "files":
                written.extend(payload)
            else:
                errors.append(self._failure(kind, worker, payload))
        if errors:  # files the other workers wrote will not be committed
            TableFiles(Storage.at(self.spec.write_root), ARTICLES, self.spec.table_schema).delete(written)
            raise errors[0]
        return written

    def close(self, abort: bool = False) -> None:
        """Stop the stagers: told to finish, or with `abort` (the run failed or was interrupted) sent
        SIGTERM at once, since nothing they hold will be committed; each removes what it was writing."""
        if self._local is not None:
            self._local.close()
            self._local = None
        if not self._procs:
            return
        if abort:  # SIGTERM: each worker removes the files it was writing, and ends
            for proc in self._procs:
                with contextlib.suppress(Exception):
                    proc.terminate()
        elif not self._fed_all:
            for _ in self._procs:
                with contextlib.suppress(Exception):
                    self._tasks.put(None)
        for control in self._controls:
            with contextlib.suppress(Exception):
                control.put(None)
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for q in (self._tasks, self._results, *self._controls):
            q.close()
            q.cancel_join_thread()
        self._procs = []

    # internals ------------------------------------------------------------------------------------
    def _start(self) -> None:
        context = start_context()
        if context.get_start_method() == "fork" and self.spec.sign and not forked_children_can_sign():
            # This process already signed (an earlier append in a notebook, a test run): forked workers
            # could not (rensa's thread pool is not theirs), so the batch is signed here after its commit.
            self.spec = replace(self.spec, sign=False)
        self._tasks = context.Queue()
        self._results = context.Queue()
        for worker in range(self.jobs):
            control = context.Queue()
            proc = context.Process(target=_serve, name=f"newsarchive-stager-{worker}", daemon=True,
                                   args=(self.spec, worker, self._tasks, self._results, control, os.getpid()))
            proc.start()
            self._procs.append(proc)
            self._controls.append(control)

    @staticmethod
    def _pass(index: int, marker: Block) -> StagedBlock:
        return StagedBlock(index, marker_outcome(marker), strings([]), np.zeros(0, dtype=np.int64))

    def _block(self) -> StagedBlock:
        """The next block a worker checked; a worker's error, or its death, raises."""
        kind, worker, payload = self._next(set(range(len(self._procs))))
        if kind != "block":
            raise self._failure(kind, worker, payload)
        return payload

    def _next(self, waiting: set[int]) -> tuple[str, int, Any]:
        """The next message from a worker, or ("died", worker, exit code) for a worker in `waiting`
        that ended without one."""
        while True:
            try:
                return self._results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                for worker in waiting:
                    code = self._procs[worker].exitcode
                    if code is not None and code != 0:
                        return "died", worker, code

    @staticmethod
    def _failure(kind: str, worker: int, payload: Any) -> BaseException:
        if kind == "interrupted":  # SIGTERM reached a worker: the run is interrupted
            return KeyboardInterrupt()
        if kind == "died":
            return worker_died("the append", payload, "nothing was committed")
        return payload.error(worker)


def _serve(spec: StageSpec, worker: int, tasks: Any, results: Any, control: Any, parent: int) -> None:
    """A worker process: stage blocks until the sentinel, then write when told to (or quit on None)."""
    prepare_worker(parent, interrupt_on_term=True)
    _prefer_jemalloc()
    stager: Stager | None = None
    try:
        stager = Stager(spec, f"worker-{worker}")
        while (task := tasks.get()) is not None:
            results.put(("block", worker, stager.check(*task)))
        drop = control.get()
        if drop is not None:
            results.put(("files", worker, stager.write(drop)))
    except KeyboardInterrupt:  # stopped by the parent (see worker_signals)
        with contextlib.suppress(BaseException):
            results.put(("interrupted", worker, None))
    except BaseException as exc:
        failure = WorkerFailure.of(exc, f"append to {spec.write_root}")
        if failure.exit_code is not None and not isinstance(exc, NewsarchiveError):  # the environment refused
            failure = replace(failure, message=f"{failure.message}; nothing was committed")
        results.put(("error", worker, failure))
    finally:
        if stager is not None:
            stager.close()
        results.close()
        results.join_thread()


def _prefer_jemalloc() -> None:
    """Worker processes allocate through jemalloc, returning freed memory at once, when pyarrow has
    it (set here, in our own processes, never in the caller's).

    Why, measured on the 2-core development machine: a worker's held rows are hundreds of megabytes
    of fresh memory, and with pyarrow's default mimalloc the kernel time spent faulting it in was
    about twice jemalloc's (200,000 records: 2.5-4.1 s against 1.5-2.1 s of system CPU; the append
    6-15 % slower). jemalloc's default decay kept freed pages for a while: a worker peaked at about
    600 MB with a 320 MB budget; returning them at once brought that to about 400 MB (4 GB batch)
    at no measurable cost in speed.
    """
    with contextlib.suppress(NotImplementedError, AttributeError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(0)
