"""The append's worker processes: same archive as one process, errors and deaths reported, nothing left."""

from __future__ import annotations

import importlib
import multiprocessing
import os

import pyarrow.parquet as pq
import pytest

from tests.archive.conftest import generate, write_jsonl
from toolkit.archive import append, open_archive, verify
from toolkit.archive.files import TableFiles
from toolkit.archive.staging import Stager, StagingPool
from toolkit.core.errors import NewsarchiveError

append_module = importlib.import_module("toolkit.archive.append")


def rows(root) -> list[dict]:
    return open_archive(root).articles().to_table().sort_by("id").to_pylist()


def data_files(root) -> list[str]:
    found = []
    for folder, _, names in os.walk(root / "articles"):
        found += [os.path.join(folder, n) for n in names if n.endswith(".parquet")]
    return sorted(found)


@pytest.fixture
def batch(tmp_path, shared_dir):
    """Three inputs (one repeating ids of another, some lines damaged), cut into many small blocks."""
    parts = [generate(tmp_path / f"g{i}.jsonl", 300, start=i * 300, seed=i + 1, invalid_rate=0.05) for i in range(2)]
    parts.append(write_jsonl(tmp_path / "again.jsonl", parts[0].read_text().splitlines()[100:160]))
    return parts


def test_workers_build_the_same_archive_as_one_process(tmp_path, batch, monkeypatch):
    one = append(batch, archive=tmp_path / "one", jobs=1)
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 64 << 10)  # a dozen blocks per input
    many = append(batch, archive=tmp_path / "many", jobs=3)
    assert one.as_dict() | {"batch": None} == many.as_dict() | {"batch": None}
    assert many.input == 660 == many.appended + many.duplicates + many.quarantined
    assert many.duplicates >= 55 and many.quarantined > 0
    assert rows(tmp_path / "one") == rows(tmp_path / "many")
    quarantined = [open_archive(tmp_path / r).quarantine().sort_by([("file", "ascending"), ("line", "ascending")])
                   .select(["file", "line", "raw", "errors"]).to_pylist() for r in ("one", "many")]
    assert quarantined[0] == quarantined[1]  # same lines, numbered across blocks
    for path in data_files(tmp_path / "many"):  # each worker's files are sorted within
        data = pq.read_table(path)
        keys = list(zip(*(data[k].to_pylist() for k in ("source", "published_date", "id")), strict=True))
        assert keys == sorted(keys)
    assert verify(tmp_path / "many").ok
    assert not multiprocessing.active_children()


def test_workers_that_spill_give_the_same_archive(tmp_path, batch, monkeypatch):
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 64 << 10)
    small = append(batch, archive=tmp_path / "small", jobs=2, memory_budget=256 << 10)
    large = append(batch, archive=tmp_path / "large", jobs=2)
    assert small.as_dict() | {"batch": None} == large.as_dict() | {"batch": None}
    assert rows(tmp_path / "small") == rows(tmp_path / "large")


def test_an_error_in_a_worker_is_reported_and_nothing_is_left(tmp_path, batch, monkeypatch):
    real = TableFiles.write
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if multiprocessing.current_process().name == "newsarchive-stager-1" and len(calls) == 3:
            raise NewsarchiveError("no space left on the device; free some and run again")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TableFiles, "write", failing)  # inherited by the forked workers
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 64 << 10)
    with pytest.raises(NewsarchiveError, match="no space left"):
        append(batch, archive=tmp_path / "a", jobs=2)
    assert open_archive(tmp_path / "a").version == 0  # nothing committed
    assert data_files(tmp_path / "a") == []  # both workers' files removed
    assert not multiprocessing.active_children()


def test_a_worker_that_dies_fails_the_run_with_one_line(tmp_path, batch, monkeypatch):
    real = Stager.check

    def dying(self, index, item):
        if index == 3:
            os._exit(9)
        return real(self, index, item)

    monkeypatch.setattr(Stager, "check", dying)
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 64 << 10)
    with pytest.raises(NewsarchiveError, match="worker process of the append died"):
        append(batch, archive=tmp_path / "a", jobs=2)
    assert open_archive(tmp_path / "a").version == 0
    assert open_archive(tmp_path / "a").quarantine().num_rows == 0
    assert not multiprocessing.active_children()
    monkeypatch.setattr(Stager, "check", real)
    again = append(batch, archive=tmp_path / "a", jobs=2)  # the run can simply be repeated
    assert again.input == 660 and verify(tmp_path / "a").ok


def test_ids_another_run_commits_meanwhile_are_taken_out_of_the_written_files(tmp_path, record, monkeypatch):
    """Between our files being written and our commit, another run archives some of our ids: the
    commit is retried, and only the files holding those ids are rewritten without them."""
    mine = write_jsonl(tmp_path / "mine.jsonl", [record(i, published_date=f"2021-0{1 + i % 3}-15")
                                                 for i in range(12)])
    theirs = write_jsonl(tmp_path / "theirs.jsonl", [record(i, title="theirs") for i in (4, 7)])  # 2021-02
    real = StagingPool.write

    def write_then_race(self, drop):
        files = real(self, drop)
        monkeypatch.setattr(StagingPool, "write", real)  # the other run writes as usual
        assert append([theirs], archive=tmp_path / "a", jobs=1).appended == 2
        return files

    monkeypatch.setattr(StagingPool, "write", write_then_race)
    result = append([mine], archive=tmp_path / "a", jobs=1)
    assert (result.version, result.appended, result.duplicates) == (2, 10, 2)
    titles = {r["id"]: r["title"] for r in rows(tmp_path / "a")}
    assert len(titles) == 12 and titles[record(4)["id"]] == titles[record(7)["id"]] == "theirs"
    assert titles[record(1)["id"]] == "Titre 1"
    report = verify(tmp_path / "a")
    assert report.ok, report.faults
    assert len(data_files(tmp_path / "a")) == len(open_archive(tmp_path / "a").dataset("articles").files)


def test_compressed_inputs_reach_the_workers_as_blocks(tmp_path, batch, monkeypatch):
    """A gzip input is read here and its blocks sent to the workers; same archive as plain files."""
    import gzip

    packed = []
    for path in batch:
        target = path.with_suffix(".jsonl.gz")
        target.write_bytes(gzip.compress(path.read_bytes()))
        packed.append(target)
    plain = append(batch, archive=tmp_path / "plain", jobs=1)
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 64 << 10)
    gz = append(packed, archive=tmp_path / "gz", jobs=2)
    assert plain.as_dict() | {"batch": None} == gz.as_dict() | {"batch": None}
    assert rows(tmp_path / "plain") == rows(tmp_path / "gz")
    lines = [open_archive(tmp_path / r).quarantine().sort_by([("file", "ascending"), ("line", "ascending")])
             .select(["line", "raw"]).to_pylist() for r in ("plain", "gz")]
    assert lines[0] == lines[1]
    assert not multiprocessing.active_children()


def test_a_worker_that_dies_while_writing_leaves_no_file_of_the_others(tmp_path, batch, monkeypatch):
    """One worker dies as the writing starts while the other is still writing: the run fails with one
    line once the other has answered, and the files that one wrote are removed too."""
    import time

    real = Stager.write

    def one_dies(self, drop):
        if self.name == "worker-1":
            os._exit(9)
        time.sleep(1.5)  # still writing when the death is noticed
        return real(self, drop)

    monkeypatch.setattr(Stager, "write", one_dies)
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 64 << 10)
    with pytest.raises(NewsarchiveError, match="worker process of the append died"):
        append(batch, archive=tmp_path / "a", jobs=2)
    assert open_archive(tmp_path / "a").version == 0
    assert data_files(tmp_path / "a") == []
    assert not multiprocessing.active_children()


def test_workers_are_forked_only_while_no_other_thread_runs(tmp_path, batch, monkeypatch):
    """Fork is only safe in a single-threaded process: the inputs' hashing thread starts after the
    workers are forked, and with another thread running the workers are spawned instead."""
    import threading

    from toolkit.core import executor as processes

    staging_module = importlib.import_module("toolkit.archive.staging")
    assert processes.start_context().get_start_method() == "fork"
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert processes.start_context().get_start_method() == "spawn"
    finally:
        stop.set()
        other.join()

    threads_at_start = []
    real = staging_module.start_context
    monkeypatch.setattr(staging_module, "start_context",
                        lambda: (threads_at_start.append(threading.active_count()), real())[1])
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 64 << 10)
    assert append(batch, archive=tmp_path / "a", jobs=2).input == 660
    assert threads_at_start == [1]
