"""The archive stage keeps the catalog current: append and compact call the callbacks of toolkit.archive.hooks,
where toolkit.sql registers its refresh (the archive does not import the SQL stage)."""

from __future__ import annotations

from tests.sql.conftest import SAMPLE_ARTICLES, article, records
from toolkit.sql import build_catalog, open_catalog


def test_append_and_compact_refresh_the_catalog(archive_copy, tmp_path):
    from toolkit.archive import append, compact

    build_catalog(archive_copy)
    append([records(tmp_path / "b.jsonl", [article(1), article(2)])], archive=archive_copy)
    con = open_catalog(archive_copy / "catalog.duckdb")
    assert con.sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES + 2,)
    assert con.sql("SELECT up_to_date FROM catalog_info").fetchone() == (True,)
    con.close()
    compact(archive_copy, retention_hours=0, force=True)  # vacuum deletes the files the old list named
    con = open_catalog(archive_copy / "catalog.duckdb")
    assert con.sql("SELECT count(*), bool_and(up_to_date) FROM articles, catalog_info").fetchone() == (
        SAMPLE_ARTICLES + 2, True)


def test_the_cli_wires_the_refresh_itself(archive_copy, tmp_path):
    """`newsarchive append` in a fresh process, where nothing imported toolkit.sql: the CLI registers
    the catalog's refresh with the archive's commit hooks."""
    import subprocess
    import sys

    build_catalog(archive_copy)
    batch = records(tmp_path / "b.jsonl", [article(3)])
    run = subprocess.run([sys.executable, "-m", "toolkit", "append", str(batch), "--archive", str(archive_copy),
                          "--quiet"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    con = open_catalog(archive_copy / "catalog.duckdb")
    assert con.sql("SELECT count(*), bool_and(up_to_date) FROM articles, catalog_info").fetchone() == (
        SAMPLE_ARTICLES + 1, True)
    con.close()
