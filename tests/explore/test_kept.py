"""What explore keeps per archive version so that pages stay fast (issue 19's speed targets): the
numbers must not change, and the expensive reads must not happen again. Spies wrap the real
functions (the real archive, DuckDB and index answer)."""

from __future__ import annotations

from tests.explore.conftest import _rid
from toolkit.explore import Scope, article_detail, sample_articles, top_terms


def _count_calls(monkeypatch, owner, name):
    calls = []
    real = getattr(owner, name)

    def spy(*args, **kwargs):
        calls.append(args[1:] if args else ())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def test_an_article_page_does_not_open_the_table_per_version(explore_archive, monkeypatch):
    """The versions holding an article come from each version's file list, read once per process:
    a later article opens the articles table once (to pin its version), not once per version."""
    from toolkit.archive.tables import Archive

    article_detail(explore_archive, _rid(2))  # the file lists of both versions are read here
    opened = _count_calls(monkeypatch, Archive, "table")
    detail = article_detail(explore_archive, _rid(1))
    assert detail["versions"] == [1, 2] and detail["provenance"]["version_added"] == 1
    assert len(opened) <= 1, opened
    assert article_detail(explore_archive, _rid(99))["versions"] == [2]  # added by the second batch
    assert article_detail(explore_archive, _rid(1), as_of=1)["versions"] == [1]


def test_sample_and_terms_are_kept_per_scope_and_query(explore_archive, monkeypatch):
    """The sample and the top terms are computed once per pinned scope and query (another --by or
    split asks them again), and a caller changing its copy does not change the next answer."""
    from toolkit.explore import articles

    scope = Scope(explore_archive, copies="all").resolved()
    first = sample_articles(scope, "zebra", limit=3)
    terms = top_terms(scope, "zebra")
    ranked = _count_calls(monkeypatch, articles, "_ranked")
    first[0]["title"] = "changed by the caller"
    again = sample_articles(scope, "zebra", limit=3)
    assert again[0]["title"] != "changed by the caller"
    assert top_terms(scope, "zebra").equals(terms)
    assert ranked == []
    sample_articles(scope, "crossing", limit=3)  # another query is computed
    assert len(ranked) == 1


def test_cluster_sizes_reuse_the_kept_connection(explore_archive, monkeypatch):
    """A sample's cluster sizes are read from what is kept per version, without defining the
    catalog's views again (a new connection cost tenths of a second per explore page)."""
    import toolkit.sql

    scope = Scope(explore_archive, copies="all").resolved()
    sample_articles(scope, "zèbre", limit=2)
    connects = _count_calls(monkeypatch, toolkit.sql, "connect")
    rows = sample_articles(scope, "rabat", limit=2)
    assert rows and all(row["copies"] >= 1 for row in rows)
    assert connects == []


def test_an_article_read_from_its_month_equals_the_duckdb_row(explore_archive, monkeypatch):
    """Article pages read the article's row from its month's files; every field must be what the
    DuckDB view gives (dates, lists, the cut text and its length), at both versions."""
    from toolkit.explore import archive
    from toolkit.sql import connect

    con = connect(explore_archive)
    ids = [r[0] for r in con.execute("SELECT id FROM articles ORDER BY id").fetchall()]
    con.close()
    direct = _count_calls(monkeypatch, archive, "_read_direct")
    fast = {(i, v): article_detail(explore_archive, i, as_of=v, max_chars=40) for i in ids for v in (1, 2)}
    assert len(direct) == len(fast)  # every article was read directly
    monkeypatch.setattr(archive, "_read_direct", lambda *args: None)  # DuckDB's view answers
    slow = {(i, v): article_detail(explore_archive, i, as_of=v, max_chars=40) for i in ids for v in (1, 2)}
    assert fast == slow
    assert fast[(_rid(99), 2)]["text_length"] == 20_000_000 and fast[(_rid(99), 1)] is None


def test_the_ranking_reads_only_documents_that_can_be_kept(explore_archive, monkeypatch):
    """`_ranked` reads the documents of the hits that can make the cut only, and ranks exactly as
    reading every group's `limit` best would (score, then newer, then id), ties at the cut included."""
    import tantivy

    from toolkit.explore import articles
    from toolkit.explore.counts import _Indexed
    from toolkit.explore.query import parse_query

    scope = Scope(explore_archive, copies="all").resolved()
    indexed = _Indexed(scope)

    def every_hit(query, limit):
        found = []
        for group, (_, searcher) in indexed.groups.items():
            for score, address in searcher.search(indexed.full(group, query), limit, count=False).hits:
                doc = searcher.doc(address)
                found.append((-float(score), -int(doc.get_first("day")), str(doc.get_first("id"))))
        return [f[2] for f in sorted(found)[:limit]]

    reads = []
    real_doc = tantivy.Searcher.doc
    monkeypatch.setattr(tantivy.Searcher, "doc", lambda self, address: reads.append(address) or real_doc(self, address))
    for text in ("Lions", "source:\"Le Test\"", "zebra OR crossing", "الرباط OR Lions"):
        query = parse_query(text)
        for limit in (1, 3, 7, 40):
            expected = every_hit(query, limit)
            reads.clear()
            got = [str(doc.get_first("id")) for _, doc in articles._ranked(scope, query, limit)]
            assert got == expected, (text, limit)
            assert len(reads) <= max(limit, len(expected)) + 5 or text.startswith("source"), (text, limit, len(reads))


def test_summary_and_outlets_reuse_the_pass_of_attention(explore_archive, monkeypatch):
    """After attention, a page's summary and outlets for the same query and scope read no index again,
    and give the numbers they give alone (a phrase's positions were read three times)."""
    from toolkit.explore import attention, counts, outlets, summary

    alone_scope = Scope(explore_archive, copies="all", language=("fr",)).resolved()
    counts._MATCHES.clear()
    alone_summary = summary(alone_scope, ['"zebra crossing"', "zebra"]).to_pylist()
    counts._MATCHES.clear()
    alone = (alone_summary, outlets(alone_scope, ['"zebra crossing"', "zebra"]).to_pylist())
    scope = Scope(explore_archive, copies="all", language=("fr",)).resolved()
    for by, split in (("week", None), ("month", "language"), ("day", "source")):
        counts._MATCHES.clear()
        attention(scope, ['"zebra crossing"', "zebra"], by=by, split=split)
        passes = _count_calls(monkeypatch, counts, "_fast_counts")
        assert (summary(scope, ['"zebra crossing"', "zebra"]).to_pylist(),
                outlets(scope, ['"zebra crossing"', "zebra"]).to_pylist()) == alone
        assert [p for p in passes if p and p[0] is not None] == [], (by, split)
        monkeypatch.undo()


def test_a_page_ranks_its_query_once_for_sample_and_terms(explore_archive, monkeypatch):
    """The sample (10) and the top terms (1,000) of one query and scope come from one ranked pass per
    group (a phrase's positions were read once for each), and the sample is what ranking 10 alone
    gives: tantivy's 10 best are the first 10 of its 1,000 best."""
    import tantivy

    from toolkit.explore import articles
    from toolkit.explore.query import parse_query

    scope = Scope(explore_archive, copies="all").resolved()
    searches = []
    real_search = tantivy.Searcher.search
    monkeypatch.setattr(tantivy.Searcher, "search",
                        lambda self, *args, **kwargs: searches.append(args[1:2]) or real_search(self, *args, **kwargs))
    for text in ('"zebra crossing"', "Lions", "الرباط OR Lions"):
        searches.clear()
        sample = sample_articles(scope, text, limit=3)
        ranked_once = len(searches)
        top_terms(scope, text)
        assert len(searches) == ranked_once, text  # no second pass for the terms
        articles._HITS.clear()
        alone = [str(doc.get_first("id")) for _, doc in articles._ranked(scope, parse_query(text), 3)]
        assert [row["id"] for row in sample] == alone, text
