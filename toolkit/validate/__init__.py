"""Validate batches of article records (JSON Lines) against the article schema.

    >>> from toolkit.validate import validate
    >>> report = validate(["datasets/examples/mixed-batch.jsonl"])
    >>> (report.records, report.valid, report.invalid)
    (5, 2, 3)
    >>> [(e.line, e.path, e.keyword) for e in report.errors()][:2]
    [(3, '/published_date', 'format'), (4, '', 'json')]
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from toolkit.core.errors import NewsarchiveError
from toolkit.core.executor import default_jobs
from toolkit.core.jsonl import InputFile, discover
from toolkit.core.progress import byte_progress
from toolkit.core.schema import Schema, load_schema
from toolkit.validate.engine import LINE_COLUMN, BlockOutcome, Engine, LineFailure
from toolkit.validate.report import Report, quarantine_line

if TYPE_CHECKING:  # imported when an archive is checked: pyarrow.dataset is slow to import
    from toolkit.validate.archive_ids import ArchivedIds, IdSpool

__all__ = ["BlockOutcome", "Engine", "LineFailure", "Report", "default_jobs", "validate"]


def validate(
    paths: Sequence[str | os.PathLike],
    schema: str | os.PathLike | Schema | None = None,
    *,
    quarantine: str | os.PathLike | None = None,
    max_errors: int | None = None,
    jobs: int | None = None,
    progress: bool = False,
    archive: ArchivedIds | None = None,
    strict: bool = False,
    report_output: str | os.PathLike | None = None,
    backend: str | None = None,
) -> Report:
    """Validate every record of every input; returns the report (errors in input order).

    Invalid lines go verbatim, with their errors, to `quarantine` when given, so nothing is lost.
    With `archive` (the archive's ids: `toolkit.archive.archived_ids(uri)`), records whose `id` it holds are
    flagged: warnings, or errors that make the record invalid when `strict`. They are not
    quarantined: the archive already has them. `report_output` is where the caller will write the
    report: like `quarantine`, it may not be one of the inputs (checked before anything is read).
    `backend` is the executor, "local" or "ray" (default: $NEWSARCHIVE_EXECUTOR, else local): the
    same report either way.
    """
    started = time.perf_counter()
    loaded = schema if isinstance(schema, Schema) else load_schema(schema)
    inputs = discover(paths)
    _refuse_inputs_as_outputs(paths, inputs, quarantine=quarantine, output=report_output)
    archived = None
    if archive is not None:
        from toolkit.validate.archive_ids import IdSpool, find_archived

        if isinstance(archive, (str, os.PathLike)):
            raise NewsarchiveError(f"validate(archive={os.fspath(archive)!r}): pass the archive's ids, "
                                   "toolkit.archive.archived_ids(uri), not its location")
        _require_string_id(loaded)
        archived = archive
    engine = Engine(loaded, keep_rows=archived is not None, keep_columns=["id"] if archived else None)
    report = Report(schema_id=loaded.id, max_errors=max_errors, strict=strict,
                    archive=archived.uri if archived else None,
                    archive_version=archived.version if archived else None)
    for source in inputs:
        report.summary_for(source.name)
    index = {f.file: i for i, f in enumerate(report.files)}
    sink = _open_sink(quarantine) if quarantine else None
    total = sum(s.size or 0 for s in inputs) or None
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="newsarchive-ids-")) if archived else None
        spool = IdSpool(workdir) if workdir else None
        try:
            with byte_progress(total, "validate", progress) as bar:
                offsets = _offsets(inputs)
                for outcome in engine.run(inputs, jobs=jobs, backend=backend, quiet=not progress,
                                          on_progress=lambda s, b: bar.update(offsets[s] + b)):
                    report.add(outcome)
                    if sink is not None:
                        for failure in outcome.failures:
                            sink.write(json.dumps(quarantine_line(outcome.source.name, failure),
                                                  ensure_ascii=False) + "\n")
                    if spool is not None:
                        _spool_ids(spool, index[outcome.source.name], outcome)
            if sink is not None:
                sink.commit()
        finally:
            if sink is not None:
                sink.discard()  # after a commit: nothing left to remove
            if spool is not None:
                spool.close()
        if spool is not None and archived is not None and spool.rows:
            names = [f.file for f in report.files]
            for batch in find_archived(spool.path, archived, workdir):  # ordered by file, then line
                for file, line, rid, valid in zip(*(batch.column(i).to_pylist() for i in range(4)), strict=True):
                    report.add_archived(names[file], line, rid, valid)
    report.elapsed = time.perf_counter() - started
    return report


def _refuse_inputs_as_outputs(paths: Sequence[str | os.PathLike], inputs: list[InputFile],
                              **outputs: str | os.PathLike | None) -> None:
    """An output that is a batch being validated (or a .jsonl a folder being read holds) is refused: exit 2."""
    from toolkit.core.jsonl import is_jsonl_name
    from toolkit.core.outputs import refuse_input, same_file

    named = [*paths, *(i.path for i in inputs if i.path is not None)]
    given = {option: path for option, path in outputs.items() if path is not None and os.fspath(path) != "-"}
    if len(given) == 2 and same_file(*given.values()):
        raise NewsarchiveError(f"--quarantine {os.fspath(given['quarantine'])} is also the --output report; "
                               "give them different names")
    for option, path in outputs.items():
        refuse_input(path, named, f"--{option}", reads=lambda p: is_jsonl_name(os.path.basename(p)))


def _require_string_id(schema: Schema) -> None:
    try:
        field = schema.field("id")
    except KeyError:
        field = None
    if field is None or field.json_type != "string":
        raise NewsarchiveError(
            f"schema {schema.path}: --archive looks records up by a string `id` property, which this "
            "schema does not declare"
        )


def _spool_ids(spool: IdSpool, file: int, outcome: BlockOutcome) -> None:
    """Spool the ids of one block: valid rows (kept by the engine) and invalid records alike."""
    rows = outcome.valid_rows
    if rows is not None and rows.num_rows:
        spool.add(file, rows.column(LINE_COLUMN), rows.column("id"), valid=True)
    failed = [(f.line, f.record_id) for f in outcome.failures if f.record_id is not None]
    if failed:
        lines, ids = zip(*failed, strict=True)
        spool.add(file, pa.array(lines, pa.int64()), pa.array(ids, pa.string()), valid=False)


def _open_sink(path: str | os.PathLike):
    """The quarantine file, written under a temporary name and renamed when the run ends (never half)."""
    from toolkit.core.outputs import AtomicFile

    return AtomicFile(path, "quarantine file")


def _offsets(inputs: list[InputFile]) -> dict[InputFile, int]:
    offsets, total = {}, 0
    for source in inputs:
        offsets[source] = total
        total += source.size or 0
    return offsets
