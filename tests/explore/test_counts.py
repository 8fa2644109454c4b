"""summary, attention and outlets checked against an independent DuckDB count over the same archive."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.explore.conftest import has, sql_count
from toolkit.explore import Scope, attention, outlets, summary

# (query, the same condition in SQL over title || "\n" || text): gen_articles words that no other word
# of its vocabulary shares a stem with, so a regular expression counts what the stemmed index finds.
CASES = [
    ("Casablanca", has("Casablanca")),
    ("Rabat dirhams", f"{has('Rabat')} AND {has('dirhams')}"),
    ("Rabat AND dirhams", f"{has('Rabat')} AND {has('dirhams')}"),
    ('"Lions Atlas"', has("Lions Atlas")),
    ("Casablanca NOT Rabat", f"{has('Casablanca')} AND NOT {has('Rabat')}"),
    ("(Bourse OR dirhams) title:Maroc", f"({has('Bourse')} OR {has('dirhams')}) AND {has('Maroc', 'title')}"),
    ("source:Le360 Casablanca", f"source = 'Le360' AND {has('Casablanca')}"),
    ('title:"ministre gouvernement" OR Lions', f"{has('ministre gouvernement', 'title')} OR {has('Lions')}"),
    ("الرباط", "contains(body, 'الرباط')"),
]


@pytest.mark.parametrize(("query", "condition"), CASES, ids=[c[0] for c in CASES])
def test_summary_equals_sql(explore_archive, query, condition):
    table = summary(Scope(explore_archive, copies="all"), [query]).to_pylist()
    expected = sum(sql_count(explore_archive, condition).values())
    total = sum(sql_count(explore_archive, "true").values())
    assert table == [{"query": query, "matches": expected, "articles": total, "share": expected / total}]
    assert 0 < expected < total


SQL_BUCKET = {"day": "published_date", "week": "date_trunc('week', published_date)::DATE",
              "month": "date_trunc('month', published_date)::DATE"}


@pytest.mark.parametrize("by", ["day", "week", "month"])
@pytest.mark.parametrize("split", [None, "source", "language"])
def test_attention_per_bucket_equals_sql(explore_archive, by, split):
    query, condition = CASES[3]  # "Lions Atlas": matches about one article in ten
    table = attention(Scope(explore_archive), [query], by=by, split=split)
    group = (SQL_BUCKET[by], split) if split else SQL_BUCKET[by]
    matches = sql_count(explore_archive, condition, group=group)
    articles = sql_count(explore_archive, "true", group=group)
    rows = table.to_pylist()
    key = (lambda r: (r["bucket"], r[split])) if split else (lambda r: r["bucket"])
    got_articles = {key(r): r["articles"] for r in rows}
    got_matches = {key(r): r["matches"] for r in rows if r["matches"]}
    assert got_articles == articles
    assert got_matches == matches
    assert all(r["share"] == pytest.approx(r["matches"] / r["articles"]) for r in rows)
    assert all(r["query"] == query for r in rows)
    if by == "week":
        assert all(r["bucket"].weekday() == 0 for r in rows)
    if by == "month":
        assert all(r["bucket"].day == 1 for r in rows)
    assert table.column_names == ["query", "bucket", *([split] if split else []), "matches", "articles", "share"]


def test_several_queries_side_by_side(explore_archive):
    table = attention(Scope(explore_archive), ["Casablanca", "Rabat"], by="month").to_pylist()
    for query in ("Casablanca", "Rabat"):
        rows = [r for r in table if r["query"] == query]
        assert sum(r["matches"] for r in rows) == sum(sql_count(explore_archive, has(query)).values())


def test_filters_equal_sql(explore_archive):
    scope = Scope(explore_archive, language=("fr",), source=("Le360", "Médias24", "TelQuel"),
                  since=dt.date(2014, 1, 1), until=dt.date(2019, 12, 31))
    where = ("language = 'fr' AND source IN ('Le360', 'Médias24', 'TelQuel') "
             "AND published_date BETWEEN DATE '2014-01-01' AND DATE '2019-12-31'")
    got = summary(scope, ["Casablanca"]).to_pylist()[0]
    assert got["matches"] == sum(sql_count(explore_archive, has("Casablanca"), where=where).values())
    assert got["articles"] == sum(sql_count(explore_archive, "true", where=where).values())
    per_month = attention(scope, ["Casablanca"], by="month").to_pylist()
    assert min(r["bucket"] for r in per_month) >= dt.date(2014, 1, 1)
    assert max(r["bucket"] for r in per_month) <= dt.date(2019, 12, 1)
    assert sum(r["articles"] for r in per_month) == got["articles"]


def test_outlets_equal_sql(explore_archive):
    query, condition = CASES[0]
    table = outlets(Scope(explore_archive), [query], limit=5).to_pylist()
    matches = sql_count(explore_archive, condition, group="source")
    output = sql_count(explore_archive, "true", group="source")
    expected = sorted(matches.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [(r["source"], r["matches"]) for r in table] == expected
    assert all(r["articles"] == output[r["source"]] for r in table)
    assert all(r["share"] == pytest.approx(r["matches"] / r["articles"]) for r in table)


@pytest.mark.parametrize("path", ["index", "duckdb"])
def test_as_of_pins_a_version(explore_archive, path, monkeypatch):
    """Version 1 (before the second batch) is counted from that version, not the latest: from the index
    minus the articles added since, or (when articles left the archive since) with DuckDB."""
    from toolkit.explore import counts

    monkeypatch.setattr(counts, "_DENOMINATORS", {})
    monkeypatch.setattr(counts, "_ADDED", {})
    if path == "duckdb":
        monkeypatch.setattr(counts, "_added_since", lambda *args: None)
    else:
        monkeypatch.setattr(counts, "_slow_counts", None)  # not called
    query, condition = CASES[0]
    old = summary(Scope(explore_archive, as_of=1), [query]).to_pylist()[0]
    new = summary(Scope(explore_archive), [query]).to_pylist()[0]
    assert old["matches"] == sum(sql_count(explore_archive, condition, as_of=1).values())
    assert old["articles"] == sum(sql_count(explore_archive, "true", as_of=1).values())
    assert (old["articles"], old["matches"]) < (new["articles"], new["matches"])
    per_week = attention(Scope(explore_archive, as_of=1), [query], by="week", split="source").to_pylist()
    assert sum(r["matches"] for r in per_week) == old["matches"]
    top = outlets(Scope(explore_archive, as_of=1), [query], limit=100).to_pylist()
    assert sum(r["matches"] for r in top) == old["matches"]
    assert Scope(explore_archive).resolved().as_of == 2


def test_copies_one_counts_a_cluster_once(explore_archive, monkeypatch):
    """With the clusters' catalog views present, copies=one drops every member but the kept one."""
    from tests.explore.conftest import _rid
    from toolkit.explore import _clusters, counts

    real = _clusters._connect

    def with_clusters(root, version):
        con = real(root, version)
        ids = [_rid(1), _rid(2), _rid(3)]
        con.execute("CREATE VIEW near_duplicates AS SELECT * FROM (VALUES "
                    f"('{ids[0]}', 'c1', 3, 1.0), ('{ids[1]}', 'c1', 3, 0.9), ('{ids[2]}', 'c1', 3, 0.8)) "
                    "AS t(id, cluster, cluster_size, similarity)")
        con.execute(f"CREATE VIEW unique_articles AS SELECT * FROM articles WHERE id NOT IN ('{ids[1]}', '{ids[2]}')")
        return con

    monkeypatch.setattr(_clusters, "_connect", with_clusters)
    monkeypatch.setattr(_clusters, "_CACHE", {})
    monkeypatch.setattr(_clusters, "_HAS", {})
    monkeypatch.setattr(counts, "_DENOMINATORS", {})
    scope = Scope(explore_archive, source=("Le Test",))
    one = summary(scope, ["crossing"]).to_pylist()[0]
    everything = summary(Scope(explore_archive, source=("Le Test",), copies="all"), ["crossing"]).to_pylist()[0]
    assert (everything["matches"], one["matches"]) == (3, 1)
    assert everything["articles"] - one["articles"] == 2
    old = summary(Scope(explore_archive, source=("Le Test",), as_of=1), ["crossing"]).to_pylist()[0]
    assert old["matches"] == 1  # the older-version path drops them too


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"since": "2021-02-30"}, "--since '2021-02-30': not a date"),
    ({"language": ("FR",)}, "--language 'FR': not a language code"),
    ({"since": "2021-05-01", "until": "2021-01-01"}, "is after --until"),
    ({"copies": "some"}, "copies='some'"),
])
def test_a_bad_scope_is_one_line(kwargs, words):
    from toolkit.core.errors import NewsarchiveError

    with pytest.raises(NewsarchiveError, match=words):
        Scope("archive", **kwargs)


def test_bad_options_on_the_command_line(explore_archive):
    from tests.conftest import run_cli

    for args, words in ((["--since", "2021-13-01"], "not a date"), (["--as-of", "9"], "no version 9"),
                        (["--by", "year"], "Invalid value for '--by'")):
        result = run_cli("attention", "Casablanca", *args, "--archive", str(explore_archive))
        assert result.code == 2 and words in result.err and "Traceback" not in result.err, result.err
    assert Scope(explore_archive, language="fr").language == ("fr",)


def test_as_of_before_a_compaction(tmp_path):
    """A compaction rewrites the files: the articles added since an older version are found by id."""
    from tests.explore.conftest import _gen, _write, handmade
    from toolkit.archive import append, compact
    from toolkit.explore import counts

    rows = _gen(tmp_path / "gen.jsonl", 60, 5)
    root = tmp_path / "archive"
    append([_write(tmp_path / "a.jsonl", rows[:40] + handmade())], archive=root, progress=False)
    append([_write(tmp_path / "b.jsonl", rows[40:])], archive=root, progress=False)
    compact(root)
    latest = Scope(root).resolved().as_of
    assert latest > 2
    added = counts._added_since(str(root), 1, latest)
    assert added is not None and len(added) == 20
    for version in (1, 2, latest):
        got = summary(Scope(root, as_of=version, copies="all"), ["Casablanca"]).to_pylist()[0]
        assert got["matches"] == sum(sql_count(root, has("Casablanca"), as_of=version).values())
        assert got["articles"] == sum(sql_count(root, "true", as_of=version).values())
