"""The segment index follows the archive: appends, compactions, rows removed by other tools, crashes."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT
from tests.sql.conftest import SAMPLE_ARTICLES, SEED_TITLE, article, one_line_error, records
from toolkit.search import index as index_module
from toolkit.search import search, update_index
from toolkit.search.index import INDEX_NAME, open_group, read_state
from toolkit.search.query import hit_schema


def _docs(path) -> int:
    """Live documents over every group's index (what a reader sees)."""
    return sum(open_group(path, g).searcher().num_docs for g in read_state(path).groups)


def test_compaction_mixing_indexed_and_new_rows_indexes_only_the_new(archive_copy, tmp_path):
    from toolkit.archive import append, compact

    path = archive_copy / INDEX_NAME
    update_index(archive_copy)
    # three articles in a month the sample has, appended but not indexed yet...
    append([records(tmp_path / "b.jsonl", [article(i, title=f"Les xylophones numéro {i}", published_date="2021-06-28")
                                           for i in (1, 2, 3)])], archive=archive_copy)
    # ...then merged with indexed rows into new files: which rows are new is only known by id
    result = compact(archive_copy, retention_hours=0, force=True)
    assert result.files_removed.get("articles", 0) > 1
    update = update_index(archive_copy)
    assert (update.built, update.added, update.removed) == (False, 3, 0)
    assert _docs(path) == SAMPLE_ARTICLES + 3 == read_state(path).articles
    assert len(search("xylophones", archive_copy).hits) == 3
    assert search("Bourita Blinken", archive_copy).hits[0].title == SEED_TITLE


def test_rows_removed_by_another_tool_leave_the_index(archive_copy):
    from deltalake import DeltaTable

    path = archive_copy / INDEX_NAME
    seed = search("Bourita Blinken", archive_copy).hits[0]
    assert seed.title == SEED_TITLE
    DeltaTable(str(archive_copy / "articles")).delete(f"id = '{seed.id}'")  # rewrites the seed's file
    update = update_index(archive_copy)
    assert (update.built, update.added, update.removed) == (False, 0, 1)
    assert _docs(path) == SAMPLE_ARTICLES - 1
    assert seed.id not in {h.id for h in search("Bourita Blinken", archive_copy, limit=50).hits}


def test_an_update_that_dies_before_its_state_is_redone_without_duplicates(archive_copy, tmp_path, monkeypatch):
    from toolkit.archive import append

    path = archive_copy / INDEX_NAME
    update_index(archive_copy)
    append([records(tmp_path / "b.jsonl", [article(1, title="Les xylophones"), article(2)])], archive=archive_copy)

    real, calls = index_module._write_state, []

    def killed(*args):
        calls.append(args[1].pending)
        if len(calls) == 2:
            raise KeyboardInterrupt  # after every group committed, before the state is replaced
        real(*args)

    monkeypatch.setattr(index_module, "_write_state", killed)
    with pytest.raises(KeyboardInterrupt):
        update_index(archive_copy)
    monkeypatch.undo()
    assert calls == [2, None]  # marked pending for version 2 before the groups committed
    assert read_state(path).version == 1 and _docs(path) == SAMPLE_ARTICLES + 2  # committed, state behind
    update = update_index(archive_copy)  # redone: each id is deleted before it is added again
    assert (update.version, update.added) == (2, 2)
    assert _docs(path) == SAMPLE_ARTICLES + 2
    assert len(search("xylophones", archive_copy).hits) == 1


def test_a_build_is_invisible_until_done_and_an_interrupted_one_leaves_nothing(archive_copy, monkeypatch):
    path = archive_copy / INDEX_NAME
    seen = []

    def interrupted(self):
        seen.append(path.exists())  # what a concurrent reader would find at this point
        raise KeyboardInterrupt

    monkeypatch.setattr(index_module._Writers, "commit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        update_index(archive_copy)
    assert seen == [False]
    assert sorted(p.name for p in archive_copy.iterdir()) == [".search-index.lock", "articles", "batches",
                                                              "clusters", "minhash", "quarantine"]
    # a rebuild over an existing index: the old one stays whole and readable until the new one replaces it
    monkeypatch.undo()
    update_index(archive_copy)
    seen.clear()

    def check_then_interrupt(self):
        seen.append((read_state(path).version, open_group(path, "fr").searcher().num_docs))
        raise KeyboardInterrupt

    monkeypatch.setattr(index_module._Writers, "commit", check_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        update_index(archive_copy, rebuild=True)
    assert seen == [(1, 28)]
    assert _docs(path) == SAMPLE_ARTICLES and not [p for p in archive_copy.iterdir() if p.name.endswith(".tmp")]


def test_two_processes_updating_at_once_build_one_index(archive_copy):
    code = ("import json, sys; from toolkit.search import update_index; "
            "print(json.dumps(update_index(sys.argv[1]).built))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(archive_copy)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outcomes
    assert sorted(json.loads(out) for out, _ in outcomes) == [False, True]  # the second found it built
    assert _docs(archive_copy / INDEX_NAME) == SAMPLE_ARTICLES


def test_rebuild_flag_and_parquet_hits_to_join_with_the_archive(main, archive_copy, tmp_path):
    from toolkit.sql import connect

    update_index(archive_copy)
    result = main("search", "--archive", str(archive_copy), "--rebuild")
    assert result.code == 0 and result.out == ""
    assert result.err.splitlines() == [
        f"search index built for archive version 1 (--rebuild): {SAMPLE_ARTICLES} articles added, 0 removed"]
    out = tmp_path / "hits.parquet"
    result = main("search", "--archive", str(archive_copy), "--format", "parquet", "--output", str(out),
                  "--limit", "5", "Bourita", "Blinken")
    assert result.code == 0 and result.err.strip() == f"5 hits -> {out}"
    hits = pq.read_table(out)
    assert hits.schema == hit_schema() and hits.num_rows == 5 and hits.column("title")[0].as_py() == SEED_TITLE
    con = connect(archive_copy)
    joined = con.execute("SELECT h.title, a.text FROM read_parquet(?) AS h JOIN articles AS a USING (id) "
                         "ORDER BY h.score DESC", [str(out)]).fetchall()
    assert len(joined) == 5 and joined[0][0] == SEED_TITLE and "Blinken" in joined[0][1]
    assert "--format parquet writes a file" in one_line_error(
        main("search", "--archive", str(archive_copy), "--format", "parquet", "Bourita"))
    assert "no search terms" in one_line_error(main("search", "--archive", str(archive_copy)))


def test_an_index_missing_a_part_or_killed_mid_build_is_rebuilt_cleanly(archive_copy, tmp_path):
    import shutil

    from toolkit.archive import append

    path = archive_copy / INDEX_NAME
    update_index(archive_copy)
    leftover = archive_copy / ".search-index.0123456789ab.tmp"  # what a SIGKILLed build leaves
    leftover.mkdir()
    shutil.rmtree(path / "ar")  # someone deleted part of the cache
    append([records(tmp_path / "b.jsonl", [article(1)])], archive=archive_copy)
    update = update_index(archive_copy)
    assert update.built and update.reason == "its ar/ index was missing" and update.added == SAMPLE_ARTICLES + 1
    assert _docs(path) == SAMPLE_ARTICLES + 1 and not leftover.exists()


def test_a_search_of_a_current_local_index_loads_neither_the_archive_stage_nor_pyarrow(archive_copy):
    update_index(archive_copy)  # what keeps `newsarchive search` well under a second end to end
    code = ("import json, sys; from toolkit.cli import cli; from toolkit.search import search; "
            "hit = search(['Bourita', 'Blinken'], sys.argv[1]).hits[0]; "
            "print(json.dumps([hit.title, sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('deltalake', 'pyarrow', 'duckdb') or m.startswith('toolkit.archive'))]))")
    proc = subprocess.run([sys.executable, "-c", code, str(archive_copy)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [SEED_TITLE, []]


def test_id_files_are_merged_past_the_limit_and_still_tell_moved_rows(archive_copy, tmp_path, monkeypatch):
    from toolkit.archive import append, compact

    path = archive_copy / INDEX_NAME
    monkeypatch.setattr(index_module, "MAX_ID_FILES", 2)
    update_index(archive_copy)
    for i in (1, 2, 3):
        append([records(tmp_path / f"b{i}.jsonl", [article(i, published_date="2021-06-28")])], archive=archive_copy)
        update_index(archive_copy)
        assert len(read_state(path).ids) <= 2 and len(list((path / "ids").iterdir())) <= 2
    compact(archive_copy, retention_hours=0, force=True)
    update = update_index(archive_copy)
    assert (update.added, update.removed) == (0, 0) and _docs(path) == SAMPLE_ARTICLES + 3


def test_the_fast_path_finds_the_archive_by_the_archive_stage_rule(archive_copy, monkeypatch):
    """Every spelling the archive stage accepts (file://, the environment variable, a relative path)
    reaches the same folder on the search's fast path; what is not a local folder is left to it."""
    from toolkit.archive.storage import Storage
    from toolkit.search.folder import local_root

    root = Storage.at(archive_copy).root
    monkeypatch.chdir(archive_copy.parent)
    monkeypatch.setenv("NEWSARCHIVE_ARCHIVE", str(archive_copy))
    for spelling in (f"file://{archive_copy}", archive_copy.name, f"./{archive_copy.name}/", None):
        assert local_root(spelling) == root
    for elsewhere in ("s3://bucket/news", "ftp://host/x", "", str(archive_copy / "missing")):
        assert local_root(elsewhere) is None
