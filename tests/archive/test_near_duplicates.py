"""Near-duplicate clusters (toolkit/archive/near_duplicates.py), on real articles with known edits.

The articles are the shared marsum sample (real Moroccan news, one paragraph each, cut here in
sentences). A reprint is an article with a new headline, its last sentence cut and an agency byline
added, or its sentences reordered with a "read also" line: it must join the original's cluster. An
article on the same event that quotes one sentence of another is a different article: it must not.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from tests.archive.conftest import write_jsonl
from tests.conftest import SHARED
from toolkit.archive import append, compact, open_archive, verify
from toolkit.archive.ledger import BENCH_SWITCH
from toolkit.archive.tables import file_actions
from toolkit.core.interrupts import FAULT_VARIABLE

MARSUM = SHARED / "data" / "marsum-goud-sample.jsonl"


def _hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _sentences(text: str) -> list[str]:
    return [s.strip() + "." for s in text.split(". ") if s.strip()]


@pytest.fixture(scope="module")
def real() -> list[dict]:
    """30 real articles of at least four sentences, as archive records."""
    if not MARSUM.is_file():
        pytest.skip(f"{MARSUM} (the shared sample) is not present")
    out = []
    for line in MARSUM.open(encoding="utf-8"):
        raw = json.loads(line)
        if len(_sentences(raw["text"])) < 4:
            continue
        out.append({"id": _hex(raw["id"]), "source": raw["source"], "title": raw["title"],
                    "text": "\n\n".join(_sentences(raw["text"])), "language": raw["language"],
                    "published_date": f"2021-06-{len(out) % 28 + 1:02d}"})
        if len(out) == 30:
            break
    assert len(out) == 30
    return out


def reprint(article: dict, tag: str, **fields) -> dict:
    """A wire reprint: new headline, last paragraph cut, agency byline, another outlet."""
    parts = article["text"].split("\n\n")
    return {**article, "id": _hex(article["id"] + tag), "source": "Reprinter",
            "title": "Exclusif : " + article["title"],
            "text": "\n\n".join(["(MAP) - " + parts[0], *parts[1:-1]]), **fields}


def reordered(article: dict, tag: str, **fields) -> dict:
    """The same article, paragraphs in another order, with a "read also" line."""
    parts = article["text"].split("\n\n")
    parts = parts[1:] + parts[:1]
    parts.insert(2, "اقرأ أيضا: " + article["title"])
    return {**article, "id": _hex(article["id"] + tag), "source": "Other", "text": "\n\n".join(parts), **fields}


def quoting(article: dict, others: list[dict], tag: str) -> dict:
    """A different article on the same event: it quotes the first sentence of `article`, and one
    sentence of each of `others` (written about other things)."""
    parts = [article["text"].split("\n\n")[0]] + [o["text"].split("\n\n")[1] for o in others]
    return {**article, "id": _hex(article["id"] + tag), "source": "Quoter", "text": "\n\n".join(parts)}


def view(main, root) -> list[dict]:
    res = main("sql", "SELECT id, cluster, cluster_size, similarity FROM near_duplicates ORDER BY cluster, id",
               "--archive", str(root), "--format", "json")
    assert res.code == 0, res.err
    return lines(res.out)


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def clustered(real, tmp_path_factory):
    """An archive of the 30 articles, then a batch of two reprints, a quoting article, and an article
    with its own reprint (a pair inside one batch)."""
    tmp = tmp_path_factory.mktemp("near")
    root = tmp / "archive"
    append([write_jsonl(tmp / "first.jsonl", real[:28])], archive=root)
    second = [reprint(real[0], "r", published_date="2021-07-01"), reordered(real[1], "o", published_date="2021-07-02"),
              quoting(real[2], real[10:15], "q"), real[28], reprint(real[28], "r2", published_date="2021-07-05")]
    result = append([write_jsonl(tmp / "second.jsonl", second)], archive=root)
    return root, result, second


def test_reprints_join_their_original_and_same_event_articles_do_not(clustered, real, main):
    root, result, second = clustered
    assert result.near_duplicates == 4  # the three reprints, and real[28] (clustered with its reprint)
    rows = view(main, root)
    clusters: dict[str, set[str]] = {}
    for row in rows:
        clusters.setdefault(row["cluster"], set()).add(row["id"])
        assert row["cluster_size"] == 2
        assert 0.3 <= row["similarity"] <= 1.0
    assert clusters == {real[0]["id"]: {real[0]["id"], second[0]["id"]},
                        real[1]["id"]: {real[1]["id"], second[1]["id"]},
                        real[28]["id"]: {real[28]["id"], second[4]["id"]}}
    assert {r["similarity"] for r in rows if r["id"] == r["cluster"]} == {1.0}
    quoted = second[2]["id"]
    assert quoted not in {r["id"] for r in rows}
    res = main("sql", "SELECT count(*) AS n FROM unique_articles", "--archive", str(root), "--format", "json")
    assert lines(res.out) == [{"n": 33 - 3}]


def test_append_reports_near_duplicates_in_text_and_json(real, tmp_path, main):
    root = tmp_path / "a"
    append([write_jsonl(tmp_path / "1.jsonl", real[:3])], archive=root)
    batch = write_jsonl(tmp_path / "2.jsonl", [reprint(real[0], "x")])
    res = main("append", str(batch), "--archive", str(root), "--format", "json")
    assert res.code == 0 and json.loads(res.out)["near_duplicates"] == 1
    batch = write_jsonl(tmp_path / "3.jsonl", [reprint(real[1], "y"), real[5]])
    res = main("append", str(batch), "--archive", str(root))
    assert res.code == 0 and "1 near-duplicates (joined a cluster)" in res.out


def test_an_earlier_article_arriving_later_becomes_the_representative(clustered, real, tmp_path, main):
    root = tmp_path / "a"
    shutil.copytree(clustered[0], root)
    original = real[0]
    # an id above the others: the earliest published wins, not the smallest id
    tags = (f"early{k}" for k in range(1000))
    earliest = next(c for c in (reordered(original, t, published_date="2020-01-01") for t in tags)
                    if c["id"] > max(original["id"], clustered[2][0]["id"]))
    result = append([write_jsonl(tmp_path / "late.jsonl", [earliest])], archive=root)
    assert result.near_duplicates == 1
    rows = [r for r in view(main, root) if r["cluster"] == earliest["id"]]
    assert {r["id"] for r in rows} == {earliest["id"], original["id"], clustered[2][0]["id"]}
    assert {r["cluster_size"] for r in rows} == {3}
    res = main("sql", f"SELECT count(*) AS n FROM unique_articles WHERE id = '{original['id']}'",
               "--archive", str(root), "--format", "json")
    assert lines(res.out) == [{"n": 0}]  # the former representative is now a copy


def test_verify_flags_articles_without_bands_and_compact_indexes_them(clustered, real, tmp_path, main, monkeypatch):
    root = tmp_path / "a"
    shutil.copytree(clustered[0], root)
    monkeypatch.setenv(BENCH_SWITCH, "1")  # the batch is appended without its bands
    unindexed = reprint(real[5], "late", published_date="2021-08-01")
    append([write_jsonl(tmp_path / "x.jsonl", [unindexed])], archive=root)
    monkeypatch.delenv(BENCH_SWITCH)
    res = main("verify", "--archive", str(root))
    assert res.code == 1
    fault = [line for line in res.out.splitlines() if line.startswith("FAULT")]
    assert len(fault) == 1 and "near-duplicate bands" in fault[0] and unindexed["id"] in fault[0]
    before = file_actions(open_archive(root).table("minhash")).num_rows
    assert before >= 2
    compact(root)
    assert verify(root).ok, verify(root).faults
    assert file_actions(open_archive(root).table("minhash")).num_rows == 1  # the band table is compacted too
    rows = view(main, root)
    assert {r["id"] for r in rows if r["cluster"] == real[5]["id"]} == {real[5]["id"], unindexed["id"]}
    assert len(rows) == 8  # the clusters of before, plus the backfilled one


@pytest.mark.parametrize("step", ["append.committed", "ledger.batches", "ledger.minhash", "ledger.clusters"])
def test_an_append_interrupted_before_its_clusters_are_committed_is_completed_by_the_next(
        step, clustered, real, tmp_path, main, monkeypatch):
    root = tmp_path / "a"
    shutil.copytree(clustered[0], root)
    copy = reprint(real[6], "i", published_date="2021-08-01")
    batch = write_jsonl(tmp_path / "b.jsonl", [copy, real[29]])
    monkeypatch.setenv(FAULT_VARIABLE, f"{step}:interrupt")
    with pytest.raises(KeyboardInterrupt):
        append([batch], archive=root, jobs=1)
    monkeypatch.delenv(FAULT_VARIABLE)
    assert append([batch], archive=root).noop  # completes the batch: ledger, bands, clusters
    rows = view(main, root)
    assert {r["id"] for r in rows if r["cluster"] == real[6]["id"]} == {real[6]["id"], copy["id"]}
    assert len(rows) == 8
    assert verify(root).ok, verify(root).faults


def test_search_shows_one_hit_per_cluster_with_its_copies_and_all_copies_lists_each(clustered, real, tmp_path, main):
    root = tmp_path / "a"
    shutil.copytree(clustered[0], root)
    original, copy = real[0], clustered[2][0]
    word = max(original["text"].split("\n\n")[1].split(), key=len)  # a word of a paragraph both hold
    res = main("search", word, "--archive", str(root), "--format", "json", "--limit", "50")
    assert res.code == 0, res.err
    hits = lines(res.out)
    ours = [h for h in hits if h["id"] in (original["id"], copy["id"])]
    assert len(ours) == 1 and ours[0]["copies"] == 1
    other = copy if ours[0]["id"] == original["id"] else original
    assert ours[0]["outlets"] == [other["source"]]
    res = main("search", word, "--archive", str(root), "--format", "json", "--limit", "50", "--all-copies")
    assert {h["id"] for h in lines(res.out)} >= {original["id"], copy["id"]}
    res = main("search", word, "--archive", str(root), "--limit", "50")
    assert res.code == 0 and "copies" in res.out and f"1 ({other['source']})" in res.out


def test_publish_dedup_near_drops_the_copies_and_the_card_says_so(clustered, real, tmp_path, main):
    import pyarrow.parquet as pq

    root, _, second = clustered
    kept = main("publish", "--archive", str(root), "--version", "v1.0.0", "--output", str(tmp_path / "a" / "all"))
    assert kept.code == 0, kept.err
    res = main("publish", "--archive", str(root), "--version", "v1.0.0", "--output", str(tmp_path / "b" / "near"),
               "--dedup", "near")
    assert res.code == 0, res.err
    ids_all = set(pq.read_table(tmp_path / "a" / "all" / "data").column("id").to_pylist())
    ids_near = set(pq.read_table(tmp_path / "b" / "near" / "data").column("id").to_pylist())
    copies = {second[0]["id"], second[1]["id"], second[4]["id"]}  # later than their originals
    assert len(ids_all) == 33 and ids_all - ids_near == copies
    card = (tmp_path / "b" / "near" / "README.md").read_text(encoding="utf-8")
    assert "removed (`--dedup near`): 3 rows dropped" in card and "3 clusters" in card
    assert "32 bands x 4 rows" in card and "estimated Jaccard >= 0.3" in card
    assert "kept (`--dedup none`)" in (tmp_path / "a" / "all" / "README.md").read_text(encoding="utf-8")


def test_explore_counts_a_cluster_once_and_shows_its_copies(clustered, real):
    """toolkit.explore reads the real clusters: copies=one counts what `unique_articles` holds, the
    sample shows each kept article's cluster size, and article_detail lists the cluster."""
    import duckdb

    from toolkit.explore import Scope, article_detail, sample_articles, summary
    from toolkit.sql import connect

    root, _, second = clustered
    word = next(w for w in real[0]["title"].split() if len(w) > 5)
    con: duckdb.DuckDBPyConnection = connect(root)
    try:
        def count(view: str) -> int:
            return con.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
        expected_one, expected_all = count("unique_articles"), count("articles")
    finally:
        con.close()
    one = summary(Scope(root), [word]).to_pylist()[0]
    everything = summary(Scope(root, copies="all"), [word]).to_pylist()[0]
    assert (one["articles"], everything["articles"]) == (expected_one, expected_all)
    assert everything["matches"] - one["matches"] >= 1  # the reprint of real[0] (its headline has the word)
    sizes = {s["id"]: s["copies"] for s in sample_articles(Scope(root, copies="all"), word, limit=50)}
    assert sizes[real[0]["id"]] == 2 and sizes[second[0]["id"]] == 2
    detail = article_detail(root, real[0]["id"])
    assert {c["id"] for c in detail["cluster"]} >= {second[0]["id"]}
