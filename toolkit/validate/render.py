"""Renderers of a validation `Report`: text for people, json for scripts, github and junit for CI.

Every renderer streams the report's errors and warnings (they are spooled on disk), so a batch with
millions of bad lines renders in flat memory. Exit codes do not depend on the format.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from itertools import groupby
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.table import Table

from toolkit.core.errors import NewsarchiveError
from toolkit.validate.report import ARCHIVED, ErrorEntry, Report

GITHUB_ANNOTATION_LIMIT = 10  # GitHub shows at most 10 error (and 10 warning) annotations per step
SUMMARY_FIRST_ERRORS = 20
SUMMARY_MAX_FILES = 100  # the step summary must stay well under GitHub's 1 MiB per step


def _by_record(entries: Iterable[ErrorEntry]) -> Iterator[tuple[str, int, list[ErrorEntry]]]:
    """Entries grouped per record (file, line), in input order."""
    for (file, line), items in groupby(entries, key=lambda e: (e.file, e.line)):
        yield file, line, list(items)


# --- json ----------------------------------------------------------------------------------------

def render_json(report: Report, out: IO[str]) -> None:
    """One JSON object; errors and warnings are streamed so a huge report never sits in memory."""
    head = report.as_dict(with_errors=False)
    out.write("{")
    for key in ("schema", "files", "records", "valid", "invalid"):
        out.write(f"{json.dumps(key)}: {json.dumps(head[key], ensure_ascii=False)}, ")
    _write_json_list(out, "errors", report.errors())
    for key in ("error_count", "errors_truncated", "archive", "archive_version", "strict"):
        out.write(f"{json.dumps(key)}: {json.dumps(head[key], ensure_ascii=False)}, ")
    _write_json_list(out, "warnings", report.warnings())
    out.write(f'"warning_count": {report.warning_count}, '
              f'"warnings_truncated": {json.dumps(report.warnings_truncated)}}}\n')


def _write_json_list(out: IO[str], key: str, entries: Iterable[ErrorEntry]) -> None:
    out.write(f'"{key}": [')
    i = -1
    for i, entry in enumerate(entries):
        out.write(("," if i else "") + "\n  " + json.dumps(entry.as_dict(), ensure_ascii=False))
    out.write("\n], " if i >= 0 else "], ")


# --- text ----------------------------------------------------------------------------------------

def render_text(report: Report, out: IO[str]) -> None:
    tty = _isatty(out)
    console = Console(file=out, highlight=False, soft_wrap=True, force_terminal=None if tty else False,
                      width=None if tty else 200)
    checked = report.archive is not None
    table = Table(title=f"Validation against {report.schema_id}", title_justify="left")
    columns = ["file", "records", "valid", "invalid", "errors"] + (["warnings"] if checked else [])
    for col in columns:
        table.add_column(col, justify="left" if col == "file" else "right")
    for f in report.files:
        table.add_row(f.file, str(f.records), str(f.valid), str(f.invalid), str(f.errors),
                      *([str(f.warnings)] if checked else []))
    if len(report.files) > 1:
        table.add_row("total", str(report.records), str(report.valid), str(report.invalid),
                      str(report.error_count), *([str(report.warning_count)] if checked else []), style="bold")
    console.print(table)
    for file, entries in groupby(report.errors(), key=lambda e: e.file):
        console.print(f"\n{file}", style="bold", markup=False)
        for e in entries:
            console.print(_text_line(e), markup=False)
    if report.truncated:
        console.print(f"\n… {report.error_count - report.errors_kept} more errors not shown (--max-errors)")
    if report.warning_count:
        console.print(f"\nWarnings: ids already in {report.archive} (--strict makes them errors)",
                      style="bold", markup=False)
        for file, entries in groupby(report.warnings(), key=lambda e: e.file):
            console.print(f"\n{file}", style="bold", markup=False)
            for e in entries:
                console.print(_text_line(e), markup=False)
        if report.warnings_truncated:
            console.print(f"\n… {report.warning_count - report.warnings_kept} more warnings not shown "
                          "(--max-errors)")
    console.print(f"\n{_verdict(report)}", markup=False)


def _text_line(e: ErrorEntry) -> str:
    where = f"  line {e.line}" + (f" (id {e.id})" if e.id else "")
    return f"{where}: {e.path or '/'} [{e.keyword}] {e.message}"


def _verdict(report: Report) -> str:
    verdict = "all records valid" if report.invalid == 0 else f"{report.invalid} invalid records"
    text = f"{_plural(report.records, 'record')}, {report.valid} valid: {verdict}."
    if report.warning_count:
        text += f" {report.warning_count} ids already in the archive (warnings)."
    return text


# --- github --------------------------------------------------------------------------------------

def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_path(file: str) -> str | None:
    """The path GitHub needs for an annotation: relative to the workspace; None for stdin."""
    if file == "<stdin>":
        return None
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace and os.path.isabs(file):
        try:
            relative = Path(file).resolve().relative_to(Path(workspace).resolve())
        except ValueError:
            return file
        return relative.as_posix()
    return Path(file).as_posix()


def _annotation(level: str, file: str, line: int, entries: list[ErrorEntry]) -> str:
    """One workflow command for one record: every finding of that record in one message."""
    first = entries[0]
    title = "id already in the archive" if first.keyword == ARCHIVED else f"{first.keyword} at {first.path or '/'}"
    if len(entries) > 1:
        title += f" (+{len(entries) - 1} more)"
        message = "\n".join(f"{e.path or '/'} [{e.keyword}] {e.message}" for e in entries)
    else:
        message = first.message
    if first.id and not (len(entries) == 1 and first.keyword == ARCHIVED):
        message += f"\n(record id {first.id})"
    path = github_path(file)
    props = (f"file={_escape_property(path)},line={line}," if path is not None else "")
    return f"::{level} {props}title={_escape_property(title)}::{_escape_data(message)}\n"


def _annotate(out: IO[str], level: str, entries: Iterable[ErrorEntry], total_records: int, noun: str) -> None:
    """At most GITHUB_ANNOTATION_LIMIT annotations, one per record, then a notice for the rest."""
    shown = 0
    for file, line, items in _by_record(entries):
        if shown == GITHUB_ANNOTATION_LIMIT:
            break
        out.write(_annotation(level, file, line, items))
        shown += 1
    if total_records > shown:
        out.write(f"::notice title=newsarchive validate::{total_records - shown} more {noun} not annotated "
                  "(GitHub shows 10 per step); see the job summary or run with --format text\n")


def render_github(report: Report, out: IO[str]) -> None:
    """Workflow-command annotations, one per record and at most 10 errors and 10 warnings, a summary
    line, and a Markdown job summary appended to $GITHUB_STEP_SUMMARY when GitHub provides one."""
    _annotate(out, "error", report.errors(), report.invalid, "invalid records")
    warned = sum(f.warnings for f in report.files)
    _annotate(out, "warning", report.warnings(), warned, "records already in the archive")
    out.write(_verdict(report) + "\n")
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        try:
            with open(summary_path, "a", encoding="utf-8") as fh:
                fh.write(step_summary(report))
        except OSError as exc:
            raise NewsarchiveError(
                f"$GITHUB_STEP_SUMMARY {summary_path}: cannot append the job summary ({exc.strerror})"
            ) from None


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            .replace("\r", " ").replace("\n", " "))


def _md_code(text: str) -> str:
    """A code span that survives backticks and pipes in the text."""
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def step_summary(report: Report, first: int = SUMMARY_FIRST_ERRORS) -> str:
    """The job summary: counts per file, the most frequent kinds of error, and the first errors."""
    checked = report.archive is not None
    if report.invalid:
        result = f"{report.invalid} invalid record{'s' if report.invalid != 1 else ''}"
    else:
        result = f"all {report.records} records valid"
    lines = [f"## newsarchive validate: {result}", "",
             f"Schema {_md_code(report.schema_id)}: **{report.records}** records, **{report.valid}** valid, "
             f"**{report.invalid}** invalid."]
    if checked:
        at = f" (version {report.archive_version})" if report.archive_version is not None else ""
        kind = "errors (--strict)" if report.strict else "warnings"
        flagged = sum(f.archived for f in report.files)
        lines.append(f"Archive {_md_code(report.archive or '')}{at}: **{flagged}** ids already archived, "
                     f"reported as {kind}.")
    header = "| file | records | valid | invalid | errors |" + (" already archived |" if checked else "")
    lines += ["", header, "|---|---:|---:|---:|---:|" + ("---:|" if checked else "")]
    for f in report.files[:SUMMARY_MAX_FILES]:
        archived = f" {f.archived} |" if checked else ""
        lines.append(f"| {_md_code(f.file)} | {f.records} | {f.valid} | {f.invalid} | {f.errors} |{archived}")
    if len(report.files) > SUMMARY_MAX_FILES:
        lines.append(f"| … {len(report.files) - SUMMARY_MAX_FILES} more files | | | | |" + (" |" if checked else ""))
    if len(report.files) > 1:
        total_archived = f" {sum(f.archived for f in report.files)} |" if checked else ""
        lines.append(f"| **total** | {report.records} | {report.valid} | {report.invalid} | "
                     f"{report.error_count} |{total_archived}")
    if report.keywords:
        lines += ["", "### Most frequent errors", "", "| keyword | count |", "|---|---:|"]
        lines += [f"| {_md_code(k)} | {n} |" for k, n in report.keywords.most_common(10)]
        lines += ["", f"### First {min(first, report.errors_kept)} errors", ""]
        lines += _entry_table(report.errors(), first)
        if report.error_count > min(first, report.errors_kept):
            lines += ["", f"{report.error_count - min(first, report.errors_kept)} more errors: run "
                      "`newsarchive validate` with `--format text` or `--format json` to see them all."]
    if report.warning_count:
        lines += ["", f"### Ids already in the archive (first {min(first, report.warnings_kept)})", ""]
        lines += _entry_table(report.warnings(), first)
    return "\n".join(lines) + "\n\n"


def _entry_table(entries: Iterable[ErrorEntry], first: int) -> list[str]:
    rows = ["| file | line | id | path | keyword | message |", "|---|---:|---|---|---|---|"]
    for i, e in enumerate(entries):
        if i >= first:
            break
        rows.append(f"| {_md_code(e.file)} | {e.line} | {_md(e.id or '')} | {_md_code(e.path or '/')} | "
                    f"{_md_code(e.keyword)} | {_md(e.message)} |")
    return rows


# --- junit ---------------------------------------------------------------------------------------

def render_junit(report: Report, out: IO[str]) -> None:
    """JUnit XML for dorny/test-reporter, mikepenz/action-junit-report and Jenkins.

    One testsuite per file; one failing testcase per invalid record (its failure message carries
    the line and the JSON path of the first error, its text every error as `file:line: path
    [keyword] message`), or a single passing testcase for a file without invalid records. Records
    left out by --max-errors are one failing testcase per file. Ids already archived are failures
    with --strict; otherwise, being warnings, they do not change the tests: each suite lists them
    in its system-out and counts them in a `newsarchive.already_archived` property.
    """
    listed = _listed_records(report)
    suites = []
    for f in report.files:
        shown = listed.get(f.file, 0)
        unlisted = max(f.invalid - shown, 0)
        failing = shown + (1 if unlisted else 0)
        suites.append((f, failing, unlisted))
    total_tests = sum(failing or 1 for _, failing, _ in suites)
    total_failures = sum(failing for _, failing, _ in suites)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(f'<testsuites name="newsarchive validate" tests="{total_tests}" failures="{total_failures}" '
              f'errors="0" time="{report.elapsed:.3f}">\n')
    errors = _Peekable(_by_record(report.errors()))
    warnings = _Peekable(_by_record(report.warnings()))
    for f, failing, unlisted in suites:
        out.write(f'  <testsuite name={_attr(f.file)} tests="{failing or 1}" failures="{failing}" errors="0" '
                  f'skipped="0" time="{f.seconds:.3f}" file={_attr(f.file)}>\n')
        if report.archive is not None:
            out.write("    <properties>\n"
                      f'      <property name="newsarchive.archive" value={_attr(report.archive)}/>\n'
                      f'      <property name="newsarchive.archive_version" '
                      f'value="{"" if report.archive_version is None else report.archive_version}"/>\n'
                      f'      <property name="newsarchive.already_archived" value="{f.archived}"/>\n'
                      "    </properties>\n")
        if not failing:
            name = _plural(f.records, "record") + " valid"
            out.write(f'    <testcase name={_attr(name)} classname={_attr(f.file)} time="0"/>\n')
        for _, line, items in errors.take_while(lambda r, name=f.file: r[0] == name):
            out.write(_junit_case(f.file, line, items))
        if unlisted:
            message = f"{_plural(unlisted, 'invalid record')} not listed (--max-errors)"
            out.write(f'    <testcase name={_attr(f"{unlisted} more invalid records")} classname={_attr(f.file)} '
                      f'time="0">\n      <failure message={_attr(message)} type="truncated"/>\n    </testcase>\n')
        opened = False
        for _, _, items in warnings.take_while(lambda r, name=f.file: r[0] == name):
            if not opened:
                out.write("    <system-out>Warnings, ids already in the archive:")
                opened = True
            out.write("".join("\n" + _text(_junit_line(e)) for e in items))
        if opened:
            out.write("</system-out>\n")
        out.write("  </testsuite>\n")
    out.write("</testsuites>\n")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _listed_records(report: Report) -> dict[str, int]:
    """How many records of each file have kept errors (one failing testcase each)."""
    counts: dict[str, int] = {}
    for file, _, _ in _by_record(report.errors()):
        counts[file] = counts.get(file, 0) + 1
    return counts


def _junit_line(e: ErrorEntry) -> str:
    # "file:line" after a space is where mikepenz/action-junit-report looks for the line number.
    return f"  {e.file}:{e.line}: {e.path or '/'} [{e.keyword}] {e.message}"


def _junit_case(file: str, line: int, items: list[ErrorEntry]) -> str:
    first = items[0]
    rid = first.id
    name = f"line {line}" + (f" (id {rid})" if rid else "")
    more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
    message = f"line {line}: {first.path or '/'}: {first.message}{more}"
    header = f"{name}: {_plural(len(items), 'error')}"
    body = header + "\n" + "\n".join(_junit_line(e) for e in items)
    return (f'    <testcase name={_attr(name)} classname={_attr(file)} time="0">\n'
            f'      <failure message={_attr(message)} type={_attr(first.keyword)}>{_text(body)}</failure>\n'
            "    </testcase>\n")


class _Peekable:
    """An iterator that can hand out its items while they satisfy a condition, one pass in all."""

    _END = object()

    def __init__(self, items: Iterable) -> None:
        self._it = iter(items)
        self._next = next(self._it, self._END)

    def take_while(self, keep: Callable[[object], bool]) -> Iterator:
        while self._next is not self._END and keep(self._next):
            item, self._next = self._next, next(self._it, self._END)
            yield item


def _xml_safe(text: str) -> str:
    """Only characters XML 1.0 allows; anything else becomes U+FFFD."""
    return "".join(
        ch if ch in "\t\n\r" or " " <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd" or ch >= "\U00010000"
        else "\ufffd"
        for ch in text
    )


def _attr(text: str) -> str:
    from xml.sax.saxutils import quoteattr

    return quoteattr(_xml_safe(text))


def _text(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(_xml_safe(text))


# --- output --------------------------------------------------------------------------------------

def _isatty(out: IO[str]) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


RENDERERS: dict[str, Callable[[Report, IO[str]], None]] = {
    "text": render_text,
    "json": render_json,
    "github": render_github,
    "junit": render_junit,
}


def write_report(report: Report, fmt: str, output: str | Path | None, stdout: IO[str]) -> None:
    renderer = RENDERERS[fmt]
    if output is None or str(output) == "-":
        renderer(report, stdout)
        stdout.flush()
        return
    from toolkit.core.outputs import AtomicFile

    with AtomicFile(output, "report") as file:  # renamed into place: a failed write keeps the old report
        renderer(report, file.handle)
