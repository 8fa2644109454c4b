"""Appending batches: validate, quarantine, deduplicate, and commit the rest in one Delta commit.

    >>> from toolkit.archive import append
    >>> result = append(["build/sample.jsonl"], archive="archive")     # doctest: +SKIP
    >>> result.as_dict()                                               # doctest: +SKIP
    {'version': 1, 'batch': '20261129T142300Z-1a2b3c4d', 'input': 42, 'appended': 42, ...}

How a run goes:
1. Interrupted earlier appends are completed (ledger.repair). Every input is hashed on a thread
   beside the validation of step 2; a file whose SHA-256 is in the ledger is skipped (a pass that
   already began with it is abandoned and started again without it), and if nothing is left the
   run is a no-op.
2. Worker processes (staging.py) validate the inputs block by block with the validate engine,
   convert the valid rows to storage types and hold them per partition (spilled to a local
   temporary file past a memory budget). This process gets back, per block, the counts, the
   invalid lines (written, with their errors, to a quarantine file not yet committed) and the ids.
3. Duplicates: the first occurrence of an id in the batch is kept; ids already archived are dropped,
   found by one DuckDB semi-join over the archive's id column (10 million ids stay in Arrow/DuckDB,
   never become Python objects).
4. Each worker writes its rows, minus the duplicates, as data files per partition, sorted, and
   they are committed in one articles commit whose metadata describes the batch. That commit must
   land right after the version the dedup looked at: if another writer committed first, the new
   commits are checked for our ids and files, and the commit is retried with backoff (files holding
   ids archived meanwhile are rewritten without them).
5. The quarantine file and the ledger row are committed (ledger.complete).

Interrupted at any point, a run leaves its batch either committed (the next append records what is
missing: quarantine, ledger row, catalog) or absent. Whether its articles commit landed is read back
from the log (the batch's transaction id), never from a flag set after the commit call: a signal
arriving inside that call is only delivered once the commit is written (toolkit/interrupts.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from toolkit import __version__
from toolkit.archive.files import DataFile, TableFiles
from toolkit.archive.hooks import committed
from toolkit.archive.layout import ARTICLES, BATCHES, ID_FIELD, QUARANTINE, QUARANTINE_SCHEMA, SORT_KEYS
from toolkit.archive.ledger import (
    BatchRecord,
    app_id,
    batch_properties,
    committed_batches,
    complete,
    indexing,
    repair,
)
from toolkit.archive.near_duplicates import Gathered, Spilled, gather, spill
from toolkit.archive.retry import attempts
from toolkit.archive.staging import StageSpec, StagingPool, member
from toolkit.archive.staging_tasks import TaskSpec, TaskStaging
from toolkit.archive.storage import Storage
from toolkit.archive.tables import Archive, ensure_archive, file_actions
from toolkit.core.errors import EXIT_FINDINGS, EXIT_OK, NewsarchiveError, environment_error
from toolkit.core.executor import chosen_backend, executor
from toolkit.core.interrupts import fault, held
from toolkit.core.jsonl import DEFAULT_BLOCK_BYTES, InputFile, discover
from toolkit.core.progress import byte_progress, status
from toolkit.core.schema import Schema, load_schema
from toolkit.validate import default_jobs
from toolkit.validate.arrays import int64s
from toolkit.validate.engine import LineNumbering, work_items
from toolkit.validate.report import quarantine_line

MEMORY_BUDGET = 512 << 20  # Arrow bytes of valid rows held in memory before spilling to disk
QUARANTINE_FLUSH = 5000  # rejected lines buffered before they are written
DEDUP_MEMORY = "128MB"  # DuckDB's limit while it finds the first occurrence of each id
BLOCK_BYTES = DEFAULT_BLOCK_BYTES  # inputs are validated in blocks of about this size, in parallel
UPLOADS = 8  # data files uploaded at once to an object store


@dataclass
class SkippedFile:
    """An input not appended because its content is already archived (or repeated in this run)."""

    name: str
    sha256: str
    batch: str | None  # the batch that holds it; None when it repeats another input of this run


@dataclass
class AppendResult:
    """What one append did; `as_dict()` is the `--format json` output."""

    version: int
    batch: str | None
    input: int = 0
    appended: int = 0
    duplicates: int = 0
    quarantined: int = 0
    near_duplicates: int = 0  # appended articles that joined a near-duplicate cluster
    skipped: list[SkippedFile] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # batches completed for an interrupted run

    @property
    def noop(self) -> bool:
        """True when nothing was committed: every input was already archived, or held no record."""
        return self.batch is None

    @property
    def exit_code(self) -> int:
        """0 unless every line of the batch was invalid (then 1: nothing could be appended)."""
        if self.appended == 0 and self.quarantined > 0 and self.quarantined == self.input:
            return EXIT_FINDINGS
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "batch": self.batch, "input": self.input, "appended": self.appended,
                "duplicates": self.duplicates, "quarantined": self.quarantined, "near_duplicates": self.near_duplicates}


def append(
    batches: Sequence[str | os.PathLike],
    archive: str | os.PathLike | Archive | None = None,
    schema: str | os.PathLike | Schema | None = None,
    progress: bool = False,
    *,
    partition_by: Sequence[str] | None = None,
    jobs: int | None = None,
    memory_budget: int = MEMORY_BUDGET,
    backend: str | None = None,
) -> AppendResult:
    """Append JSON Lines batches (files, directories, .gz/.zst, or - for stdin) to the archive.

    The archive is created on first use; `partition_by` (a dataset recipe's `partitioning`) only
    applies then. Every input line ends up appended, reported as a duplicate, or quarantined.
    `backend` is the executor, "local" or "ray" (default: $NEWSARCHIVE_EXECUTOR, else local): on Ray
    the workers stage and write the data files in the archive's storage (staging_tasks.py); the
    duplicates and the one commit are decided here either way.
    """
    loaded = schema if isinstance(schema, Schema) else load_schema(schema)
    inputs = discover(batches)
    root = archive.root if isinstance(archive, Archive) else archive
    target = ensure_archive(root, loaded, tuple(partition_by) if partition_by is not None else None)
    # Batches committed up to `start` are in the ledger once repair has run; later ones are
    # checked for our inputs before each commit attempt (a concurrent run of the same file).
    start = target.version
    repaired = [r.batch for r in repair(target)]
    work = tempfile.mkdtemp(prefix="newsarchive-append-")
    try:
        inputs = [_materialize_stdin(s, work) for s in inputs]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as hasher:
            # The inputs are hashed beside the first validation pass (hashlib releases the GIL).
            # Once their hashes are known, an input already archived stops that pass, and the run
            # starts over with what is left (or is a no-op).
            hashes = _Hashing(hasher, inputs)
            while True:
                sources, skipped = inputs, []
                if hashes.done():
                    todo, skipped = _new_inputs(target, hashes.result())
                    if not todo:  # the catalog may still be behind an interrupted run's commits
                        committed(target, rebuild=bool(repaired))
                        return AppendResult(version=target.version, batch=None, skipped=skipped, repaired=repaired)
                    sources = [h.source for h in todo]
                result = _BatchRun(target, loaded, sources, hashes, work, memory_budget, start,
                                   jobs, backend, not progress).execute(progress)
                if result is not None:
                    result.skipped, result.repaired = skipped, repaired
                    committed(target)
                    return result
                # Some input is archived already (by an earlier batch, or by another run that
                # committed first): record what was committed, then append what is left.
                start = target.version
                repaired += [r.batch for r in repair(target)]
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- inputs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Hashed:
    source: InputFile
    sha256: str
    size: int


def _materialize_stdin(source: InputFile, work: str) -> InputFile:
    """Standard input is copied to a temporary file first: its SHA-256 must be known up front."""
    if source.path is not None:
        return source
    path = Path(work) / "stdin.jsonl"
    with open(path, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    return InputFile(name=source.name, path=path)


def _sha256(source: InputFile) -> _Hashed:
    digest = hashlib.sha256()
    size = 0
    try:
        with open(source.path, "rb") as f:  # type: ignore[arg-type]
            while chunk := f.read(4 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise NewsarchiveError(f"{source.name}: cannot read it ({exc.strerror})") from None
    return _Hashed(source, digest.hexdigest(), size)


def _hash_inputs(inputs: list[InputFile]) -> list[_Hashed]:
    with ThreadPoolExecutor(max_workers=min(4, len(inputs))) as pool:  # hashlib releases the GIL
        return list(pool.map(_sha256, inputs))


def _new_inputs(archive: Archive, hashed: list[_Hashed]) -> tuple[list[_Hashed], list[SkippedFile]]:
    """Inputs whose content is not archived yet, and the others (skipped, with their batch)."""
    ledger = archive.dataset(BATCHES).to_table(columns=["batch", "files"])
    known: dict[str, str] = {}
    if ledger.num_rows:
        files = pc.list_flatten(ledger.column("files"))
        batch_of = pc.take(ledger.column("batch"), pc.list_parent_indices(ledger.column("files")))
        shas = pc.struct_field(files, "sha256")
        wanted = pa.array([h.sha256 for h in hashed])
        hit = pc.is_in(shas, value_set=wanted)
        known = dict(zip(pc.filter(shas, hit).to_pylist(), pc.filter(batch_of, hit).to_pylist(), strict=True))
    todo: list[_Hashed] = []
    skipped: list[SkippedFile] = []
    seen: set[str] = set()
    for h in hashed:
        if h.sha256 in known:
            skipped.append(SkippedFile(h.source.name, h.sha256, known[h.sha256]))
        elif h.sha256 in seen:
            skipped.append(SkippedFile(h.source.name, h.sha256, None))
        else:
            seen.add(h.sha256)
            todo.append(h)
    return todo, skipped


def _batch_id(now: dt.datetime) -> str:
    """UTC time to the millisecond, then 8 random hex digits (two runs in the same millisecond)."""
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{uuid.uuid4().hex[:8]}"


class _Hashing:
    """The inputs' SHA-256, computed on a thread once started: a run starts it after forking its
    worker processes, since fork is only safe while no other thread runs."""

    def __init__(self, pool: ThreadPoolExecutor, inputs: list[InputFile]) -> None:
        self.pool = pool
        self.inputs = inputs
        self.future: Future[list[_Hashed]] | None = None

    def start(self) -> None:
        if self.future is None:
            self.future = self.pool.submit(_hash_inputs, self.inputs)

    def done(self) -> bool:
        return self.future is not None and self.future.done()

    def result(self) -> list[_Hashed]:
        self.start()
        assert self.future is not None
        return self.future.result()


class _Superseded(Exception):
    """An input of the run turned out to be archived already: the run stops, nothing committed."""


# --- one batch -------------------------------------------------------------------------------------
class _BatchRun:
    def __init__(self, archive: Archive, schema: Schema, sources: list[InputFile], hashes: _Hashing,
                 work: str, memory_budget: int, checked_version: int, jobs: int | None,
                 backend: str | None = None, quiet: bool = True) -> None:
        self.archive = archive
        self.schema = schema
        self.sources = sources
        self.hashes = hashes
        self.inputs: list[_Hashed] = []  # the sources with their hashes, once known (and new)
        self.work = work
        self.now = dt.datetime.now(dt.timezone.utc)
        self.batch = _batch_id(self.now)
        self.table_schema = archive.articles_schema
        self.partition_by = archive.partition_by
        # Workers write data files straight into a local archive; for S3 they write to a local
        # staging root and this process uploads (pyarrow's S3 client is not fork-safe). Ray's
        # workers are not forked: they write straight to the archive's storage, S3 included.
        self.stagers: StagingPool | TaskStaging
        if chosen_backend(backend) == "local":
            jobs = jobs or default_jobs()
            self.staging_root = os.path.join(work, "staged") if archive.storage.is_s3 else archive.root
            spec = StageSpec(schema, self.table_schema, self.partition_by, self.staging_root,
                             os.path.join(work, "spill"), max(1, memory_budget // max(1, jobs)), indexing())
            self.stagers = StagingPool(spec, jobs)
        else:
            self.staging_root = archive.root
            self.stagers = TaskStaging(TaskSpec(schema, self.table_schema, self.partition_by, archive.root, self.batch,
                                                indexing()), executor(jobs, backend, quiet=quiet))
        self.jobs = jobs  # threads that sign a batch read back (TaskStaging has no `jobs` of its own)
        self.data = TableFiles(archive.storage, ARTICLES, self.table_schema, self.partition_by, SORT_KEYS)
        self.rejects = TableFiles(archive.storage, QUARANTINE, QUARANTINE_SCHEMA)
        self.ids: list[pa.Array] = []  # the valid rows' ids, in batch order
        self.positions: list[np.ndarray] = []  # and their positions (see staging.positions)
        # and their signatures, spilled to `work` until indexing by the local stagers (Ray's tasks send
        # them, and they are spilled here); None once a block came unsigned: then read back
        self.signed: list[Spilled] | None = []
        self.input = 0
        self.quarantined = 0
        self.quarantine_file: DataFile | None = None
        self.written: list[DataFile] = []
        self.progress = False  # progress shown on a terminal
        self.wrote = False  # the stagers have written their files
        self.checked_version = checked_version  # no commit up to it holds our inputs

    def execute(self, progress: bool) -> AppendResult | None:
        """Append the batch; None if another run archived one of its inputs first (nothing committed)."""
        self.progress = progress
        try:
            self._read(progress)
            self._hashes_known(wait=True)
            if self.input == 0:  # nothing to commit: an empty version would only hide that
                self._discard()
                return AppendResult(version=self.archive.version, batch=None)
            return self._commit()
        except _Superseded:
            self._discard()
            return None
        except BaseException as exc:
            self.stagers.close(abort=True)  # before the files are removed: a worker may be writing
            landed = self._landed()
            if not landed:  # nobody references the files written: remove them
                self._discard()
            refused = environment_error(exc)  # a full disk, a read-only archive: one line, not a bug
            if refused is not None and not landed:
                raise NewsarchiveError(f"append to {self.archive.root}: {refused}; nothing was committed") from None
            raise
        finally:
            self.stagers.close()

    def _landed(self) -> bool:
        """Whether this batch's articles commit is in the log, read from a fresh table (never from a
        flag: an interrupt can strike between the commit and any line after it). If the log cannot
        be read, the files are kept: an unreferenced file only costs disk until a vacuum, while a
        referenced one deleted would be lost data."""
        try:
            return self.archive.table(ARTICLES).transaction_version(app_id(self.batch)) is not None
        except Exception:
            return True

    def _hashes_known(self, wait: bool) -> None:
        """Take the sources' hashes once they are known; _Superseded if one is archived already."""
        if self.inputs or not (wait or self.hashes.done()):
            return
        mine = set(self.sources)
        todo, skipped = _new_inputs(self.archive, [h for h in self.hashes.result() if h.source in mine])
        if skipped:
            raise _Superseded()
        self.inputs = todo

    # Phase 1: validate and hold (in the stagers) ------------------------------------------------
    def _read(self, progress: bool) -> None:
        sources = self.sources
        offsets, total = {}, 0
        for s in sources:
            offsets[s] = total
            total += s.size or 0
        sink = self.rejects.stream()
        pending: list[dict[str, Any]] = []
        try:
            with byte_progress(total or None, "append", progress) as bar:
                numbering = LineNumbering()
                items = work_items(sources, lambda s, b: bar.update(offsets[s] + b), BLOCK_BYTES)
                for staged in self.stagers.staged(items):
                    self.hashes.start()  # the workers exist by now
                    outcome = numbering(staged.outcome)
                    self.input += outcome.records
                    for failure in outcome.failures:
                        pending.append(quarantine_line(outcome.source.name, failure))
                    if len(pending) >= QUARANTINE_FLUSH:
                        sink.write(self._rejected(pending))
                        pending = []
                    if len(staged.ids):
                        self.ids.append(staged.ids)
                        self.positions.append(staged.positions)
                        if self.signed is not None and staged.signed is not None:
                            part = staged.signed  # a local stager's file, or signatures from a Ray task
                            self.signed.append(part if isinstance(part, Spilled)
                                               else spill(part, os.path.join(self.work, "signed")))
                        else:
                            self.signed = None
                    self._hashes_known(wait=False)
            if pending:
                sink.write(self._rejected(pending))
        finally:
            self.quarantine_file = sink.close()
        self.quarantined = self.quarantine_file.rows if self.quarantine_file else 0

    def _rejected(self, entries: list[dict[str, Any]]) -> pa.Table:
        """Quarantine rows for rejected lines (per line: these are the few the reference worded)."""
        return pa.table({
            "batch": pa.array([self.batch] * len(entries), pa.string()),
            "file": [e["file"] for e in entries],
            "line": pa.array([e["line"] for e in entries], pa.int64()),
            "id": pa.array([e["id"] if isinstance(e["id"], str) else None for e in entries], pa.string()),
            "raw": [e["raw"] for e in entries],
            "raw_base64": [bool(e.get("raw_base64")) for e in entries],
            "errors": [json.dumps(e["errors"], ensure_ascii=False) for e in entries],
            "quarantined_at": pa.array([self.now] * len(entries), pa.timestamp("us", tz="UTC")),
        }, schema=QUARANTINE_SCHEMA)

    # Phases 2-4: dedup, write, commit -----------------------------------------------------------
    def _commit(self) -> AppendResult | None:
        valid = sum(len(c) for c in self.ids)
        ids = pa.chunked_array(self.ids, pa.string()) if valid else None
        places = np.concatenate(self.positions) if valid else np.zeros(0, np.int64)
        keep = _first_occurrences(ids, places, self.work)
        candidates = _unique(ids, keep)
        seen_paths: set[str] | None = None  # files whose ids were looked up
        for _ in attempts(f"append of batch {self.batch}"):
            table = self.archive.table(ARTICLES)
            version = table.version()
            if self._committed_meanwhile(self.checked_version, version):
                self._discard()
                return None
            self.checked_version = version
            paths = _paths(table) if valid else set()
            new_paths = paths - (seen_paths or set())
            found = pa.array([], pa.string())
            if ids is not None and new_paths:
                dataset = self.archive.dataset(ARTICLES, version)
                if seen_paths is not None:
                    dataset = _only(dataset, new_paths)
                found = _archived_ids(dataset, candidates)
            seen_paths = paths
            if len(found):
                keep &= ~pc.is_in(ids, value_set=found).to_numpy(zero_copy_only=False)
            if not self.wrote:  # the stagers write once, what the first lookup left
                self.wrote = True
                with status(f"append: writing {int(keep.sum()):,} rows as sorted Parquet files", self.progress):
                    self.written = self._publish(self.stagers.write(places[~keep]))
                fault("append.staged")
            elif len(found):  # a concurrent commit archived some of our ids after that
                self.written = self._without(self.written, found)
            record = self._record(int(keep.sum()), valid)
            try:
                with held():  # a signal now is delivered once the commit is written (or refused)
                    table.create_write_transaction(
                        [f.add_action() for f in self.written], mode="append", schema=self.table_schema,
                        partition_by=list(self.partition_by) or None,
                        commit_properties=batch_properties(record, max_commit_retries=0))
                    fault("append.commit")
            except CommitFailedError:
                continue  # another commit landed after `version`: look at it, then try again
            fault("append.committed")
            record.version = version + 1  # no retries inside delta-rs: right after what we read
            joined = complete(self.archive, record, jobs=self.jobs, signed=self._signed(keep))
            return AppendResult(version=record.version, batch=self.batch, input=self.input,
                                appended=record.appended, duplicates=record.duplicates,
                                quarantined=self.quarantined, near_duplicates=joined)
        raise AssertionError("unreachable")

    def _signed(self, keep: np.ndarray) -> Gathered | None:
        """The committed rows' signatures (`keep`: the batch's valid rows that were committed), as
        the stagers computed them; None if some block came unsigned (indexing then reads back)."""
        if self.signed is None or not indexing():
            return None
        signed, self.signed = self.signed, None  # held once: the parts go as the whole is made
        if not signed:
            return None
        return gather(signed, keep)

    def _publish(self, files: list[DataFile]) -> list[DataFile]:
        """Files the stagers wrote, where the archive is: uploaded from the local staging root (S3)."""
        if self.staging_root == self.archive.root:  # written in place
            return files
        staged = Storage.at(self.staging_root)
        self.written = files  # so that a failure part-way removes what was uploaded

        def upload(f: DataFile) -> None:
            pafs.copy_files(staged.fs_path(ARTICLES, *f.path.split("/")),
                            self.archive.storage.fs_path(ARTICLES, *f.path.split("/")),
                            source_filesystem=staged.filesystem, destination_filesystem=self.archive.storage.filesystem)

        try:
            with ThreadPoolExecutor(max_workers=UPLOADS) as pool:  # object stores reward parallel puts
                list(pool.map(upload, files))
        except OSError as exc:
            raise self.archive.storage.error(ARTICLES, "cannot upload a data file", exc) from None
        finally:
            shutil.rmtree(os.path.join(self.staging_root, ARTICLES), ignore_errors=True)
        return files

    def _without(self, files: list[DataFile], found: pa.Array) -> list[DataFile]:
        """The written files minus the rows whose ids are in `found`: files holding some are rewritten
        (their rows are already sorted), the others kept."""
        kept: list[DataFile] = []
        for f in files:
            rows = pq.read_table(self.data.full_path(f.path), filesystem=self.data.fs)
            mask = pc.invert(pc.is_in(rows.column(ID_FIELD), value_set=found))
            if pc.all(mask).as_py():
                kept.append(f)
                continue
            rows = rows.filter(mask)
            if rows.num_rows:
                key = tuple(f.partition[c] for c in self.partition_by)
                kept.append(self.data.write(rows, key, presorted=True))
            self.data.delete([f])
        return kept

    def _discard(self) -> None:
        self.data.delete(self.written)
        self.written = []
        if self.quarantine_file is not None:
            self.rejects.delete([self.quarantine_file])
            self.quarantine_file = None

    def _record(self, appended: int, valid: int) -> BatchRecord:
        files = [{"name": h.source.name, "sha256": h.sha256, "bytes": h.size} for h in self.inputs]
        return BatchRecord(batch=self.batch, files=files, input=self.input, appended=appended,
                           duplicates=valid - appended, quarantined=self.quarantined,
                           tool_version=__version__, appended_at=self.now, quarantine_file=self.quarantine_file,
                           data_files={f.path: f.sha256 for f in self.written})

    def _committed_meanwhile(self, since: int, now: int) -> bool:
        """Did a commit after `since` archive one of our inputs (the same file appended concurrently)?"""
        if now <= since:
            return False
        ours = {h.sha256 for h in self.inputs}
        return any(ours & {f.get("sha256") for f in record.files} for record in committed_batches(self.archive, since))


def _first_occurrences(ids: pa.ChunkedArray | None, places: np.ndarray, work: str) -> np.ndarray:
    """A mask of the rows holding the first occurrence of their id: the smallest batch position.

    DuckDB groups the ids, under a memory limit (spilling to `work` past it): Arrow's group_by took
    twice the memory (+260 MB for 1.4 million ids, while the workers hold their rows) and three times
    the time. The positions are unique, so the rows holding the first ones are found by binary search.
    """
    if ids is None:
        return np.zeros(0, dtype=bool)
    con = duckdb.connect(config={"threads": str(max(1, min(4, os.cpu_count() or 1))), "memory_limit": DEDUP_MEMORY,
                                 "temp_directory": os.path.join(work, "duckdb"), "preserve_insertion_order": "false"})
    try:
        con.register("batch", pa.table({"id": ids, "place": int64s(places)}))
        first = con.execute("SELECT min(place) FROM batch GROUP BY id").to_arrow_table().column(0)
    finally:
        con.close()
    return member(places, np.sort(first.to_numpy()))


def _unique(ids: pa.ChunkedArray | None, keep: np.ndarray) -> pa.Array:
    if ids is None:
        return pa.array([], pa.string())
    return pc.filter(ids, pa.array(keep)).combine_chunks()


def _paths(table: DeltaTable) -> set[str]:
    """Paths of the files a table version references (relative to the table)."""
    return set(file_actions(table).column("path").to_pylist())


def _only(dataset: ds.FileSystemDataset, paths: Iterable[str]) -> ds.FileSystemDataset:
    """The part of a table's dataset made of the given files (paths relative to the table)."""
    wanted = set(paths)
    fragments = [f for f in dataset.get_fragments() if f.path in wanted]
    return ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)


def _archived_ids(dataset: ds.Dataset, candidates: pa.Array) -> pa.Array:
    """The candidate ids present in `dataset`: a DuckDB semi-join over its id column, in bulk.

    The hash table is built on the batch's ids and the archive's ids stream past it. DuckDB has no
    row count for an Arrow scan, so its build-side optimizer could pick the archive (the large side);
    it is switched off, and the query's shape fixes the sides.
    """
    if not len(candidates):
        return pa.array([], pa.string())
    con = duckdb.connect(config={"threads": str(max(1, min(4, os.cpu_count() or 1)))})
    try:
        con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        con.register("archived", dataset.scanner(columns=[ID_FIELD]))
        con.register("batch", pa.table({ID_FIELD: candidates}))
        table = con.execute(f"SELECT a.{ID_FIELD} FROM archived a SEMI JOIN batch b ON a.{ID_FIELD} = b.{ID_FIELD}"
                            ).to_arrow_table()
    except duckdb.Error as exc:
        raise NewsarchiveError(f"cannot look the batch's ids up in the archive ({' '.join(str(exc).split())[:300]}); "
                               "run `newsarchive verify` to find the damaged file") from None
    finally:
        con.close()
    return table.column(ID_FIELD).combine_chunks() if table.num_rows else pa.array([], pa.string())
