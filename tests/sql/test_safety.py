"""Names, paths and search terms are data, never SQL: hostile values go through every entry point."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from tests.sql.conftest import SAMPLE_ARTICLES, SEED_TITLE, article, records
from toolkit.search import search
from toolkit.sql import build_catalog, connect, open_catalog, query
from toolkit.sql.quote import identifier, literal, string_list

HOSTILE_TITLE = ("Robert'); DROP TABLE docs_fr; -- \"SELECT\" * FROM articles; DELETE FROM articles "
                 "WHERE '1'='1' OR 1=1; ATTACH 'x.db'; COPY articles TO '/tmp/pwned.csv' $$ \\' ;--")
HOSTILE_SOURCE = "O'Reilly \"News\"; DROP VIEW articles; --"
NASTY = ["'", "''", "\"", "'; DROP TABLE t; --", "a\\'b", "$$x$$", "line\nbreak", "tab\there", "ñ'🙂\"",
         "E'\\x27'", "/*", "*/ SELECT 1 /*", "?", "$1"]


@pytest.mark.parametrize("value", NASTY)
def test_literals_and_identifiers_round_trip(value):
    con = duckdb.connect()
    assert con.execute(f"SELECT {literal(value)}").fetchone() == (value,)
    assert con.execute(f"SELECT 1 AS {identifier(value)}").description[0][0] == value
    assert con.execute(f"SELECT {string_list([value, value])}").fetchone() == ([value, value],)


def test_nul_is_refused():
    with pytest.raises(ValueError):
        literal("a\x00b")


def test_a_hostile_title_is_stored_and_searched_as_data(archive_copy, tmp_path, main):
    from toolkit.archive import append

    batch = records(tmp_path / "hostile.jsonl", [article(1, title=HOSTILE_TITLE, source=HOSTILE_SOURCE,
                                                         text="Texte ordinaire; avec 'guillemets' et \"doubles\".")])
    append([batch], archive=archive_copy)  # through the real archive append
    # search for it with its own words, SQL keywords and quotes included, filtered on the hostile source
    result = search(HOSTILE_TITLE, archive_copy, source=HOSTILE_SOURCE)
    assert [h.title for h in result.hits] == [HOSTILE_TITLE]
    assert result.hits[0].source == HOSTILE_SOURCE
    cli = main("search", "--archive", str(archive_copy), "--source", HOSTILE_SOURCE, "--format", "json",
               "DROP", "TABLE", "docs_fr;", "--", "'1'='1'")
    assert cli.code == 0, cli.err
    assert [json.loads(line)["title"] for line in cli.out.splitlines()] == [HOSTILE_TITLE]
    # everything is intact: the index's tables, the archive, and other searches
    assert search("Bourita Blinken", archive_copy).hits[0].title == SEED_TITLE
    assert query("SELECT count(*) AS n FROM articles", archive_copy).column("n")[0].as_py() == SAMPLE_ARTICLES + 1
    stored = query("SELECT title, source FROM articles WHERE source = 'O''Reilly \"News\"; DROP VIEW articles; --'",
                   archive_copy).to_pylist()
    assert stored == [{"title": HOSTILE_TITLE, "source": HOSTILE_SOURCE}]
    assert not (tmp_path / "pwned.csv").exists()


def test_an_archive_path_full_of_quotes_and_semicolons(archive_copy, tmp_path):
    root = tmp_path / "it's \"here\"; DROP TABLE articles; --" / "a'rchive"
    root.parent.mkdir()
    shutil.move(archive_copy, root)
    assert connect(root).sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)
    result = build_catalog(root)
    assert open_catalog(result.path).sql("SELECT count(*) FROM articles").fetchone() == (SAMPLE_ARTICLES,)
    assert search("Bourita Blinken", root).hits[0].title == SEED_TITLE
    out = tmp_path / "o'ut; --.csv"
    from toolkit.sql import write_query

    assert write_query("SELECT id FROM articles", root, fmt="csv", output=out) == SAMPLE_ARTICLES
    assert len(out.read_text().splitlines()) == SAMPLE_ARTICLES + 1
