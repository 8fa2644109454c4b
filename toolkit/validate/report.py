"""The one report model behind every output format (text, json, github, junit).

Counts are kept in memory per file; individual errors are spooled to a temporary file, so a batch
with millions of bad lines still validates in flat memory and every error can be rendered.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from toolkit.validate.engine import BlockOutcome, LineFailure


@dataclass
class FileSummary:
    file: str
    records: int = 0
    valid: int = 0
    invalid: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "records": self.records, "valid": self.valid,
                "invalid": self.invalid, "errors": self.errors}


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


@dataclass
class Report:
    """Counts per file and in total, plus every error (up to `max_errors`) in input order."""

    schema_id: str
    max_errors: int | None = None
    files: list[FileSummary] = field(default_factory=list)
    error_count: int = 0
    errors_kept: int = 0
    keywords: Counter = field(default_factory=Counter)
    _spool: IO[str] = field(default_factory=lambda: tempfile.SpooledTemporaryFile(8 << 20, mode="w+"))  # noqa: SIM115
    _by_name: dict[str, FileSummary] = field(default_factory=dict)

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
    def truncated(self) -> bool:
        return self.errors_kept < self.error_count

    def summary_for(self, name: str) -> FileSummary:
        summary = self._by_name.get(name)
        if summary is None:
            summary = self._by_name[name] = FileSummary(name)
            self.files.append(summary)
        return summary

    def add(self, outcome: BlockOutcome) -> None:
        summary = self.summary_for(outcome.source.name)
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
            if self.max_errors is not None and self.errors_kept >= self.max_errors:
                continue
            self.errors_kept += 1
            entry = ErrorEntry(file, failure.line, failure.record_id, problem.path, problem.keyword,
                               problem.message)
            self._spool.write(json.dumps(entry.as_dict(), ensure_ascii=False) + "\n")

    def errors(self) -> Iterator[ErrorEntry]:
        """Every kept error, in input order."""
        self._spool.flush()
        self._spool.seek(0)
        for line in self._spool:
            yield ErrorEntry(**json.loads(line))
        self._spool.seek(0, 2)

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
        return out

    def close(self) -> None:
        self._spool.close()


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
