"""Renderers of a validation `Report`: text for people, json for scripts, github and junit for CI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import IO
from xml.sax.saxutils import quoteattr

from rich.console import Console
from rich.table import Table

from toolkit.validate.report import Report

GITHUB_ANNOTATION_LIMIT = 10  # GitHub shows at most 10 error annotations per step


def render_json(report: Report, out: IO[str]) -> None:
    """One JSON object; errors are streamed so a huge report never sits in memory."""
    head = report.as_dict(with_errors=False)
    out.write("{")
    for key in ("schema", "files", "records", "valid", "invalid"):
        out.write(f"{json.dumps(key)}: {json.dumps(head[key], ensure_ascii=False)}, ")
    out.write('"errors": [')
    for i, entry in enumerate(report.errors()):
        out.write(("," if i else "") + "\n  " + json.dumps(entry.as_dict(), ensure_ascii=False))
    out.write("\n], ")
    out.write(f'"error_count": {report.error_count}, '
              f'"errors_truncated": {json.dumps(report.truncated)}}}\n')


def render_text(report: Report, out: IO[str]) -> None:
    tty = _isatty(out)
    console = Console(file=out, highlight=False, soft_wrap=True, force_terminal=None if tty else False,
                      width=None if tty else 200)
    table = Table(title=f"Validation against {report.schema_id}", title_justify="left")
    for col in ("file", "records", "valid", "invalid", "errors"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for f in report.files:
        table.add_row(f.file, str(f.records), str(f.valid), str(f.invalid), str(f.errors))
    if len(report.files) > 1:
        table.add_row("total", str(report.records), str(report.valid), str(report.invalid),
                      str(report.error_count), style="bold")
    console.print(table)
    for file, entries in groupby(report.errors(), key=lambda e: e.file):
        console.print(f"\n{file}", style="bold", markup=False)
        for e in entries:
            where = f"  line {e.line}" + (f" (id {e.id})" if e.id else "")
            pointer = e.path or "/"
            console.print(f"{where}: {pointer} [{e.keyword}] {e.message}", markup=False)
    if report.truncated:
        console.print(f"\n… {report.error_count - report.errors_kept} more errors not shown (--max-errors)")
    verdict = "all records valid" if report.invalid == 0 else f"{report.invalid} invalid records"
    console.print(f"\n{report.records} records, {report.valid} valid: {verdict}.", markup=False)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report, out: IO[str]) -> None:
    """Workflow-command annotations (at most 10) plus a Markdown step summary when GitHub gives one."""
    for i, e in enumerate(report.errors()):
        if i >= GITHUB_ANNOTATION_LIMIT:
            break
        title = f"{e.keyword} at {e.path or '/'}"
        out.write(f"::error file={_escape_property(e.file)},line={e.line},"
                  f"title={_escape_property(title)}::{_escape_data(e.message)}\n")
    shown = min(report.errors_kept, GITHUB_ANNOTATION_LIMIT)
    if report.error_count > shown:
        out.write(f"::notice title=newsarchive validate::{report.error_count - shown} more errors; "
                  "see the job summary or run with --format text\n")
    out.write(f"{report.records} records, {report.valid} valid, {report.invalid} invalid\n")
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as fh:
            fh.write(step_summary(report))


def step_summary(report: Report, first: int = 20) -> str:
    lines = ["## newsarchive validate", "",
             f"Schema `{report.schema_id}`: **{report.records}** records, **{report.valid}** valid, "
             f"**{report.invalid}** invalid.", "",
             "| file | records | valid | invalid | errors |", "|---|---:|---:|---:|---:|"]
    lines += [f"| `{f.file}` | {f.records} | {f.valid} | {f.invalid} | {f.errors} |" for f in report.files]
    if report.keywords:
        lines += ["", "### Most frequent errors", "", "| keyword | count |", "|---|---:|"]
        lines += [f"| `{k}` | {n} |" for k, n in report.keywords.most_common(10)]
        lines += ["", f"### First {min(first, report.errors_kept)} errors", "",
                  "| file | line | id | path | message |", "|---|---:|---|---|---|"]
        for i, e in enumerate(report.errors()):
            if i >= first:
                break
            msg = e.message.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{e.file}` | {e.line} | {e.id or ''} | `{e.path or '/'}` | {msg} |")
    return "\n".join(lines) + "\n\n"


def render_junit(report: Report, out: IO[str]) -> None:
    """JUnit XML: a testsuite per file, a failing testcase per invalid record, else one passing case."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(f'<testsuites name="newsarchive validate" tests={quoteattr(str(_junit_tests(report)))} '
              f'failures={quoteattr(str(report.invalid))} errors="0">\n')
    errors = groupby(report.errors(), key=lambda e: e.file)
    pending = {file: list(entries) for file, entries in errors}
    for f in report.files:
        entries = pending.get(f.file, [])
        tests = f.invalid if f.invalid else 1
        out.write(f'  <testsuite name={quoteattr(f.file)} tests="{tests}" failures="{f.invalid}" '
                  f'errors="0" skipped="0">\n')
        if not f.invalid:
            out.write(f'    <testcase name={quoteattr(f"{f.records} records valid")} '
                      f'classname={quoteattr(f.file)} file={quoteattr(f.file)}/>\n')
        for line, by_line in groupby(entries, key=lambda e: e.line):
            items = list(by_line)
            rid = items[0].id
            name = f"line {line}" + (f" (id {rid})" if rid else "")
            first = items[0]
            message = f"line {line}: {first.path or '/'}: {first.message}"
            body = "\n".join(f"{f.file}:{e.line}: {e.path or '/'} [{e.keyword}] {e.message}" for e in items)
            out.write(f'    <testcase name={quoteattr(name)} classname={quoteattr(f.file)} '
                      f'file={quoteattr(f.file)} line="{line}">\n')
            out.write(f'      <failure message={quoteattr(_xml_safe(message))} type={quoteattr(first.keyword)}>'
                      f'{_xml_text(body)}</failure>\n')
            out.write("    </testcase>\n")
        unlisted = f.invalid - len({e.line for e in entries})
        if unlisted > 0:  # errors beyond --max-errors still count as failing records
            out.write(f'    <testcase name={quoteattr(f"{unlisted} more invalid records")} '
                      f'classname={quoteattr(f.file)} file={quoteattr(f.file)}>\n'
                      f'      <failure message="not listed (--max-errors)" type="truncated"/>\n'
                      f'    </testcase>\n')
        out.write("  </testsuite>\n")
    out.write("</testsuites>\n")


def _junit_tests(report: Report) -> int:
    return sum(f.invalid if f.invalid else 1 for f in report.files)


def _xml_safe(text: str) -> str:
    return "".join(ch if ch in "\t\n\r" or ch >= " " else "\ufffd" for ch in text)


def _xml_text(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(_xml_safe(text))


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
    with open(output, "w", encoding="utf-8") as fh:
        renderer(report, fh)
