"""SQL that cannot harm: a user's query reads the archive (and what they name), writes nothing, loads nothing.

Each hostile query of the trust issue exits 2 with one line, leaves every file as it was, and the
archive still verifies; each of DuckDB's guards is also checked on its own, under the statement check.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.sql.conftest import SAMPLE_ARTICLES, one_line_error
from toolkit.core.errors import NewsarchiveError
from toolkit.sql import connect, extension_path, query, write_query
from toolkit.sql.sandbox import check_statement


def tree(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file under the folders, with its size and modification time: what 'nothing written' compares."""
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def hostile_queries(archive: Path, outside: Path) -> list[tuple[str, str]]:
    """(query, what its one-line error says): the trials of the issue, then their variants."""
    log = archive / "articles" / "_delta_log" / "00000000000000000002.json"
    return [
        (f"COPY (SELECT 1 AS a) TO '{outside / 'pwned.csv'}'", "COPY is refused"),
        ("SELECT * FROM read_text('/etc/passwd')", 'Cannot access file "/etc/passwd"'),
        (f"ATTACH '{outside / 'other.duckdb'}' AS other", "ATTACH is refused"),
        ("INSTALL httpfs", "INSTALL/LOAD is refused"),
        (f"COPY (SELECT 'x') TO '{log}'", "COPY is refused"),
        # variants: through another statement, inside the archive, a setting, an extension file
        (f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{outside / 'pwned.csv'}'", "COPY is refused"),
        (f"ATTACH '{archive / 'mine.duckdb'}' AS mine", "ATTACH is refused"),
        (f"EXPORT DATABASE '{outside / 'export'}'", "EXPORT is refused"),
        ("CREATE TABLE t AS SELECT 1", "CREATE is refused"),
        (f"LOAD '{extension_path('httpfs')}'", "INSTALL/LOAD is refused"),
        ("SET enable_external_access = true", "the configuration has been locked"),
        ("RESET lock_configuration", "the configuration has been locked"),
        ("SET allowed_directories = ['/']", "the configuration has been locked"),
        (f"SELECT * FROM read_text('{archive}/../outside.txt')", "Cannot access file"),
        ("SELECT * FROM read_csv('https://example.com/data.csv')", "https://example.com/data.csv"),
        ("SELECT * FROM glob('/etc/*')", "Cannot access file"),
        # DuckDB's parser reads the files of an IMPORT DATABASE: a parse error would show their first words
        (f"IMPORT DATABASE '{outside / 'dump'}'", "Cannot access file"),
        (f"EXPLAIN IMPORT DATABASE '{outside / 'dump'}'", "query: "),
        # functions DuckDB's lock does not cover: log files written into the archive, SQL run from a string
        (f"CALL enable_logging(storage_path = '{archive / 'articles' / '_delta_log'}')", "enable_logging() is refused"),
        (f"SELECT * FROM \"Enable_Logging\" (storage_path = '{archive}')", "enable_logging() is refused"),
        ("SELECT * FROM query('COPY (SELECT 1) TO ''" + str(outside / "pwned.csv") + "''')", "query() is refused"),
        ("SELECT * FROM disable_optimizer()", "disable_optimizer() is refused"),
    ]


def test_each_hostile_query_exits_2_writes_nothing_and_the_archive_verifies(main, archive_copy, tmp_path):
    from toolkit.archive.verify import verify

    outside = tmp_path / "outside"
    (outside / "dump").mkdir(parents=True)
    (outside / "dump" / "schema.sql").write_text("private words\n")
    (outside / "dump" / "load.sql").write_text("")
    (tmp_path / "copy" / "outside.txt").write_text("not the archive's\n")
    before = tree(tmp_path)
    for sql, expected in hostile_queries(archive_copy, outside):
        for fmt in ("table", "csv"):
            line = one_line_error(main("sql", "--archive", str(archive_copy), "--format", fmt, sql))
            assert line.startswith("newsarchive: error: query: ") and expected in line, (sql, line)
            assert "private" not in line, line
            assert tree(tmp_path) == before, sql  # nothing written, nothing changed
        with pytest.raises(NewsarchiveError, match="query: "):
            query(sql, archive_copy)
    assert verify(archive_copy).ok
    assert query("SELECT count(*) AS n FROM articles", archive_copy).column("n")[0].as_py() == SAMPLE_ARTICLES


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM articles",
    "FROM sources SELECT source",
    "DESCRIBE articles",
    "SUMMARIZE SELECT language FROM articles",
    "SHOW TABLES",
    "EXPLAIN SELECT count(*) FROM articles",
    "EXPLAIN ANALYZE SELECT count(*) FROM articles",
    "CALL pragma_table_info('articles')",
    "PIVOT (SELECT language, year FROM articles) ON language IN ('fr', 'ar') USING count(*) GROUP BY year",
    "SELECT count(*) AS commits FROM read_text('{archive}/articles/_delta_log/*.json')",  # the archive is readable
    "SELECT * FROM catalog_info",
    "SET VARIABLE answer = 42",
])
def test_statements_that_read_still_run(main, sample_archive, sql):
    result = main("sql", "--archive", str(sample_archive), "--format", "csv", sql.format(archive=sample_archive))
    assert result.code == 0, result.err


def test_allow_path_lets_a_query_join_a_file_of_ones_own_read_only(main, sample_archive, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "outlets.csv").write_text("source,country\nLe360,MA\n")
    join = (f"SELECT a.source, o.country, count(*) AS n FROM articles a JOIN read_csv('{mine / 'outlets.csv'}') o "
            "USING (source) GROUP BY ALL")
    line = one_line_error(main("sql", "--archive", str(sample_archive), join))
    assert "--allow-path" in line  # the hint names the way out
    for allowed in (mine / "outlets.csv", mine, Path(os.path.relpath(mine))):
        result = main("sql", "--archive", str(sample_archive), "--format", "csv", "--allow-path", str(allowed), join)
        assert result.code == 0, result.err
        assert result.out.splitlines()[0] == "source,country,n"
    # read-only: a query cannot write into what it may read
    line = one_line_error(main("sql", "--archive", str(sample_archive), "--allow-path", str(mine),
                               f"COPY (SELECT 1) TO '{mine / 'outlets.csv'}'"))
    assert "COPY is refused" in line
    assert (mine / "outlets.csv").read_text() == "source,country\nLe360,MA\n"
    # the output may not be one of the files the query reads
    line = one_line_error(main("sql", "--archive", str(sample_archive), "--allow-path", str(mine / "outlets.csv"),
                               "--format", "csv", "--output", str(mine / "outlets.csv"), join))
    assert "is also an --allow-path" in line
    assert (mine / "outlets.csv").read_text() == "source,country\nLe360,MA\n"
    # a path that does not exist is a typo, said as such
    line = one_line_error(main("sql", "--archive", str(sample_archive), "--allow-path", str(tmp_path / "nope"), join))
    assert "--allow-path" in line and "no such file or folder" in line
    # the Python API takes the same list
    rows = query(join, sample_archive, allow_paths=[mine]).to_pylist()
    assert rows and rows[0]["country"] == "MA"


def test_output_is_written_and_never_inside_the_archive(main, archive_copy, tmp_path):
    out = tmp_path / "fr.parquet"
    assert write_query("FROM articles WHERE language = 'fr'", archive_copy, fmt="parquet", output=out) == 28
    assert pq.read_table(out).num_rows == 28
    log = archive_copy / "articles" / "_delta_log" / "00000000000000000002.json"
    before = tree(archive_copy)
    for target in (log, archive_copy / "batches" / "x.csv"):
        line = one_line_error(main("sql", "--archive", str(archive_copy), "--format", "json", "--output",
                                   str(target), "SELECT 1 AS a"))
        assert "inside the archive's" in line
    assert tree(archive_copy) == before


def test_duckdbs_guards_hold_on_their_own(sample_archive, tmp_path):
    """Under the statement check: the sandboxed connection itself refuses files, extensions and settings."""
    con = connect(sample_archive, sandbox=True, writable=[tmp_path / "ours.csv"])
    assert con.sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)
    assert con.sql("SELECT current_setting('lock_configuration'), current_setting('enable_external_access')"
                   ).fetchone() == (True, False)
    refused = [
        f"COPY (SELECT 1) TO '{tmp_path / 'pwned.csv'}'",
        "SELECT * FROM read_text('/etc/passwd')",
        f"ATTACH '{tmp_path / 'other.duckdb'}'",
        "INSTALL httpfs",
        f"LOAD '{extension_path('httpfs')}'",
        "SET enable_external_access = true",
        "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    ]
    for sql in refused:
        with pytest.raises(duckdb.Error):
            con.execute(sql)
    con.execute(f"COPY (SELECT 1 AS a) TO '{tmp_path / 'ours.csv'}'")  # the one file newsarchive writes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours.csv"]


@pytest.mark.parametrize("sql", ["COPY t TO 'x.csv'", "EXPLAIN ANALYZE COPY t TO 'x.csv'", "ATTACH 'x.db'",
                                 "INSTALL httpfs", "FORCE INSTALL httpfs", "LOAD httpfs", "EXPORT DATABASE 'x'",
                                 "INSERT INTO t VALUES (1)", "PIVOT t ON a", "PREPARE p AS SELECT 1",
                                 "EXPLAIN (FORMAT json) COPY t TO 'x.csv'", "DETACH x", "BEGIN", "VACUUM"])
def test_statements_that_write_are_refused_before_they_run(sql):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a VARCHAR)")
    with pytest.raises(NewsarchiveError, match="is refused"):
        for statement in con.extract_statements(sql):
            check_statement(statement, sql)


def test_enable_logging_outside_the_sandbox_is_refused_not_a_crash(sample_archive, tmp_path):
    """DuckDB aborts the whole process (exit 134) when logging to a folder it may not write: refused first."""
    from tests.conftest import run_cli

    result = run_cli("sql", "--archive", str(sample_archive),
                     f"CALL enable_logging(storage_path = '{tmp_path / 'logs'}')")
    assert result.code == 2, (result.code, result.err)
    assert result.err.strip().splitlines() == [
        "newsarchive: error: query: the function enable_logging() is refused: it changes DuckDB's settings, "
        "writes files or runs SQL from a string; newsarchive sql only runs queries that read"]
    assert not (tmp_path / "logs").exists()
