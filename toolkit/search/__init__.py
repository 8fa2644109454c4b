"""Full-text search over the archive: stage "archive -> segment index" (tantivy), then BM25 queries.

    >>> from toolkit.search import search, update_index
    >>> update_index("archive").describe()                              # doctest: +SKIP
    'search index built for archive version 1: 42 articles added, 0 removed'
    >>> search("Bourita Blinken", archive="archive", limit=3).hits[0].title  # doctest: +SKIP

Modules: `analysis` (words, folding and the stemmer of each language; the analyzer version),
`index` (where the index lives, building and updating it by segments, its state), `query`
(search, snippets, near-duplicate collapse), `output` (table, JSON Lines, Parquet), `folder` (the
index folder's read side: location, state, group indexes, without the archive stage's imports).
The index is a cache: deleting it is always safe, and `newsarchive search --rebuild` rebuilds it.
"""

from typing import Any

from toolkit.search.analysis import ANALYZER_VERSION, STEMMERS, group_of
from toolkit.search.folder import INDEX_NAME, IndexUpdate
from toolkit.search.output import FORMATS, render_hits, write_hits
from toolkit.search.query import SearchHit, SearchResult, collapse, current_index, search, snippet
from toolkit.search.syntax import Query, QueryError, parse_query


def __getattr__(name: str) -> Any:
    """`update_index` and `index_path` load the archive stage: imported on first use only, so that a
    search of a current index starts fast."""
    if name in ("update_index", "index_path"):
        from toolkit.search import index

        return getattr(index, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ANALYZER_VERSION", "FORMATS", "INDEX_NAME", "STEMMERS", "IndexUpdate", "Query", "QueryError", "SearchHit",
    "SearchResult", "collapse", "current_index", "group_of", "index_path", "parse_query", "render_hits", "search",
    "snippet", "update_index", "write_hits",
]
