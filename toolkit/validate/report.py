"""The one report model behind every output format (text, json, github, junit).

Counts are kept in memory per file; individual errors are spooled to a temporary file, so a batch
with millions of bad lines still validates in flat memory and every error can be rendered.
"""

from __future__ import annotations

import base64
import heapq
import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any

from toolkit.validate.engine import BlockOutcome, LineFailure


@dataclass
class FileSummary:
    file: str
    records: int = 0
    valid: int = 0
    invalid: int = 0
    errors: int = 0
    warnings: int = 0
    archived: int = field(default=0, compare=False)  # ids already archived, warnings or (--strict) errors
    seconds: float = field(default=0.0, compare=False)  # wall time spent on this file's blocks

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "records": self.records, "valid": self.valid,
                "invalid": self.invalid, "errors": self.errors, "warnings": self.warnings}


@dataclass
class ErrorEntry:
    file: str
    line: int
    id: str | None
    path: str
    keyword: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "id": self.id, "path": self.path,
                "keyword": self.keyword, "message": self.message}


ARCHIVED = "already_archived"  # the keyword of a record whose id the archive already holds


def _new_spool() -> IO[str]:
    return tempfile.SpooledTemporaryFile(8 << 20, mode="w+")  # noqa: SIM115


@dataclass
class Report:
    """Counts per file and in total, plus every error (up to `max_errors`) in input order.

    With an archive check (`archive` set), records whose id the archive already holds are warnings,
    or errors that make their record invalid when `strict`; either way they are kept in input order.
    """

    schema_id: str
    max_errors: int | None = None
    archive: str | None = None
    archive_version: int | None = None
    strict: bool = False
    files: list[FileSummary] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    keywords: Counter = field(default_factory=Counter)
    elapsed: float = 0.0  # seconds the validation took, for reports that carry a time (JUnit)
    _spool: IO[str] = field(default_factory=_new_spool)
    _archived_spool: IO[str] = field(default_factory=_new_spool)
    _schema_kept: int = 0
    _archived_kept: int = 0
    _by_name: dict[str, FileSummary] = field(default_factory=dict)
    _last_add: float = field(default_factory=time.perf_counter)  # to time each file's blocks

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def valid(self) -> int:
        return sum(f.valid for f in self.files)

    @property
    def invalid(self) -> int:
        return sum(f.invalid for f in self.files)

    @property
    def exit_code(self) -> int:
        """The documented exit status of a run that happened: 0 all valid, 1 some invalid."""
        return 0 if self.invalid == 0 else 1

    @property
    def errors_kept(self) -> int:
        kept = self._schema_kept + (self._archived_kept if self.strict else 0)
        return kept if self.max_errors is None else min(kept, self.max_errors)

    @property
    def warnings_kept(self) -> int:
        return 0 if self.strict else self._archived_kept

    @property
    def truncated(self) -> bool:
        return self.errors_kept < self.error_count

    @property
    def warnings_truncated(self) -> bool:
        return self.warnings_kept < self.warning_count

    def summary_for(self, name: str) -> FileSummary:
        summary = self._by_name.get(name)
        if summary is None:
            summary = self._by_name[name] = FileSummary(name)
            self.files.append(summary)
        return summary

    def add(self, outcome: BlockOutcome) -> None:
        now = time.perf_counter()
        summary = self.summary_for(outcome.source.name)
        summary.seconds += now - self._last_add
        self._last_add = now
        summary.records += outcome.records
        summary.invalid += len(outcome.failures)
        summary.valid += outcome.valid
        for failure in outcome.failures:
            self.add_failure(outcome.source.name, failure, summary)

    def add_failure(self, file: str, failure: LineFailure, summary: FileSummary | None = None) -> None:
        summary = summary or self.summary_for(file)
        for problem in failure.problems:
            self.error_count += 1
            summary.errors += 1
            self.keywords[problem.keyword] += 1
            if self.max_errors is not None and self._schema_kept >= self.max_errors:
                continue
            self._schema_kept += 1
            entry = ErrorEntry(file, failure.line, failure.record_id, problem.path, problem.keyword,
                               problem.message)
            self._spool.write(json.dumps(entry.as_dict(), ensure_ascii=False) + "\n")

    def add_archived(self, file: str, line: int, record_id: str, was_valid: bool) -> None:
        """Flag a record whose id the archive already holds; call in input order, after `add`."""
        summary = self.summary_for(file)
        summary.archived += 1
        where = f" at {self.archive}" if self.archive else ""
        at = f", version {self.archive_version}" if self.archive_version is not None else ""
        entry = ErrorEntry(file, line, record_id, "/id", ARCHIVED,
                           f"id {record_id!r} is already in the archive{where}{at}")
        if self.strict:
            self.error_count += 1
            summary.errors += 1
            self.keywords[ARCHIVED] += 1
            if was_valid:
                summary.valid -= 1
                summary.invalid += 1
        else:
            self.warning_count += 1
            summary.warnings += 1
        if self.max_errors is None or self._archived_kept < self.max_errors:
            self._archived_kept += 1
            self._archived_spool.write(json.dumps(entry.as_dict(), ensure_ascii=False) + "\n")

    def errors(self) -> Iterator[ErrorEntry]:
        """Every kept error, in input order (with --strict, ids already archived among them)."""
        schema_errors = _read(self._spool)
        if not (self.strict and self._archived_kept):
            yield from schema_errors
            return
        order = {f.file: i for i, f in enumerate(self.files)}
        merged = heapq.merge(schema_errors, _read(self._archived_spool),
                             key=lambda e: (order.get(e.file, len(order)), e.line))
        yield from islice(merged, self.errors_kept)

    def warnings(self) -> Iterator[ErrorEntry]:
        """Every kept warning (ids already archived, without --strict), in input order."""
        if not self.strict:
            yield from _read(self._archived_spool)

    def as_dict(self, with_errors: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": self.schema_id,
            "files": [f.as_dict() for f in self.files],
            "records": self.records,
            "valid": self.valid,
            "invalid": self.invalid,
        }
        if with_errors:
            out["errors"] = [e.as_dict() for e in self.errors()]
        out["error_count"] = self.error_count
        out["errors_truncated"] = self.truncated
        out["archive"] = self.archive
        out["archive_version"] = self.archive_version
        out["strict"] = self.strict
        if with_errors:
            out["warnings"] = [e.as_dict() for e in self.warnings()]
        out["warning_count"] = self.warning_count
        out["warnings_truncated"] = self.warnings_truncated
        return out

    def close(self) -> None:
        self._spool.close()
        self._archived_spool.close()


def _read(spool: IO[str]) -> Iterator[ErrorEntry]:
    """The entries of a spool, from its start; the position returns to the end for later writes."""
    spool.flush()
    spool.seek(0)
    try:
        for line in spool:
            yield ErrorEntry(**json.loads(line))
    finally:
        if not spool.closed:  # a reader that stopped early may be collected after close()
            spool.seek(0, 2)


def quarantine_line(file: str, failure: LineFailure) -> dict[str, Any]:
    """The quarantine form of an invalid line: verbatim, with its errors; non-UTF-8 kept as base64."""
    entry: dict[str, Any] = {"file": file, "line": failure.line}
    try:
        entry["raw"] = failure.raw.decode("utf-8")
    except UnicodeDecodeError:
        entry["raw"] = base64.b64encode(failure.raw).decode("ascii")
        entry["raw_base64"] = True
    entry["id"] = failure.record_id
    entry["errors"] = [p.as_dict() for p in failure.problems]
    return entry
