"""The search index: a folder of tantivy indexes (one per language group) that follows the archive.

Layout of `<archive>/search-index/` (or `~/.cache/newsarchive/search/<hash>/` for an S3 or read-only
archive):

- `fr/`, `ar/`, `es/`, ... `other/`: one tantivy index per language group, each with its analyzer
  (BM25 statistics per language, as each language has its own vocabulary). A document holds the
  article's id, source, language and date (indexed, for filters and deletes), its title and text as
  stored bytes (for hits and snippets), and `body`: title and text with marks folded, indexed only.
- `ids/*.parquet`: the ids indexed, one file per update (so an update writes in proportion to it);
  read only when files left the archive (a compaction), to tell moved rows from new ones.
- `state.json`: format, analyzer version, the archive version the index reflects and the data files
  (relative paths, with their row counts) it holds. Written last, atomically.

tantivy grows an index by segments: an update adds a segment of the new articles and merges small
segments in the background (log-structured), so its cost follows the new articles, not the index.
Every commit is atomic. A first build (or rebuild) is written in a temporary folder renamed into
place; an update marks `state.json` pending, commits each group, then replaces `state.json`. An
update that dies in between is redone by the next one, which first deletes every id it adds, so
redoing never duplicates. One updater at a time (a lock file next to the folder); readers never wait.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import tantivy

from toolkit.archive.layout import ARTICLES
from toolkit.archive.tables import Archive, open_archive
from toolkit.core.errors import NewsarchiveError
from toolkit.core.outputs import atomic_path, install_folder
from toolkit.search import analysis
from toolkit.search.analysis import GROUPS, group_of
from toolkit.search.folder import (  # noqa: F401 (INDEX_NAME, FORMAT: part of this module's API)
    FORMAT,
    INDEX_NAME,
    IndexUpdate,
    State,
    commit_file,
    folder_for,
    open_group,
    read_state,
    schema,
    stale_reason,
)
from toolkit.search.folder import write_state as _write_state

LEGACY_INDEX = "search.duckdb"  # the former DuckDB fts index, deleted when this one is first built
IDS = "ids"
READ_COLUMNS = ["id", "published_date", "source", "language", "title", "text"]
_READ_SCHEMA = pa.schema([(name, pa.date32() if name == "published_date" else pa.string()) for name in READ_COLUMNS])
BATCH_ROWS = 2048
#: tantivy's indexing memory per writer thread; a segment is flushed when it is full.
HEAP_PER_THREAD = 32_000_000
MAX_ID_FILES = 64  # more id files than this are merged into one
SMALL_UPDATE = 5_000  # rows; fewer are indexed by one thread per group (one segment each)


# --- where the index is, and whether it is current -------------------------------------------------
def index_path(archive: Archive) -> str:
    """`<archive>/search-index`, or a folder in the user's cache for an S3 or read-only archive."""
    return folder_for(archive.root, is_s3=archive.storage.is_s3)


def is_current(path: Path, state: State, archive: Archive) -> bool:
    """Whether the Delta log holds the state's version and no later one (two file lookups).

    Checking that the version itself is there catches an archive replaced by another, or a log whose
    old commits another tool cleaned up (then the index is brought up to date the long way).
    """
    if stale_reason(state) is not None:
        return False
    try:
        return (archive.storage.exists(*commit_file(state.version))
                and not archive.storage.exists(*commit_file(state.version + 1)))
    except OSError:
        return False


# --- bringing it up to date ----------------------------------------------------------------------
def update_index(archive: str | os.PathLike | Archive | None = None, *, index: str | os.PathLike | None = None,
                 rebuild: bool = False) -> IndexUpdate:
    """Bring the search index up to the archive's latest version (a no-op when it already is).

    `rebuild` builds it from scratch whatever its state. `index` puts it at another folder.
    """
    target = archive if isinstance(archive, Archive) else open_archive(archive)
    path = Path(os.fspath(index) if index is not None else index_path(target)).expanduser()
    state = read_state(path)
    if not rebuild and state is not None and is_current(path, state, target):
        return IndexUpdate(str(path), state.version)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NewsarchiveError(f"{path.parent}: cannot create the search index's folder ({exc.strerror})") from None
    try:
        with _locked(path):
            state = read_state(path)  # another process may have updated it while this one waited
            reason = "--rebuild" if rebuild else stale_reason(state)
            if state is None and path.exists():
                reason = "its state was unreadable"
            if reason is None and state is not None and is_current(path, state, target):
                return IndexUpdate(str(path), state.version)
            if reason is not None or state is None:
                return _build(target, path, reason)
            try:
                return _update(target, path, state)
            except _Inconsistent as exc:
                return _build(target, path, str(exc))
    except OSError as exc:
        raise NewsarchiveError(
            f"{path}: cannot write the search index ({exc.strerror or exc}); check the folder's permissions "
            "and free space (the index is a cache: deleting it is safe)"
        ) from None
    except ValueError as exc:  # tantivy reports its own failures as ValueError
        raise NewsarchiveError(
            f"{path}: the search index failed ({exc}); rebuild it with `newsarchive search --rebuild`"
        ) from None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One updater at a time per index (an flock on `<index>.lock`, released if the process dies)."""
    import fcntl

    with open(path.parent / f".{path.name}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _current_files(archive: Archive) -> tuple[int, dict[str, int]]:
    """The archive's version and its data files (relative paths as the log names them, with rows)."""
    at = archive.at()  # the latest version, read once: the version and its files agree
    actions = at.files()
    rows = actions.column("num_records").to_pylist() if "num_records" in actions.column_names else None
    paths = actions.column("path").to_pylist()
    counts = [int(n) if n is not None else -1 for n in rows] if rows is not None else [-1] * len(paths)
    return at.version, dict(zip(paths, counts, strict=True))


class _Inconsistent(Exception):
    """The index lacks a part its state names (someone deleted it): rebuild rather than guess."""


def _build(archive: Archive, path: Path, reason: str | None) -> IndexUpdate:
    """Index every article into a temporary folder, then rename it into place."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):  # a build killed before its cleanup
        shutil.rmtree(leftover, ignore_errors=True)  # (the lock is held: no live build owns it)
    for leftover in path.parent.glob(f".{path.name}.*.old"):
        shutil.rmtree(leftover, ignore_errors=True)
    version, files = _current_files(archive)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    temporary.mkdir()
    try:
        writers = _Writers(temporary, replace=False)
        try:
            added, ids = writers.add(_batches(archive, list(files)))
            writers.commit()
        finally:
            writers.close()
        state = State(version, files, sorted(writers.groups), [], added)
        state.ids = [_write_ids(temporary, ids)] if ids else []
        _write_state(temporary, state)
        install_folder(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    legacy = path.parent / (LEGACY_INDEX if path.name == INDEX_NAME else f"{path.name}.duckdb")
    with contextlib.suppress(OSError):
        legacy.unlink()  # the DuckDB fts index this one replaces (a cache as well)
    return IndexUpdate(str(path), version, built=True, added=added, groups=tuple(sorted(writers.groups)),
                       reason=reason)


def _update(archive: Archive, path: Path, state: State) -> IndexUpdate:
    """Add the articles of the data files new since the state's version; drop those that left."""
    lost = [g for g in state.groups if not (path / g / "meta.json").is_file()]
    if lost:
        raise _Inconsistent(f"its {lost[0]}/ index was missing")
    version, files = _current_files(archive)
    new = sorted(set(files) - set(state.files))
    gone = set(state.files) - set(files)
    incoming = sum(max(0, files[name]) for name in new)
    # An update that died between its group commits and its state left `pending`: some groups may
    # hold its articles already, so this one deletes each id before adding it (a redo never
    # duplicates). Otherwise adding is enough. A tiny update uses one thread per group (one segment).
    writers = _Writers(path, replace=state.pending is not None, existing=state.groups,
                       threads=1 if incoming < SMALL_UPDATE else None)
    removed = 0
    id_files = list(state.ids)
    try:
        if not gone:  # appends: the archive holds every id once, so the new files' rows are new articles
            added, ids = writers.add(_batches(archive, new))
            known: pa.Array | None = None
        else:  # a compaction moved rows into new files: those already indexed are recognised by id
            known = _read_ids(path, state.ids)
            added, ids = writers.add(_batches(archive, new, skip=known))
            live_rows = sum(files.values())
            if any(n < 0 for n in files.values()) or len(known) + added != live_rows:
                live = _archive_ids(archive, list(files))
                stale = pc.filter(known, pc.invert(pc.is_in(known, value_set=live)))
                removed = writers.delete(stale)
                known = pc.filter(known, pc.is_in(known, value_set=live))
        if writers.groups or writers.touched:
            _write_state(path, dataclasses.replace(state, pending=version))  # before any group commits
        writers.commit()
    finally:
        writers.close()
    if removed or len(id_files) >= MAX_ID_FILES:  # one file again (a cost in proportion to the index, rare)
        base = known if known is not None else _read_ids(path, id_files)
        id_files = [_write_ids(path, pa.concat_arrays([base, ids]) if len(ids) else base)]
    elif len(ids):
        id_files.append(_write_ids(path, ids))
    groups = sorted(set(state.groups) | writers.groups)
    _write_state(path, State(version, files, groups, id_files, state.articles + added - removed))
    for name in set(state.ids) - set(id_files):
        with contextlib.suppress(OSError):
            (path / name).unlink()
    return IndexUpdate(str(path), version, added=added, removed=removed, groups=tuple(sorted(writers.touched)))


# --- reading the archive -------------------------------------------------------------------------
def _dataset(archive: Archive, files: list[str]) -> ds.Dataset:
    fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True))
    return ds.FileSystemDataset.from_paths(files, schema=_file_schema(archive), format=fmt,
                                           filesystem=archive.storage.subtree(ARTICLES))


def _file_schema(archive: Archive) -> pa.Schema:
    full = archive.articles_schema
    return pa.schema([f for f in full if f.name not in archive.partition_by])


def _batches(archive: Archive, files: list[str], skip: pa.Array | None = None) -> Iterator[pa.RecordBatch]:
    """The rows of `files` to index, file by file and a few thousand at a time (memory stays flat
    whatever the archive's size: no read-ahead across files), minus the ids in `skip`."""
    fs = archive.storage.subtree(ARTICLES)
    for name in files:
        with fs.open_input_file(name) as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=READ_COLUMNS, use_threads=False):
                if batch.schema != _READ_SCHEMA:  # other writers (delta-rs) may store string_view, large_string
                    batch = pa.RecordBatch.from_arrays(
                        [batch.column(f.name).cast(f.type) for f in _READ_SCHEMA], schema=_READ_SCHEMA)
                if skip is not None and len(skip):
                    batch = batch.filter(pc.invert(pc.is_in(batch.column("id"), value_set=skip)))
                if batch.num_rows:
                    yield batch


def _archive_ids(archive: Archive, files: list[str]) -> pa.Array:
    table = _dataset(archive, files).to_table(columns=["id"])
    return table.column("id").combine_chunks() if table.num_rows else pa.array([], pa.string())


def _read_ids(path: Path, names: list[str]) -> pa.Array:
    missing = [name for name in names if not (path / name).is_file()]
    if missing:
        raise _Inconsistent(f"{missing[0]} was missing")
    arrays = [pq.read_table(path / name, columns=["id"]).column("id").combine_chunks() for name in names]
    return pa.concat_arrays(arrays) if arrays else pa.array([], pa.string())


def _write_ids(path: Path, ids: pa.Array) -> str:
    (path / IDS).mkdir(exist_ok=True)
    name = f"{IDS}/{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.parquet"
    with atomic_path(path / name, "search index ids", make_parent=False) as temporary:
        pq.write_table(pa.table({"id": ids}), temporary, compression="zstd")
    return name


# --- writing -------------------------------------------------------------------------------------
class _Writers:
    """One tantivy writer per language group, opened on first use."""

    def __init__(self, path: Path, *, replace: bool, existing: list[str] | None = None,
                 threads: int | None = None) -> None:
        self.path = path
        self.replace = replace  # delete each id before adding it (an update may be a redo)
        self.existing = list(existing or [])
        self.groups: set[str] = set()  # groups with an index here after this run
        self.touched: set[str] = set()
        self._open: dict[str, tuple[tantivy.Index, tantivy.IndexWriter]] = {}
        self.threads = threads or max(1, min(4, os.cpu_count() or 1))

    def _writer(self, group: str) -> tantivy.IndexWriter:
        entry = self._open.get(group)
        if entry is None:
            index = open_group(self.path, group, create=True)
            writer = index.writer(heap_size=HEAP_PER_THREAD * self.threads, num_threads=self.threads)
            entry = self._open[group] = (index, writer)
            self.groups.add(group)
        return entry[1]

    def add(self, batches: Iterator[pa.RecordBatch]) -> tuple[int, pa.Array]:
        """Index every row of the batches; returns how many, and their ids."""
        added = 0
        ids: list[pa.Array] = []
        schemas = {group: schema(group) for group in GROUPS}
        for batch in batches:
            id_column = batch.column("id")
            ids.append(pa.concat_arrays([id_column]))  # a copy: a slice would keep the decoded batch alive
            languages = batch.column("language")
            title, text = batch.column("title"), batch.column("text")
            body = analysis.strip_marks(pc.binary_join_element_wise(title, text, "\n")).to_pylist()
            title_words = analysis.strip_marks(title).to_pylist()
            days = batch.column("published_date").cast(pa.int32()).to_pylist()
            id_list, sources, langs = id_column.to_pylist(), batch.column("source").to_pylist(), languages.to_pylist()
            titles, texts = title.cast(pa.binary()).to_pylist(), text.cast(pa.binary()).to_pylist()
            groups = [group_of(lang) for lang in langs]
            if self.replace:
                for group in set(groups):
                    mine = [i for i, g in zip(id_list, groups, strict=True) if g == group]
                    self._writer(group).delete_documents_by_query(
                        tantivy.Query.term_set_query(schemas[group], "id", mine))
            for i, group in enumerate(groups):
                self._writer(group).add_document(tantivy.Document(
                    id=id_list[i], source=sources[i], language=langs[i], day=days[i], title=titles[i],
                    text=texts[i], body=body[i], title_words=title_words[i]))
            self.touched.update(groups)
            added += batch.num_rows
        all_ids = pa.concat_arrays([a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in ids]) \
            if ids else pa.array([], pa.string())
        return added, all_ids

    def delete(self, ids: pa.Array) -> int:
        """Delete articles by id from every group's index; returns how many ids were asked."""
        if not len(ids):
            return 0
        values = ids.to_pylist()
        for group in sorted(set(self.existing) | self.groups):
            writer = self._writer(group)
            for start in range(0, len(values), 50_000):
                writer.delete_documents_by_query(
                    tantivy.Query.term_set_query(schema(group), "id", values[start:start + 50_000]))
            self.touched.add(group)
        return len(values)

    def commit(self) -> None:
        """Commit every group, then wait for the merges tantivy started (so no merge is cut short)."""
        for _, writer in self._open.values():
            writer.commit()
        for _, writer in self._open.values():
            writer.wait_merging_threads()
        self._open.clear()

    def close(self) -> None:
        """Drop writers that were not committed: what they held is discarded (tantivy rolls back)."""
        for _, writer in self._open.values():
            with contextlib.suppress(Exception):
                writer.rollback()
        self._open.clear()
