"""`history`: every version of the articles table, with the batch (and its counts) that made it.

The articles log says what each commit did; the ledger adds the counts of each batch. Both are kept
whole (log cleanup is off), so the history goes back to version 0.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from typing import Any

from toolkit.archive.layout import ARTICLES, META_KEY
from toolkit.archive.ledger import BatchRecord
from toolkit.archive.tables import Archive, open_archive

_OPERATIONS = {"CREATE TABLE": "create", "OPTIMIZE": "compact", "VACUUM START": "vacuum start",
               "VACUUM END": "vacuum end", "WRITE": "write"}


@dataclass
class HistoryEntry:
    """One version of `articles/`: what made it, and for a batch its files and counts."""

    version: int
    timestamp: dt.datetime | None
    operation: str  # create, append, compact, vacuum start/end, or delta-rs's name for other writes
    batch: str | None = None
    files: list[str] = field(default_factory=list)
    input: int | None = None
    appended: int | None = None
    duplicates: int | None = None
    quarantined: int | None = None
    in_ledger: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "operation": self.operation,
            "batch": self.batch,
            "files": self.files,
            "input": self.input,
            "appended": self.appended,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "in_ledger": self.in_ledger,
        }


def history(archive: str | os.PathLike | Archive | None = None) -> list[HistoryEntry]:
    """Versions of the articles table, oldest first, with their batches and counts."""
    target = archive if isinstance(archive, Archive) else open_archive(archive)
    ledger = {row["batch"]: row for row in target.batches().to_pylist()}  # one row per batch: small
    entries = []
    for info in reversed(target.commits(ARTICLES)):
        stamp = info.get("timestamp")
        when = dt.datetime.fromtimestamp(stamp / 1000, dt.timezone.utc) if stamp else None
        operation = str(info.get("operation", ""))
        entry = HistoryEntry(version=int(info["version"]), timestamp=when,
                             operation=_OPERATIONS.get(operation, operation.lower()))
        record = BatchRecord.from_commit(info)
        meta = info.get(META_KEY)
        if record is not None:
            row = ledger.get(record.batch)
            source = row if row is not None else record.metadata()
            entry.operation = "append"
            entry.batch = record.batch
            entry.files = [f["name"] for f in source["files"]]
            for name in ("input", "appended", "duplicates", "quarantined"):
                setattr(entry, name, int(source[name]))
            entry.in_ledger = row is not None
        elif isinstance(meta, dict) and meta.get("operation"):
            entry.operation = str(meta["operation"])
        entries.append(entry)
    return entries


def render_text(entries: list[HistoryEntry]) -> str:
    header = f"{'version':>7}  {'time (UTC)':<19}  {'operation':<9}  {'batch':<28}  {'input':>9}  " \
             f"{'appended':>9}  {'dupes':>7}  {'quarant.':>8}  files"
    lines = [header]
    for e in entries:
        when = e.timestamp.strftime("%Y-%m-%d %H:%M:%S") if e.timestamp else ""

        def num(v: int | None) -> str:
            return "" if v is None else str(v)

        files = ", ".join(e.files)
        if not e.in_ledger:
            files += "  [interrupted: not in the ledger yet]"
        lines.append(f"{e.version:>7}  {when:<19}  {e.operation:<9}  {e.batch or '':<28}  {num(e.input):>9}  "
                     f"{num(e.appended):>9}  {num(e.duplicates):>7}  {num(e.quarantined):>8}  {files}".rstrip())
    return "\n".join(lines)


def render_json(entries: list[HistoryEntry]) -> str:
    return json.dumps([e.as_dict() for e in entries], ensure_ascii=False, indent=2)
