"""An interrupt never destroys committed data (toolkit/interrupts.py).

At each step of the append and compact protocols (the test-only hook NEWSARCHIVE_TEST_FAULT), the
run is stopped two ways: a KeyboardInterrupt in this process, and a CLI child process SIGKILLed
while it waits at that step. Afterwards the archive is at the old state or the new one (an
interrupted batch shows in `verify` only as not yet ledgered), and a rerun leaves every input line
archived once or quarantined, with `verify` clean. SIGINT and SIGTERM end every command with exit
status 130 and one line.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.archive.conftest import WAIT_SECONDS, clean_env, generate, go, start_cli, wait_for, write_jsonl
from tests.archive.test_reliability import processes_naming
from toolkit.archive import append, compact, open_archive, verify
from toolkit.archive.tables import file_actions
from toolkit.archive.verify import VerifyReport
from toolkit.core.interrupts import FAULT_STEPS, FAULT_VARIABLE, as_interrupt, held
from toolkit.sql import build_catalog, catalog_version, open_catalog

append_module = importlib.import_module("toolkit.archive.append")

APPEND_STEPS = ["append.staged", "append.commit", "append.committed", "ledger.quarantine", "ledger.batches",
                "ledger.indexed", "ledger.minhash", "ledger.clusters", "catalog.refresh"]
COMPACT_STEPS = ["compact.staged", "compact.commit", "compact.optimize", "compact.vacuum", "catalog.refresh"]


@dataclass
class World:
    """An archive of one batch (with a catalog), the next batch, and what appending it must give."""

    base: Path
    batch: Path
    before: list[str]  # ids before the batch
    after: list[str]  # ids after it
    expected: dict  # its ledger row (counts)
    quarantined: int  # quarantine rows after it


def ids(root) -> list[str]:
    return sorted(open_archive(root).articles().to_table(columns=["id"]).column("id").to_pylist())


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    tmp = tmp_path_factory.mktemp("interrupts")
    first = generate(tmp / "first.jsonl", 100, seed=1)
    # 300 new records, some lines damaged, and 40 records of the first batch again (duplicates of
    # archived ids); the CLI children cut it in blocks of SMALL_BLOCKS bytes, for its worker processes.
    generate(tmp / "new.jsonl", 300, start=100, seed=2, invalid_rate=0.05)
    batch = tmp / "batch.jsonl"
    batch.write_text((tmp / "new.jsonl").read_text() + "".join(first.read_text().splitlines(keepends=True)[:40]))
    base = tmp / "base"
    append([first], archive=base)
    build_catalog(base)
    reference = tmp / "reference"
    shutil.copytree(base, reference)
    append([batch], archive=reference)
    ledger = open_archive(reference).batches().to_pylist()
    assert len(ledger) == 2 and ledger[-1]["duplicates"] == 40 and ledger[-1]["quarantined"] > 0
    return World(base, batch, ids(base), ids(reference), ledger[-1],
                 open_archive(reference).quarantine().num_rows)


def only_an_unledgered_batch(report: VerifyReport) -> bool:
    """Clean, or its faults are a batch committed but not yet in the ledger, or not yet indexed for
    near-duplicates (its articles without bands)."""
    faults = {c.name: c.detail for c in report.faults}
    return (not set(faults) - {"ledger", "near-duplicate bands"}
            and ("ledger" not in faults or "interrupted" in faults["ledger"])
            and ("near-duplicate bands" not in faults or "interrupted" in faults["near-duplicate bands"]))


def files_on_disk(root: Path, table: str) -> set[str]:
    folder = root / table
    return {str(p.relative_to(folder)) for p in folder.rglob("*.parquet")}


def referenced(root: Path, table: str) -> set[str]:
    """The files the table's current version names."""
    return set(file_actions(open_archive(root).table(table)).column("path").to_pylist())


def check_append_settles(root: Path, world: World, *, cleaned: bool) -> None:
    """The archive is at the old state or the new one; a rerun completes it exactly once."""
    state = ids(root)
    assert state in (world.before, world.after)
    report = verify(root)
    assert report.ok if state == world.before else only_an_unledgered_batch(report), report.faults
    if cleaned:  # interrupted in this process: no data file left behind, none referenced missing
        assert files_on_disk(root, "articles") == referenced(root, "articles")

    rerun = append([world.batch], archive=root)
    if state == world.after:  # committed: the rerun only completes the ledger (if needed)
        assert rerun.noop
    else:
        assert (rerun.input, rerun.appended, rerun.duplicates, rerun.quarantined) == (
            world.expected["input"], world.expected["appended"], world.expected["duplicates"],
            world.expected["quarantined"])
    archive = open_archive(root)
    assert ids(root) == world.after  # nothing lost, nothing twice
    ledger = archive.batches().to_pylist()
    assert len(ledger) == 2
    assert {k: ledger[-1][k] for k in ("input", "appended", "duplicates", "quarantined")} == {
        k: world.expected[k] for k in ("input", "appended", "duplicates", "quarantined")}
    assert archive.quarantine().num_rows == world.quarantined
    report = verify(root)
    assert report.ok, report.faults
    if cleaned:  # the quarantine file of a committed batch was kept for its quarantine commit
        for table in ("articles", "quarantine"):
            assert files_on_disk(root, table) == referenced(root, table), table
    catalog = root / "catalog.duckdb"  # the catalog shows it all too
    assert catalog_version(catalog) == archive.version
    con = open_catalog(catalog)
    try:
        assert con.execute("SELECT count(*) FROM batches").fetchone()[0] == 2
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == len(world.after)
    finally:
        con.close()


SMALL_BLOCKS = 64 << 10
# The CLI, with the append cutting its inputs in small blocks (so that a small batch has several,
# and worker processes stage them).
_CLI = ("import importlib, sys\n"
        f"importlib.import_module('toolkit.archive.append').BLOCK_BYTES = {SMALL_BLOCKS}\n"
        "from toolkit.cli import main\n"
        "main(sys.argv[1:])\n")


def cli(*args: str, env: dict[str, str], **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=clean_env(**env), **popen)


def kill_at(step: str, root: Path, tmp_path: Path, *args: str) -> None:
    """Run the CLI until it waits at `step`, then SIGKILL it (its workers die with it)."""
    marker = tmp_path / f"at-{step}"
    proc = cli(*args, "--archive", str(root), env={FAULT_VARIABLE: f"{step}:hang:{marker}"})
    wait_for(marker, proc, step)
    proc.kill()
    proc.communicate()
    deadline = time.monotonic() + 10
    while processes_naming(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_naming(root)


# --- append -----------------------------------------------------------------------------------------
def test_every_step_has_a_test():
    ray_steps = {"append.write"}  # tests/ray/test_ray.py kills a Ray worker there
    assert set(APPEND_STEPS) | set(COMPACT_STEPS) | {"append.staging"} | ray_steps == set(FAULT_STEPS)


@pytest.mark.parametrize("step", APPEND_STEPS)
def test_append_interrupted_at_each_step(step, world, tmp_path, monkeypatch):
    root = tmp_path / "a"
    shutil.copytree(world.base, root)
    monkeypatch.setenv(FAULT_VARIABLE, f"{step}:interrupt")
    with pytest.raises(KeyboardInterrupt):
        append([world.batch], archive=root, jobs=1)
    monkeypatch.delenv(FAULT_VARIABLE)
    check_append_settles(root, world, cleaned=True)


@pytest.mark.parametrize("step", APPEND_STEPS)
def test_append_killed_at_each_step(step, world, tmp_path):
    """SIGKILL: nothing runs after the step (no clean-up); files no version references may remain."""
    root = tmp_path / "a"
    shutil.copytree(world.base, root)
    kill_at(step, root, tmp_path, "append", str(world.batch), "--quiet", "--jobs", "2")
    check_append_settles(root, world, cleaned=False)


def test_a_signal_during_the_commit_call_is_held_until_the_commit_is_written(world, tmp_path, monkeypatch):
    """SIGINT arrives as deltalake starts the articles commit: the commit is still made (then the
    interrupt ends the run), rather than abandoned half-way in Python code."""
    root = tmp_path / "a"
    shutil.copytree(world.base, root)
    real = DeltaTable.create_write_transaction
    calls = []

    def signalled(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the articles commit
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "create_write_transaction", signalled)
    with pytest.raises(KeyboardInterrupt):
        append([world.batch], archive=root, jobs=1)
    monkeypatch.undo()
    assert ids(root) == world.after  # committed, and its files kept
    check_append_settles(root, world, cleaned=True)


def test_a_catalog_written_before_the_ledger_row_is_rewritten_when_the_batch_is_completed(world, tmp_path,
                                                                                         monkeypatch):
    """Interrupted after the articles commit; a catalog is then written at that version (its batches
    view without the batch). The run that completes the batch rewrites it, though the version is the same."""
    root = tmp_path / "a"
    shutil.copytree(world.base, root)
    monkeypatch.setenv(FAULT_VARIABLE, "append.committed:interrupt")
    with pytest.raises(KeyboardInterrupt):
        append([world.batch], archive=root, jobs=1)
    monkeypatch.delenv(FAULT_VARIABLE)
    build_catalog(root)
    assert append([world.batch], archive=root).repaired
    check_append_settles(root, world, cleaned=True)


def test_held_delivers_sigterm_after_the_block():
    reached = []
    with as_interrupt(), pytest.raises(KeyboardInterrupt):
        with held():
            os.kill(os.getpid(), signal.SIGTERM)
            reached.append("in")
        reached.append("after")
    assert reached == ["in"]


# --- compact ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_files(tmp_path_factory) -> Path:
    """An archive of five small batches over two months (compaction has files to merge)."""
    tmp = tmp_path_factory.mktemp("compact")
    root = tmp / "base"
    for b in range(5):
        records = [{"id": f"{b * 100 + i:032x}", "source": "Le360", "title": f"T {b} {i}", "text": "x",
                    "published_date": f"2021-0{1 + i % 2}-15", "language": "fr"} for i in range(30)]
        append([write_jsonl(tmp / f"{b}.jsonl", [*records, f"broken {b}"])], archive=root)
    build_catalog(root)
    return root


def rows(root: Path) -> list[dict]:
    return open_archive(root).articles().to_table().sort_by("id").to_pylist()


def check_compact_settles(root: Path, before: list[dict]) -> None:
    assert rows(root) == before
    report = verify(root)
    assert report.ok, report.faults
    compact(root, retention_hours=0, force=True)
    assert rows(root) == before
    report = verify(root)
    assert report.ok, report.faults
    archive = open_archive(root)
    assert len(referenced(root, "articles")) == 2  # one file per month once merged
    assert files_on_disk(root, "articles") == referenced(root, "articles")  # vacuumed
    assert catalog_version(root / "catalog.duckdb") == archive.version


@pytest.mark.parametrize("step", COMPACT_STEPS)
def test_compact_interrupted_at_each_step(step, small_files, tmp_path, monkeypatch):
    root = tmp_path / "a"
    shutil.copytree(small_files, root)
    before = rows(root)
    monkeypatch.setenv(FAULT_VARIABLE, f"{step}:interrupt")
    with pytest.raises(KeyboardInterrupt):
        compact(root, retention_hours=0, force=True)
    monkeypatch.delenv(FAULT_VARIABLE)
    check_compact_settles(root, before)


@pytest.mark.parametrize("step", COMPACT_STEPS)
def test_compact_killed_at_each_step(step, small_files, tmp_path):
    root = tmp_path / "a"
    shutil.copytree(small_files, root)
    before = rows(root)
    kill_at(step, root, tmp_path, "compact", "--retention-hours", "0", "--force")
    check_compact_settles(root, before)


# --- SIGINT and SIGTERM: exit 130, one line, for every command ----------------------------------
_HANG_ON_OPEN = (
    "import sys, time\n"
    "from deltalake import DeltaTable\n"
    "def opening(self, *args, **kwargs):\n"
    "    open(sys.argv[1], 'w').close()\n"
    "    while True:\n"
    "        time.sleep(60)\n"
    "DeltaTable.__init__ = opening\n"
    "from toolkit.cli import main\n"
    "main(sys.argv[2:])\n"
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sql_interrupted_inside_the_query(sig, world, tmp_path):
    """The signal arrives while DuckDB writes the rows of an endless query (its temporary output is
    growing): exit 130, one line, and no partial output file."""
    out = tmp_path / "out.csv"
    proc = start_cli("sql", "SELECT i FROM range(1000000000000) t(i)", "--archive", str(world.base),
                     "--format", "csv", "--output", str(out))
    go(proc)
    deadline = time.monotonic() + WAIT_SECONDS
    while not any(p.name.startswith(".out.csv.") and p.stat().st_size > 0 for p in tmp_path.iterdir()):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (130, "newsarchive: interrupted\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", [["search", "Maroc"], ["sql", "SELECT count(*) FROM articles"]],
                         ids=lambda c: c[0])
def test_commands_end_with_130_and_one_line(command, sig, world, tmp_path):
    marker = tmp_path / "opening"
    proc = subprocess.Popen([sys.executable, "-c", _HANG_ON_OPEN, str(marker), *command, "--archive",
                             str(world.base)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    wait_for(marker, proc, command[0])
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (130, "newsarchive: interrupted\n")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_append_with_workers_interrupted_as_a_process_group(sig, world, tmp_path):
    """Ctrl-C (or a service manager's SIGTERM) reaches the append and its worker processes at once,
    while a worker validates a block: one line, exit 130, no worker left, nothing committed."""
    root = tmp_path / "a"
    shutil.copytree(world.base, root)
    marker = tmp_path / "staging"
    proc = cli("append", str(world.batch), "--archive", str(root), "--quiet", "--jobs", "2", start_new_session=True,
               env={FAULT_VARIABLE: f"append.staging:hang:{marker}"})
    wait_for(marker, proc, "append")
    while not marker.read_text():
        time.sleep(0.01)
    assert int(marker.read_text().split()[0]) != proc.pid  # a worker process waits there
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (130, "newsarchive: interrupted\n")
    deadline = time.monotonic() + 10
    while processes_naming(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_naming(root)
    assert ids(root) == world.before and verify(root).ok
    assert files_on_disk(root, "articles") == referenced(root, "articles")
