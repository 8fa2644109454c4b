"""Searching the index: BM25 per language group, filters, merged best first, with snippets.

    >>> from toolkit.search import search
    >>> hits = search(["Bourita", "Blinken"], archive="archive").hits     # doctest: +SKIP
    >>> hits[0].title                                                   # doctest: +SKIP
    'Maroc-US : le partenariat stratégique bilatéral au centre des entretiens de Bourita-Blinken'

A query is written in the query language of docs/query-language.md (toolkit.search.syntax): words
side by side may any of them match (OR: articles with more of them rank higher), "phrases", AND, OR,
NOT, parentheses, title: and source:; scored by BM25 over title and text together (k1 1.2, b 0.75)
within the article's language group. Filters are exact terms (language, source) and a range on the
day, scored zero, so they only select. The index is updated first if the archive has a commit it does not reflect.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tantivy

from toolkit.core.errors import NewsarchiveError
from toolkit.search import analysis
from toolkit.search.analysis import group_of
from toolkit.search.folder import IndexUpdate, State, folder_for, is_current_local, local_root, open_group, read_state
from toolkit.search.syntax import Query, parse_query

if TYPE_CHECKING:
    from toolkit.archive.tables import Archive

SNIPPET_CHARS = 220
SNIPPET_LEAD = 60  # characters shown before the first query word
SNIPPET_SCAN_CHARS = 1 << 20  # the first query word is looked for folded in the first MiB, then lowered
_CODE = re.compile(r"^[a-z]{2,3}$")
_EPOCH = dt.date(1970, 1, 1)


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
    copies: tuple[tuple[str, str | None], ...] = ()  # the other members of its near-duplicate cluster

    @property
    def outlets(self) -> list[str]:
        """The outlets of its copies, each once."""
        return sorted({source for _, source in self.copies if source is not None})

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "published_date": self.published_date.isoformat(), "source": self.source,
                "language": self.language, "title": self.title, "snippet": self.snippet,
                "score": round(self.score, 6), "copies": len(self.copies), "outlets": self.outlets}


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    terms: str
    index: IndexUpdate
    filters: dict[str, Any] = field(default_factory=dict)
    note: str | None = None  # the query was not valid syntax: why (its plain words were searched)

    def to_arrow(self) -> Any:
        """The hits as a pyarrow Table (id, published_date, source, language, title, snippet, score)."""
        import pyarrow as pa

        columns = {name: [getattr(h, name) for h in self.hits] for name in HIT_SCHEMA_NAMES}
        return pa.table(columns, schema=hit_schema())


HIT_SCHEMA_NAMES = ("id", "published_date", "source", "language", "title", "snippet", "score")


def hit_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("published_date", pa.date32()), ("source", pa.string()),
                      ("language", pa.string()), ("title", pa.string()), ("snippet", pa.string()),
                      ("score", pa.float64())])


#: A cluster lookup for near-duplicate collapse: an article id -> its cluster's id (None: alone).
ClusterOf = Callable[[str], "str | None"]


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
    cluster_of: ClusterOf | None = None,
    all_copies: bool = False,
) -> SearchResult:
    """The articles that best match `terms` (BM25 over title and text), with optional filters.

    `language` is an ISO code (fr, ar, ...); `source` an outlet's exact name; `since`/`until` bound the
    publication date (inclusive). The index is updated first if the archive changed since it was built.
    Near-duplicates (the archive's clusters, or `cluster_of`) count once: the best hit of each
    cluster is kept, with its copies (ids and outlets); `all_copies` lists every copy as a hit.
    """
    text = " ".join(terms) if not isinstance(terms, str) else terms
    if not text.strip():
        raise NewsarchiveError("no search terms; pass the words to look for, e.g. newsarchive search Bourita Blinken")
    if limit < 1:
        raise NewsarchiveError(f"--limit {limit}: must be 1 or more")
    if language is not None and not _CODE.match(language):
        raise NewsarchiveError(f"--language {language!r}: not a language code; use an ISO code such as fr or ar")
    since_date, until_date = parse_date(since, "--since"), parse_date(until, "--until")
    if since_date and until_date and since_date > until_date:
        raise NewsarchiveError(f"--since {since_date} is after --until {until_date}; swap them")
    parsed = parse_query(text, default="OR", lenient=True)  # malformed: its plain words, with a note
    update, groups = current_index(archive, index=index)
    copies = None
    if cluster_of is None:
        from toolkit.search.copies import near_duplicates, read_copies

        copies = read_copies(Path(update.path), update.version)
        if copies is None:
            copies = near_duplicates(archive)
        cluster_of = copies.cluster_of if copies.cluster and not all_copies else None
    filters = {k: v for k, v in (("language", language), ("source", source), ("since", since_date),
                                 ("until", until_date)) if v is not None}
    if language is not None:
        groups = {g: s for g, s in groups.items() if g == group_of(language)}
    wanted = limit
    while True:
        found = _search(groups, parsed, language, source, since_date, until_date, wanted)
        hits = collapse(found, cluster_of) if cluster_of is not None else found
        if len(hits) >= limit or len(found) < wanted or cluster_of is None:
            break
        wanted *= 4  # collapsing left fewer than `limit`: look further down the ranking
    hits = hits[:limit]
    if copies is not None and copies.cluster:
        hits = [replace(h, copies=tuple(copies.copies(h.id))) for h in hits]
    return SearchResult(hits, text, update, filters, parsed.note)


def current_index(archive: str | os.PathLike | Archive | None = None, *, index: str | os.PathLike | None = None,
                  ) -> tuple[IndexUpdate, dict[str, tuple[tantivy.Index, tantivy.Searcher]]]:
    """The index brought up to the archive's latest version, and its group indexes opened (once per
    process and state: toolkit.explore counts with them). `update.version` is the version it reflects."""
    # A current index of a local archive needs only two file lookups in its Delta log: the archive
    # stage (most of a second of imports, a log read) is loaded only to update the index, or for S3.
    root = None if index is not None or not isinstance(archive, (str, os.PathLike, type(None))) \
        else local_root(archive)
    path = Path(folder_for(root, is_s3=False)) if root is not None else None
    state = _state(path) if path is not None else None
    if root is not None and path is not None and state is not None and is_current_local(root, state):
        update = IndexUpdate(str(path), state.version)
    else:
        from toolkit.archive.tables import Archive, open_archive
        from toolkit.search.index import index_path, is_current, update_index

        target = archive if isinstance(archive, Archive) else open_archive(archive)
        path = Path(os.fspath(index) if index is not None else index_path(target)).expanduser()
        state = _state(path)
        if state is not None and is_current(path, state, target):
            update = IndexUpdate(str(path), state.version)
        else:
            update = update_index(target, index=path)
    return update, _open(path)


def collapse(hits: list[SearchHit], cluster_of: ClusterOf) -> list[SearchHit]:
    """One hit per near-duplicate cluster: the best ranked (hits come best first)."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        cluster = cluster_of(hit.id)
        if cluster is not None:
            if cluster in seen:
                continue
            seen.add(cluster)
        kept.append(hit)
    return kept


def parse_date(value: dt.date | str | None, option: str) -> dt.date | None:
    """A date from YYYY-MM-DD, or one line naming the option (`search`'s and explore's --since/--until)."""
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise NewsarchiveError(f"{option} {value!r}: not a date; use YYYY-MM-DD") from None


# --- opened indexes, kept while the state file is unchanged ---------------------------------------
_OPENED: dict[str, tuple[tuple[int, int], dict[str, tuple[tantivy.Index, tantivy.Searcher]]]] = {}
_LOCK = threading.Lock()


_STATES: dict[str, tuple[tuple[int, int, int], State]] = {}


def _state(path: Path) -> State | None:
    """`state.json`, parsed once per version of the file (it lists every data file: at millions of
    articles, thousands of lines)."""
    try:
        stat = os.stat(path / "state.json")
    except OSError:
        return None
    key = (stat.st_mtime_ns, stat.st_ino, stat.st_size)
    cached = _STATES.get(str(path))
    if cached is not None and cached[0] == key:
        return cached[1]
    state = read_state(path)
    if state is not None:
        _STATES[str(path)] = (key, state)
    return state


def _open(path: Path) -> dict[str, tuple[tantivy.Index, tantivy.Searcher]]:
    """The group indexes of the state's groups, opened once per process and state (a search in a
    running process then costs the query alone)."""
    for attempt in range(3):
        try:
            stat = os.stat(path / "state.json")
            key = (stat.st_mtime_ns, stat.st_ino)
            with _LOCK:
                cached = _OPENED.get(str(path))
                if cached is not None and cached[0] == key:
                    return cached[1]
            state = _state(path)
            if state is None:
                raise FileNotFoundError(path / "state.json")
            opened = {}
            for group in state.groups:
                index = open_group(path, group)
                opened[group] = (index, index.searcher())
            with _LOCK:
                _OPENED[str(path)] = (key, opened)
            return opened
        except (OSError, ValueError) as exc:  # a rebuild swapped the folder in between: look again
            if attempt == 2:
                raise NewsarchiveError(
                    f"{path}: cannot open the search index ({exc}); rebuild it with `newsarchive search --rebuild`"
                ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _search(groups: dict[str, tuple[tantivy.Index, tantivy.Searcher]], parsed: Query, language: str | None,
            source: str | None, since: dt.date | None, until: dt.date | None, limit: int) -> list[SearchHit]:
    found: list[tuple[float, int, str, str, tantivy.Searcher, tantivy.DocAddress]] = []
    docs: dict[tuple[str, int], Any] = {}
    text = " ".join(word.text for word in parsed.words())  # what snippets are placed on
    for group, (index, searcher) in groups.items():
        schema = index.schema
        query = parsed.to_tantivy(index, group)
        filters = []
        if language is not None:
            filters.append(tantivy.Query.term_query(schema, "language", language))
        if source is not None:
            filters.append(tantivy.Query.term_query(schema, "source", source))
        if since is not None or until is not None:
            filters.append(tantivy.Query.range_query(
                schema, "day", tantivy.FieldType.Integer,
                (since - _EPOCH).days if since else -(1 << 40), (until - _EPOCH).days if until else 1 << 40))
        if filters:
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query)]
                + [(tantivy.Occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in filters])
        for rank, (score, address) in enumerate(searcher.search(query, limit, count=False).hits):
            doc = searcher.doc(address)
            docs[(group, rank)] = doc
            found.append((float(score), -int(doc.get_first("day")), str(doc.get_first("id")), group, searcher,
                          rank))  # type: ignore[arg-type]
    found.sort(key=lambda f: (-f[0], f[1], f[2]))
    hits = []
    for score, _, _, group, _, rank in found[:limit]:
        doc = docs[(group, rank)]
        body = bytes(doc.get_first("text") or b"").decode("utf-8", "replace")
        hits.append(SearchHit(
            id=str(doc.get_first("id")), published_date=_EPOCH + dt.timedelta(days=int(doc.get_first("day"))),
            source=str(doc.get_first("source")), language=str(doc.get_first("language")),
            title=bytes(doc.get_first("title") or b"").decode("utf-8", "replace"),
            snippet=snippet(body, _needles(text, group)), score=score))
    return hits


# --- snippets ------------------------------------------------------------------------------------
def _needles(text: str, group: str) -> list[str]:
    """The words to place a snippet on: each query word as written (lowered, folded) and its stem."""
    plain = analysis.analyzer(None).analyze(analysis.strip_marks_text(text))
    return [w for w in dict.fromkeys([*plain, *analysis.query_terms(text, group)]) if len(w) > 1]


class _Fold(dict):
    """str.translate table: each character lowered and without its accent, when that stays one
    character (so positions in the folded text are positions in the text); marks are dropped."""

    def __missing__(self, code: int) -> int | str | None:
        import unicodedata

        char = chr(code)
        if analysis.has_marks(char):
            value: int | str | None = None
        else:
            lowered = char.lower()
            decomposed = "".join(c for c in unicodedata.normalize("NFKD", lowered) if not unicodedata.combining(c))
            value = decomposed if len(decomposed) == 1 else (lowered if len(lowered) == 1 else code)
        self[code] = value
        return value


_FOLD = _Fold()


def snippet(text: str, needles: Sequence[str]) -> str:
    """About SNIPPET_CHARS characters of whole words, starting a little before the first needle."""
    head = text[:SNIPPET_SCAN_CHARS]
    folded = head.translate(_FOLD)
    positions = [p for p in (folded.find(n) for n in needles) if p >= 0]
    position = min(positions) if positions else 0
    if positions and len(folded) != len(head):  # marks were dropped: map back to the text
        kept = [i for i, ch in enumerate(head) if _FOLD[ord(ch)] is not None]
        position = kept[position] if position < len(kept) else 0
    elif not positions and len(text) > len(head):  # further on: lowered only (a C pass), not folded
        lowered = text.lower()
        if len(lowered) == len(text):
            positions = [p for p in (lowered.find(n) for n in needles) if p >= 0]
            position = min(positions) if positions else 0
    start = max(0, position - SNIPPET_LEAD)
    body = re.sub(r"\s+", " ", text[start:start + SNIPPET_CHARS])
    more = start + SNIPPET_CHARS < len(text)
    if start > 0:
        body = re.sub(r"^\S*\s", "", body, count=1)  # whole words only: drop the one cut at either end
    if more:
        body = re.sub(r"\s\S*$", "", body, count=1)
    return ("…" if start > 0 else "") + body.strip() + ("…" if more else "")
