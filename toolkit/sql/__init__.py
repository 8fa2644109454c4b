"""SQL over the archive with DuckDB: views, a portable catalog file, time travel.

    >>> from toolkit.sql import build_catalog, connect, query
    >>> build_catalog("archive")                                               # doctest: +SKIP
    >>> query("SELECT source, articles FROM sources", archive="archive")         # doctest: +SKIP
    >>> query("SELECT count(*) FROM articles", archive="archive", as_of=1)       # doctest: +SKIP

Modules: `views` (the archive's tables as views over their Parquet files, at a version), `connection`
(in-memory connections with those views), `catalog` (the catalog file and its refresh hook),
`queries` (one read-only statement, four output formats), `sandbox` (DuckDB's guards around a
user's query: the archive and --allow-path read-only, nothing written or loaded, settings locked),
`profile` (which files a query opens, from DuckDB's profiler), `extensions` (delta and httpfs loaded
from their wheels, never downloaded), `cookbook` (docs/sql.md's questions), `quote` (SQL literals for
the few values that cannot be parameters). Full-text search lives in `toolkit.search` (a tantivy
index), a later stage than this one: import it from there.
"""

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
    "CATALOG_NAME", "FORMATS", "VIEWS", "CatalogResult", "Snapshot", "build_catalog", "catalog_version", "connect",
    "connect_duckdb", "extension_path", "files_read", "load_extensions", "open_catalog", "query", "refresh_catalog",
    "snapshot", "write_query",
]
