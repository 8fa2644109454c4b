"""The query language (docs/query-language.md): what each construct matches, and one-line errors."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.explore.conftest import _rid
from toolkit.explore import QueryError, Scope, parse_query, sample_articles, summary

# The hand-made articles of source "Le Test": 1 "Zèbre au zoo" / "zebra crossing", 2 "crossing zebra",
# 3 title "Crossing", text "zèbres ... crossing"; 4 (another source) "... zebra."; 99 lorem ipsum.
LANGUAGE = [
    ("zebra", {1, 2, 3}),  # stemmed: zèbre, zèbres and zebra are one word
    ('"zebra crossing"', {1}),  # a phrase keeps its order
    ('"crossing zebra"', {2}),
    ("zebra crossing", {1, 2, 3}),  # words side by side: AND
    ("zebra AND crossing", {1, 2, 3}),
    ("zebra OR lorem", {1, 2, 3, 99}),
    ("crossing NOT zebra", set()),
    ('crossing NOT "zebra crossing"', {2, 3}),
    ("title:crossing", {3}),
    ("title:zebra", {1}),
    ('title:(zoo OR crossing)', {1, 3}),
    ("(zebra OR lorem) AND NOT title:zoo", {2, 3, 99}),
    ('source:"Le Test" repeint', {1}),
    ("source:Le repeint", set()),  # an outlet's exact name
    ("NOT zebra", {99}),
    ("and zebra", set()),  # lower-case `and` is a word: no article has it
]


def _ids(scope: Scope, query: str) -> set[int]:
    found = sample_articles(scope, query, limit=50)
    return {int(a["id"], 16) - 0xE0000 for a in found}


@pytest.mark.parametrize(("query", "expected"), LANGUAGE, ids=[q for q, _ in LANGUAGE])
def test_query_language(explore_archive, query, expected):
    scope = Scope(explore_archive, source=("Le Test",), copies="all")
    if query.startswith("source:"):
        scope = Scope(explore_archive, copies="all")
    assert _ids(scope, query) == expected
    assert summary(scope, [query]).to_pylist()[0]["matches"] == len(expected)


MALFORMED = [
    ('"zebra', 1, "never closed"),
    ("zebra AND", 10, "AND must be followed"),
    ("(zebra", 1, "never closed"),
    ("zebra)", 6, "no opening one"),
    ("OR zebra", 1, "cannot start here"),
    ("zebra ()", 7, "empty parentheses"),
    ("title:", 1, "must be followed"),
    ('zebra ""', 7, "empty quotes"),
    ("zebra ...", 7, "no letters or digits"),
    ("", 1, "empty"),
    ("NOT", 4, "NOT must be followed"),
]


@pytest.mark.parametrize(("query", "position", "words"), MALFORMED, ids=[m[0] or "empty" for m in MALFORMED])
def test_malformed_queries_say_where(query, position, words):
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    error = caught.value
    assert error.position + 1 == position
    assert words in str(error)
    assert f"at character {position}" in str(error)
    assert "\n" not in str(error) and error.exit_code == 2


def test_the_command_says_it_in_one_line(explore_archive):
    result = run_cli("attention", "zebra", "(crossing OR zoo", "--archive", str(explore_archive))
    assert result.code == 2
    assert result.out == ""
    assert result.err.strip().count("\n") == 0
    assert "'(crossing OR zoo', at character 1: the parenthesis opened here is never closed" in result.err
    assert "Traceback" not in result.err


def test_highlighting_marks_the_stems(explore_archive):
    [article] = [a for a in sample_articles(Scope(explore_archive, source=("Le Test",)), '"zebra crossing"')]
    assert article["id"] == _rid(1)
    assert ["zebra", True] in article["snippet"] and ["crossing", True] in article["snippet"]
    assert "".join(text for text, _ in article["snippet"]) == "Le passage zebra crossing est repeint."


def test_ranked_search_speaks_the_same_language(explore_archive):
    """`newsarchive search` parses the same syntax; words side by side: any of them (ranked)."""
    from toolkit.search import search

    def ids(query: str) -> set[int]:
        return {int(h.id, 16) - 0xE0000 for h in search(query, explore_archive, source="Le Test", limit=50).hits}

    assert ids("lorem crossing") == {1, 2, 3, 99}
    assert ids("lorem AND crossing") == set()
    assert ids('"crossing zebra"') == {2}
    assert ids('crossing NOT "zebra crossing"') == {2, 3}
    assert ids("title:zoo OR title:crossing") == {1, 3}
    hits = search("zebra crossing", explore_archive, source="Le Test", limit=3).hits
    assert {int(h.id, 16) - 0xE0000 for h in hits} == {1, 2, 3}  # both words rank above one
    # a malformed query is still a fair question for ranked search: its plain words, with a note
    pasted = search('Le passage "zebra (crossing', explore_archive, source="Le Test", limit=50)
    assert "at character 12" in pasted.note and pasted.hits[0].id == _rid(1)
    assert search("zebra crossing", explore_archive).note is None
    with pytest.raises(QueryError, match="no letters or digits"):
        search("-- ...", explore_archive)
    result = run_cli("search", "zebra", "(crossing", "--archive", str(explore_archive), "--format", "json")
    assert result.code == 0 and result.out.count("\n") >= 3
    assert result.err.startswith("newsarchive: note: query 'zebra (crossing', at character 7: the parenthesis")
