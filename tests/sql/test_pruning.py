"""Partition pruning: a query on one month opens only that month's files, by DuckDB's own account."""

from __future__ import annotations

import os

import duckdb
import pytest

from toolkit.sql import build_catalog, connect, files_read, open_catalog
from toolkit.sql.profile import parquet_scans

MONTH = "SELECT count(*) AS n FROM articles WHERE year = 2020 AND month = 3"


def _data_files(root) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, names in os.walk(root / "articles") for f in names
                  if f.endswith(".parquet"))


def test_one_month_reads_one_file_of_26(sample_archive):
    con = connect(sample_archive)
    assert len(_data_files(sample_archive)) == 26  # one file per month of the sample
    [scan] = parquet_scans(con, MONTH)
    assert (scan.files_read, scan.files_listed) == (1, 26)
    assert scan.filters == "(year = 2020)(month = 3)"
    assert scan.names.replace(os.sep, "/").split("/")[-3:-1] == ["year=2020", "month=3"]
    assert con.sql(MONTH).fetchone() == (4,)
    assert files_read(con, "SELECT count(*) FROM articles WHERE year = 2020") == 8
    assert files_read(con, "SELECT count(*) FROM articles WHERE year = 2021 AND month IN (1, 2)") == 2
    assert files_read(con, "SELECT count(*) FROM articles") == 26
    # a filter on the date alone does not prune files (the README says to filter on year and month)
    assert files_read(con, "SELECT count(*) FROM articles WHERE published_date "
                           "BETWEEN DATE '2020-03-01' AND DATE '2020-03-31'") == 26
    assert files_read(con, "SELECT sum(articles) FROM articles_per_month WHERE year = 2019 AND month = 7") == 1


def test_the_catalog_file_prunes_too(archive_copy):
    build_catalog(archive_copy)
    con = open_catalog(archive_copy / "catalog.duckdb")
    assert files_read(con, MONTH) == 1


def test_other_months_files_are_never_opened(archive_copy):
    """Overwrite the other months' files with garbage: the one-month query still answers.

    DuckDB reads the footer of the first file in a view's list when it binds a query (to learn the
    columns), so that one is kept too; the 24 others are never opened.
    """
    con = connect(archive_copy)  # views defined while every file is intact
    files = _data_files(archive_copy)
    keep = [f for f in files if f"{os.sep}year=2020{os.sep}month=3{os.sep}" in f] + files[:1]
    assert len(keep) == 2 and f"{os.sep}year=2019{os.sep}month=1{os.sep}" in files[0]
    for path in _data_files(archive_copy):
        if path not in keep:
            with open(path, "wb") as f:
                f.write(b"not a parquet file" * 10)
    assert con.sql(MONTH).fetchone() == (4,)
    titles = con.sql("SELECT title FROM articles WHERE year = 2020 AND month = 3 ORDER BY published_date, title")
    assert titles.fetchall()[0] == ("Coronavirus : un premier cas confirmé au Maroc",)
    with pytest.raises(duckdb.Error):  # and a query that needs the others does open them
        con.sql("SELECT count(*) FROM articles WHERE year = 2020").fetchall()
