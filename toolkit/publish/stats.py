"""Counts for the card, computed by DuckDB over the written shards, so they describe exactly what ships.

Every list is ordered by count, then key, so the card is the same on every run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

CHANGELOG_IDS = 20  # ids listed per direction in the card; the counts are always complete


@dataclass(frozen=True)
class Stats:
    rows: int
    languages: tuple[tuple[str, int], ...]
    sources: tuple[tuple[str, int], ...]
    years: tuple[tuple[int, int], ...]
    months: tuple[tuple[int, int, int], ...]  # year, month, articles
    first_date: dt.date | None
    last_date: dt.date | None


@dataclass(frozen=True)
class Changelog:
    previous_tag: str
    previous_path: Path
    added: int
    removed: int
    added_ids: tuple[str, ...] = field(default=())
    removed_ids: tuple[str, ...] = field(default=())


def _connect():
    import duckdb

    return duckdb.connect(config={"memory_limit": "1GB"})


def _files(snapshot: Path) -> list[str]:
    return sorted(str(p) for p in (snapshot / "data").glob("*.parquet"))


def compute_stats(snapshot: Path) -> Stats:
    """Articles per language, source, year and month in the snapshot's shards."""
    con = _connect()
    try:
        con.read_parquet(_files(snapshot)).create_view("t")

        def pairs(key: str) -> tuple:
            rows = con.execute(f"SELECT {key}, count(*) AS n FROM t GROUP BY ALL ORDER BY n DESC, {key}").fetchall()
            return tuple((k, int(n)) for k, n in rows)

        total, first, last = con.execute("SELECT count(*), min(published_date), max(published_date) FROM t").fetchone()
        months = con.execute("SELECT year, month, count(*) FROM t GROUP BY ALL ORDER BY year, month").fetchall()
        years = con.execute("SELECT year, count(*) FROM t GROUP BY ALL ORDER BY year").fetchall()
        return Stats(
            rows=int(total),
            languages=pairs("language"),
            sources=pairs("source"),
            years=tuple((int(y), int(n)) for y, n in years),
            months=tuple((int(y), int(m), int(n)) for y, m, n in months),
            first_date=first,
            last_date=last,
        )
    finally:
        con.close()


def compute_changelog(snapshot: Path, previous: Path, previous_tag: str) -> Changelog:
    """Articles added and removed since `previous`, by id (anti-joins in DuckDB, not Python sets)."""
    con = _connect()
    try:
        con.read_parquet(_files(snapshot)).select("id").create_view("cur")
        con.read_parquet(_files(previous)).select("id").create_view("prev")

        def side(a: str, b: str) -> tuple[int, tuple[str, ...]]:
            count = con.execute(f"SELECT count(*) FROM {a} ANTI JOIN {b} USING (id)").fetchone()[0]
            sql = f"SELECT id FROM {a} ANTI JOIN {b} USING (id) ORDER BY id LIMIT {CHANGELOG_IDS}"
            ids = con.execute(sql).fetchall()
            return int(count), tuple(i for (i,) in ids)

        added, added_ids = side("cur", "prev")
        removed, removed_ids = side("prev", "cur")
        return Changelog(previous_tag, previous, added, removed, added_ids, removed_ids)
    finally:
        con.close()
