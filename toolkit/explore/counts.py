"""Counting matches and articles in scope, per bucket of time and per outlet or language.

Every number comes from one primitive, `_counts(scope, query, by, split)`: {(bucket start, key): n}.

- Fast path (the scope's version is the one the search index reflects, the usual case): tantivy
  aggregations over the group indexes (a histogram on the `day` fast field, a range per month, a
  terms aggregation on `source` / `language`), for the query ANDed with the scope's filters, and for
  the filters alone (the denominators, cached per index state and scope).
- Pinned to an older version (`as_of` below the index's): the articles of that version are read with
  DuckDB and the matching ids come from the index (which holds the latest version; an article
  removed since then by another tool would be missed). Slower, same numbers.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import tantivy

from toolkit.core.errors import NewsarchiveError
from toolkit.explore import _clusters
from toolkit.explore.query import Query, parse_query
from toolkit.explore.scope import Scope
from toolkit.search import current_index, group_of

EPOCH = dt.date(1970, 1, 1)
BY = ("day", "week", "month")
SPLITS = (None, "source", "language")
MAX_KEYS = 10_000  # outlets or languages a split reports (more is refused: no silent cut)

Groups = dict[str, tuple[tantivy.Index, tantivy.Searcher]]
Counts = dict[tuple[int, Any], int]  # (bucket start in days since 1970-01-01, split value or None) -> n


# --- the index for a scope -------------------------------------------------------------------------
class _Indexed:
    """The group indexes a scope reads, the version they reflect, and the filters of the scope."""

    def __init__(self, scope: Scope) -> None:
        update, groups = current_index(scope.archive)
        self.version = update.version
        self.scope = scope
        if scope.language:
            wanted = {group_of(lang) for lang in scope.language}
            groups = {g: v for g, v in groups.items() if g in wanted}
        self.groups: Groups = groups
        self.hidden = _clusters.hidden_copies(scope.root, update.version) if scope.copies == "one" else frozenset()

    def full(self, group: str, query: Query | None, only: list[str] | None = None) -> tantivy.Query:
        """The query ANDed with the scope's filters (all articles in scope when `query` is None), and
        restricted to the ids `only` if given."""
        index, _ = self.groups[group]
        schema = index.schema
        base = query.to_tantivy(index, group) if query is not None else tantivy.Query.all_query()
        clauses = [(tantivy.Occur.Must, base)]
        if only is not None:
            clauses.append((tantivy.Occur.Must, tantivy.Query.term_set_query(schema, "id", only)))
        scope = self.scope
        if scope.language:
            clauses.append((tantivy.Occur.Must, tantivy.Query.term_set_query(schema, "language", list(scope.language))))
        if scope.source:
            clauses.append((tantivy.Occur.Must, tantivy.Query.term_set_query(schema, "source", list(scope.source))))
        if scope.since is not None or scope.until is not None:
            clauses.append((tantivy.Occur.Must, tantivy.Query.range_query(
                schema, "day", tantivy.FieldType.Integer,
                (scope.since - EPOCH).days if scope.since else -(1 << 40),
                (scope.until - EPOCH).days if scope.until else 1 << 40)))
        if self.hidden:
            clauses.append((tantivy.Occur.MustNot, _hidden_query(self.hidden, schema, group)))
        return tantivy.Query.boolean_query(clauses) if len(clauses) > 1 else base


_HIDDEN: dict[tuple[int, str], tuple[frozenset[str], tantivy.Query]] = {}


def _hidden_query(hidden: frozenset[str], schema: tantivy.Schema, group: str) -> tantivy.Query:
    """The term set of the copies left out, built once per set (it may hold many ids)."""
    key = (id(hidden), group)
    cached = _HIDDEN.get(key)
    if cached is None or cached[0] is not hidden:
        if len(_HIDDEN) >= 64:
            _HIDDEN.clear()
        cached = _HIDDEN[key] = (hidden, tantivy.Query.term_set_query(schema, "id", sorted(hidden)))
    return cached[1]


def _pin(scope: Scope) -> Scope:
    return scope if scope.as_of is not None else scope.resolved()


# --- buckets -------------------------------------------------------------------------------------
def bucket_start(day: dt.date, by: str) -> dt.date:
    """The first day of the bucket holding `day`: itself, its week's Monday, its month's first day."""
    if by == "day":
        return day
    if by == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def _months(first: int, last: int) -> list[tuple[int, int]]:
    """[from, to) day ranges of the calendar months from the day `first` to the day `last`."""
    start = bucket_start(EPOCH + dt.timedelta(days=first), "month")
    end = EPOCH + dt.timedelta(days=last)
    ranges = []
    while start <= end:
        following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        ranges.append(((start - EPOCH).days, (following - EPOCH).days))
        start = following
    return ranges


def _bucket_agg(by: str, span: tuple[int, int] | None) -> dict[str, Any]:
    if by == "day":
        return {"histogram": {"field": "day", "interval": 1, "min_doc_count": 1}}
    if by == "week":  # day 4 (1970-01-05) is a Monday: weeks start on Mondays, as ISO weeks do
        return {"histogram": {"field": "day", "interval": 7, "offset": 4, "min_doc_count": 1}}
    first, last = span if span is not None else (0, 0)
    return {"range": {"field": "day", "ranges": [{"from": a, "to": b} for a, b in _months(first, last)]}}


_SPANS: dict[tuple[int, int], tuple[int, int] | None] = {}


def _span(searcher: tantivy.Searcher) -> tuple[int, int] | None:
    """The first and last day of a group index (the month ranges cover them), once per opened searcher."""
    key = (id(searcher), searcher.num_docs)
    if key not in _SPANS:
        result = searcher.aggregate(tantivy.Query.all_query(),
                                    {"lo": {"min": {"field": "day"}}, "hi": {"max": {"field": "day"}}})
        lo, hi = result["lo"].get("value"), result["hi"].get("value")
        if len(_SPANS) > _MAX_CACHED:
            _SPANS.clear()
        _SPANS[key] = (int(lo), int(hi)) if lo is not None and hi is not None else None
    return _SPANS[key]


def _read_buckets(agg: dict[str, Any], key: Any, into: Counts) -> None:
    for bucket in agg["buckets"]:
        count = int(bucket["doc_count"])
        if not count:
            continue
        start = (int(bucket["from"] if "from" in bucket else bucket["key"]), key)
        into[start] = into.get(start, 0) + count


def _aggregate(searcher: tantivy.Searcher, query: tantivy.Query, agg: dict[str, Any]) -> dict[str, Any]:
    try:
        return searcher.aggregate(query, agg)
    except ValueError as exc:
        raise NewsarchiveError(f"the search index could not count ({exc}); use a coarser --by (week or month) or "
                               "narrow the scope with --since/--until") from None


def _fast_counts(indexed: _Indexed, query: Query | None, by: str | None, split: str | None,
                 only: list[str] | None = None, sources: Counts | None = None) -> Counts:
    """`by=None`: no time buckets (a plain count, or a terms aggregation alone), key day 0. `only`:
    among these ids only. `sources`: filled with the matches per source too, {(0, source): n}, from the
    same pass over the matches (a phrase's positions are read once for a page's three panels); left
    empty when there are too many sources to be complete."""
    counts: Counts = {}
    by_source: dict[str, Any] = {"terms": {"field": "source", "size": MAX_KEYS}}
    complete = sources is not None

    def add_sources(result: dict[str, Any]) -> None:
        nonlocal complete
        if not complete or sources is None:
            return
        if int(result.get("sum_other_doc_count", 0)):
            complete = False
            return
        for term in result["buckets"]:
            if int(term["doc_count"]):
                key = (0, str(term["key"]))
                sources[key] = sources.get(key, 0) + int(term["doc_count"])

    for group, (_, searcher) in indexed.groups.items():
        full = indexed.full(group, query, only)
        if by is None and split is None:
            if complete:
                result = _aggregate(searcher, full, {"s": by_source})["s"]
                add_sources(result)
                n = sum(int(t["doc_count"]) for t in result["buckets"]) + int(result.get("sum_other_doc_count", 0))
            else:
                n = searcher.search(full, 1, count=True).count
            if n:
                counts[(0, None)] = counts.get((0, None), 0) + n
            continue
        span = _span(searcher) if by == "month" else None
        if by == "month" and span is None:
            continue
        buckets = _bucket_agg(by, span) if by is not None else None
        sibling = {"s": by_source} if complete and split != "source" else {}
        if split is None:
            result = _aggregate(searcher, full, {"b": buckets, **sibling})
            _read_buckets(result["b"], None, counts)
            if sibling:
                add_sources(result["s"])
            continue
        terms: dict[str, Any] = {"terms": {"field": split, "size": MAX_KEYS}}
        if buckets is not None:
            terms["aggs"] = {"b": buckets}
        result = _aggregate(searcher, full, {"k": terms, **sibling})
        if int(result["k"].get("sum_other_doc_count", 0)):
            raise NewsarchiveError(f"more than {MAX_KEYS:,} values of {split} in scope; narrow it with --{split}")
        add_sources(result["s"] if sibling else result["k"])
        for term in result["k"]["buckets"]:
            if buckets is not None:
                _read_buckets(term["b"], str(term["key"]), counts)
            elif int(term["doc_count"]):
                key = (0, str(term["key"]))
                counts[key] = counts.get(key, 0) + int(term["doc_count"])
    if sources is not None and not complete:
        sources.clear()
    return counts


# --- the older-version paths ---------------------------------------------------------------------
MAX_ADDED = 200_000  # articles added since an older version that the index still subtracts quickly
_ADDED: dict[tuple[str, int, int], list[str] | None] = {}


def _added_since(root: str, old: int, new: int) -> list[str] | None:
    """The ids in version `new` that version `old` lacks, or None when `old` holds an article `new`
    lacks (deleted since: the index cannot count it) or too many were added. Once per pair of versions."""
    key = (root, old, new)
    with _LOCK:
        if key in _ADDED:
            return _ADDED[key]
    import pyarrow.compute as pc

    from toolkit.archive import open_archive

    archive = open_archive(root)
    before, after = archive.at(old), archive.at(new)
    kept = set(before.files().column("path").to_pylist())
    paths_after = after.files().column("path").to_pylist()
    if kept <= set(paths_after):  # appends only: the new files hold the new articles
        added: list[str] | None = _ids_of(archive, [p for p in paths_after if p not in kept]).to_pylist()
    else:  # a compaction rewrote files: compare the ids themselves
        old_ids = before.articles.to_table(columns=["id"]).column("id")
        new_ids = after.articles.to_table(columns=["id"]).column("id")
        if pc.sum(pc.invert(pc.is_in(old_ids, value_set=new_ids.combine_chunks()))).as_py():
            added = None
        else:
            added = pc.filter(new_ids, pc.invert(pc.is_in(new_ids, value_set=old_ids.combine_chunks()))).to_pylist()
    if added is not None and len(added) > MAX_ADDED:
        added = None
    with _LOCK:
        if len(_ADDED) >= _MAX_CACHED:
            _ADDED.clear()
        _ADDED[key] = added
    return added


def _ids_of(archive: Any, paths: list[str]) -> pa.ChunkedArray:
    import pyarrow.dataset as ds

    from toolkit.archive.layout import ARTICLES

    if not paths:
        return pa.chunked_array([], pa.string())
    fmt = ds.ParquetFileFormat()
    dataset = ds.FileSystemDataset.from_paths(paths, schema=pa.schema([("id", pa.string())]), format=fmt,
                                              filesystem=archive.storage.subtree(ARTICLES))
    return dataset.to_table(columns=["id"]).column("id")


def _older_counts(scope: Scope, indexed: _Indexed, query: Query | None, by: str | None, split: str | None,
                  ) -> Counts:
    """An older version from the latest index: its counts minus those of the articles added since
    (`_added_since`); the DuckDB path when that cannot be known."""
    added = _added_since(scope.root, scope.as_of, indexed.version) if scope.as_of < indexed.version else None
    if added is None:
        return _slow_counts(scope, indexed, query, by, split)
    if scope.copies == "one":  # the clusters of that version
        indexed.hidden = _clusters.hidden_copies(scope.root, scope.as_of)
    counts = _fast_counts(indexed, query, by, split)
    if added:
        for key, n in _fast_counts(indexed, query, by, split, only=added).items():
            left = counts[key] - n
            if left:
                counts[key] = left
            else:
                del counts[key]
    return counts


def _matching_ids(indexed: _Indexed, query: Query) -> pa.Array:
    ids: list[str] = []
    for group, (_, searcher) in indexed.groups.items():
        full = indexed.full(group, query)
        total = searcher.search(full, 1, count=True).count
        if not total:
            continue
        for _, address in searcher.search(full, total, count=False).hits:
            ids.append(str(searcher.doc(address).get_first("id")))
    return pa.array(ids, pa.string())


_TRUNC = {None: "DATE '1970-01-01'", "day": "published_date", "week": "date_trunc('week', published_date)::DATE",
          "month": "date_trunc('month', published_date)::DATE"}


def _slow_counts(scope: Scope, indexed: _Indexed, query: Query | None, by: str | None, split: str | None,
                 ) -> Counts:
    from toolkit.sql import connect

    con = connect(scope.root, as_of=scope.as_of)
    try:
        where, params = _sql_filters(scope)
        hidden = sorted(_clusters.hidden_copies(scope.root, scope.as_of)) if scope.copies == "one" else []
        if hidden:
            where.append("id NOT IN (SELECT unnest(?))")
            params.append(hidden)
        if query is not None:
            matched = pa.table({"id": _matching_ids(indexed, query)})  # noqa: F841 (read by DuckDB)
            con.register("matched_ids", matched)
            where.append("id IN (SELECT id FROM matched_ids)")
        key = split if split is not None else "NULL"
        sql = (f"SELECT {_TRUNC[by]} AS bucket, {key} AS key, count(*) FROM articles "
               f"{'WHERE ' + ' AND '.join(where) if where else ''} GROUP BY ALL")
        return {((row[0] - EPOCH).days, row[1]): int(row[2]) for row in con.execute(sql, params).fetchall()}
    finally:
        con.close()


def _sql_filters(scope: Scope) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if scope.language:
        where.append("language IN (SELECT unnest(?))")
        params.append(list(scope.language))
    if scope.source:
        where.append("source IN (SELECT unnest(?))")
        params.append(list(scope.source))
    if scope.since is not None:
        where.append("published_date >= ?")
        params.append(scope.since)
    if scope.until is not None:
        where.append("published_date <= ?")
        params.append(scope.until)
    return where, params


# --- the primitive, with the denominators cached ---------------------------------------------------
_DENOMINATORS: dict[tuple[Any, ...], Counts] = {}
_LOCK = threading.Lock()
_MAX_CACHED = 256


def _counts(scope: Scope, query: Query | None, by: str | None, split: str | None) -> Counts:
    """{(bucket start, split value or None): articles} for the query (None: every article in scope)."""
    if by is not None and by not in BY:
        raise NewsarchiveError(f"--by {by!r}: use day, week or month")
    if split not in SPLITS:
        raise NewsarchiveError(f"--split {split!r}: use source or language")
    indexed = _Indexed(scope)
    fast = indexed.version == scope.as_of
    if query is None:
        key = (scope, by, split, fast)
        with _LOCK:
            cached = _DENOMINATORS.get(key)
        if cached is not None:
            return cached
    if query is not None and fast:
        return _match_counts(scope, indexed, query, by, split)
    counts = _fast_counts(indexed, query, by, split) if fast else _older_counts(scope, indexed, query, by, split)
    if query is None:
        with _LOCK:
            if len(_DENOMINATORS) >= _MAX_CACHED:
                _DENOMINATORS.clear()
            _DENOMINATORS[key] = counts
    return counts


_MATCHES: dict[tuple[Any, ...], Counts] = {}
_MAX_MATCHES = 64


def _match_counts(scope: Scope, indexed: _Indexed, query: Query, by: str | None, split: str | None) -> Counts:
    """A query's counts on the fast path, with its matches per source and in all counted in the same
    pass and kept per pinned scope: a page's summary and outlets then cost nothing (a phrase's
    positions were read three times, ~150 ms each at 1,000,000 articles)."""
    key = (scope, query.text, by, split)
    with _LOCK:
        cached = _MATCHES.get(key)
        if cached is None and by is None and split is None:
            per_source = _MATCHES.get((scope, query.text, None, "source"))
            if per_source is not None:
                cached = {(0, None): sum(per_source.values())} if per_source else {}
    if cached is not None:
        return cached
    sources: Counts = {}
    counts = _fast_counts(indexed, query, by, split, sources=sources)
    total = sum(counts.values())
    with _LOCK:
        if len(_MATCHES) >= _MAX_MATCHES:
            _MATCHES.clear()
        _MATCHES[key] = counts
        if sources or not total:  # complete (no match: every count is 0)
            _MATCHES[(scope, query.text, None, "source")] = sources
            _MATCHES[(scope, query.text, None, None)] = {(0, None): total} if total else {}
    return counts


def _parse_all(queries: list[str | Query] | tuple[str | Query, ...] | str) -> list[Query]:
    if isinstance(queries, str):
        queries = [queries]
    if not queries:
        raise NewsarchiveError("no query given; pass at least one, e.g. newsarchive attention Bourita")
    return [q if isinstance(q, Query) else parse_query(q) for q in queries]  # parsed already: taken as is


def _share(matches: int, articles: int) -> float:
    return matches / articles if articles else 0.0


# --- the public functions --------------------------------------------------------------------------
def summary(scope: Scope, queries: list[str]) -> pa.Table:
    """Per query: matching articles, articles in scope, and their ratio (one version: the scope's)."""
    scope = _pin(scope)
    parsed = _parse_all(queries)
    total = sum(_counts(scope, None, None, None).values())
    rows = []
    for query in parsed:
        matches = sum(_counts(scope, query, None, None).values())
        rows.append((query.text, matches, total, _share(matches, total)))
    return pa.table({"query": pa.array([r[0] for r in rows], pa.string()),
                     "matches": pa.array([r[1] for r in rows], pa.int64()),
                     "articles": pa.array([r[2] for r in rows], pa.int64()),
                     "share": pa.array([r[3] for r in rows], pa.float64())})


def attention(scope: Scope, queries: list[str], by: str = "day", split: str | None = None) -> pa.Table:
    """Matches per bucket (and per outlet or language with `split`), with the articles in scope in the
    same bucket and split, and the share. Buckets with articles in scope but no match are rows with 0
    (a chart shows the gap); buckets without any article in scope are absent."""
    scope = _pin(scope)
    parsed = _parse_all(queries)
    frame = _frame(scope, by, split)
    fields = [("query", pa.string()), ("bucket", pa.date32())]
    if split is not None:
        fields.append((split, pa.string()))
    fields += [("matches", pa.int64()), ("articles", pa.int64()), ("share", pa.float64())]
    schema = pa.schema(fields, metadata=_metadata(scope, by=by, split=split or ""))
    tables = []
    for query in parsed:
        found = np.zeros(len(frame.positions), np.int64)
        for key, n in _counts(scope, query, by, split).items():
            found[frame.positions[key]] = n  # every match is an article in scope: its key is there
        share = found / frame.totals_np  # totals are never 0: a bucket is there because it has articles
        columns = [pa.array([query.text] * len(found), pa.string()), frame.days, *([frame.values] if split else []),
                   pa.array(found), frame.totals, pa.array(share)]
        tables.append(pa.Table.from_arrays(columns, schema=schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()


@dataclass(frozen=True)
class _Frame:
    """The buckets (and split values) with articles in scope, sorted, as arrays, and where each key is."""

    positions: dict[tuple[int, Any], int]
    days: pa.Array
    values: pa.Array
    totals: pa.Array
    totals_np: np.ndarray


_FRAMES: dict[tuple[Any, ...], _Frame] = {}


def _frame(scope: Scope, by: str, split: str | None) -> _Frame:
    """Built once per scope (the denominators are cached too): a page's later queries pay only for
    their own matches."""
    denominators = _counts(scope, None, by, split)
    key = (scope, by, split, id(denominators))
    with _LOCK:
        cached = _FRAMES.get(key)
    if cached is not None:
        return cached
    keys = sorted(denominators)  # (day, split value): days are unique without a split, so None never compares
    totals = np.fromiter((denominators[k] for k in keys), np.int64, len(keys))
    frame = _Frame({k: i for i, k in enumerate(keys)},
                   pa.array(np.fromiter((k[0] for k in keys), np.int32, len(keys))).cast(pa.date32()),
                   pa.array([k[1] for k in keys], pa.string()), pa.array(totals), totals.astype(np.float64))
    with _LOCK:
        if len(_FRAMES) >= _MAX_CACHED:
            _FRAMES.clear()
        _FRAMES[key] = frame
    return frame


def outlets(scope: Scope, queries: list[str], limit: int = 50) -> pa.Table:
    """Per query, the outlets with the most matches (up to `limit`), with each outlet's output in scope
    and the share of it that matched. Ties: the outlet's name."""
    if not isinstance(limit, int) or limit < 1:
        raise NewsarchiveError(f"--limit {limit!r}: must be a whole number, 1 or more")
    scope = _pin(scope)
    parsed = _parse_all(queries)
    output: dict[str, int] = defaultdict(int)
    for (_, source), n in _counts(scope, None, None, "source").items():
        output[source] += n
    columns: dict[str, list[Any]] = defaultdict(list)
    for query in parsed:
        matches: dict[str, int] = defaultdict(int)
        for (_, source), n in _counts(scope, query, None, "source").items():
            matches[source] += n
        ranked = sorted(matches.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        for source, n in ranked:
            columns["query"].append(query.text)
            columns["source"].append(source)
            columns["matches"].append(n)
            columns["articles"].append(output[source])
            columns["share"].append(_share(n, output[source]))
    fields = [("query", pa.string()), ("source", pa.string()), ("matches", pa.int64()), ("articles", pa.int64()),
              ("share", pa.float64())]
    schema = pa.schema(fields, metadata=_metadata(scope, limit=str(limit)))
    return pa.table({name: pa.array(columns[name], type_) for name, type_ in fields}, schema=schema)


def _metadata(scope: Scope, **extra: str) -> dict[bytes, bytes]:
    """The version and scope the numbers are of, carried by the table (Parquet keeps it)."""
    meta = {"archive_version": str(scope.as_of), "copies": scope.copies,
            "language": ",".join(scope.language), "source": ",".join(scope.source),
            "since": scope.since.isoformat() if scope.since else "",
            "until": scope.until.isoformat() if scope.until else "", **extra}
    return {k.encode(): v.encode() for k, v in meta.items()}
