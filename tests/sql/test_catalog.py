"""The catalog file: its views, a stock DuckDB opening it after the archive moved, and staying current."""

from __future__ import annotations

import json
import os
import shutil

import duckdb
import pytest

from tests.sql.conftest import SAMPLE_ARTICLES, article, one_line_error, python, records
from toolkit.sql import VIEWS, build_catalog, catalog_version, connect, files_read, open_catalog, refresh_catalog
from toolkit.sql.cookbook import RECIPES
from toolkit.sql.extensions import connect_duckdb


def _views(con) -> set[str]:
    return {name for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def test_catalog_holds_the_views_of_the_current_version(archive_copy):
    result = build_catalog(archive_copy)
    assert result.path == str(archive_copy / "catalog.duckdb") and result.version == 1
    con = open_catalog(result.path)
    assert _views(con) == set(VIEWS)
    assert con.sql("SELECT count(*), count(DISTINCT id) FROM articles").fetchone() == (SAMPLE_ARTICLES,) * 2
    columns = [name for name, *_ in con.sql("DESCRIBE articles").fetchall()]
    assert columns[-2:] == ["year", "month"] and columns[:2] == ["id", "source"]
    # year and month agree with the date they were derived from
    assert con.sql("SELECT count(*) FROM articles WHERE year <> year(published_date) "
                   "OR month <> month(published_date)").fetchone() == (0,)
    assert con.sql("SELECT count(*), sum(appended) FROM batches").fetchone() == (1, SAMPLE_ARTICLES)
    assert con.sql("SELECT count(*) FROM quarantine").fetchone() == (0,)  # typed, empty
    assert dict(con.sql("SELECT column_name, column_type FROM (DESCRIBE quarantine)").fetchall())["line"] == "BIGINT"
    assert con.sql("SELECT sum(articles) FROM articles_per_month").fetchone() == (SAMPLE_ARTICLES,)
    assert con.sql("SELECT count(*), sum(articles) FROM sources").fetchone() == (10, SAMPLE_ARTICLES)
    assert con.sql("SELECT version, latest_version, up_to_date FROM catalog_info").fetchone() == (1, 1, True)


def test_views_read_what_the_delta_extension_reads(archive_copy):
    """An independent reader (delta-kernel, through DuckDB's delta extension) sees the same rows."""
    build_catalog(archive_copy)
    con = connect_duckdb(extensions=["delta"])
    delta = set(con.execute("SELECT id, source, title, published_date, year, month FROM delta_scan(?)",
                            [str(archive_copy / "articles")]).fetchall())
    catalog = open_catalog(archive_copy / "catalog.duckdb")
    ours = set(catalog.sql("SELECT id, source, title, published_date, year, month FROM articles").fetchall())
    assert ours == delta and len(ours) == SAMPLE_ARTICLES


def test_file_paths_are_relative_to_the_catalogs_folder(archive_copy):
    build_catalog(archive_copy)
    con = open_catalog(archive_copy / "catalog.duckdb")
    views = con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()
    definitions = " ".join(sql for (sql,) in views)
    assert "'articles/year=2019/month=1/part-" in definitions
    assert str(archive_copy) not in definitions


# A stock DuckDB (the duckdb package, default settings apart from refusing to fetch extensions) after
# the archive folder was moved: from the archive root, every view and every cookbook query answers.
_STOCK = """
import duckdb, json
con = duckdb.connect("catalog.duckdb", read_only=True,
                     config={{"autoinstall_known_extensions": False, "autoload_known_extensions": False}})
out = {{name: con.execute(f"SELECT count(*) FROM {{name}}").fetchone()[0] for name in {views!r}}}
out["cookbook"] = [len(con.execute(sql).fetchall()) for sql in json.loads({sqls!r})]
out["loaded"] = sorted(n for (n,) in con.execute(
    "SELECT extension_name FROM duckdb_extensions() WHERE loaded AND install_mode <> 'STATICALLY_LINKED'").fetchall())
print(json.dumps(out))
"""


def test_stock_duckdb_opens_the_catalog_after_the_folder_moved(archive_copy, tmp_path):
    build_catalog(archive_copy)
    moved = tmp_path / "elsewhere" / "renamed archive"
    moved.parent.mkdir()
    shutil.move(archive_copy, moved)
    home = tmp_path / "home"
    home.mkdir()
    code = _STOCK.format(views=list(VIEWS), sqls=json.dumps([r.sql for r in RECIPES]))
    proc = python(code, cwd=moved, home=home)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["articles"] == SAMPLE_ARTICLES and out["batches"] == 1 and out["catalog_info"] == 1
    assert all(n > 0 for n in out["cookbook"]), out["cookbook"]
    assert out["loaded"] == []  # no extension was loaded, none installed
    assert not (home / ".duckdb").exists()


def test_stock_duckdb_elsewhere_needs_the_search_path_and_open_catalog_sets_it(archive_copy, tmp_path,
                                                                                monkeypatch):
    build_catalog(archive_copy)
    moved = tmp_path / "moved"
    shutil.move(archive_copy, moved)
    monkeypatch.chdir(tmp_path)
    stock = duckdb.connect(str(moved / "catalog.duckdb"), read_only=True)
    with pytest.raises(duckdb.IOException, match="No files found"):
        stock.sql("SELECT count(*) FROM articles").fetchall()  # relative to the working directory
    stock.execute("SET file_search_path = ?", [str(moved)])  # what the README tells stock users
    assert stock.sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)
    stock.close()  # one process opens a file with one configuration at a time
    monkeypatch.chdir("/")
    assert open_catalog(moved / "catalog.duckdb").sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)


def test_a_copy_of_the_archive_reads_its_own_files(archive_copy, tmp_path):
    build_catalog(archive_copy)
    twin = tmp_path / "twin"
    shutil.copytree(archive_copy, twin)
    shutil.rmtree(archive_copy / "articles")  # the original is gone: the copy must not need it
    assert open_catalog(twin / "catalog.duckdb").sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)


def test_catalog_elsewhere_names_files_relative_to_its_own_folder(archive_copy, tmp_path, monkeypatch):
    output = tmp_path / "catalogs" / "news.duckdb"
    build_catalog(archive_copy, output)
    monkeypatch.chdir(output.parent)  # a stock user opens it from its folder
    stock = duckdb.connect("news.duckdb", read_only=True)
    assert stock.sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)
    definition = stock.sql("SELECT sql FROM duckdb_views() WHERE view_name = 'articles'").fetchone()[0]
    assert "'../copy/archive/articles/" in definition


def test_refresh_follows_appends_and_compaction(archive_copy, tmp_path):
    from toolkit.archive import append, compact

    build_catalog(archive_copy)
    path = archive_copy / "catalog.duckdb"
    # append refreshes an existing catalog after its commit (toolkit/archive/hooks.py)
    for i in range(2):
        append([records(tmp_path / f"b{i}.jsonl", [article(i), article(10 + i, published_date="2020-03-05")])],
               archive=archive_copy)
    con = open_catalog(path)
    assert con.sql("SELECT version, latest_version, up_to_date FROM catalog_info").fetchone() == (3, 3, True)
    assert con.sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES + 4,)
    con.close()
    assert refresh_catalog(archive_copy) is None  # already current: nothing written
    # compaction replaces small files, and vacuum deletes the old ones: the refreshed catalog follows
    compact(archive_copy, retention_hours=0, force=True)
    refresh_catalog(archive_copy)
    con = open_catalog(path)
    assert con.sql("SELECT count(*), count(DISTINCT id) FROM articles").fetchone() == (SAMPLE_ARTICLES + 4,) * 2
    month = "SELECT count(*) FROM articles WHERE year = 2020 AND month = 3"
    assert con.sql(month).fetchone() == (4 + 2,)
    assert files_read(con, month) == 1  # the month's three files were merged into one
    assert catalog_version(path) == connect(archive_copy).sql("SELECT latest_version FROM catalog_info").fetchone()[0]


def test_catalog_says_when_another_writer_moved_the_table_on(archive_copy, tmp_path, monkeypatch):
    """A writer that does not refresh the catalog (another engine, or this hook switched off)."""
    import importlib

    from toolkit.archive import append

    appending = importlib.import_module("toolkit.archive.append")  # the package re-exports a function of that name

    build_catalog(archive_copy)
    monkeypatch.setattr(appending, "committed", lambda archive, rebuild=False: None)
    append([records(tmp_path / "b.jsonl", [article(1)])], archive=archive_copy)
    con = open_catalog(archive_copy / "catalog.duckdb")
    assert con.sql("SELECT version, latest_version, up_to_date FROM catalog_info").fetchone() == (1, 2, False)
    assert con.sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)  # a consistent past version
    con.close()
    assert refresh_catalog(archive_copy).version == 2


def test_refresh_does_nothing_without_a_catalog(archive_copy):
    assert refresh_catalog(archive_copy) is None
    assert not (archive_copy / "catalog.duckdb").exists()


def test_refresh_never_fails_the_caller(archive_copy, capsys):
    build_catalog(archive_copy)
    shutil.rmtree(archive_copy / "articles" / "_delta_log")
    assert refresh_catalog(archive_copy) is None
    assert "catalog not refreshed" in capsys.readouterr().err


def test_a_reader_keeps_its_file_while_the_catalog_is_replaced(archive_copy, tmp_path):
    from toolkit.archive import append

    build_catalog(archive_copy)
    reader = open_catalog(archive_copy / "catalog.duckdb")
    append([records(tmp_path / "b.jsonl", [article(1)])], archive=archive_copy)
    refresh_catalog(archive_copy)
    assert reader.sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)
    reader.close()  # (within one process, DuckDB shares one open instance per file)
    assert open_catalog(archive_copy / "catalog.duckdb").sql("SELECT count(*) FROM articles").fetchone() == (
        SAMPLE_ARTICLES + 1,)


def test_cli_catalog(main, archive_copy, tmp_path):
    result = main("catalog", "--archive", str(archive_copy))
    assert result.code == 0, result.err
    assert f"catalog {archive_copy / 'catalog.duckdb'}" in result.out and "archive version 1" in result.out
    assert f"cd {archive_copy} && duckdb -readonly catalog.duckdb" in result.out
    out = tmp_path / "x" / "c.duckdb"
    assert main("catalog", "--archive", str(archive_copy), "--output", str(out)).code == 0
    assert out.is_file()


def test_cli_catalog_bad_input(main, tmp_path, archive_copy):
    assert "no archive here" in one_line_error(main("catalog", "--archive", str(tmp_path / "none")))
    (tmp_path / "dir").mkdir()
    line = one_line_error(main("catalog", "--archive", str(archive_copy), "--output", str(tmp_path / "dir")))
    assert "is a directory" in line


def test_no_temporary_files_are_left(archive_copy):
    build_catalog(archive_copy)
    build_catalog(archive_copy)
    assert sorted(p for p in os.listdir(archive_copy) if p.startswith(".")) == []
