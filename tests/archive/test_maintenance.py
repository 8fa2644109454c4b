"""`history`, `compact` and `verify`: what they report, what they change, and the faults they name."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from tests.archive.conftest import write_jsonl
from toolkit.archive import append, compact, history, open_archive, verify
from toolkit.archive.tables import file_actions
from toolkit.core.errors import NewsarchiveError


@pytest.fixture
def three_batches(tmp_path, record):
    """Three batches touching the same two months, so each month holds three small files."""
    root = tmp_path / "a"
    for b in range(3):
        recs = [record(b * 10 + i, source=f"S{(b * 7 + i) % 3}", published_date=f"2021-0{1 + i % 2}-{10 + b}")
                for i in range(6)]
        append([write_jsonl(tmp_path / f"{b}.jsonl", recs + (["broken"] if b == 1 else []))], archive=root)
    return root


def test_history_lists_versions_batches_and_counts(three_batches, main):
    entries = history(three_batches)
    assert [e.version for e in entries] == [0, 1, 2, 3]
    assert [e.operation for e in entries] == ["create", "append", "append", "append"]
    assert [(e.input, e.appended, e.duplicates, e.quarantined) for e in entries[1:]] == [(6, 6, 0, 0), (7, 6, 0, 1),
                                                                                          (6, 6, 0, 0)]
    assert entries[2].files == [str(three_batches.parent / "1.jsonl")]
    res = main("history", "--archive", str(three_batches), "--format", "json")
    assert res.code == 0 and [e["batch"] for e in json.loads(res.out)] == [None] + [e.batch for e in entries[1:]]
    text = main("history", "--archive", str(three_batches)).out
    assert entries[3].batch in text and "1.jsonl" in text


def test_compact_merges_small_files_sorted_then_vacuums(three_batches, main):
    archive = open_archive(three_batches)
    before = archive.articles().to_table().sort_by("id")
    files_before = file_actions(archive.table("articles")).num_rows
    assert files_before == 6

    res = main("compact", "--archive", str(three_batches), "--retention-hours", "0")
    assert res.code == 2 and "--force" in res.err and res.err.count("\n") == 1  # below the 168 h retention

    result = compact(three_batches)  # default retention: nothing old enough to vacuum yet
    assert (result.files_removed["articles"], result.files_added["articles"]) == (6, 2)
    assert result.vacuumed["articles"] == 0
    after = open_archive(three_batches)
    assert after.articles().to_table().sort_by("id").equals(before)
    paths = file_actions(after.table("articles")).column("path").to_pylist()
    for path in paths:
        data = pq.read_table(three_batches / "articles" / path)
        keys = list(zip(*(data[k].to_pylist() for k in ("source", "published_date", "id")), strict=True))
        assert keys == sorted(keys)
    assert after.articles(version=3).count_rows() == 18  # old versions still readable before vacuum
    assert verify(three_batches).ok

    forced = compact(three_batches, 0, force=True)
    assert forced.vacuumed["articles"] == 6
    assert sum(len(f) for _, _, f in os.walk(three_batches / "articles") if f) - len(
        os.listdir(three_batches / "articles" / "_delta_log")) >= 2
    assert verify(three_batches).ok
    with pytest.raises(Exception):  # noqa: B017  the files of version 3 are gone now
        after.articles(version=3).to_table()
    assert open_archive(three_batches).articles().count_rows() == 18


def test_verify_names_a_missing_file(three_batches, main):
    path = file_actions(open_archive(three_batches).table("articles")).column("path")[0].as_py()
    os.remove(three_batches / "articles" / path)
    res = main("verify", "--archive", str(three_batches))
    assert res.code == 1 and f"articles/{path}: missing" in res.out


def test_verify_names_a_corrupt_file(three_batches, main):
    path = file_actions(open_archive(three_batches).table("articles")).column("path")[0].as_py()
    target = three_batches / "articles" / path
    data = bytearray(target.read_bytes())
    data[10:200] = b"\0" * 190  # same size, damaged pages
    target.write_bytes(bytes(data))
    quick = main("verify", "--archive", str(three_batches), "--quick").out
    assert "ok     articles files" in quick and "(footers read)" in quick  # the footers are intact
    res = main("verify", "--archive", str(three_batches), "--format", "json")
    report = json.loads(res.out)
    assert res.code == 1 and not report["ok"]
    assert any(c["check"] == "articles fixity" and "differ from the SHA-256" in c["detail"] and path in c["detail"]
               for c in report["checks"])


def test_verify_names_ledger_inconsistencies(three_batches, main):
    ledger = open_archive(three_batches).batches()
    write_deltalake(str(three_batches / "batches"), ledger.slice(0, 1), mode="append")  # a batch twice
    res = main("verify", "--archive", str(three_batches))
    assert res.code == 1
    assert "appears 2 times" in res.out and "FAULT  articles rows" in res.out


def test_verify_names_a_duplicate_id(three_batches, main):
    archive = open_archive(three_batches)
    one = archive.articles().to_table().slice(0, 1)
    write_deltalake(str(three_batches / "articles"), one, mode="append")
    res = main("verify", "--archive", str(three_batches))
    assert res.code == 1 and f"id {one['id'][0].as_py()} stored 2 times" in res.out


def test_verify_without_an_archive(tmp_path, main):
    res = main("verify", "--archive", str(tmp_path / "none"))
    assert res.code == 2 and "no archive here" in res.err


def test_verify_dir_goes_to_the_publish_stage(tmp_path, main):
    res = main("verify", str(tmp_path))
    assert res.code == 2 and str(tmp_path) in res.err  # not a snapshot folder: the publish stage says so


def test_compact_refuses_negative_and_reads_only_archives(tmp_path):
    with pytest.raises(NewsarchiveError, match="no archive here"):
        compact(tmp_path / "none")


def test_compact_does_not_merge_files_another_compaction_replaced(three_batches, monkeypatch):
    """Two compactions planned on the same version: the second must not commit its merged files."""
    import toolkit.archive.maintenance as maintenance

    archive = open_archive(three_batches)
    real_plan = maintenance._plan
    ran = []

    def plan_then_race(table, partition_by):
        groups = real_plan(table, partition_by)
        if not ran:  # a rival compaction commits between our plan and our commit
            ran.append(True)
            maintenance._compact_articles(archive)
        return groups

    monkeypatch.setattr(maintenance, "_plan", plan_then_race)
    assert maintenance._compact_articles(archive) == (0, 0)
    assert open_archive(three_batches).articles().count_rows() == 18
    assert verify(three_batches).ok
    assert DeltaTable(str(three_batches / "articles")).version() == 4
    assert pa.table(DeltaTable(str(three_batches / "articles")).get_add_actions()).num_rows == 2
