"""Crashes and concurrency, with real processes: kill -9 mid-append, interrupted commits, racing writers."""

from __future__ import annotations

import importlib
import json
import os
import random
import shutil
import time

import pyarrow.compute as pc
import pytest

from tests.archive.conftest import generate, go, start_cli, write_jsonl
from toolkit.archive import append, open_archive, verify

append_module = importlib.import_module("toolkit.archive.append")  # the package exports a function of that name
ledger_module = importlib.import_module("toolkit.archive.ledger")


def processes_naming(path) -> list[int]:
    """Processes whose command line mentions `path` (the CLI and the workers it forked)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if str(path).encode() in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def ids(root) -> list[str]:
    return open_archive(root).articles().to_table(columns=["id"]).column("id").to_pylist()


def test_kill_9_at_random_moments_then_rerun(tmp_path, shared_dir):
    """The archive opens at the old version or the new one, never between; a rerun completes it once."""
    base = tmp_path / "base"
    first = generate(tmp_path / "first.jsonl", 200, seed=1)
    batch = generate(tmp_path / "batch.jsonl", 2000, start=200, seed=2, invalid_rate=0.02)  # 2 blocks: workers
    append([first], archive=base)
    before = sorted(ids(base))

    reference = tmp_path / "reference"  # how long the work takes, and what it yields, without a kill
    shutil.copytree(base, reference)
    proc = start_cli("append", str(batch), "--archive", str(reference), "--quiet")
    trials = []
    for t in range(3):  # these import while the reference runs
        root = tmp_path / f"trial{t}"
        shutil.copytree(base, root)
        trials.append((root, start_cli("append", str(batch), "--archive", str(root), "--quiet")))
    go(proc)
    started = time.monotonic()
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    duration = time.monotonic() - started
    expected = open_archive(reference).batches().to_pylist()[-1]
    after = sorted(ids(reference))

    rng = random.Random(4)  # they run side by side, each killed at its own moment
    schedule = sorted((rng.uniform(0.05, 1.2) * duration, i) for i in range(len(trials)))
    go(*(proc for _, proc in trials))
    started = time.monotonic()
    for delay, i in schedule:
        time.sleep(max(0.0, started + delay - time.monotonic()))
        trials[i][1].kill()
    for _, proc in trials:
        proc.wait()
    for root, _ in trials:  # the killed runs' worker processes die with them
        deadline = time.monotonic() + 10
        while processes_naming(root) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not processes_naming(root)

    for root, _ in trials:
        archive = open_archive(root)
        assert archive.version in (1, 2) and sorted(ids(root)) == (before if archive.version == 1 else after)
        rerun = append([batch], archive=root)
        assert rerun.noop or (rerun.appended, rerun.duplicates, rerun.quarantined) == (
            expected["appended"], expected["duplicates"], expected["quarantined"])
        assert sorted(ids(root)) == after  # nothing lost, nothing twice
        ledger = open_archive(root).batches()
        assert ledger.num_rows == 2 and ledger.column("appended").to_pylist()[-1] == expected["appended"]
        assert open_archive(root).quarantine().num_rows == expected["quarantined"]
        report = verify(root)
        assert report.ok, report.faults


def test_crash_between_commits_is_completed_by_the_next_run(tmp_path, record, monkeypatch):
    """Articles committed, then the process dies before the quarantine and ledger commits."""
    batch = write_jsonl(tmp_path / "b.jsonl", [record(1), record(2), "broken line"])

    def die(archive, rec, **options):
        raise KeyboardInterrupt  # as if killed right after the articles commit

    monkeypatch.setattr(append_module, "complete", die)
    with pytest.raises(KeyboardInterrupt):
        append([batch], archive=tmp_path / "a")
    monkeypatch.undo()
    archive = open_archive(tmp_path / "a")
    assert archive.version == 1 and sorted(ids(tmp_path / "a")) == sorted([record(1)["id"], record(2)["id"]])
    assert archive.batches().num_rows == 0 and archive.quarantine().num_rows == 0
    report = verify(tmp_path / "a")
    assert not report.ok and any("interrupted" in c.detail for c in report.faults)

    again = append([batch], archive=tmp_path / "a")  # the rerun completes the batch, then has nothing to do
    assert again.noop and len(again.repaired) == 1
    archive = open_archive(tmp_path / "a")
    assert archive.version == 1 and archive.batches().column("quarantined").to_pylist() == [1]
    assert archive.quarantine().column("raw").to_pylist() == ["broken line"]
    assert verify(tmp_path / "a").ok


def test_crash_after_the_quarantine_commit_records_it_once(tmp_path, record, monkeypatch):
    batch = write_jsonl(tmp_path / "b.jsonl", [record(1), "bad 1", "bad 2"])
    real = ledger_module.BatchRecord.ledger_row  # the ledger commit is interrupted while it builds the row
    monkeypatch.setattr(ledger_module.BatchRecord, "ledger_row",
                        lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        append([batch], archive=tmp_path / "a")
    monkeypatch.setattr(ledger_module.BatchRecord, "ledger_row", real)
    assert open_archive(tmp_path / "a").quarantine().num_rows == 2
    other = write_jsonl(tmp_path / "c.jsonl", [record(5)])
    result = append([other], archive=tmp_path / "a")  # any later append completes the interrupted one
    assert result.appended == 1 and len(result.repaired) == 1
    archive = open_archive(tmp_path / "a")
    assert archive.quarantine().num_rows == 2 and archive.batches().num_rows == 2
    assert verify(tmp_path / "a").ok


def test_concurrent_appends_from_separate_processes(tmp_path, record):
    """Four disjoint batches, one made of lines of two of them, and a copy of a third under another
    name, appended at once by six processes to an archive that does not exist yet."""
    months = ["2021-01-15", "2021-02-15", "2021-03-15"]
    batches = [write_jsonl(tmp_path / f"b{b}.jsonl", [record(b * 300 + i, published_date=months[i % 3])
                                                      for i in range(300)]) for b in range(4)]
    lines = [b.read_text(encoding="utf-8").splitlines(keepends=True) for b in batches[:2]]
    overlap = tmp_path / "overlap.jsonl"
    overlap.write_text("".join(lines[0][150:] + lines[1][:150]), encoding="utf-8")
    copy = tmp_path / "copy-of-b2.jsonl"
    shutil.copy(batches[2], copy)
    root = tmp_path / "a"
    procs = [start_cli("append", str(b), "--archive", str(root), "--format", "json", "--quiet")
             for b in [*batches, overlap, copy]]
    go(*procs)
    outputs = [proc.communicate(timeout=180) for proc in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err.decode() for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert sum(r["appended"] for r in results) == 1200  # every id once, whoever won each race
    archive = open_archive(root)
    stored = archive.articles().to_table(columns=["id"]).column("id")
    assert len(stored) == 1200 and pc.count_distinct(stored).as_py() == 1200
    ledger = archive.batches()
    assert ledger.num_rows == 5 and sorted(ledger.column("version").to_pylist()) == [1, 2, 3, 4, 5]
    assert archive.version == 5  # the copy of b2 was recognised by its SHA-256: no commit of its own
    report = verify(root)
    assert report.ok, report.faults


def test_history_versions_stay_right_when_a_commit_lands_while_reading(tmp_path, record, monkeypatch):
    """deltalake numbers history() from the version it loaded but lists the commits in storage: a
    commit landing in between would shift every label (and repair would record wrong versions)."""
    from deltalake import DeltaTable

    root = tmp_path / "a"
    append([write_jsonl(tmp_path / "1.jsonl", [record(1)])], archive=root)
    real_history = DeltaTable.history
    late = [write_jsonl(tmp_path / "2.jsonl", [record(2)])]

    def history_after_a_commit(self, limit=None):
        if late:
            append([late.pop()], archive=root)  # lands after the table was loaded
        return real_history(self, limit)

    monkeypatch.setattr(DeltaTable, "history", history_after_a_commit)
    versions = [(r.version, r.files[0]["name"]) for r in ledger_module.committed_batches(open_archive(root))]
    assert versions == [(1, str(tmp_path / "1.jsonl")), (2, str(tmp_path / "2.jsonl"))]
