"""Validate batches of article records (JSON Lines) against the article schema.

    >>> from toolkit.validate import validate
    >>> report = validate(["datasets/maghress-sample/articles.jsonl"])
    >>> report.invalid
    0
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from toolkit.errors import NewsarchiveError
from toolkit.readers.jsonl import InputFile, discover
from toolkit.schema import Schema, load_schema
from toolkit.ui.progress import byte_progress
from toolkit.validate.engine import BlockOutcome, Engine, LineFailure
from toolkit.validate.report import Report, quarantine_line

__all__ = ["BlockOutcome", "Engine", "LineFailure", "Report", "default_jobs", "validate"]


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def validate(
    paths: Sequence[str | os.PathLike],
    schema: str | os.PathLike | Schema | None = None,
    *,
    quarantine: str | os.PathLike | None = None,
    max_errors: int | None = None,
    jobs: int | None = None,
    progress: bool = False,
) -> Report:
    """Validate every record of every input; returns the report (errors in input order).

    Invalid lines go verbatim, with their errors, to `quarantine` when given, so nothing is lost.
    """
    loaded = schema if isinstance(schema, Schema) else load_schema(schema)
    inputs = discover(paths)
    engine = Engine(loaded)
    report = Report(schema_id=loaded.id, max_errors=max_errors)
    for source in inputs:
        report.summary_for(source.name)
    sink = _open_sink(quarantine) if quarantine else None
    total = sum(s.size or 0 for s in inputs) or None
    try:
        with byte_progress(total, "validate", progress) as bar:
            offsets = _offsets(inputs)
            for outcome in engine.run(inputs, jobs=jobs or default_jobs(),
                                      on_progress=lambda s, b: bar.update(offsets[s] + b)):
                report.add(outcome)
                if sink is not None:
                    for failure in outcome.failures:
                        sink.write(json.dumps(quarantine_line(outcome.source.name, failure),
                                              ensure_ascii=False) + "\n")
    finally:
        if sink is not None:
            sink.close()
    return report


def _open_sink(path: str | os.PathLike):
    try:
        return open(path, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise NewsarchiveError(f"{path}: cannot write the quarantine file ({exc.strerror})") from None


def _offsets(inputs: list[InputFile]) -> dict[InputFile, int]:
    offsets, total = {}, 0
    for source in inputs:
        offsets[source] = total
        total += source.size or 0
    return offsets
