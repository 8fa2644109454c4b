"""Articles behind the numbers: a sample with highlighted snippets, the top terms around a query."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
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
    ranked = _ranked(scope, parsed, sample)
    owns: dict[str, set[str]] = {}
    docs = []
    for group, doc in ranked:
        if group not in owns:
            owns[group] = _terms_of(parsed, group)
        title = bytes(doc.get_first("title") or b"").decode("utf-8", "replace")
        text = bytes(doc.get_first("text") or b"").decode("utf-8", "replace")[:TERM_TEXT_CHARS]
        docs.append((group, str(doc.get_first("language")), f"{title}\n{text}"))
    merged = _term_counts(docs, owns)
    top = sorted(merged.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:limit]
    schema = pa.schema([("term", pa.string()), ("count", pa.int64()), ("documents", pa.int64())],
                       metadata={b"sample_size": str(len(ranked)).encode(), b"sample_limit": str(sample).encode(),
                                 b"archive_version": str(scope.as_of).encode()})
    return pa.table({"term": [t for t, _ in top], "count": [v[0] for _, v in top],
                     "documents": [v[1] for _, v in top]}, schema=schema)


@functools.cache
def _every_character() -> str:
    """Every Unicode character but the surrogates, in order, as one string (built from a numpy range:
    a million `chr` calls took 0.1 s)."""
    codes = np.arange(0x110000, dtype=np.uint32)
    return codes[(codes < 0xD800) | (codes > 0xDFFF)].tobytes().decode("utf-32-le")


@functools.cache
def _non_word() -> str:
    """An RE2 class of the characters that are not in Python's `\\w` (this Python's Unicode tables),
    built from `re` itself, so that Arrow cuts words exactly where `_WORD.findall` does."""
    everything = _every_character()
    spans = []
    for match in _WORD.finditer(everything):
        first, last = ord(match.group()[0]), ord(match.group()[-1])
        if spans and spans[-1][1] == 0xD7FF and first == 0xE000:  # a run across the surrogates' gap
            spans[-1] = (spans[-1][0], last)
        else:
            spans.append((first, last))

    def code(c: int) -> str:
        return f"\\x{{{c:X}}}"

    return "[^" + "".join(code(a) if a == b else f"{code(a)}-{code(b)}" for a, b in spans) + "]+"


def warm_up() -> None:
    """Build the character classes top terms cut and lower-case with (~0.1 s, once per process), so
    that the first explore page does not pay for them."""
    _non_word()
    _lowers_apart()


@functools.cache
def _lowers_apart() -> str:
    """An RE2 class of the characters whose lower case Arrow's `utf8_lower` gives otherwise than
    Python's `str.lower` (İ, letters of newer Unicode versions) and Σ (Python writes ς at a word's
    end): a text holding none of them is lower-cased the same by both."""
    import pyarrow.compute as pc

    # Python lower-cases one character into two for İ alone, and Σ by its context: both are apart
    # anyway; every other character maps to one, so the two lower-cased strings line up
    special = {"\u0130", "\u03a3"}
    chars = _every_character().replace("\u0130", "").replace("\u03a3", "")
    python = chars.lower()
    arrow = pc.utf8_lower(pa.array([chars], pa.large_string()))[0].as_py()
    if len(python) == len(arrow) == len(chars):
        ours, theirs = (np.frombuffer(t.encode("utf-32-le"), np.uint32) for t in (python, arrow))
        apart = [chars[i] for i in np.flatnonzero(ours != theirs).tolist()] + sorted(special)
    else:  # not lined up (another Unicode version): one character at a time
        singles = list(chars)
        lowered = pc.utf8_lower(pa.array(singles, pa.string())).to_pylist()
        apart = [c for c, low in zip(singles, lowered, strict=True) if c.lower() != low] + sorted(special)
    return "[" + "".join(f"\\x{{{ord(c):X}}}" for c in sorted(set(apart))) + "]"


def _lower(texts: pa.Array) -> pa.Array:
    """The texts lower-cased as Python's `str.lower` does: by Arrow (no GIL, no copy into Python
    strings), except the texts holding a character the two treat differently."""
    import pyarrow.compute as pc

    apart = pc.match_substring_regex(texts, pattern=_lowers_apart())
    if not pc.any(apart).as_py():
        return pc.utf8_lower(texts)
    python = pa.array([t.lower() if a else None for t, a in zip(texts.to_pylist(), apart.to_pylist(), strict=True)],
                      texts.type)
    return pc.coalesce(python, pc.utf8_lower(texts))


def _term_counts(docs: list[tuple[str, str, str]], owns: dict[str, set[str]]) -> dict[str, list[int]]:
    """{surface word: [occurrences, articles]} over the sampled articles (group, language, text).

    The rule (unchanged): each article's text, its marks stripped, lower-cased, cut into `\\w+` words;
    its language's stop words, one-letter words, numbers, words that do not stem to one term and the
    query's own terms left out; the others counted per (group, stem) and shown as their most used
    surface word (ties: the one met first, in rank order), stems sharing a surface word added up.

    Why Arrow: cutting and counting 1,000 articles word by word in Python took 0.1-0.2 s of CPU per
    query, holding the GIL; here the words are cut, counted per article and per stem in Arrow's
    kernels (which release it), and Python looks at each distinct word once."""
    import pyarrow.compute as pc

    if not docs:
        return {}
    texts = pc.replace_substring_regex(pa.array([d[2] for d in docs], pa.large_string()), analysis.MARKS_RE2, "")
    lowered = _lower(texts)
    words = pc.split_pattern_regex(lowered, pattern=_non_word())
    flat = pc.list_flatten(words)
    article = pc.list_parent_indices(words)
    nonempty = pc.greater(pc.binary_length(flat), 0)  # a separator at either end leaves an empty word
    encoded = pc.dictionary_encode(flat.filter(nonempty))  # numbered in the order first met
    spelled = encoded.dictionary.to_pylist()
    word = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    article = article.filter(nonempty).to_numpy(zero_copy_only=False).astype(np.int64)
    n_words = max(len(spelled), 1)
    # (article, word) pairs and their occurrences, in the order first met (hashing: no sort)
    counted_pairs = pc.value_counts(pa.array(article * n_words + word))
    pairs = counted_pairs.field("values").to_numpy()
    occurrences = counted_pairs.field("counts").to_numpy()
    pair_article, pair_word = pairs // n_words, pairs % n_words
    kinds: dict[tuple[str, str], int] = {}  # (group, language) of each article, as a number
    kind = np.array([kinds.setdefault((d[0], d[1]), len(kinds)) for d in docs], np.int64)
    kind_of = list(kinds)
    group_ids: dict[str, int] = {}
    group_of_kind = np.array([group_ids.setdefault(g, len(group_ids)) for g, _ in kind_of], np.int64)
    kind_word = pa.array(kind[pair_article] * n_words + pair_word)
    vocabulary = pc.unique(kind_word)
    pair_entry = pc.index_in(kind_word, value_set=vocabulary).to_numpy()
    # the order in which each word was first met in an article of each group: a stem's surface word is
    # decided by it on ties, as the first-met word was when the counts were kept word by word
    group_word = pa.array(group_of_kind[kind[pair_article]] * n_words + pair_word)
    met_order = pc.index_in(group_word, value_set=pc.unique(group_word)).to_numpy()
    stems: dict[tuple[str, str], int] = {}
    keys: dict[tuple[str, str], int] = {}
    stop_lists: dict[str, frozenset[str]] = {}
    vocabulary_codes = vocabulary.to_numpy()
    key_of = np.full(len(vocabulary_codes), -1, np.int64)  # -1: not counted
    for entry, code in enumerate(vocabulary_codes.tolist()):
        group, language = kind_of[code // n_words]
        text = spelled[code % n_words]
        stops = stop_lists.get(language)
        if stops is None:
            stops = stop_lists[language] = stop_words(language)
        if text in stops:
            continue
        lookup = (group, text)
        if lookup not in stems:
            analysed = analysis.analyzer(group).analyze(text) if len(text) > 1 and not text.isdigit() else []
            stems[lookup] = keys.setdefault((group, analysed[0]), len(keys)) \
                if len(analysed) == 1 and analysed[0] not in owns[group] else -1
        key_of[entry] = stems[lookup]
    key = key_of[pair_entry]
    counted = key >= 0
    key, pair_article, pair_word = key[counted], pair_article[counted], pair_word[counted]
    occurrences, met_order = occurrences[counted], met_order[counted]
    if not len(key):
        return {}
    total = np.bincount(key, weights=occurrences, minlength=len(keys)).astype(np.int64)
    key_articles = pc.unique(pa.array(key * len(docs) + pair_article)).to_numpy()
    documents = np.bincount(key_articles // len(docs), minlength=len(keys))
    # each stem's surface word: the most used, ties to the one met first (rank order, then text order)
    key_word = pa.array(key * n_words + pair_word)
    surfaces = pc.unique(key_word)
    surface_of = pc.index_in(key_word, value_set=surfaces).to_numpy()
    surface = surfaces.to_numpy()
    used = np.bincount(surface_of, weights=occurrences, minlength=len(surface)).astype(np.int64)
    met = np.zeros(len(surface), np.int64)
    met[surface_of] = met_order  # one (group, word) per surface: the same order wherever it is read
    surface_key = surface // n_words
    order = np.lexsort((met, -used, surface_key))
    chosen = order[np.r_[True, surface_key[order][1:] != surface_key[order][:-1]]]
    merged: dict[str, list[int]] = {}
    for k, code in zip(surface_key[chosen].tolist(), surface[chosen].tolist(), strict=True):
        entry = merged.setdefault(spelled[code % n_words], [0, 0])
        entry[0] += int(total[k])
        entry[1] += int(documents[k])
    return merged
