"""Read the archive at one version for publishing: `toolkit.archive.ArchiveVersion`, the type sql and
search read too (records as a pyarrow dataset, plus the ledger rows behind them).

Goes through the archive stage's documented API (`toolkit.archive.open_archive`, see
docs/archive-layout.md), so local folders and s3:// roots work the same way.
"""

from __future__ import annotations

from toolkit.archive.tables import ArchiveVersion, open_archive

#: The name this module used before the archive stage had one type for "the archive at version N".
ArchiveSource = ArchiveVersion


def open_source(uri: str | None = None, as_of: int | None = None) -> ArchiveVersion:
    """Open the archive's articles at `as_of` (default: its current version) for publishing."""
    return open_archive(uri).at(as_of)
