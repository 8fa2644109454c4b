"""Which data files a query reads, from DuckDB's own profiler: the proof that partition pruning works.

    >>> from toolkit.sql import connect, files_read
    >>> con = connect("archive")                                                        # doctest: +SKIP
    >>> files_read(con, "SELECT count(*) FROM articles WHERE year = 2020 AND month = 3")  # doctest: +SKIP
    1
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from toolkit.sql.quote import literal


def profile(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    """Run `sql` with DuckDB's JSON profiler on and return the profile (the query's rows are dropped)."""
    with tempfile.TemporaryDirectory(prefix="newsarchive-profile-") as folder:
        out = Path(folder) / "profile.json"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"SET profiling_output = {literal(os.fspath(out))}")
        try:
            con.execute(sql).fetchall()
        finally:
            con.execute("PRAGMA disable_profiling")
        return json.loads(out.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ParquetScan:
    """One Parquet scan of a profiled query, as DuckDB's profiler describes it."""

    files_read: int
    files_listed: int | None  # files in the view's list, of which the hive filters kept files_read
    filters: str  # the partition filters applied to the file list, e.g. "(year = 2020)(month = 3)"
    names: str  # the first few files read, comma-separated (the profiler lists at most five)


def parquet_scans(con: duckdb.DuckDBPyConnection, sql: str) -> list[ParquetScan]:
    """Every READ_PARQUET scan DuckDB ran to answer `sql`, with the number of files it opened."""
    found = []
    for info in _scans(profile(con, sql)):
        listed = str(info.get("Scanning Files", "")).partition("/")[2]
        found.append(ParquetScan(int(info["Total Files Read"]), int(listed) if listed else None,
                                 str(info.get("File Filters", "")), str(info.get("Filename(s)", ""))))
    return found


def files_read(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """How many Parquet files DuckDB opened to answer `sql` (its profiler's "Total Files Read")."""
    return sum(scan.files_read for scan in parquet_scans(con, sql))


def _scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    info = node.get("extra_info") or {}
    if info.get("Function") == "READ_PARQUET":
        yield info
    for child in node.get("children") or []:
        yield from _scans(child)
