"""Sample articles, top terms, the archive overview, one article in full, and the shared writer."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli
from tests.explore.conftest import BIG_CHARS, HOSTILE_TITLE, _rid, has, sql_count
from toolkit.explore import (
    Scope,
    archive_overview,
    article_detail,
    attention,
    outlets,
    sample_articles,
    top_terms,
    write_table,
)
from toolkit.explore.archive import is_link


def test_sample_articles(explore_archive):
    found = sample_articles(Scope(explore_archive), "Rabat dirhams", limit=5)
    assert len(found) == 5
    matching = sql_count(explore_archive, f"{has('Rabat')} AND {has('dirhams')}", group="id")
    for article in found:
        assert article["id"] in matching
        assert set(article) == {"id", "title", "source", "language", "published_date", "copies", "snippet"}
        assert article["copies"] == 1
        assert any(highlighted for _, highlighted in article["snippet"])
        assert all(isinstance(text, str) and isinstance(flag, bool) for text, flag in article["snippet"])


def test_arabic(explore_archive):
    scope = Scope(explore_archive, language=("ar",))
    expected = sum(sql_count(explore_archive, "contains(body, 'الرباط')", where="language = 'ar'").values())
    assert attention(scope, ["الرباط"], by="month")["matches"].to_pylist() and \
        sum(attention(scope, ["الرباط"], by="month")["matches"].to_pylist()) == expected
    mine = [a for a in sample_articles(Scope(explore_archive, source=("هسبريس",)), "الرباط مؤتمرا", limit=50)
            if a["id"] == _rid(5)]
    assert mine and ["الرباط", True] in mine[0]["snippet"]
    assert mine[0]["title"] == "الرباط تحتضن مؤتمرا"


def test_hostile_values_come_back_raw(explore_archive):
    """Escaping is the web layer's job: the API returns what the archive holds, byte for byte."""
    [hit] = sample_articles(Scope(explore_archive, source=('"><svg onload=alert(4)>',)), "zebra")
    assert hit["title"] == HOSTILE_TITLE and hit["source"] == '"><svg onload=alert(4)>'
    detail = article_detail(explore_archive, _rid(4))
    assert detail["title"] == HOSTILE_TITLE
    assert detail["text"] == "Texte <b>gras</b> javascript:alert(3) zebra."
    assert [is_link(u) for u in ("https://a.ma/x", "HTTP://a.ma", "javascript:alert(1)", "data:text/html,x",
                                 "https://a.ma/\u0085x", " https://a.ma", None)] == \
        [True, True, False, False, False, False, False]


def test_article_detail_of_a_20_mb_text(explore_archive):
    detail = article_detail(explore_archive, _rid(99))
    assert detail["text_length"] == BIG_CHARS
    assert len(detail["text"]) == 200_000 and detail["truncated"] is True
    assert detail["url_is_link"] is True
    assert detail["versions"] == [2]
    assert detail["provenance"]["version_added"] == 2 and detail["provenance"]["batch"]
    assert detail["provenance"]["input_file"].endswith("batch2.jsonl")
    assert detail["cluster"] == []
    whole = article_detail(explore_archive, _rid(99), max_chars=BIG_CHARS)
    assert whole["truncated"] is False and len(whole["text"]) == BIG_CHARS


def test_article_detail_versions_and_absence(explore_archive):
    detail = article_detail(explore_archive, _rid(1))
    assert detail["versions"] == [1, 2] and detail["provenance"]["version_added"] == 1
    assert detail["published_date"] == "2021-03-15" and detail["truncated"] is False
    assert article_detail(explore_archive, _rid(99), as_of=1) is None
    assert article_detail(explore_archive, "f" * 32) is None


def test_top_terms(explore_archive):
    table = top_terms(Scope(explore_archive, source=("Le Test",)), "crossing")
    assert table.schema.metadata[b"sample_size"] == b"3"
    rows = {r["term"]: r for r in table.to_pylist()}
    # zèbre, zebra and zèbres are one stem, under its most common surface word
    assert rows["zebra"]["count"] == 4 and rows["zebra"]["documents"] == 3
    assert "zèbre" not in rows and "zèbres" not in rows
    assert "crossing" not in rows  # the query's own word
    assert not {"le", "les", "un", "dans", "au", "est", "sur"} & set(rows)  # French stop words
    big = top_terms(Scope(explore_archive), "Casablanca", sample=50, limit=10)
    assert big.schema.metadata[b"sample_size"] == b"50" and big.num_rows == 10
    assert not {"le", "la", "de", "du", "des", "et", "à"} & set(big["term"].to_pylist())


def test_archive_overview(explore_archive):
    overview = archive_overview(explore_archive)
    assert overview["version"] == 2 and overview["version_date"]
    assert [v["version"] for v in overview["versions"]][-2:] == [1, 2]
    assert [v["articles_added"] for v in overview["versions"]][-2:] == [305, 121]
    assert overview["quarantine_by_reason"] == []
    assert {r["source"]: r["articles"] for r in overview["outlets"]} == \
        sql_count(explore_archive, "true", group="source")
    assert {r["language"]: r["articles"] for r in overview["languages"]} == \
        sql_count(explore_archive, "true", group="language")
    assert sum(r["articles"] for r in overview["timeline"]) == 426
    assert overview["schema"]["published_date"] == "date32[day]"
    assert archive_overview(explore_archive, as_of=1)["version"] == 1
    json.dumps(overview)  # the page's JSON


def test_the_command_prints_what_write_table_writes(explore_archive):
    """The page's CSV download and `newsarchive attention --format csv` are the same bytes."""
    args = ["Casablanca", '"Lions Atlas"', "--by", "week", "--split", "language", "--language", "fr",
            "--language", "es", "--since", "2015-01-01"]
    result = run_cli("attention", *args, "--format", "csv", "--archive", str(explore_archive))
    assert result.code == 0, result.err
    scope = Scope(explore_archive, language=("fr", "es"), since="2015-01-01").resolved()
    buffer = io.BytesIO()
    write_table(attention(scope, ["Casablanca", '"Lions Atlas"'], by="week", split="language"), "csv", buffer)
    assert result.out.encode() == buffer.getvalue()
    assert result.out.startswith("query,bucket,language,matches,articles,share\n")
    outlets_run = run_cli("outlets", "Casablanca", "--format", "json", "--limit", "3",
                          "--archive", str(explore_archive))
    buffer = io.BytesIO()
    write_table(outlets(Scope(explore_archive).resolved(), ["Casablanca"], limit=3), "json", buffer)
    assert outlets_run.code == 0 and outlets_run.out.encode() == buffer.getvalue()


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "parquet"])
def test_write_table_formats(explore_archive, fmt, tmp_path):
    table = outlets(Scope(explore_archive), ["Casablanca"], limit=3)
    out = tmp_path / f"out.{fmt}"
    result = run_cli("outlets", "Casablanca", "--limit", "3", "--format", fmt, "--output", str(out),
                     "--archive", str(explore_archive))
    assert result.code == 0, result.err
    if fmt == "parquet":
        assert pq.read_table(out).to_pylist() == table.to_pylist()
        return
    text = out.read_text(encoding="utf-8")
    if fmt == "json":
        assert [json.loads(line) for line in text.splitlines()] == table.to_pylist()
    elif fmt == "table":
        assert "share" in text.splitlines()[0] and " %" in text
    else:
        assert text.count("\n") == 4


def test_article_detail_reads_the_month_the_index_gives(explore_archive, monkeypatch):
    """The index's date narrows the read to one month; a wrong date (a rewritten row) still finds it."""
    import datetime as dt

    from toolkit.explore import archive

    seen = []
    real = archive._rows

    def rows(con, sql, params=None):
        seen.append(sql)
        return real(con, sql, params)

    monkeypatch.setattr(archive, "_rows", rows)
    months = []
    direct = archive._read_direct
    monkeypatch.setattr(archive, "_read_direct", lambda *args: months.append(args[3]) or direct(*args))
    assert article_detail(explore_archive, _rid(1))["title"] == "Zèbre au zoo"
    assert months == [dt.date(2021, 3, 15)] and seen == []  # that month's files, read directly
    monkeypatch.setattr(archive, "_day_of", lambda *args: dt.date(1999, 1, 1))
    assert article_detail(explore_archive, _rid(1))["title"] == "Zèbre au zoo"
    assert seen[-1].endswith("WHERE id = ? LIMIT 1")


@pytest.mark.parametrize("call", [
    lambda scope: sample_articles(scope, "zebra", limit=0),
    lambda scope: top_terms(scope, "zebra", sample=0),
    lambda scope: top_terms(scope, "zebra", limit=-1),
    lambda scope: outlets(scope, ["zebra"], limit=0),
])
def test_sizes_below_one_are_one_line(explore_archive, call):
    """tantivy panics on a limit of 0: it is refused before, with the user's words."""
    from toolkit.core.errors import NewsarchiveError

    with pytest.raises(NewsarchiveError, match="1 or more"):
        call(Scope(explore_archive))


def test_a_kept_connection_whose_files_are_gone_is_replaced(explore_archive, tmp_path, monkeypatch):
    """Connections are kept per version; one whose files a vacuum removed is dropped and made again."""
    import duckdb
    import pyarrow as pa

    from toolkit.explore import archive

    stale = duckdb.connect()
    gone = tmp_path / "gone.parquet"
    pq.write_table(pa.table({"id": ["x"]}), gone)
    stale.execute(f"CREATE VIEW articles AS SELECT * FROM read_parquet('{gone}')")
    gone.unlink()
    monkeypatch.setattr(archive, "_CONNECTIONS", {(str(explore_archive), 2): stale})
    monkeypatch.setattr(archive, "_read_direct", lambda *args: None)  # the row from DuckDB's views
    assert article_detail(explore_archive, _rid(1))["title"] == "Zèbre au zoo"
    assert archive._CONNECTIONS[(str(explore_archive), 2)] is not stale
