"""What other stages keep in step with the archive after each commit.

The SQL stage's catalog (a DuckDB file of views naming the current Parquet files, in the archive root
when someone built one) must follow every new version, or its views would name files a compaction
replaced. `toolkit.sql.refresh_catalog` rewrites it when it exists and is behind, and never fails the
caller: a commit that is done stays done.
"""

from __future__ import annotations

from toolkit.archive.tables import Archive


def refresh_catalog(archive: Archive, *, rebuild: bool = False) -> None:
    """Bring the SQL catalog up to date with the archive, if the SQL stage and a catalog are there;
    `rebuild` rewrites it even at the same articles version (interrupted batches were just completed)."""
    try:
        from toolkit.sql import refresh_catalog as refresh
    except ImportError:
        return
    refresh(archive, force=rebuild)
