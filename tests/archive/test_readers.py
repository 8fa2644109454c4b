"""Every reader of the archive gets the right rows: deltalake's filtered reads, Polars' `scan_delta`
and DuckDB's `delta_scan` give, at every version, the answers `newsarchive sql` gives.

deltalake 1.6.6 prunes a file for any filter on a column whose logged statistics have a null count
but no min/max (long strings, timestamps in archives written before); the archive built here has
the values that used to lose rows: long, Arabic and hostile strings, microsecond timestamps, nulls.
Spark is not tested: it cannot be installed here (no JVM, no network).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from tests.archive.conftest import write_jsonl
from toolkit.archive import append, compact, open_archive, verify
from toolkit.sql import connect, connect_duckdb
from toolkit.sql.quote import literal

#: Polars runs in a subprocess: importing it starts a thread pool, and a process with other threads
#: running starts append workers by spawn instead of fork (toolkit.core.executor), which later tests see.
POLARS = textwrap.dedent("""
    import datetime as dt, json, operator, sys
    import polars as pl

    OPS = {"=": operator.eq, "<": operator.lt, ">=": operator.ge}
    uri, queries = json.load(sys.stdin)
    frames, answers = {}, []
    for q in queries:
        lazy = frames.setdefault(q["version"], pl.scan_delta(uri, version=q["version"]))
        value = q["value"]
        if isinstance(value, dict):
            value = dt.date.fromisoformat(value["date"]) if "date" in value else dt.datetime.fromisoformat(value["at"])
        column = pl.col(q["column"])
        expression = {"cmp": lambda: OPS[q["op"]](column, pl.lit(value)), "null": column.is_null,
                      "valid": column.is_not_null, "contains": lambda: column.list.contains(value)}[q["kind"]]()
        answers.append(sorted(lazy.filter(expression).select("id").collect()["id"].to_list()))
    print(json.dumps(answers))
""")

LONG = "Un titre très long " * 20  # 380 characters
SAME_PREFIX = "Le même début de plus de trente-deux caractères, puis "  # bounds cut at 32 must still hold
HOSTILE = ["'; DROP TABLE articles; --", 'guillemets "doubles" et \\ barre', "ligne\nsuivante\r\n\tfin",
           "a" * 32 + "\U0010ffff" + "b", "a" * 32 + "\U0010ffff", "\u0000 nul au début", "x" * 5000,
           "المغرب والولايات المتحدة: شراكة استراتيجية " * 3]
SOURCES = ["Le360", "هسبريس", "O'Reilly \"Média\"", "S" * 40]


def _record(i: int) -> dict[str, Any]:
    title = [f"T{i}", LONG + str(i), SAME_PREFIX + str(i), HOSTILE[i % len(HOSTILE)], f"عنوان رقم {i}"][i % 5]
    rec: dict[str, Any] = {
        "id": f"{i:032x}",
        "source": SOURCES[i % len(SOURCES)],
        "title": title,
        "text": (SAME_PREFIX + f"paragraphe {i}.\n\n") * (1 + i % 4) + HOSTILE[(i + 3) % len(HOSTILE)],
        "published_date": f"{2020 + i % 2}-{1 + i % 7:02d}-{1 + i % 28:02d}",
        "language": "ar" if i % 3 == 0 else "fr",
    }
    if i % 4:
        rec["crawled_at"] = f"2021-03-04T05:{i % 60:02d}:07.{i:06d}+00:00"
    if i % 3:
        rec["url"] = f"https://example.org/{'section/' * (i % 5)}article-{i}"
        rec["tags"] = [f"tag{i % 4}", "commun"]
    return rec


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """Versions: 1 an append with quarantined lines, 2 an append with duplicates, 3 a compaction,
    4 an append of new months; dozens of files (seven months in two years, per batch)."""
    tmp = tmp_path_factory.mktemp("readers")
    root = tmp / "a"
    append([write_jsonl(tmp / "1.jsonl", [_record(i) for i in range(40)] + ["broken", '{"id": 1}'])], archive=root)
    append([write_jsonl(tmp / "2.jsonl", [_record(i) for i in range(30, 80)])], archive=root)
    assert compact(root).files_added["articles"] > 0
    append([write_jsonl(tmp / "3.jsonl", [_record(i) | {"published_date": f"2022-0{1 + i % 3}-15"}
                                          for i in range(80, 95)])], archive=root)
    assert open_archive(root).version == 4 and verify(root).ok
    return root


def _python(value: Any, column: str) -> Any:
    if column == "published_date":
        return dt.date.fromisoformat(value)
    if column == "crawled_at":
        return dt.datetime.fromisoformat(value)
    return value


def _predicates(rows: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """Equality on a present value of each column (every hostile title and source too), and on an
    absent one; ranges on both sides of it (a wrong minimum or maximum in the log loses rows)."""
    found: list[tuple[str, str, Any]] = []
    for column in ("id", "source", "title", "text", "published_date", "crawled_at", "url", "language", "year", "month"):
        values = sorted({r[column] for r in rows if r[column] is not None})
        middle = values[len(values) // 2]
        picks = {middle, values[-1]} | {v for v in values if isinstance(v, str) and (v in HOSTILE or v in SOURCES)}
        found += [(column, "=", value) for value in sorted(picks)]
        found += [(column, "<", middle), (column, ">=", middle)]
    found += [("title", "=", "absent"), ("title", ">=", "a" * 32 + "\U0010ffff"), ("text", "<", SAME_PREFIX)]
    return found


def _ids(table: pa.Table) -> list[str]:
    return sorted(table["id"].to_pylist())


def _encoded(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"at": value.isoformat()}
    return {"date": value.isoformat()} if isinstance(value, dt.date) else value


def _polars(uri: str, queries: list[dict[str, Any]]) -> list[list[str]]:
    """Answers of Polars' scan_delta to the queries, in a subprocess."""
    if importlib.util.find_spec("polars") is None:
        pytest.fail("polars is not installed: pip install -e '.[test]'")
    proc = subprocess.run([sys.executable, "-c", POLARS], input=json.dumps([uri, queries]), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_reader_gets_the_rows_newsarchive_sql_gets(archive):
    uri = str(archive / "articles")
    duck = connect_duckdb(extensions=["delta"])
    polars: list[dict[str, Any]] = []  # asked at the end, all at once
    checked = 0
    for version in range(1, open_archive(archive).version + 1):
        con = connect(archive, as_of=version)
        rows = con.execute("SELECT id, source, title, text, CAST(published_date AS VARCHAR) AS published_date, "
                           "strftime(crawled_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f+00:00') AS crawled_at, "
                           "url, language, year, month FROM articles").fetchall()
        names = ["id", "source", "title", "text", "published_date", "crawled_at", "url", "language", "year", "month"]
        rows = [dict(zip(names, r, strict=True)) for r in rows]
        assert len(rows) == {1: 40, 2: 80, 3: 80, 4: 95}[version]
        table = DeltaTable(uri, version=version)
        for column, op, raw in _predicates(rows):
            value = _python(raw, column)
            where = f"{column} {op} ?"  # a parameter: values hold quotes, newlines, NUL
            expected = sorted(r[0] for r in con.execute(f"SELECT id FROM articles WHERE {where}", [value]).fetchall())
            what = f"version {version}: {column} {op} {str(raw)[:60]!r}"
            assert _ids(table.to_pyarrow_table(columns=["id"], filters=[(column, op, value)])) == expected, \
                f"deltalake, {what}"
            polars.append({"version": version, "kind": "cmp", "column": column, "op": op, "value": _encoded(value),
                           "expected": expected, "what": what})
            scanned = duck.execute(f"SELECT id FROM delta_scan({literal(uri)}, version => {version}) WHERE {where}",
                                   [value])
            assert sorted(r[0] for r in scanned.fetchall()) == expected, f"duckdb delta_scan, {what}"
            checked += 1
        for column in ("url", "crawled_at"):  # nulls: IS NULL and IS NOT NULL
            for negate in (False, True):
                expected = sorted(r[0] for r in con.execute(
                    f"SELECT id FROM articles WHERE {column} IS {'NOT ' if negate else ''}NULL").fetchall())
                expression = ds.field(column).is_valid() if negate else ds.field(column).is_null()
                assert _ids(table.to_pyarrow_table(columns=["id"], filters=expression)) == expected
                polars.append({"version": version, "kind": "valid" if negate else "null", "column": column,
                               "value": None, "expected": expected, "what": f"version {version}: {column} null"})
        expected = sorted(r[0] for r in con.execute(
            "SELECT id FROM articles WHERE list_contains(tags, 'tag1')").fetchall())  # a list column
        assert expected
        polars.append({"version": version, "kind": "contains", "column": "tags", "value": "tag1",
                       "expected": expected, "what": f"version {version}: tags contains tag1"})
        scanned = duck.execute(f"SELECT id FROM delta_scan({literal(uri)}, version => {version}) "
                               "WHERE list_contains(tags, 'tag1')")
        assert sorted(r[0] for r in scanned.fetchall()) == expected
        con.close()
    assert checked > 150
    for query, answer in zip(polars, _polars(uri, polars), strict=True):
        assert answer == query["expected"], f"polars scan_delta, {query['what']}"


def test_statistics_bound_every_column_with_values(archive):
    """Every logged file has min/max for each non-nested column that holds a value, and the bounds hold."""
    actions = pa.table(DeltaTable(str(archive / "articles")).get_add_actions(flatten=False)).to_pylist()
    dataset = open_archive(archive).articles()
    fragments = {f.path: f for f in dataset.get_fragments()}
    assert len(actions) == len(fragments) > 10
    for action in actions:
        for column in ("id", "source", "title", "text", "published_date", "crawled_at", "url", "language"):
            if action["null_count"][column] < action["num_records"]:
                assert action["min"][column] is not None and action["max"][column] is not None, (action, column)
        data = fragments[action["path"]].to_table()
        for column in ("title", "text"):
            assert action["min"][column] <= min(data[column].to_pylist()) <= max(data[column].to_pylist()) \
                <= action["max"][column]


def test_compact_rewrites_files_whose_statistics_deltalake_misreads(tmp_path, monkeypatch):
    """An archive written before every column was bounded reads right once `compact` has run."""
    import toolkit.archive.files as files

    real = files.file_stats

    def before(rows):  # what newsarchive wrote before: null counts, but no bounds for long strings or timestamps
        stats = json.loads(real(rows))
        for column in list(stats.get("minValues", {})):  # minhash files: numRecords only (binary column)
            low, high = stats["minValues"][column], stats["maxValues"][column]
            if pa.types.is_timestamp(rows[column].type) or (isinstance(high, str) and max(len(low), len(high)) >= 32):
                del stats["minValues"][column], stats["maxValues"][column]
        return json.dumps(stats)

    monkeypatch.setattr(files, "file_stats", before)
    root = tmp_path / "a"
    append([write_jsonl(tmp_path / "1.jsonl", [_record(i) for i in range(30)])], archive=root, jobs=1)  # patched here
    monkeypatch.setattr(files, "file_stats", real)
    [check] = [c for c in verify(root).checks if c.name == "statistics"]
    assert not check.ok and "run `newsarchive compact`" in check.detail
    result = compact(root)
    assert result.files_added["articles"] == result.files_removed["articles"] > 0
    uri = str(root / "articles")
    con = connect(root)
    for column, value in (("title", LONG + "1"), ("text", None), ("crawled_at", None)):
        if value is None:
            value = con.execute(f"SELECT max({column}) FROM articles").fetchone()[0]
        expected = sorted(r[0] for r in con.execute(f"SELECT id FROM articles WHERE {column} = ?", [value]).fetchall())
        assert expected
        assert _ids(DeltaTable(uri).to_pyarrow_table(columns=["id"], filters=[(column, "=", value)])) == expected
    assert verify(root).ok


def test_the_ledger_and_quarantine_read_right_through_deltalake_filters(tmp_path):
    """The other two tables too, once `compact` has merged their files with newsarchive's writer."""
    root = tmp_path / "a"
    for b in range(2):
        lines = [_record(b * 10 + i) for i in range(5)] + ["x" * 100 + f" broken {b}", f"ligne\\n'{b}'"]
        append([write_jsonl(tmp_path / f"{b}.jsonl", lines)], archive=root)
    assert compact(root).files_added["quarantine"] == 1
    for name in ("quarantine", "batches"):
        table = DeltaTable(str(root / name))
        everything = table.to_pyarrow_table()
        for column in everything.column_names:
            if pa.types.is_nested(everything[column].type):
                continue
            for value in {everything[column][0].as_py(), everything[column][-1].as_py()} - {None}:
                expected = everything.filter(ds.field(column) == value).num_rows
                assert expected and table.to_pyarrow_table(filters=[(column, "=", value)]).num_rows == expected, \
                    (name, column, value)


def test_bounds_hold_at_the_edges():
    """Cut strings still bound their values (also past a U+10FFFF), timestamps are rounded outward,
    and a file with a value no bound can hold gets its row count only."""
    from toolkit.archive.files import file_stats

    tricky = ["a" * 32 + "\U0010ffff" + "b", "a" * 32 + "\U0010ffff", "é" * 40, "a" * 31]
    stats = json.loads(file_stats(pa.table({"s": tricky})))
    assert stats["minValues"]["s"] <= min(tricky) and max(tricky) <= stats["maxValues"]["s"]
    assert len(stats["minValues"]["s"]) <= 32
    assert json.loads(file_stats(pa.table({"s": ["é" * 40]})))["maxValues"]["s"] == "é" * 32 + "\U0010ffff"
    stamps = pa.array([dt.datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=dt.timezone.utc),
                       dt.datetime(2021, 3, 4, 5, 6, 8, 999001, tzinfo=dt.timezone.utc), None],
                      pa.timestamp("us", tz="UTC"))
    stats = json.loads(file_stats(pa.table({"t": stamps})))
    assert stats["minValues"]["t"] == "2021-03-04T05:06:07.123Z"  # rounded down
    assert stats["maxValues"]["t"] == "2021-03-04T05:06:09.000Z"  # rounded up
    assert stats["nullCount"]["t"] == 1
    end = pa.array([dt.datetime(9999, 12, 31, 23, 59, 59, 999999)], pa.timestamp("us", tz="UTC"))
    assert json.loads(file_stats(pa.table({"t": end, "s": ["x"]}))) == {"numRecords": 1}
    assert json.loads(file_stats(pa.table({"f": [float("nan"), 1.0]}))) == {"numRecords": 2}
