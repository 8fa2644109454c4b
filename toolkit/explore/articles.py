"""Articles behind the numbers: a sample with highlighted snippets, the top terms around a query."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from toolkit.core.errors import NewsarchiveError
from toolkit.explore import _clusters
from toolkit.explore.counts import EPOCH, _Indexed, _matching_ids, _pin
from toolkit.explore.query import Query, parse_query
from toolkit.explore.scope import Scope
from toolkit.search import analysis, snippet

TERM_TEXT_CHARS = 20_000  # characters of each sampled article read for top terms
_WORD = re.compile(r"\w+", re.UNICODE)


RANKED_HITS = 1000  # hits asked of each group and kept: a page's sample and its top terms share one pass
_HITS: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], int, dict[str, list[tuple[float, Any]]]]] = OrderedDict()
_MAX_HITS = 32


def _group_hits(indexed: _Indexed, query: Query, limit: int) -> dict[str, list[tuple[float, Any]]]:
    """Each group's `limit` best hits, as (-score, address), in tantivy's order (score, then address).

    tantivy's top `limit` is the first `limit` of its top `n` for any n >= limit (one order: score,
    then address), so one pass asking RANKED_HITS serves the sample (10) and the top terms (1,000): a
    phrase's positions are read once for both, not once each. Kept per pinned scope and query, with the
    searchers it came from (an address means nothing in another searcher)."""
    key = (indexed.scope, query.text)
    searchers = tuple((group, id(searcher)) for group, (_, searcher) in indexed.groups.items())
    with _ANSWERS_LOCK:
        kept = _HITS.get(key)
        if kept is not None and kept[0] == searchers and kept[1] >= limit:
            _HITS.move_to_end(key)
            return {group: hits[:limit] for group, hits in kept[2].items()}
    fetch = max(limit, RANKED_HITS)
    found = {group: [(-float(score), address) for score, address in searcher.search(
        indexed.full(group, query), fetch, count=False).hits] for group, (_, searcher) in indexed.groups.items()}
    with _ANSWERS_LOCK:
        _HITS[key] = (searchers, fetch, found)
        while len(_HITS) > _MAX_HITS:
            _HITS.popitem(last=False)
    return {group: hits[:limit] for group, hits in found.items()}


def _ranked(scope: Scope, query: Query, limit: int) -> list[tuple[str, Any]]:
    """The best `limit` matches in scope (BM25; ties: newer, then id) as (group, stored document)."""
    indexed = _Indexed(scope)
    allowed: set[str] | None = None
    hits = []
    if indexed.version != scope.as_of:  # an older version: keep the ids it holds
        allowed = _ids_at(scope, _matching_ids(indexed, query))
        for group, (_, searcher) in indexed.groups.items():
            full = indexed.full(group, query)
            wanted = max(1, searcher.search(full, 1, count=True).count)
            hits += [(-float(score), group, searcher, address) for score, address in searcher.search(
                full, wanted, count=False).hits]
    else:
        for group, best in _group_hits(indexed, query, limit).items():
            searcher = indexed.groups[group][1]
            hits += [(negative, group, searcher, address) for negative, address in best]
    if allowed is None and len(hits) > limit:
        # Only hits scoring at least the limit-th best can be kept (ties there are decided by date and
        # id below): the documents of the others are not read (each group gave `limit` hits).
        hits.sort(key=lambda h: h[0])
        cut = hits[limit - 1][0]
        hits = [h for h in hits if h[0] <= cut]
    found = []
    for negative, group, searcher, address in hits:
        doc = searcher.doc(address)
        if allowed is not None and str(doc.get_first("id")) not in allowed:
            continue
        found.append((negative, -int(doc.get_first("day")), str(doc.get_first("id")), group, doc))
    found.sort(key=lambda f: f[:3])
    return [(f[3], f[4]) for f in found[:limit]]


def _positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise NewsarchiveError(f"{name}={value!r}: must be a whole number, 1 or more")


def _ids_at(scope: Scope, ids: pa.Array) -> set[str]:
    from toolkit.sql import connect

    con = connect(scope.root, as_of=scope.as_of)
    try:
        con.register("wanted_ids", pa.table({"id": ids}))
        return {r[0] for r in con.execute("SELECT id FROM articles WHERE id IN (SELECT id FROM wanted_ids)").fetchall()}
    finally:
        con.close()


def _terms_of(query: Query, group: str) -> set[str]:
    """The stemmed terms of the query's words (what highlighting marks)."""
    terms: set[str] = set()
    for word in query.words():
        terms.update(analysis.query_terms(word.text, group))
    return terms


def segments(text: str, terms: set[str], group: str) -> list[list[Any]]:
    """`text` cut into [text, highlighted] segments: a word is highlighted when its stem is a query term."""
    out: list[list[Any]] = []
    stem = analysis.analyzer(group)
    position = 0
    for match in _WORD.finditer(text):
        analysed = stem.analyze(analysis.strip_marks_text(match.group()))
        if analysed and all(t in terms for t in analysed):
            if match.start() > position:
                out.append([text[position:match.start()], False])
            out.append([match.group(), True])
            position = match.end()
    if position < len(text):
        out.append([text[position:], False])
    merged: list[list[Any]] = []
    for part in out:
        if merged and merged[-1][1] == part[1]:
            merged[-1][0] += part[0]
        else:
            merged.append(part)
    return merged


_ANSWERS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_ANSWERS_LOCK = threading.Lock()
_MAX_ANSWERS = 64


def _kept(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """`compute()`, kept per key (a pinned scope, a query, the sizes): a version never changes, and a
    page's other addresses (another --by, a split) ask the same sample again."""
    with _ANSWERS_LOCK:
        if key in _ANSWERS:
            _ANSWERS.move_to_end(key)
            return _ANSWERS[key]
    value = compute()
    with _ANSWERS_LOCK:
        _ANSWERS[key] = value
        while len(_ANSWERS) > _MAX_ANSWERS:
            _ANSWERS.popitem(last=False)
    return value


def sample_articles(scope: Scope, query: str, limit: int = 20) -> list[dict[str, Any]]:
    """The best-matching articles (BM25), each with a snippet as [text, highlighted] segments (not
    HTML: the web layer escapes) and the size of its near-duplicate cluster (1 if none)."""
    _positive(limit=limit)
    scope = _pin(scope)
    parse_query(query)  # a malformed query fails here, never from the kept answers
    rows = _kept(("sample", scope, query, limit), lambda: _sample(scope, query, limit))
    return copy.deepcopy(rows)  # the caller may change its copy


def _sample(scope: Scope, query: str, limit: int) -> list[dict[str, Any]]:
    parsed = parse_query(query)
    rows = []
    for group, doc in _ranked(scope, parsed, limit):
        text = bytes(doc.get_first("text") or b"").decode("utf-8", "replace")
        plain = [t for word in parsed.words() for t in analysis.analyzer(None).analyze(
            analysis.strip_marks_text(word.text))]
        needles = [w for w in dict.fromkeys([*plain, *_terms_of(parsed, group)]) if len(w) > 1]
        rows.append({
            "id": str(doc.get_first("id")),
            "title": bytes(doc.get_first("title") or b"").decode("utf-8", "replace"),
            "source": str(doc.get_first("source")), "language": str(doc.get_first("language")),
            "published_date": (EPOCH + dt.timedelta(days=int(doc.get_first("day")))).isoformat(),
            "snippet": segments(snippet(text, needles), _terms_of(parsed, group), group),
        })
    sizes = _clusters.cluster_sizes(scope.root, scope.as_of, [r["id"] for r in rows])
    for row in rows:
        row["copies"] = sizes.get(row["id"], 1)
    return rows


@functools.cache
def stop_words(language: str) -> frozenset[str]:
    """The language's stop words (stopwords-iso, lower-cased and folded like the index), empty if none."""
    import stopwordsiso

    if not stopwordsiso.has_lang(language):
        return frozenset()
    fold = analysis.analyzer(None)
    words: set[str] = set()
    for word in stopwordsiso.stopwords(language):
        words.add(word.lower())
        words.update(fold.analyze(analysis.strip_marks_text(word)))
    return frozenset(words)


def top_terms(scope: Scope, query: str, sample: int = 1000, limit: int = 40) -> pa.Table:
    """The words most used in up to `sample` matching articles (the best ranked), stop words of each
    article's language removed, the query's own words left out, stemmed forms counted together under
    their most common surface word. `count`: occurrences; `documents`: articles using it. The sample's
    size is in the table's metadata (`sample_size`), as Media Cloud states it."""
    _positive(sample=sample, limit=limit)
    scope = _pin(scope)
    parse_query(query)
    return _kept(("terms", scope, query, sample, limit), lambda: _top_terms(scope, query, sample, limit))


def _top_terms(scope: Scope, query: str, sample: int, limit: int) -> pa.Table:
    parsed = parse_query(query)
    counts: Counter[tuple[str, str]] = Counter()
    documents: Counter[tuple[str, str]] = Counter()
    surfaces: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    ranked = _ranked(scope, parsed, sample)
    # A sample's vocabulary is small: each distinct word of an article is looked at once, and stemmed
    # once per language group (key None: a stop word, a number, a query word).
    stems: dict[tuple[str, str], tuple[str, str] | None] = {}
    owns: dict[str, set[str]] = {}
    for group, doc in ranked:
        language = str(doc.get_first("language"))
        stops = stop_words(language)
        own = owns.get(group)
        if own is None:
            own = owns[group] = _terms_of(parsed, group)
        stem = analysis.analyzer(group)
        title = bytes(doc.get_first("title") or b"").decode("utf-8", "replace")
        text = bytes(doc.get_first("text") or b"").decode("utf-8", "replace")[:TERM_TEXT_CHARS]
        words = Counter(_WORD.findall(analysis.strip_marks_text(f"{title}\n{text}").lower()))
        seen: set[tuple[str, str]] = set()
        for word, n in words.items():
            if word in stops:
                continue
            lookup = (group, word)
            if lookup in stems:
                key = stems[lookup]
            else:
                analysed = stem.analyze(word) if len(word) > 1 and not word.isdigit() else []
                key = stems[lookup] = (group, analysed[0]) if len(analysed) == 1 and analysed[0] not in own else None
            if key is None:
                continue
            counts[key] += n
            surfaces[key][word] += n
            seen.add(key)
        documents.update(seen)
    merged: dict[str, list[int]] = {}
    for key, n in counts.items():
        term = surfaces[key].most_common(1)[0][0]
        entry = merged.setdefault(term, [0, 0])
        entry[0] += n
        entry[1] += documents[key]
    top = sorted(merged.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:limit]
    schema = pa.schema([("term", pa.string()), ("count", pa.int64()), ("documents", pa.int64())],
                       metadata={b"sample_size": str(len(ranked)).encode(), b"sample_limit": str(sample).encode(),
                                 b"archive_version": str(scope.as_of).encode()})
    return pa.table({"term": [t for t, _ in top], "count": [v[0] for _, v in top],
                     "documents": [v[1] for _, v in top]}, schema=schema)
