"""The archive as a whole (versions, quarantine, outlets, languages, coverage) and one article in full."""

from __future__ import annotations

import copy
import datetime as dt
import os
import threading
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from toolkit.core.errors import NewsarchiveError
from toolkit.explore import _clusters, _locate

_LOCK = threading.Lock()
_CONNECTIONS: dict[tuple[str, int], Any] = {}
_MAX_CONNECTIONS = 4


def _connect(target: Any, version: int) -> Any:
    """A cursor of a DuckDB connection kept per archive version (`target`: an archive or its root):
    defining the views costs a tenth of a second, and a version never changes. (A cursor is a
    connection of its own to the same database, so threads do not share one.)"""
    from toolkit.sql import connect

    key = (target if isinstance(target, str) else target.root, version)
    with _LOCK:
        base = _CONNECTIONS.get(key)
    if base is None:
        fresh = connect(target, as_of=version)
        with _LOCK:
            base = _CONNECTIONS.get(key)
            if base is None:
                if len(_CONNECTIONS) >= _MAX_CONNECTIONS:  # dropped, not closed: a cursor may be in use
                    _CONNECTIONS.pop(next(iter(_CONNECTIONS)))
                base = _CONNECTIONS[key] = fresh
        if base is not fresh:
            fresh.close()
    return base.cursor()


def _with_connection(target: Any, version: int, work: Any) -> Any:
    """`work(cursor)`, again on a fresh connection if the kept one's files are gone (a vacuum)."""
    import duckdb

    for attempt in (1, 2):
        con = _connect(target, version)
        try:
            return work(con)
        except duckdb.IOException:
            with _LOCK:
                _CONNECTIONS.pop((target.root, version), None)
            if attempt == 2:
                raise
        finally:
            con.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    relation = con.execute(sql, params or [])
    names = [d[0] for d in relation.description]
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


def archive_overview(archive: str | os.PathLike | None, as_of: int | None = None) -> dict[str, Any]:
    """Everything the archive page shows, at ONE version (the latest when `as_of` is None)."""
    from toolkit.archive import open_archive

    target = open_archive(archive)
    at = target.at(as_of)
    key = (target.root, at.version)
    with _LOCK:
        cached = _OVERVIEWS.get(key)
    if cached is None:  # a version never changes: computed once per version and process
        cached = _overview(target, at)
        with _LOCK:
            if len(_OVERVIEWS) >= 32:
                _OVERVIEWS.clear()
            _OVERVIEWS[key] = cached
    return {**copy.deepcopy(cached), "latest": at.latest}


_OVERVIEWS: dict[tuple[str, int], dict[str, Any]] = {}


def _overview(target: Any, at: Any) -> dict[str, Any]:
    from toolkit.archive import history

    entries = [e for e in history(target) if e.version <= at.version]

    def read(con: Any) -> tuple[list[dict[str, Any]], ...]:
        return (
            _rows(con, "SELECT coalesce(json_extract_string(errors, '$[0].keyword'), 'unknown') AS reason, "
                       "count(*) AS count FROM quarantine GROUP BY ALL ORDER BY count DESC, reason"),
            _rows(con, "SELECT source, count(*) AS articles FROM articles GROUP BY ALL ORDER BY articles DESC, source"),
            _rows(con, "SELECT language, count(*) AS articles FROM articles GROUP BY ALL "
                       "ORDER BY articles DESC, language"),
            _rows(con, "SELECT strftime(date_trunc('month', published_date), '%Y-%m') AS month, "
                       "count(*) AS articles FROM articles GROUP BY ALL ORDER BY month"),
            _rows(con, "SELECT * FROM snapshots ORDER BY ALL") if _clusters._has_view(con, "snapshots") else [],
        )

    quarantine, outlet_rows, languages, timeline, snapshots = _with_connection(target, at.version, read)
    this = next((e for e in entries if e.version == at.version), None)
    versions = []
    for entry in entries:
        item = entry.as_dict()
        item["timestamp"] = entry.timestamp.isoformat() if entry.timestamp else None
        item["articles_added"] = entry.appended
        versions.append(item)
    return {
        "version": at.version, "latest": at.latest,
        "version_date": this.timestamp.isoformat() if this and this.timestamp else None,
        "versions": versions, "quarantine_by_reason": quarantine, "outlets": outlet_rows, "languages": languages,
        "timeline": timeline, "snapshots": snapshots,
        "schema": {f.name: str(f.type) for f in target.articles_schema},
    }


def article_detail(archive: str | os.PathLike | None, id: str, as_of: int | None = None,  # noqa: A002
                   max_chars: int = 200_000) -> dict[str, Any] | None:
    """One article at a version (None when that version does not hold it): its fields, the first
    `max_chars` characters of its text with `text_length` and `truncated`, whether its address may be a
    link (http/https only), its provenance, its near-duplicate cluster, the versions holding it.
    Values are returned raw: escaping them is the web layer's job."""
    from toolkit.archive import open_archive

    if max_chars < 0:
        raise NewsarchiveError(f"max_chars {max_chars}: must be 0 or more")
    target = open_archive(archive)
    version, latest, schema, partition_by = _pinned(target, as_of)
    columns = [c for c in schema.names if c != "text"]
    located = _located_row(target, version, id, columns, max_chars)
    if located is not None:  # the kept lookup answered: no id column read, no DuckDB query
        found, versions = located
        if not found:
            return None
        cluster = _with_connection(target, version, lambda con: _clusters.cluster_of(con, id, target.root, version)) \
            if _clusters.has_clusters(target.root, version) else []
        return _finish(target, found[0], cluster, versions, version, latest)
    where, params = "id = ?", [id]
    day = _day_of(target, id)
    in_month = day is not None and {"year", "month"} <= set(partition_by)
    if in_month:  # one month's files, not all
        where, params = "year = ? AND month = ? AND id = ?", [day.year, day.month, id]
    select = (f"SELECT {', '.join(_quote(c) for c in columns)}, substr(text, 1, ?) AS text, "
              f"length(text) AS text_length FROM articles WHERE {where} LIMIT 1")
    # The month's files read directly (a few ms); DuckDB's view over every file of the version took
    # ~25 ms an article at 1,000,000 articles. DuckDB still answers when the index has no date for it.
    positions: dict[str, int] = {}  # the article's row in each file read, shared with _versions_holding
    direct = _read_direct(target, version, id, day, columns, max_chars, positions) if in_month else None

    def read(con: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        found = direct if direct is not None else _rows(con, select, [max_chars, *params])
        if not found and day is not None:  # not where the index said (a rewritten article): look everywhere
            found = _rows(con, select.replace(where, "id = ?"), [max_chars, id])
        return found, (_clusters.cluster_of(con, id, target.root, version) if found else [])

    found, cluster = _with_connection(target, version, read)
    if not found:
        return None
    versions = _versions_holding(target, id, version, _dated(dict(found[0])), partition_by, positions)
    return _finish(target, found[0], cluster, versions, version, latest)


def _dated(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its dates and times in ISO form (as the page and its JSON show them)."""
    for key, value in list(record.items()):
        if hasattr(value, "isoformat"):
            record[key] = value.isoformat()
    return record


def _finish(target: Any, record: dict[str, Any], cluster: list[dict[str, Any]], versions: list[int],
            version: int, latest: int) -> dict[str, Any]:
    """The page's record from the article's row, its cluster and the versions holding it."""
    record = _dated(record)
    record["truncated"] = record["text_length"] > len(record["text"])
    url = record.get("url") or ""
    record["url_is_link"] = is_link(url)
    added = versions[0] if versions else version
    entry = next((e for e in _history(target, latest) if e.version == added), None)
    record["provenance"] = {
        "batch": entry.batch if entry else None, "version_added": added,
        "input_file": entry.files[0] if entry and len(entry.files) == 1 else (list(entry.files) if entry else None),
        "line": None,  # the archive does not record input lines of archived records (only of quarantined ones)
    }
    record["cluster"] = cluster
    record["versions"] = versions
    return record


def _located_row(target: Any, version: int, article_id: str, columns: list[str],
                 max_chars: int) -> tuple[list[dict[str, Any]], list[int]] | None:
    """([the article's row] or [] when `version` does not hold it, the versions holding it) from the
    kept lookup (`_locate`); None when the lookup does not cover the version, or its row is not the
    article asked (then the files are read as before)."""
    import pyarrow.dataset as ds

    located = _locate.locate(target, version, article_id)
    if located is None:
        return None
    if located.fragment is None:
        return [], located.versions
    dataset = _version_dataset(target, version)
    try:
        one = ds.FileSystemDataset([located.fragment], schema=dataset.schema, format=dataset.format,
                                   filesystem=dataset.filesystem)
        row = one.take([located.row], columns=[*columns, "text"]).to_pylist()[0]
    except (OSError, IndexError):  # vacuumed since, or not a row of the file: the slow path knows what to do
        return None
    if row.get("id") != article_id:
        return None
    text = row.pop("text")
    row["text"] = None if text is None else text[:max_chars]
    row["text_length"] = None if text is None else len(text)
    return [row], located.versions


def prepare_articles(archive: str | os.PathLike | None, as_of: int | None = None, *,
                     background: bool = False) -> bool:
    """Keep, for this process, where each article of every version up to `as_of` (the latest when
    None) is, so that `article_detail` reads one row instead of the id columns of its month in every
    version (~1 s of CPU and ~45 MB at 1,000,000 articles; later versions add only their new files,
    in the background). `background`: in a thread (True returned at once). False when a file could
    not be read (article pages then read as before)."""
    from toolkit.archive import open_archive

    target = open_archive(archive)
    version = target.at(as_of).version
    if background:
        _locate.prepare_later(target, version)
        return True
    return _locate.prepare(target, version)


_PINNED: dict[tuple[str, int], tuple[pa.Schema, tuple[str, ...], int]] = {}


def _pinned(target: Any, as_of: int | None) -> tuple[int, int, pa.Schema, tuple[str, ...]]:
    """(version, latest known, schema, partition columns) of the articles at `as_of`: a version asked
    before is not opened again (a page pins its version already; opening the table cost 15 ms)."""
    if as_of is not None:
        with _LOCK:
            known = _PINNED.get((target.root, as_of))
        if known is not None:
            return as_of, known[2], known[0], known[1]
    at = target.at(as_of)
    schema = pa.schema(at.articles_table.schema().to_arrow())
    partition_by = tuple(at.articles_table.metadata().partition_columns)
    with _LOCK:
        if len(_PINNED) >= 256:
            _PINNED.clear()
        _PINNED[(target.root, at.version)] = (schema, partition_by, at.latest)
    return at.version, at.latest, schema, partition_by


def _read_direct(target: Any, version: int, article_id: str, day: dt.date, columns: list[str],
                 max_chars: int, positions: dict[str, int]) -> list[dict[str, Any]] | None:
    """The article's row from its month's files at `version`, as the DuckDB query gives it ([] when
    not there; None when the version's files cannot be listed). Each file's ids are read first, then
    the one row (reading every column of the month and filtering took 5 times longer); `positions`
    keeps the article's row number in each file read (-1: not there) for `_versions_holding`."""
    import pyarrow.dataset as ds

    dataset = _version_dataset(target, version)
    if dataset is None:
        return None
    month = (ds.field("year") == day.year) & (ds.field("month") == day.month)
    try:
        for fragment in dataset.get_fragments(filter=month):
            at = _position(fragment, article_id, positions)
            if at < 0:
                continue
            one = ds.FileSystemDataset([fragment], schema=dataset.schema, format=dataset.format,
                                       filesystem=dataset.filesystem)
            row = one.take([at], columns=[*columns, "text"]).to_pylist()[0]
            text = row.pop("text")
            row["text"] = None if text is None else text[:max_chars]
            row["text_length"] = None if text is None else len(text)
            return [row]
    except OSError:  # files vacuumed since the list was kept: DuckDB's kept connection knows what to do
        with _LOCK:
            _DATASETS.pop((target.root, version), None)
        positions.clear()
        return None
    return []


def _position(fragment: Any, article_id: str, positions: dict[str, int]) -> int:
    """The article's row number in a file (-1 when not there), read once per file and call."""
    if fragment.path not in positions:
        ids = fragment.to_table(columns=["id"]).column("id")
        positions[fragment.path] = pc.index(ids, article_id).as_py() if len(ids) else -1
    return positions[fragment.path]


_HISTORIES: dict[tuple[str, int], list[Any]] = {}


def _history(target: Any, latest: int) -> list[Any]:
    """The archive's history up to its latest version `latest`, read once per latest version (reading
    it opens the table and the ledger: tens of ms that every article page paid)."""
    from toolkit.archive import history

    key = (target.root, latest)
    with _LOCK:
        cached = _HISTORIES.get(key)
    if cached is None:
        cached = history(target)
        with _LOCK:
            if len(_HISTORIES) >= 16:
                _HISTORIES.clear()
            _HISTORIES[key] = cached
    return cached


def _day_of(target: Any, article_id: str) -> dt.date | None:
    """The article's publication date from the search index (a term lookup), so that only its
    partition is read; None when the index does not have it."""
    import tantivy

    from toolkit.search import current_index

    try:
        _, groups = current_index(target)
    except NewsarchiveError:
        return None
    for index, searcher in groups.values():
        hits = searcher.search(tantivy.Query.term_query(index.schema, "id", article_id), 1, count=False).hits
        if hits:
            return dt.date(1970, 1, 1) + dt.timedelta(days=int(searcher.doc(hits[0][1]).get_first("day")))
    return None


def is_link(url: Any) -> bool:
    """Whether an address may be shown as a link: http or https, no spaces or control characters
    (`javascript:`, `data:` and the rest are shown as text)."""
    return isinstance(url, str) and url.lower().startswith(("http://", "https://")) \
        and not any(c.isspace() or ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in url)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _versions_holding(target: Any, article_id: str, last: int, record: dict[str, Any],
                      partition_by: tuple[str, ...], positions: dict[str, int] | None = None) -> list[int]:
    """The versions (up to `last`) whose files hold the article: its partition's files only.

    Each version's file list is read from the log once per process (a version never changes), and
    each distinct file of the article's partition is read once per call, however many versions share
    it: opening the table per version cost ~10 ms a version on every article page."""
    import pyarrow.dataset as ds

    partition = None
    for column in partition_by:
        if column in ("year", "month") and record.get("published_date"):
            value = int(record["published_date"][:4]) if column == "year" else int(record["published_date"][5:7])
            condition = ds.field(column) == value
            partition = condition if partition is None else partition & condition
    positions = {} if positions is None else positions
    held = []
    for version in range(last + 1):
        for attempt in (1, 2):
            dataset = _version_dataset(target, version)
            if dataset is None:  # a version whose log was cleaned up
                break
            try:
                if _holds(dataset, partition, article_id, positions):
                    held.append(version)
                break
            except OSError:  # a kept file list whose files were vacuumed since: read the log again
                with _LOCK:
                    _DATASETS.pop((target.root, version), None)
                if attempt == 2:
                    raise
    return held


def _holds(dataset: Any, partition: Any, article_id: str, positions: dict[str, int]) -> bool:
    """Whether one of the dataset's files (of the partition) holds the id; `positions` keeps each file's answer."""
    fragments = dataset.get_fragments(filter=partition) if partition is not None else dataset.get_fragments()
    return any(_position(fragment, article_id, positions) >= 0 for fragment in fragments)


_DATASETS: dict[tuple[str, int], Any] = {}
_MAX_DATASETS = 512


def _version_dataset(target: Any, version: int) -> Any:
    """The articles' files at `version` as a dataset (None when its log was cleaned up), once per version."""
    from toolkit.archive.layout import ARTICLES

    key = (target.root, version)
    with _LOCK:
        if key in _DATASETS:
            return _DATASETS[key]
    try:
        dataset = target.dataset(ARTICLES, version)
    except NewsarchiveError:
        dataset = None
    with _LOCK:
        if len(_DATASETS) >= _MAX_DATASETS:
            _DATASETS.pop(next(iter(_DATASETS)))
        _DATASETS[key] = dataset
    return dataset
