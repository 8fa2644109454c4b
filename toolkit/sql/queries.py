"""One SQL query over the archive's views, at the latest or a past version, in four output formats.

    >>> from toolkit.sql import query
    >>> query("SELECT language, count(*) AS n FROM articles GROUP BY ALL", archive="archive")  # doctest: +SKIP
    pyarrow.Table ...

The query runs in DuckDB against the views of `toolkit.sql.views`; DuckDB also writes the csv,
json and parquet outputs (COPY), so Python only moves bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa

from toolkit.archive.tables import Archive, open_archive
from toolkit.core.errors import NewsarchiveError
from toolkit.core.outputs import atomic_path, refuse_input, refuse_inside_archive
from toolkit.sql.connection import connect
from toolkit.sql.extensions import first_line
from toolkit.sql.quote import literal
from toolkit.sql.sandbox import check_functions, check_statement
from toolkit.sql.views import VIEWS

FORMATS = ("table", "csv", "json", "parquet")
TABLE_ROWS = 100  # rows a terminal table shows; the other formats write every row
CELL_CHARS = 120  # longest value a table cell shows

_COPY_OPTIONS = {
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json",  # JSON Lines: one object per row
    "parquet": "FORMAT parquet, COMPRESSION zstd",
}


def query(sql: str, archive: str | os.PathLike | Archive | None = None, *, as_of: int | None = None,
          allow_paths: Sequence[str | os.PathLike] = ()) -> pa.Table:
    """Run one read-only statement over the archive's views (at version `as_of`) and return its rows as Arrow.

    The statement runs in the sandbox of `toolkit.sql.sandbox`: it reads the archive and the files
    or folders of `allow_paths`, nothing else, and writes nothing.
    """
    con = connect(archive, as_of=as_of, sandbox=True, allow_paths=allow_paths)
    try:
        relation = run(con, sql)
        if relation is None:
            return pa.table({})
        return _guard(relation.to_arrow_table)
    finally:
        con.close()


def run(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Check that `sql` is one read-only statement and start it; None for statements without rows (SET)."""
    if not sql.strip():
        raise NewsarchiveError("no query given; pass QUERY, or pipe it on standard input")
    check_functions(sql)
    statements = _guard(lambda: con.extract_statements(sql))
    for statement in statements:
        check_statement(statement, sql, con)
    if len(statements) != 1:
        raise NewsarchiveError(f"the query holds {len(statements)} statements; pass exactly one")
    return _guard(lambda: con.sql(sql))


def write_query(sql: str, archive: str | os.PathLike | Archive | None = None, *, as_of: int | None = None,
                fmt: str = "table", output: str | os.PathLike | None = None, stream: IO[str] | None = None,
                allow_paths: Sequence[str | os.PathLike] = ()) -> int:
    """Run one read-only statement and write its rows as `fmt` to `output` (or `stream`); the number of rows.

    Files are written under a temporary name and renamed, so a failed query leaves no partial file.
    Parquet needs `output`: it is not for a terminal. The statement runs in the sandbox of
    `toolkit.sql.sandbox` (the archive and `allow_paths`, read-only); `output` may be neither inside
    the archive nor one of `allow_paths`.
    """
    if fmt not in FORMATS:
        raise NewsarchiveError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise NewsarchiveError("--format parquet writes a file: pass --output FILE")
    stream = stream or sys.stdout
    target = archive if isinstance(archive, Archive) else open_archive(archive)
    if output is not None:
        refuse_input(output, allow_paths, "--output", "an --allow-path")
        refuse_inside_archive(output, target.root, "--output")
    with _target(output) as (path, scratch):
        con = connect(target, as_of=as_of, sandbox=True, allow_paths=allow_paths,
                      writable=[] if fmt == "table" else [scratch])
        try:
            relation = run(con, sql)
            if relation is None:
                return 0
            if fmt == "table":
                if path is None:
                    return render_table(relation, stream)
                with open(path, "w", encoding="utf-8") as out:
                    return render_table(relation, out)
            relation.create_view("newsarchive_result")
            copied = _guard(lambda: con.execute(
                f"COPY (FROM newsarchive_result) TO {literal(str(scratch))} ({_COPY_OPTIONS[fmt]})").fetchone())
            count = int(copied[0]) if copied else 0
            if path is None:
                stream.flush()
                with open(scratch, "rb") as src:
                    shutil.copyfileobj(src, getattr(stream, "buffer", None) or _TextSink(stream))
            return count
        finally:
            con.close()


def render_table(relation: duckdb.DuckDBPyRelation, out: IO[str]) -> int:
    """A rich table of the first TABLE_ROWS rows (long values cut), with the total row count."""
    from rich.console import Console
    from rich.table import Table

    reader = _guard(lambda: relation.to_arrow_reader(TABLE_ROWS))
    table = Table(show_lines=False, header_style="bold")
    for name in relation.columns:
        table.add_column(name, overflow="fold")
    shown = total = 0
    for batch in _batches(reader):
        total += batch.num_rows
        if shown >= TABLE_ROWS:
            continue
        for row in batch.slice(0, TABLE_ROWS - shown).to_pylist():
            table.add_row(*(_cell(v) for v in row.values()))
            shown += 1
    tty = out.isatty() if hasattr(out, "isatty") else False
    console = Console(file=out, highlight=False, soft_wrap=False,
                      width=None if tty else int(os.environ.get("COLUMNS", "160")),
                      force_terminal=None if tty else False)
    console.print(table)
    more = f"showing {shown} of {total:,} rows; --format csv, json or parquet writes them all" if total > shown \
        else f"{total:,} row{'s' if total != 1 else ''}"
    console.print(f"({more})")
    return total


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowException, duckdb.Error) as exc:
            raise NewsarchiveError(f"query: {first_line(exc)}") from None
        yield batch


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


@contextmanager
def _target(output: str | os.PathLike | None) -> Iterator[tuple[Path | None, Path]]:
    """(the temporary file renamed to `output` at the end, or None for the stream; the file to write)."""
    if output is None:
        folder = Path(tempfile.mkdtemp(prefix="newsarchive-sql-"))
        try:
            yield None, folder / "result"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    final = Path(output).expanduser()
    if final.is_dir():
        raise NewsarchiveError(f"{output}: is a folder; pass --output a file name")
    with atomic_path(final, "query's rows", make_parent=False) as temporary:
        yield temporary, temporary


class _TextSink:
    """Bytes to a text stream without a binary buffer (e.g. a StringIO in tests)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        return self.stream.write(data.decode("utf-8"))


def _guard(call):
    """DuckDB's message for a bad query, on one line, as a user error (exit 2), never a traceback."""
    try:
        return call()
    except duckdb.Error as exc:
        hint = ""
        if isinstance(exc, duckdb.CatalogException):
            hint = f" (the views are {', '.join(VIEWS)})"
        elif isinstance(exc, duckdb.PermissionException):
            hint = (" (a query reads only the archive; name a file or folder of your own with --allow-path PATH, "
                    "and write the rows with --output FILE)")
        raise NewsarchiveError(f"query: {first_line(exc)}{hint}") from None
