"""BASELINE for bench_search.py: newsarchive's former search (DuckDB fts), kept verbatim but for the loader.

This is toolkit/sql/fulltext.py as it was before the tantivy index replaced it (git history has the
original); only `connect_duckdb` below differs: it loads the fts extension from the
duckdb-extension-fts wheel itself (pip install -e '.[bench]'), since newsarchive no longer does.

Full-text search: BM25 over title and text with DuckDB's fts extension, one stemmer per language.

    >>> from toolkit.sql import search
    >>> hits = search(["Bourita", "Blinken"], archive="archive").hits     # doctest: +SKIP
    >>> hits[0].title                                                   # doctest: +SKIP
    'Maroc-US : le partenariat stratégique bilatéral au centre des entretiens de Bourita-Blinken'

The index is a DuckDB file, `<archive>/search.duckdb` (or a per-archive file under the user's cache
folder when the archive is on S3 or read-only). It holds one table per language group (`docs_fr`,
`docs_ar`, `docs_es`, `docs_en`, ... and `docs_other`), each with its own fts index and Snowball
stemmer, and the archive version it reflects. A search first compares that version with the
archive's: when they differ, the index is brought up to date before searching, and only then.
Updating reads only the data files added since (the Delta log says which). Their new articles are
indexed on their own by the fts extension and that small index is merged into their language's
index (`_extend`): BM25 only needs global counts (document frequencies, number of documents, mean
length), so the result scores exactly as a rebuild would, at the cost of the new articles alone.
A language whose articles were removed (never by append or compact) is rebuilt whole. The new index
is written to a copy that is renamed over the old one, so searches running meanwhile keep reading a
whole index.

Search terms, names and dates are prepared-statement parameters: they are data, never SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb

from toolkit import __version__
from toolkit.archive.tables import Archive, open_archive
from toolkit.core.errors import NewsarchiveError
from toolkit.sql.connection import configure_s3
from toolkit.sql.extensions import NO_NETWORK_EXTENSIONS, first_line
from toolkit.sql.quote import literal
from toolkit.sql.views import TableFiles, snapshot, table_sql

INDEX_NAME = "search.duckdb"


def connect_duckdb(database: str | os.PathLike = ":memory:", *, read_only: bool = False,
                   extensions: Any = ()) -> duckdb.DuckDBPyConnection:
    """A connection with the fts (and httpfs) extensions loaded from their wheels' files."""
    import importlib.util

    con = duckdb.connect(os.fspath(database), read_only=read_only, config=dict(NO_NETWORK_EXTENSIONS))
    for name in extensions:
        spec = importlib.util.find_spec(f"duckdb_extension_{name}")
        if spec is None:
            raise NewsarchiveError(f"the baseline needs duckdb-extension-{name}: pip install -e '.[bench]'")
        folder = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
        con.execute(f"LOAD {literal(str(folder / f'{name}.duckdb_extension'))}")
    return con
INDEX_FORMAT = 1  # bump when the index's tables change: older indexes are then rebuilt

#: Snowball stemmer of each language (ISO 639-1) that gets a table of its own; the rest share
#: `docs_other`, unstemmed.
STEMMERS = {
    "fr": "french", "ar": "arabic", "es": "spanish", "en": "english",
    "de": "german", "it": "italian", "pt": "portuguese", "nl": "dutch",
}
OTHER = "other"
#: Characters that separate words: anything but a letter or a digit (in any script), after accents
#: and Arabic diacritics are stripped. The fts default lists ASCII punctuation only (so « ’ ، stick to
#: words) and drops digits.
WORD_SEPARATORS = r"[^\p{L}\p{N}]+"
SNIPPET_CHARS = 220
_CODE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class SearchHit:
    """One article found, best first."""

    id: str
    published_date: dt.date
    source: str
    language: str
    title: str
    snippet: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "published_date": self.published_date.isoformat(), "source": self.source,
                "language": self.language, "title": self.title, "snippet": self.snippet,
                "score": round(self.score, 6)}


@dataclass(frozen=True)
class IndexUpdate:
    """What bringing the index up to date did (nothing, when it already matched the archive)."""

    path: str
    version: int
    built: bool = False  # written from scratch
    added: int = 0
    removed: int = 0
    reindexed: tuple[str, ...] = ()  # language groups whose fts index was built from scratch
    extended: tuple[str, ...] = ()  # language groups whose fts index had the new articles merged in

    @property
    def changed(self) -> bool:
        return self.built or bool(self.added or self.removed or self.reindexed or self.extended)


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    terms: str
    index: IndexUpdate
    filters: dict[str, Any] = field(default_factory=dict)


def index_path(archive: Archive) -> str:
    """`<archive>/search.duckdb`, or a file in the cache folder for an S3 or read-only archive."""
    root = archive.root
    if not archive.storage.is_s3 and os.access(root, os.W_OK):
        return os.path.join(root, INDEX_NAME)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsarchive" / "search"
    return str(cache / f"{hashlib.sha256(root.encode()).hexdigest()[:16]}.duckdb")


def group_of(language: str) -> str:
    return language if language in STEMMERS else OTHER


def search(
    terms: str | Sequence[str],
    archive: str | os.PathLike | Archive | None = None,
    *,
    language: str | None = None,
    source: str | None = None,
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
    limit: int = 10,
    index: str | os.PathLike | None = None,
) -> SearchResult:
    """The articles that best match `terms` (BM25 over title and text), with optional filters.

    `language` is an ISO code (fr, ar, ...); `source` an outlet's exact name; `since`/`until` bound the
    publication date (inclusive). The index is updated first if the archive changed since it was built.
    """
    text = " ".join(terms) if not isinstance(terms, str) else terms
    if not text.strip():
        raise NewsarchiveError("no search terms; pass the words to look for, e.g. newsarchive search Bourita Blinken")
    if limit < 1:
        raise NewsarchiveError(f"--limit {limit}: must be 1 or more")
    if language is not None and not _CODE.match(language):
        raise NewsarchiveError(f"--language {language!r}: not a language code; use an ISO code such as fr or ar")
    since_date, until_date = _date(since, "--since"), _date(until, "--until")
    if since_date and until_date and since_date > until_date:
        raise NewsarchiveError(f"--since {since_date} is after --until {until_date}; swap them")
    target = archive if isinstance(archive, Archive) else open_archive(archive)
    update = update_index(target, index=index)
    params = {"terms": text, "language": language, "source": source, "since": since_date, "until": until_date,
              "limit": limit}
    filters = {k: v for k, v in params.items() if k not in ("terms", "limit") and v is not None}
    con = connect_duckdb(update.path, read_only=True, extensions=("fts",))
    try:
        groups = _indexed_groups(con)
        if language is not None:
            groups = [g for g in groups if g == group_of(language)]
        if not groups:
            return SearchResult([], text, update, filters)
        rows = con.execute(_search_sql(groups), params).fetchall()
    except duckdb.Error as exc:
        raise NewsarchiveError(
            f"{update.path}: the search failed ({first_line(exc)}); delete the file to rebuild it") from None
    finally:
        con.close()
    hits = [SearchHit(*row) for row in rows]
    return SearchResult(hits, text, update, filters)


def _date(value: dt.date | str | None, option: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise NewsarchiveError(f"{option} {value!r}: not a date; use YYYY-MM-DD") from None


def _search_sql(groups: list[str]) -> str:
    """Per language group: the best `limit` matches with the words to show; then the best overall."""
    parts = []
    for group in groups:
        table, fts, stemmer = f"docs_{group}", f"fts_main_docs_{group}", STEMMERS.get(group, "none")
        parts.append(
            f"(SELECT id, published_date, source, language, title, text, score, "
            f"list_distinct(list_concat(words, list_transform(words, w -> stem(w, {literal(stemmer)})))) AS needles "
            f"FROM (SELECT *, {fts}.match_bm25(id, $terms) AS score, {fts}.tokenize($terms) AS words FROM {table} "
            "WHERE ($language IS NULL OR language = $language) AND ($source IS NULL OR source = $source) "
            "AND ($since IS NULL OR published_date >= $since) AND ($until IS NULL OR published_date <= $until)) "
            "WHERE score IS NOT NULL ORDER BY score DESC, published_date DESC, id LIMIT $limit)"
        )
    # The snippet starts a little before the first place a query word (or its stem) occurs in the
    # text, found in the text lowered and without accents as the index sees it.
    position = ("list_min(list_filter(list_transform(list_filter(needles, n -> length(n) > 1), "
                "n -> instr(lower(strip_accents(text)), n)), p -> p > 0))")
    return (
        f"WITH best AS (SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY score DESC, published_date DESC, id "
        "LIMIT $limit), "
        f"placed AS (SELECT *, greatest(1, coalesce({position}, 1) - 60) AS start FROM best), "
        f"cut AS (SELECT *, regexp_replace(substr(text, start, {SNIPPET_CHARS}), '\\s+', ' ', 'g') AS body, "
        f"start + {SNIPPET_CHARS} <= length(text) AS more FROM placed), "
        # whole words only: drop the word cut at either end
        "trimmed AS (SELECT *, CASE WHEN start > 1 THEN regexp_replace(body, '^\\S*\\s', '') ELSE body END AS head "
        "FROM cut) "
        "SELECT id, published_date, source, language, title, "
        "CASE WHEN start > 1 THEN '…' ELSE '' END "
        "|| trim(CASE WHEN more THEN regexp_replace(head, '\\s\\S*$', '') ELSE head END) "
        "|| CASE WHEN more THEN '…' ELSE '' END AS snippet, score "
        "FROM trimmed ORDER BY score DESC, published_date DESC, id"
    )


def _indexed_groups(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND starts_with(table_name, 'docs_')"
    ).fetchall()
    known = set(STEMMERS) | {OTHER}
    return sorted(name[len("docs_"):] for (name,) in rows if name[len("docs_"):] in known)


# --- building and extending the index ------------------------------------------------------------
def update_index(archive: str | os.PathLike | Archive | None = None, *,
                 index: str | os.PathLike | None = None) -> IndexUpdate:
    """Bring the search index up to the archive's latest version (a no-op when it already is)."""
    target = archive if isinstance(archive, Archive) else open_archive(archive)
    path = Path(os.fspath(index) if index is not None else index_path(target)).expanduser()
    state = _index_state(path)
    version = target.version
    if state is not None and state == (INDEX_FORMAT, version):
        return IndexUpdate(str(path), version)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NewsarchiveError(f"{path.parent}: cannot create the search index's folder ({exc.strerror})") from None
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    built = state is None or state[0] != INDEX_FORMAT
    try:
        if not built:
            shutil.copyfile(path, temporary)
        update = _update(target, temporary, path, built)
        os.replace(temporary, path)
    except OSError as exc:
        raise NewsarchiveError(
            f"{path}: cannot write the search index ({exc.strerror or exc}); check the folder's permissions"
        ) from None
    finally:
        for leftover in (temporary, Path(f"{temporary}.wal")):
            leftover.unlink(missing_ok=True)
    return update


def _index_state(path: Path) -> tuple[int, int] | None:
    """(format, archive version) of an existing index, or None if there is none or it is unreadable."""
    if not path.is_file():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True, config={"autoinstall_known_extensions": False,
                                                                 "autoload_known_extensions": False})
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT format, version FROM meta").fetchone()
        return (int(row[0]), int(row[1])) if row else None
    except duckdb.Error:
        return None
    finally:
        con.close()


def _update(archive: Archive, file: Path, final: Path, built: bool) -> IndexUpdate:
    snap = snapshot(archive)
    articles = snap.articles
    con = connect_duckdb(file, extensions=("fts", "httpfs") if snap.is_s3 else ("fts",))
    try:
        if snap.is_s3:
            configure_s3(con, archive.storage)
        con.execute("CREATE TABLE IF NOT EXISTS meta (format INTEGER, version BIGINT, updated_at TIMESTAMPTZ, "
                    "newsarchive VARCHAR)")
        con.execute("CREATE TABLE IF NOT EXISTS indexed_files (path VARCHAR)")
        # files are keyed as the log names them (relative to the table): a moved archive keeps its index
        current = dict(zip(articles.relative, articles.files, strict=True))
        indexed = {p for (p,) in con.execute("SELECT path FROM indexed_files").fetchall()}
        new_files = [current[p] for p in sorted(set(current) - indexed)]
        gone = indexed - set(current)
        groups = _indexed_groups(con)
        all_ids = " UNION ALL ".join(f"SELECT id FROM docs_{g}" for g in groups) or "SELECT NULL::VARCHAR AS id"
        changed: set[str] = set()
        removed = 0
        if gone and groups:  # files left the table (a compaction moves rows; a rewrite may drop some)
            con.execute(f"CREATE TEMP VIEW live AS {table_sql(_only(articles, articles.files), _same)}")
            for group in groups:
                count = con.execute(f"DELETE FROM docs_{group} WHERE id NOT IN (SELECT id FROM live)").fetchone()[0]
                if count:
                    changed.add(group)
                    removed += count
        added = 0
        extended: set[str] = set()
        if new_files:
            con.execute(
                f"CREATE TEMP TABLE incoming AS SELECT id, published_date, source, language, title, text "
                f"FROM ({table_sql(_only(articles, new_files), _same)}) ANTI JOIN ({all_ids}) AS known USING (id)"
            )
            arrived = con.execute("SELECT language, count(*) FROM incoming GROUP BY language").fetchall()
            for group in sorted({group_of(lang) for lang, _ in arrived}):
                languages = [lang for lang, _ in arrived if group_of(lang) == group]
                rows = "SELECT * FROM incoming WHERE list_contains($languages, language) ORDER BY published_date, id"
                if group in changed or group not in groups or not _has_standard_index(con, group):
                    con.execute(f"CREATE TABLE IF NOT EXISTS docs_{group} (id VARCHAR, published_date DATE, "
                                "source VARCHAR, language VARCHAR, title VARCHAR, text VARCHAR)")
                    con.execute(f"INSERT INTO docs_{group} {rows}", {"languages": languages})
                    changed.add(group)  # indexed whole below
                else:
                    _extend(con, group, rows, {"languages": languages})
                    extended.add(group)
            added = sum(n for _, n in arrived)
        for group in sorted(changed):
            _reindex(con, group)
        con.execute("DELETE FROM indexed_files")
        if current:
            con.execute("INSERT INTO indexed_files SELECT unnest($paths)", {"paths": sorted(current)})
        con.execute("DELETE FROM meta")
        con.execute("INSERT INTO meta VALUES ($format, $version, now(), $tool)",
                    {"format": INDEX_FORMAT, "version": snap.version, "tool": __version__})
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        raise NewsarchiveError(f"{final}: cannot update the search index ({first_line(exc)})") from None
    finally:
        con.close()
    return IndexUpdate(str(final), snap.version, built=built, added=added, removed=removed,
                       reindexed=tuple(sorted(changed)), extended=tuple(sorted(extended)))


def _reindex(con: duckdb.DuckDBPyConnection, group: str) -> None:
    """(Re)build one language's fts index, or drop the table if it has no article left."""
    table = f"docs_{group}"
    if not con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
        con.execute(f"PRAGMA drop_fts_index({literal(table)})")
        con.execute(f"DROP TABLE {table}")
        return
    _index(con, table, group)


def _index(con: duckdb.DuckDBPyConnection, table: str, group: str) -> None:
    con.execute(
        f"PRAGMA create_fts_index({literal(table)}, 'id', 'title', 'text', "
        f"stemmer = {literal(STEMMERS.get(group, 'none'))}, stopwords = 'none', "
        f"ignore = {literal(WORD_SEPARATORS)}, strip_accents = 1, lower = 1, overwrite = 1)"
    )


# The fts extension's index of a table `t` is five plain tables in schema fts_main_t: docs (docid, name,
# len), terms (docid, fieldid, termid: one row per word occurrence), dict (termid, term, df), stats
# (num_docs, avgdl) and fields. BM25 needs only global counts (df, num_docs, avgdl), so an index of the
# new articles alone can be merged into the existing one, giving exactly the scores of a rebuild.
_FTS_LAYOUT = {
    "docs": [("docid", "BIGINT"), ("name", "VARCHAR"), ("len", "BIGINT")],
    "terms": [("docid", "BIGINT"), ("fieldid", "BIGINT"), ("termid", "BIGINT")],
    "dict": [("termid", "BIGINT"), ("term", "VARCHAR"), ("df", "BIGINT")],
    "stats": [("num_docs", "BIGINT"), ("avgdl", "DOUBLE")],
    "fields": [("fieldid", "BIGINT"), ("field", "VARCHAR")],
}
_STAGING = "staging"


def _has_standard_index(con: duckdb.DuckDBPyConnection, group: str) -> bool:
    """Whether docs_<group>'s fts index has the layout `_extend` merges into (else it is rebuilt)."""
    return _layout(con, f"fts_main_docs_{group}") == _FTS_LAYOUT


def _layout(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() "
                       "WHERE database_name = current_database() AND schema_name = $schema "
                       "AND table_name IN ('docs', 'terms', 'dict', 'stats', 'fields') "
                       "ORDER BY table_name, column_index", {"schema": schema}).fetchall()
    layout: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        layout.setdefault(table, []).append((column, kind))
    return layout


def _extend(con: duckdb.DuckDBPyConnection, group: str, rows: str, params: dict[str, Any]) -> None:
    """Add articles to docs_<group> and merge an fts index of them alone into the group's index."""
    old, new = f"fts_main_docs_{group}", f"fts_main_{_STAGING}"
    con.execute(f"CREATE OR REPLACE TABLE {_STAGING} AS {rows}", params)
    _index(con, _STAGING, group)
    if _layout(con, new) != _FTS_LAYOUT or con.execute(f"SELECT count(*) FROM {old}.fields f JOIN {new}.fields g "
                                                        "USING (fieldid, field)").fetchone()[0] != 2:
        raise NewsarchiveError("the fts extension's index layout changed; delete the search index to rebuild it")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE termmap AS
        WITH joined AS (SELECT n.termid AS new_id, n.term, n.df, o.termid AS old_id
                        FROM {new}.dict AS n LEFT JOIN {old}.dict AS o USING (term))
        SELECT new_id, term, df, old_id IS NULL AS fresh,
               coalesce(old_id, (SELECT coalesce(max(termid), -1) FROM {old}.dict)
                                + row_number() OVER (PARTITION BY old_id IS NULL ORDER BY term)) AS termid
        FROM joined""")
    offset = con.execute(f"SELECT coalesce(max(docid) + 1, 0) FROM {old}.docs").fetchone()[0]
    con.execute(f"UPDATE {old}.dict AS d SET df = d.df + m.df FROM termmap AS m "
                "WHERE d.termid = m.termid AND NOT m.fresh")
    con.execute(f"INSERT INTO {old}.dict SELECT termid, term, df FROM termmap WHERE fresh ORDER BY termid")
    con.execute(f"INSERT INTO {old}.docs SELECT docid + $offset, name, len FROM {new}.docs", {"offset": offset})
    con.execute(f"INSERT INTO {old}.terms SELECT t.docid + $offset, t.fieldid, m.termid "
                f"FROM {new}.terms AS t JOIN termmap AS m ON t.termid = m.new_id", {"offset": offset})
    con.execute(f"DELETE FROM {old}.stats")
    con.execute(f"INSERT INTO {old}.stats SELECT count(*), avg(len) FROM {old}.docs")
    con.execute(f"INSERT INTO docs_{group} SELECT * FROM {_STAGING}")
    con.execute(f"PRAGMA drop_fts_index({literal(_STAGING)})")
    con.execute(f"DROP TABLE {_STAGING}")
    con.execute("DROP TABLE termmap")


def _only(table: TableFiles, files: list[str]) -> TableFiles:
    return TableFiles(table.name, files, table.columns, table.partition_by, [])


def _same(path: str) -> str:
    return path


# --- output --------------------------------------------------------------------------------------
def render_hits(result: SearchResult, fmt: str, out: IO[str]) -> None:
    """The hits as a table (id, date, source, title, snippet) or as JSON Lines, one hit per line."""
    import json

    if fmt == "json":
        for hit in result.hits:
            out.write(json.dumps(hit.as_dict(), ensure_ascii=False) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    tty = out.isatty() if hasattr(out, "isatty") else False
    console = Console(file=out, highlight=False, width=None if tty else int(os.environ.get("COLUMNS", "160")),
                      force_terminal=None if tty else False)
    if not result.hits:
        console.print(f"no article matches {result.terms!r}" + (f" with {_describe(result.filters)}"
                                                                 if result.filters else ""))
        return
    table = Table(header_style="bold", show_lines=True)
    for name, ratio in (("id", None), ("date", None), ("source", None), ("title", 2), ("snippet", 4)):
        table.add_column(name, overflow="fold", ratio=ratio, no_wrap=name in ("id", "date"))
    for hit in result.hits:
        table.add_row(hit.id, hit.published_date.isoformat(), hit.source, hit.title, hit.snippet)
    console.print(table)


def _describe(filters: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in filters.items())
