"""The archive stage keeps the catalog current: append and compact call toolkit.sql.refresh_catalog."""

from __future__ import annotations

import inspect
import sys

import pytest

from tests.sql.conftest import SAMPLE_ARTICLES, article, records
from toolkit.sql import build_catalog, open_catalog


def _wired() -> bool:
    import toolkit.archive  # noqa: F401 (its modules, by name: the package exports functions of the same names)

    modules = (sys.modules["toolkit.archive.append"], sys.modules["toolkit.archive.maintenance"])
    return all("refresh_catalog" in inspect.getsource(m) for m in modules)


@pytest.mark.skipif(not _wired(), reason="toolkit.archive append/compact do not call toolkit.sql.refresh_catalog "
                                         "yet (the hook the archive stage must call after each commit)")
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
