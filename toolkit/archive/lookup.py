"""The archive's ids, for `newsarchive validate --archive`: the archive's side of that lookup.

Validate comes before the archive in the flow and does not import it; the CLI asks the archive for
its ids here and hands them to `toolkit.validate.validate(archive=...)`.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.archive.tables import open_archive
from toolkit.core.errors import NewsarchiveError
from toolkit.validate.archive_ids import ArchivedIds


def archived_ids(uri: str) -> ArchivedIds:
    """The `id` column of the archive's `articles/` table (layout: docs/archive-layout.md), lazily read.

    Fails early (exit 2) when there is no archive there, before any input is read.
    """
    root = uri.rstrip("/") or uri
    if "://" not in root or root.startswith("file://"):
        local = Path(root.removeprefix("file://"))
        if not local.is_dir():
            raise NewsarchiveError(f"archive {uri}: no such folder; pass --archive the archive root")
        if not (local / "articles" / "_delta_log").is_dir():
            raise NewsarchiveError(
                f"archive {uri}: no articles/ Delta table there; pass --archive the archive root "
                "(the folder that holds articles/)"
            )
    archive = open_archive(root)
    version, dataset = int(archive.version), archive.articles()
    if "id" not in dataset.schema.names:
        raise NewsarchiveError(f"archive {uri}: articles/ has no id column, so it cannot be checked for known ids")
    return ArchivedIds(root, version, dataset)
