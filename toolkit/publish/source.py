"""Read the archive at one version: the records as a pyarrow dataset, plus the ledger rows behind them.

Goes through the archive stage's documented API (`toolkit.archive.open_archive`, see
docs/archive-layout.md), so local folders and s3:// roots work the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from toolkit.core.errors import NewsarchiveError


@dataclass(frozen=True)
class ArchiveSource:
    """The archive as one snapshot sees it: records and ledger rows at `version`, nothing later."""

    root: str
    version: int
    latest: int
    articles: pads.Dataset
    batches: pa.Table  # ledger rows whose articles version is <= `version`, ordered by version, batch


def _ledger_upto(batches: pa.Table, version: int) -> pa.Table:
    if batches.num_rows == 0 or "version" not in batches.column_names:
        return batches
    kept = batches.filter(pc.less_equal(batches["version"], version))
    keys = [(name, "ascending") for name in ("version", "batch") if name in kept.column_names]
    return kept.sort_by(keys) if keys else kept


def open_source(uri: str | None = None, as_of: int | None = None) -> ArchiveSource:
    """Open the archive's articles at `as_of` (default: its current version) for publishing."""
    from toolkit.archive import open_archive

    archive = open_archive(uri)
    latest = int(archive.version)
    version = latest if as_of is None else as_of
    if version < 0 or version > latest:
        raise NewsarchiveError(
            f"archive {archive.root}: no version {as_of} (versions run from 0 to {latest}); "
            "pass an existing --as-of"
        )
    return ArchiveSource(archive.root, version, latest, archive.articles(version=version),
                         _ledger_upto(archive.batches(), version))
