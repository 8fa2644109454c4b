"""Words, folding and snippets: accents and Arabic diacritics, big articles, near-duplicate collapse."""

from __future__ import annotations

import time

from tests.sql.conftest import article, records
from toolkit.search import search, update_index
from toolkit.search.query import snippet


def test_accents_and_arabic_diacritics_are_folded_and_snippets_show_the_text_as_written(archive_copy, tmp_path):
    from toolkit.archive import append

    update_index(archive_copy)
    voweled = "قَالَ مُحَمَّدٌ إِنَّ المَشْرُوعَ جَاهِزٌ"
    append([records(tmp_path / "b.jsonl", [
        article(1, language="ar", source="مصدر", title="خبر عن مشروع", text="مقدمة طويلة. " * 20 + voweled + "."),
        article(2, title="Un e\u0301te\u0301 caniculaire", text="La cha\u0302teau d'eau est vide."),  # decomposed
    ])], archive=archive_copy)
    hits = search("جاهز", archive_copy, language="ar").hits  # found without its diacritics
    assert [h.title for h in hits] == ["خبر عن مشروع"]
    assert "جَاهِزٌ" in hits[0].snippet and hits[0].snippet.startswith("…")  # placed on the word, as written
    assert [h.id for h in search("جَاهِز", archive_copy, language="ar").hits] == [hits[0].id]
    for words in ("été caniculaire", "ete", "château"):
        assert search(words, archive_copy).hits[0].title == "Un e\u0301te\u0301 caniculaire", words


def test_a_big_article_is_indexed_in_linear_time_and_found(archive_copy, tmp_path):
    from toolkit.archive import append

    update_index(archive_copy)
    text = " ".join(f"mot{i % 5000} Rabat" for i in range(600_000)) + " xylophones fin."  # about 7 MB
    append([records(tmp_path / "big.jsonl", [article(1, title="Un très long article", text=text)])],
           archive=archive_copy)
    start = time.perf_counter()
    update = update_index(archive_copy)
    assert update.added == 1 and time.perf_counter() - start < 20  # DuckDB fts took minutes (quadratic)
    hit = search("xylophones", archive_copy).hits[0]
    assert hit.title == "Un très long article" and hit.snippet.startswith("…") and "xylophones" in hit.snippet


def test_near_duplicates_collapse_to_the_best_hit_of_each_cluster(archive_copy):
    hits = search("Maroc", archive_copy, limit=6).hits
    cluster = {h.id: "one story" for h in hits[:3]}
    collapsed = search("Maroc", archive_copy, limit=6, cluster_of=cluster.get).hits
    assert collapsed[0] == hits[0]
    assert not {hits[1].id, hits[2].id} & {h.id for h in collapsed}
    assert len(collapsed) == 6  # looked further down the ranking to fill the limit


def test_snippet_is_whole_words_around_the_first_query_word():
    text = " ".join(f"mot{i}" for i in range(200)) + " Les Économies du Maroc " + " ".join(["fin"] * 100)
    cut = snippet(text, ["econom"])
    assert cut.startswith("…") and cut.endswith("…") and "Économies" in cut
    assert all(not w.startswith("ot") for w in cut.strip("…").split())  # no word cut at the start
    assert snippet("Court.", ["absent"]) == "Court."
