"""SQL over the archive with DuckDB: views, a portable catalog file, full-text search, time travel.

    >>> from toolkit.sql import build_catalog, connect, query, search
    >>> build_catalog("archive")                                               # doctest: +SKIP
    >>> query("SELECT source, articles FROM sources", archive="archive")         # doctest: +SKIP
    >>> query("SELECT count(*) FROM articles", archive="archive", as_of=1)       # doctest: +SKIP
    >>> search("Bourita Blinken", archive="archive", language="fr").hits[0].title  # doctest: +SKIP

Modules: `views` (the archive's tables as views over their Parquet files, at a version), `connection`
(in-memory connections with those views), `catalog` (the catalog file and its refresh hook),
`queries` (one read-only statement, four output formats), `sandbox` (DuckDB's guards around a
user's query: the archive and --allow-path read-only, nothing written or loaded, settings locked),
`profile` (which files a query opens, from DuckDB's profiler), `extensions` (delta and httpfs loaded
from their wheels, never downloaded), `cookbook` (the README's questions), `quote` (SQL literals for
the few values that cannot be parameters). Full-text search lives in `toolkit.search` (a tantivy
index); `search` and `update_index` are re-exported here.
"""

from toolkit.search import INDEX_NAME, STEMMERS, IndexUpdate, SearchHit, SearchResult, search, update_index
from toolkit.sql.catalog import (
    CATALOG_NAME,
    CatalogResult,
    build_catalog,
    catalog_version,
    open_catalog,
    refresh_catalog,
)
from toolkit.sql.connection import connect
from toolkit.sql.extensions import connect_duckdb, extension_path, load_extensions
from toolkit.sql.profile import files_read
from toolkit.sql.queries import FORMATS, query, write_query
from toolkit.sql.views import VIEWS, Snapshot, snapshot

__all__ = [
    "CATALOG_NAME", "FORMATS", "INDEX_NAME", "STEMMERS", "VIEWS", "CatalogResult", "IndexUpdate", "SearchHit",
    "SearchResult", "Snapshot", "build_catalog", "catalog_version", "connect", "connect_duckdb", "extension_path",
    "files_read", "load_extensions", "open_catalog", "query", "refresh_catalog", "search", "snapshot",
    "update_index", "write_query",
]
