"""The bundled sample: described, honest about which pages are real, and rich enough for the cookbook."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from tests.extract.conftest import SAMPLE, SAMPLE_PAGES, SEED_NAME, run_extract


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    run = run_extract(tmp_path_factory.mktemp("sample"), [SAMPLE_PAGES], jobs=2)
    assert run.report.exit_code == 0
    return run.records


def test_dataset_toml_describes_the_sample(records):
    meta = tomllib.loads((SAMPLE / "dataset.toml").read_text(encoding="utf-8"))
    assert meta["name"] == "maghress-sample"
    assert meta["pretty_name"] and meta["description"].strip() and meta["license"]
    assert meta["languages"] == ["fr", "ar"]
    assert meta["partitioning"] == ["year", "month"]
    listed = {s["name"]: s["language"] for s in meta["sources"]}
    assert {r["source"]: r["language"] for r in records} == listed
    assert sorted({r["language"] for r in records}) == sorted(meta["languages"])


def test_pages_written_for_the_project_are_marked():
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Pages written for the project", 1)[1]
    marked = set(re.findall(r"`(\d{3}_[0-9a-f]{16}\.txt)`", table))
    pages = {p.name for p in SAMPLE_PAGES.glob("*.txt")}
    assert marked == pages - {SEED_NAME}
    assert SEED_NAME in readme.split("## Pages written for the project", 1)[0]


def test_same_story_in_french_and_arabic_on_the_same_day(records):
    by_day = defaultdict(set)
    for record in records:
        by_day[record["published_date"]].add(record["language"])
    assert sum(1 for langs in by_day.values() if {"fr", "ar"} <= langs) >= 2


def test_a_keyword_recurs_across_months(records):
    months = {r["published_date"][:7] for r in records if re.search(r"\bvaccin", r["title"] + r["text"], re.I)}
    assert len(months) >= 4


def test_an_outlet_stops_early_in_2020_while_others_go_on(records):
    last = defaultdict(str)
    count = defaultdict(int)
    for record in records:
        last[record["source"]] = max(last[record["source"]], record["published_date"])
        count[record["source"]] += 1
    stopped = [s for s, day in last.items() if day < "2020-04-01" and count[s] >= 2]
    assert stopped and max(last.values()) >= "2021-01-01"
    assert sum(1 for day in last.values() if day >= "2021-01-01") >= 5


def test_search_bourita_blinken_ranks_the_seed_first(records):
    import tantivy

    from toolkit.search import analysis
    from toolkit.search.index import schema

    index = tantivy.Index(schema("fr"))  # in memory, with the search stage's French analyzer
    analysis.register(index, "fr")
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    for r in records:
        writer.add_document(tantivy.Document(id=r["id"], body=f"{r['title']}\n{r['text']}"))
    writer.commit()
    index.reload()
    searcher = index.searcher()
    query = tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(index.schema, "body", w))
                                         for w in analysis.query_terms("Bourita Blinken", "fr")])
    titles = {r["id"]: r["title"] for r in records}
    ranked = [titles[searcher.doc(address).get_first("id")] for _, address in searcher.search(query, 50).hits]
    assert ranked[0].endswith("entretiens de Bourita-Blinken")
    assert len(ranked) >= 3  # other pages mention one of the two: the ranking is a real one
