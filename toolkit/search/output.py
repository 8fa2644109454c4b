"""Search results out: a table for people, JSON Lines for programs, Parquet to join with the archive."""

from __future__ import annotations

import json
import os
from typing import IO, Any

from toolkit.core.errors import NewsarchiveError
from toolkit.core.outputs import atomic_path
from toolkit.search.query import SearchResult

FORMATS = ("table", "json", "parquet")


def render_hits(result: SearchResult, fmt: str, out: IO[str]) -> None:
    """The hits as a table (id, date, source, title, snippet) or as JSON Lines, one hit per line."""
    if fmt == "json":
        for hit in result.hits:
            out.write(json.dumps(hit.as_dict(), ensure_ascii=False) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    tty = out.isatty() if hasattr(out, "isatty") else False
    console = Console(file=out, highlight=False, width=None if tty else int(os.environ.get("COLUMNS", "160")),
                      force_terminal=None if tty else False)
    if not result.hits:
        console.print(f"no article matches {result.terms!r}" + (f" with {_describe(result.filters)}"
                                                                 if result.filters else ""))
        return
    table = Table(header_style="bold", show_lines=True)
    copies = any(hit.copies for hit in result.hits)  # near-duplicates: how many copies, which outlets
    columns = [("id", None), ("date", None), ("source", None), ("title", 2), ("snippet", 4)]
    for name, ratio in columns + ([("copies", 1)] if copies else []):
        table.add_column(name, overflow="fold", ratio=ratio, no_wrap=name in ("id", "date"))
    for hit in result.hits:
        row = [hit.id, hit.published_date.isoformat(), hit.source, hit.title, hit.snippet]
        if copies:
            row.append(f"{len(hit.copies)} ({', '.join(hit.outlets)})" if hit.copies else "")
        table.add_row(*row)
    console.print(table)


def write_hits(result: SearchResult, fmt: str, output: str | os.PathLike | None, out: IO[str]) -> None:
    """Write the hits in `fmt` to `output` (a file) or `out`; Parquet needs a file.

    The file is written next to its final name and renamed, so a reader never sees half of it.
    """
    if fmt not in FORMATS:
        raise NewsarchiveError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise NewsarchiveError("--format parquet writes a file: add --output FILE (e.g. --output hits.parquet)")
    if output is None:
        render_hits(result, fmt, out)
        return
    with atomic_path(output, "hits", make_parent=False) as temporary:  # a reader never sees half of it
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(result.to_arrow(), temporary, compression="zstd")
        else:
            with open(temporary, "w", encoding="utf-8") as f:
                render_hits(result, fmt, f)


def _describe(filters: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in filters.items())
