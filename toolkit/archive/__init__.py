"""The archive: validated batches appended to Delta Lake tables, with dedup, a ledger and history.

    from toolkit.archive import append, open_archive
    append(["build/sample.jsonl"], archive="archive").as_dict()
    archive = open_archive("archive")
    archive.articles().to_table(columns=["id", "source"])

Layout and guarantees: docs/archive-layout.md. (The functions `append`, `history` and `verify` share
their names with their modules, so they are imported here eagerly: a lazy attribute would be
shadowed by the submodule once it is imported.)
"""

from toolkit.archive.append import AppendResult, SkippedFile, append
from toolkit.archive.history import HistoryEntry, history
from toolkit.archive.lookup import archived_ids
from toolkit.archive.maintenance import CompactResult, compact
from toolkit.archive.tables import Archive, ArchiveVersion, open_archive
from toolkit.archive.verify import VerifyReport, verify

__all__ = [
    "AppendResult",
    "Archive",
    "ArchiveVersion",
    "CompactResult",
    "HistoryEntry",
    "SkippedFile",
    "VerifyReport",
    "append",
    "archived_ids",
    "compact",
    "history",
    "open_archive",
    "verify",
]
