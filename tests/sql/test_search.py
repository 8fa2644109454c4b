"""Full-text search: BM25 with one stemmer per language, filters, and an index updated only on change."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from tests.sql.conftest import SAMPLE_ARTICLES, SEED_TITLE, article, one_line_error, records
from toolkit.search import search, update_index
from toolkit.search.analysis import STEMMERS, query_terms


@pytest.fixture(scope="module")
def indexed(sample_archive):
    """The sample archive with its search index built."""
    update_index(sample_archive)
    return sample_archive


def test_bourita_blinken_finds_the_seed_article_first(indexed):
    hits = search("Bourita Blinken", indexed).hits
    assert hits[0].title == SEED_TITLE
    assert (hits[0].source, hits[0].published_date, hits[0].language) == ("Barlamane", dt.date(2021, 6, 28), "fr")
    assert "Bourita" in hits[0].snippet and "Blinken" in hits[0].snippet
    assert hits[0].score > hits[1].score
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_cli_table_and_json(main, indexed):
    result = main("search", "--archive", str(indexed), "Bourita", "Blinken")
    assert result.code == 0, result.err
    first_row = result.out.split("┃ snippet")[1]
    assert "Barlamane" in first_row.split("├")[0] and "2021-06-28" in first_row.split("├")[0]
    result = main("search", "--archive", str(indexed), "--format", "json", "Bourita", "Blinken")
    hits = [json.loads(line) for line in result.out.splitlines()]
    assert hits[0]["title"] == SEED_TITLE and hits[0]["published_date"] == "2021-06-28"
    assert set(hits[0]) == {"id", "published_date", "source", "language", "title", "snippet", "score"}
    assert result.err == ""  # the index was already current: no update line


def test_each_language_has_its_own_stemmer(indexed):
    from toolkit.search.index import open_group, read_state

    path = indexed / "search-index"
    assert read_state(path).groups == ["ar", "fr"]  # the sample's two languages, one index each
    counts = {g: open_group(path, g).searcher().num_docs for g in ("fr", "ar")}
    assert counts == {"fr": 28, "ar": 14}
    assert query_terms("vaccinations", "fr") == ["vaccin"] and query_terms("المغربية", "ar") == ["مغرب"]
    assert {"fr": "french", "ar": "arabic", "es": "spanish", "en": "english"}.items() <= STEMMERS.items()


def test_stemming_matches_other_forms_of_a_word(indexed):
    # French: "vaccins" (plural) finds headlines about "vaccination"
    fr = search("vaccins", indexed, language="fr").hits
    assert len(fr) >= 4 and all(h.language == "fr" for h in fr)
    assert any("Vaccination" in h.title for h in fr)
    # Arabic: "المغربية" (the Moroccan, feminine) and "المغرب" (Morocco) share the stem مغرب
    ar = {h.id for h in search("المغربية", indexed, language="ar", limit=50).hits}
    assert {h.id for h in search("المغرب", indexed, language="ar", limit=50).hits} == ar and len(ar) >= 5


def test_filters(indexed):
    hits = search("vaccination", indexed, since="2021-01-01", until="2021-06-30", limit=50).hits
    assert hits and all(dt.date(2021, 1, 1) <= h.published_date <= dt.date(2021, 6, 30) for h in hits)
    assert {h.source for h in search("vaccination", indexed, source="Hespress FR", limit=50).hits} == {"Hespress FR"}
    assert len(search("Maroc", indexed, limit=3).hits) == 3
    ar = search("كورونا", indexed, language="ar").hits
    assert ar and all(h.language == "ar" for h in ar)
    assert search("Bourita", indexed, language="es").hits == []
    assert search("zzzyxw", indexed).hits == []


def test_no_match_is_not_an_error(main, indexed):
    result = main("search", "--archive", str(indexed), "zzzyxw")
    assert result.code == 0 and "no article matches 'zzzyxw'" in result.out


@pytest.mark.parametrize(("args", "expected"), [
    (["--since", "2021-13-01", "x"], "--since '2021-13-01': not a date"),
    (["--since", "2021-06-01", "--until", "2021-01-01", "x"], "is after --until"),
    (["--language", "fr;DROP", "x"], "not a language code"),
    (["--limit", "0", "x"], "--limit"),
    (["   "], "no search terms"),
])
def test_bad_input(main, indexed, args, expected):
    assert expected in one_line_error(main("search", "--archive", str(indexed), *args))


def test_the_index_is_built_once_and_extended_when_the_archive_changes(archive_copy, tmp_path, main):
    from toolkit.archive import append, compact

    first = search("Bourita", archive_copy)
    assert first.index.built and first.index.added == SAMPLE_ARTICLES and first.index.groups == ("ar", "fr")
    path = archive_copy / "search-index" / "state.json"
    stamp = os.stat(path).st_mtime_ns
    again = search("Bourita", archive_copy)
    assert not again.index.changed and os.stat(path).st_mtime_ns == stamp  # not rebuilt on every search
    # an append of French articles: only they are read and indexed, as a new segment of the French index
    append([records(tmp_path / "b.jsonl", [article(1, title="Le chiffre inédit des xylophones"),
                                           article(2, published_date="2020-03-09")])], archive=archive_copy)
    result = main("search", "--archive", str(archive_copy), "--format", "json", "xylophones")
    assert "search index updated for archive version 2: 2 articles added, 0 removed" in result.err
    assert json.loads(result.out.splitlines()[0])["title"] == "Le chiffre inédit des xylophones"
    update = update_index(archive_copy)
    assert not update.changed and update.version == 2
    # compaction moves rows to new files: recognised by id, nothing re-indexed
    compact(archive_copy, retention_hours=0, force=True)
    update = update_index(archive_copy)
    assert (update.added, update.removed, update.groups) == (0, 0, ())
    assert update.version > 2
    assert search("Bourita Blinken", archive_copy).hits[0].title == SEED_TITLE
    assert len(search("xylophones", archive_copy).hits) == 1


def test_a_moved_archive_keeps_its_index(archive_copy, tmp_path):
    import shutil

    update_index(archive_copy)
    moved = tmp_path / "moved"
    shutil.move(archive_copy, moved)
    result = search("Bourita Blinken", moved)
    assert not result.index.changed and result.hits[0].title == SEED_TITLE


@pytest.mark.parametrize(("key", "reason"), [("format", "index format 0 -> 2"),
                                             ("analyzer", "analyzer version 0 -> 1")])
def test_an_index_from_another_format_or_analyzer_is_rebuilt_said_in_one_line(archive_copy, main, key, reason):
    update_index(archive_copy)
    state = archive_copy / "search-index" / "state.json"
    data = json.loads(state.read_text())
    data[key] = 0
    state.write_text(json.dumps(data))
    result = main("search", "--archive", str(archive_copy), "--format", "json", "Bourita")
    assert result.code == 0
    assert result.err.splitlines() == [
        f"search index built for archive version 1 ({reason}): {SAMPLE_ARTICLES} articles added, 0 removed"]
    assert json.loads(state.read_text())[key] == {"format": 2, "analyzer": 1}[key]


def test_read_only_archive_indexes_in_the_cache(archive_copy, tmp_path, monkeypatch):
    import toolkit.search.index as module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real_access = os.access
    monkeypatch.setattr(module.os, "access",
                        lambda p, mode: False if str(p) == str(archive_copy) else real_access(p, mode))
    result = search("Bourita Blinken", archive_copy)
    assert result.hits[0].title == SEED_TITLE
    assert result.index.path.startswith(str(tmp_path / "cache" / "newsarchive" / "search" / ""))
    assert not (archive_copy / "search-index").exists()


QUERIES = ["Bourita Blinken", "vaccination campagne", "xylophones Maroc", "Lions de l'Atlas", "المغرب التلقيح",
           "sujet paragraphe", "Rabat", "كورونا"]


def _scores(archive, index) -> dict[tuple[str, str], float]:
    return {(q, h.id): h.score for q in QUERIES for h in search(q, archive, index=index, limit=100).hits}


def test_an_extended_index_scores_exactly_like_a_rebuilt_one(archive_copy, tmp_path):
    from toolkit.archive import append

    first = update_index(archive_copy)
    assert first.built and first.groups == ("ar", "fr")
    append([records(tmp_path / "b.jsonl", [
        article(1, title="Le chiffre inédit des xylophones au Maroc"),  # a new word and known ones
        article(2, title="Rabat : Bourita reçoit Blinken", published_date="2020-03-09"),
        article(3, language="ar", source="مصدر", title="حملة التلقيح في المغرب", text="نص عن كورونا والتلقيح."),
        article(4, language="es", source="Fuente", title="Marruecos y la vacunación", text="Texto en español."),
    ])], archive=archive_copy)
    update = update_index(archive_copy)
    # French and Arabic get a segment each; Spanish is new, so its index is created
    assert (update.added, update.groups, update.built) == (4, ("ar", "es", "fr"), False)
    rebuilt = update_index(archive_copy, index=tmp_path / "rebuilt")
    assert rebuilt.built and rebuilt.groups == ("ar", "es", "fr")
    extended, fresh = _scores(archive_copy, None), _scores(archive_copy, tmp_path / "rebuilt")
    assert extended.keys() == fresh.keys() and len(extended) > 10
    for key, score in fresh.items():
        assert extended[key] == pytest.approx(score, rel=1e-6), key
    assert search("xylophones", archive_copy).hits[0].title == "Le chiffre inédit des xylophones au Maroc"
