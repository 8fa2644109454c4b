"""Full-text search over the archive: stage "archive -> segment index" (tantivy), then BM25 queries.

    >>> from toolkit.search import search, update_index
    >>> update_index("archive").describe()                              # doctest: +SKIP
    'search index built for archive version 1: 42 articles added, 0 removed'
    >>> search("Bourita Blinken", archive="archive", limit=3).hits[0].title  # doctest: +SKIP

Modules: `analysis` (words, folding and the stemmer of each language; the analyzer version),
`index` (where the index lives, building and updating it by segments, its state), `query`
(search, snippets, near-duplicate collapse), `output` (table, JSON Lines, Parquet).
The index is a cache: deleting it is always safe, and `newsarchive search --rebuild` rebuilds it.
"""

from toolkit.search.analysis import ANALYZER_VERSION, STEMMERS, group_of
from toolkit.search.index import INDEX_NAME, IndexUpdate, index_path, update_index
from toolkit.search.output import FORMATS, render_hits, write_hits
from toolkit.search.query import SearchHit, SearchResult, collapse, search

__all__ = [
    "ANALYZER_VERSION", "FORMATS", "INDEX_NAME", "STEMMERS", "IndexUpdate", "SearchHit", "SearchResult", "collapse",
    "group_of", "index_path", "render_hits", "search", "update_index", "write_hits",
]
