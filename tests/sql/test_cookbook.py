"""docs/sql.md (formerly the README's SQL section): the cookbook runs on the sample archive and answers."""

from __future__ import annotations

import io
import re
import shutil
import textwrap
from datetime import date

import pytest

from tests.conftest import ROOT
from tests.sql.conftest import SAMPLE_ARTICLES, SEED_TITLE
from toolkit.sql import connect
from toolkit.sql.cookbook import DEMO, RECIPES, demo, markdown

DOC = (ROOT / "docs" / "sql.md").read_text(encoding="utf-8")
SECTION = re.search(r"<!-- section:sql -->(.*?)<!-- /section:sql -->", DOC, re.S).group(1)
# ```sql blocks, possibly indented inside the numbered list
SQL_BLOCKS = [textwrap.dedent(m.group(2)) for m in re.finditer(r"^( *)```sql\n(.*?)^\1```", SECTION, re.S | re.M)]
PAIR_DAYS = {date(2019, 7, 5), date(2020, 3, 2), date(2020, 12, 10), date(2021, 1, 28), date(2021, 4, 8),
             date(2021, 6, 28), date(2021, 9, 9)}


def test_the_readme_cookbook_is_generated_from_the_recipes():
    block = re.search(r"<!-- cookbook -->\n(.*?)<!-- /cookbook -->", SECTION, re.S).group(1)
    assert block == markdown(), "regenerate the cookbook of docs/sql.md with toolkit.sql.cookbook.markdown()"


def test_ten_questions_each_with_its_sql():
    assert len(RECIPES) == 10 and len({r.name for r in RECIPES}) == 10
    assert [r.sql + "\n" for r in RECIPES] == SQL_BLOCKS


@pytest.fixture(scope="module")
def answers(sample_archive):
    """Every SQL block of the README's section, run against the sample archive, by recipe name."""
    con = connect(sample_archive)
    rows = {}
    for recipe, sql in zip(RECIPES, SQL_BLOCKS, strict=True):
        relation = con.sql(sql)
        rows[recipe.name] = [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    return rows


def test_every_query_answers(answers):
    assert all(answers[r.name] for r in RECIPES), [name for name, rows in answers.items() if not rows]


def test_articles_per_outlet_per_month(answers):
    rows = answers["articles-per-outlet-per-month"]
    assert sum(r["articles"] for r in rows) == SAMPLE_ARTICLES
    assert {r["source"] for r in rows} >= {"Barlamane", "Maroc Diplomatique", "هسبريس"}


def test_keyword_over_time(answers):
    rows = answers["keyword-over-time"]
    months = {k: {(r["year"], r["month"]) for r in rows if r["keyword"] == k} for k in ("vaccin", "CAN")}
    assert len(months["vaccin"]) >= 4 and min(months["vaccin"]) == (2020, 11) and max(months["vaccin"]) == (2021, 10)
    assert len(months["CAN"]) >= 3 and min(months["CAN"]) == (2019, 6) and max(months["CAN"]) == (2021, 3)


def test_same_day_in_two_languages(answers):
    rows = answers["same-day-french-arabic"]
    assert {r["published_date"] for r in rows} >= PAIR_DAYS
    seed = [r for r in rows if r["french_title"] == SEED_TITLE]
    assert seed and seed[0]["arabic_source"] == "هسبريس" and "بوريطة" in seed[0]["arabic_title"]


def test_outlets_that_stopped(answers):
    assert [(r["source"], r["last_date"]) for r in answers["outlets-that-stopped"]] == [
        ("Maroc Diplomatique", date(2020, 2, 18))]


def test_language_share(answers):
    rows = answers["language-share-per-year"]
    for year in (2019, 2020, 2021):
        assert sum(r["percent"] for r in rows if r["year"] == year) == pytest.approx(100, abs=0.2)
    assert {r["language"] for r in rows} == {"fr", "ar"}


def test_coverage_gaps(answers):
    missing = [r["missing_month"] for r in answers["coverage-gaps"]]
    assert "2019-09" in missing and "2020-04" in missing and "2020-03" not in missing


def test_who_covers_a_person(answers):
    rows = answers["who-covers-a-person"]
    assert rows[0]["source"] == "Barlamane" and rows[0]["last_mention"] == date(2021, 6, 28)
    assert {r["language"] for r in rows} == {"fr", "ar"}


def test_article_length(answers):
    rows = answers["article-length-per-outlet"]
    assert len(rows) == 10 and rows[0]["source"] == "Barlamane"  # the real page is the longest
    assert all(0 < r["median_words"] <= r["max_words"] for r in rows)


def test_top_title_words(answers):
    rows = answers["top-title-words"]
    assert {r["language"] for r in rows} == {"fr", "ar"}
    assert ("fr", "maroc") in {(r["language"], r["word"]) for r in rows}


def test_batch_provenance(answers):
    [row] = answers["batch-provenance"]
    assert row["file"].endswith("sample.jsonl") and (row["appended"], row["version"]) == (SAMPLE_ARTICLES, 1)
    assert len(row["sha256"]) == 64


def test_the_readme_python_example_runs(sample_archive, tmp_path, monkeypatch):
    shutil.copytree(sample_archive, tmp_path / "archive")
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", SECTION, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/sql.md", "exec"), {"__name__": "__readme__"})
    assert (tmp_path / "archive" / "catalog.duckdb").is_file()


def test_demo_builds_the_catalog_and_answers_two_questions(archive_copy):
    out = io.StringIO()
    demo(archive_copy, out)
    text = out.getvalue()
    assert text.startswith(f"catalog {archive_copy / 'catalog.duckdb'}: views articles")
    assert len(DEMO) == 2 and "Maroc Diplomatique" in text and "(8 rows)" in text
