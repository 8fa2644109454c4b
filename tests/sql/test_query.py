"""`newsarchive sql` and `toolkit.sql.query`: one statement, four formats, time travel, clean errors."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from tests.sql.conftest import SAMPLE_ARTICLES, article, one_line_error, records
from toolkit.core.errors import NewsarchiveError
from toolkit.sql import connect, query
from toolkit.sql.extensions import connect_duckdb


def test_query_returns_arrow(sample_archive):
    table = query("SELECT language, count(*) AS n FROM articles GROUP BY ALL ORDER BY language", sample_archive)
    assert table.to_pylist() == [{"language": "ar", "n": 14}, {"language": "fr", "n": 28}]


def test_table_format(main, sample_archive):
    result = main("sql", "--archive", str(sample_archive), "SELECT source, articles FROM sources ORDER BY source")
    assert result.code == 0, result.err
    assert "Maroc Diplomatique" in result.out and "(10 rows)" in result.out
    assert "┃ source" in result.out


def test_table_format_shows_the_first_rows_and_counts_all(main, sample_archive):
    result = main("sql", "--archive", str(sample_archive), "SELECT range AS i FROM range(250)")
    assert "showing 100 of 250 rows" in result.out
    assert "│ 99 " in result.out and "│ 100 " not in result.out


def test_csv_json_and_parquet(main, sample_archive, tmp_path):
    sql = "SELECT id, published_date, authors FROM articles ORDER BY id"
    out = main("sql", "--archive", str(sample_archive), "--format", "csv", sql)
    rows = list(csv.DictReader(io.StringIO(out.out)))
    assert len(rows) == SAMPLE_ARTICLES and rows[0].keys() == {"id", "published_date", "authors"}
    out = main("sql", "--archive", str(sample_archive), "--format", "json", sql)
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert len(lines) == SAMPLE_ARTICLES and lines[0]["authors"] is None
    assert [r["id"] for r in lines] == [r["id"] for r in rows]
    target = tmp_path / "out.parquet"
    result = main("sql", "--archive", str(sample_archive), "--format", "parquet", "--output", str(target), sql)
    assert result.code == 0 and f"42 rows -> {target}" in result.err
    assert pq.read_table(target).num_rows == SAMPLE_ARTICLES
    assert pq.ParquetFile(target).metadata.row_group(0).column(0).compression == "ZSTD"


def test_output_file_for_text_formats(main, sample_archive, tmp_path):
    target = tmp_path / "sources.csv"
    assert main("sql", "--archive", str(sample_archive), "--format", "csv", "-o", str(target),
                "FROM sources").code == 0
    assert target.read_text(encoding="utf-8").startswith("source,languages,articles")


def test_query_from_stdin(main, sample_archive):
    result = main("sql", "--archive", str(sample_archive), "--format", "csv",
                  stdin="SELECT count(*) AS n FROM articles\n")
    assert result.out.splitlines() == ["n", "42"]


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELEC 1", 'Parser Error: syntax error at or near "SELEC"'),
    ("SELECT * FROM nope", "Catalog Error: Table with name nope does not exist!"),
    ("SELECT no_such_column FROM articles", 'Binder Error: Referenced column "no_such_column" not found'),
    ("SELECT 1; SELECT 2", "the query holds 2 statements; pass exactly one"),
    ("   ", "no query given"),
    ("SELECT CAST('x' AS INTEGER)", "Conversion Error"),
])
def test_a_bad_query_gets_duckdbs_message_and_exit_2(main, sample_archive, sql, expected):
    line = one_line_error(main("sql", "--archive", str(sample_archive), sql))
    assert expected in line, line


def test_bad_options(main, sample_archive, tmp_path):
    assert "--output" in one_line_error(main("sql", "--archive", str(sample_archive), "--format", "parquet",
                                             "SELECT 1"))
    assert "no version 7" in one_line_error(main("sql", "--archive", str(sample_archive), "--as-of", "7", "SELECT 1"))
    assert "no archive here" in one_line_error(main("sql", "--archive", str(tmp_path), "SELECT 1"))
    missing = tmp_path / "no" / "such" / "out.csv"
    assert "folder does not exist" in one_line_error(main("sql", "--archive", str(sample_archive), "--format", "csv",
                                                          "-o", str(missing), "SELECT 1"))


def test_a_failed_query_leaves_no_output_file(main, sample_archive, tmp_path):
    target = tmp_path / "out.csv"
    one_line_error(main("sql", "--archive", str(sample_archive), "--format", "csv", "-o", str(target),
                        "SELECT CAST(title AS INTEGER) FROM articles"))
    assert list(tmp_path.iterdir()) == []


def test_as_of_queries_a_past_version(archive_copy, tmp_path, main):
    from toolkit.archive import append

    batch = records(tmp_path / "b.jsonl", [article(1), article(2, language="ar", source="مصدر", title="عنوان")])
    with open(batch, "a", encoding="utf-8") as f:
        f.write('{"id": "not valid"}\n')  # one line for the quarantine
    append([batch], archive=archive_copy)
    assert query("SELECT count(*) AS n FROM articles", archive_copy).column("n")[0].as_py() == SAMPLE_ARTICLES + 2
    [line] = query("SELECT q.line, q.raw, q.errors, b.version FROM quarantine q JOIN batches b USING (batch)",
                   archive_copy).to_pylist()
    assert (line["line"], line["raw"], line["version"]) == (3, '{"id": "not valid"}', 2)
    assert {e["path"] for e in json.loads(line["errors"])} >= {"/id", ""}
    past = connect(archive_copy, as_of=1)
    assert past.sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)
    assert past.sql("SELECT count(*) FROM batches").fetchone() == (1,)  # the ledger as of version 1
    assert past.sql("SELECT count(*) FROM quarantine").fetchone() == (0,)
    assert past.sql("SELECT version, latest_version, up_to_date, as_of FROM catalog_info").fetchone() == (
        1, 2, False, True)
    assert connect(archive_copy, as_of=0).sql("SELECT count(*) FROM articles").fetchone() == (0,)
    # the same rows as delta-kernel's own time travel (DuckDB's delta extension)
    delta = connect_duckdb(extensions=["delta"])
    for version in (0, 1, 2):
        ours = set(connect(archive_copy, as_of=version).sql("SELECT id FROM articles").fetchall())
        theirs = set(delta.execute("SELECT id FROM delta_scan(?, version := ?)",
                                   [str(archive_copy / "articles"), version]).fetchall())
        assert ours == theirs, version
    result = main("sql", "--archive", str(archive_copy), "--as-of", "1", "--format", "csv",
                  "SELECT count(*) AS n FROM articles")
    assert result.out.splitlines() == ["n", str(SAMPLE_ARTICLES)]


def test_statements_without_rows_are_fine(sample_archive):
    assert query("SET VARIABLE answer = 42", sample_archive).num_rows == 0  # settings are locked: see test_sandbox


def test_query_api_raises_newsarchive_error(sample_archive):
    with pytest.raises(NewsarchiveError, match="Parser Error"):
        query("SELEC", sample_archive)


def test_a_vacuumed_version_is_a_clear_error(archive_copy, tmp_path, main):
    from toolkit.archive import append, compact

    append([records(tmp_path / "b.jsonl", [article(1, published_date="2019-01-20")])], archive=archive_copy)
    compact(archive_copy, retention_hours=0, force=True)  # merges January 2019's two files, deletes them
    line = one_line_error(main("sql", "--archive", str(archive_copy), "--as-of", "2", "SELECT count(*) FROM articles"))
    assert "version 2 can no longer be read: `compact` vacuumed 2 of its 27 data files" in line
    assert query("SELECT count(*) AS n FROM articles", archive_copy).column("n")[0].as_py() == SAMPLE_ARTICLES + 1
