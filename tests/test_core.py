"""toolkit.core: the executor every stage runs on, and the one atomic-write helper.

Real worker processes throughout; a worker's death is a SIGKILL it sends itself at a chosen item.
"""

from __future__ import annotations

import errno
import os
import signal

import pytest

from toolkit.core.errors import NewsarchiveError
from toolkit.core.executor import Done, LocalExecutor, Task, default_jobs
from toolkit.core.outputs import atomic_path, install_folder

_OFFSET = 0


def _setup(offset: int) -> None:
    global _OFFSET
    _OFFSET = offset


def _square(n: int) -> tuple[int, int]:
    """(n * n + the worker's offset, the worker's pid): per-worker state from `setup`."""
    return n * n + _OFFSET, os.getpid()


def _die_at_five(n: int) -> int:
    if n == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return n


def _fail_at_three(n: int) -> int:
    if n == 3:
        raise NewsarchiveError(f"input {n}: damaged; fix it", 1)
    if n == 4:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out")
    return n


def test_results_come_back_in_order_from_several_workers():
    task = Task(_square, _setup, (1000,), what="a test")
    results = list(LocalExecutor(2).map(task, range(40)))
    assert [value for value, _ in results] == [n * n + 1000 for n in range(40)]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and len(pids) >= 1  # ran in worker processes


def test_done_items_keep_their_place_and_never_travel():
    items = [1, Done("end of a"), 2, 3, Done("end of b")]
    results = list(LocalExecutor(2).map(Task(_square), items))
    assert [r if isinstance(r, str) else r[0] for r in results] == [1, "end of a", 4, 9, "end of b"]


def test_one_job_or_one_item_runs_in_this_process_with_the_inline_function():
    inline = Task(_square, _setup, (0,), inline=lambda n: ("inline", n))
    assert list(LocalExecutor(1).map(inline, [1, 2])) == [("inline", 1), ("inline", 2)]
    assert list(LocalExecutor(4).map(inline, [7, Done("end")])) == [("inline", 7), "end"]


def test_work_in_flight_is_bounded():
    """The executor pulls items only as results are taken: memory stays flat on a huge input."""
    pulled = []

    def items():
        for n in range(200):
            pulled.append(n)
            yield n

    ex = LocalExecutor(2)
    taken = 0
    for _ in ex.map(Task(_square), items(), in_flight_per_job=3):
        taken += 1
        assert len(pulled) - taken <= 2 * 3 + 1, (len(pulled), taken)
    assert taken == 200


def test_a_dead_worker_is_one_line_not_a_hang():
    with pytest.raises(NewsarchiveError) as caught:
        list(LocalExecutor(2).map(Task(_die_at_five, what="extract"), range(20)))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("a worker process of extract died (exit code -9")
    assert caught.value.exit_code == 2


def test_a_workers_error_keeps_its_line_and_exit_code():
    with pytest.raises(NewsarchiveError) as caught:
        list(LocalExecutor(2).map(Task(_fail_at_three), range(10)))
    assert str(caught.value) == "input 3: damaged; fix it" and caught.value.exit_code == 1
    with pytest.raises(NewsarchiveError, match=r"^the run: /data/out: no space left on the device; free some space"):
        list(LocalExecutor(2).map(Task(_fail_at_three), [4, 5, 6]))


def test_default_jobs_is_the_cores_this_process_may_use():
    assert default_jobs() == len(os.sched_getaffinity(0))


def test_every_stage_takes_default_jobs_from_core():
    import importlib

    append, runner, validate = (importlib.import_module(name) for name in
                                ("toolkit.archive.append", "toolkit.extract.runner", "toolkit.validate"))
    assert append.default_jobs is runner.default_jobs is validate.default_jobs is default_jobs


def test_atomic_path_renames_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(ValueError), atomic_path(target, "report") as temporary:
        temporary.write_text("half")
        raise ValueError("the writer failed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    with atomic_path(target, "report") as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".out.txt.")
        temporary.write_text("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_atomic_path_refuses_a_folder_and_a_missing_folder_in_one_line(tmp_path):
    with pytest.raises(NewsarchiveError, match="is a folder; give the report a file name"), \
            atomic_path(tmp_path, "report"):
        pass
    with pytest.raises(NewsarchiveError, match="its folder does not exist; create it first"), \
            atomic_path(tmp_path / "no" / "x.csv", "rows", make_parent=False):
        pass


def test_install_folder_swaps_a_finished_folder_in(tmp_path):
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "old").write_text("1")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "new").write_text("2")
    install_folder(tmp_path / "build", tmp_path / "index")
    assert os.listdir(tmp_path) == ["index"] and os.listdir(tmp_path / "index") == ["new"]


def test_extract_reports_a_killed_worker_in_one_line(tmp_path, monkeypatch):
    """extract runs on the executor: a worker killed mid-run is one line (multiprocessing.Pool hung)."""
    import importlib
    import multiprocessing

    # Forked workers see the patched task (spawn would re-import the module); the rule would pick
    # spawn if an earlier test left a thread running.
    monkeypatch.setattr(importlib.import_module("toolkit.core.executor"), "start_context",
                        lambda: multiprocessing.get_context("fork"))
    runner = importlib.import_module("toolkit.extract.runner")
    real = runner._run_task

    def run_task(task: tuple):
        if task[0] == "file" and task[1].endswith("p5.html"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(task)

    monkeypatch.setattr(runner, "_run_task", run_task)
    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(12):
        (pages / f"p{i}.html").write_text(f"<html><head><title>Page {i}</title></head>"
                                             f"<body><p>Text of page {i}.</p></body></html>")
    with pytest.raises(NewsarchiveError, match=r"^a worker process of extract died \(exit code -9"):
        runner.extract([pages], tmp_path / "out.jsonl", jobs=2)
    assert os.listdir(tmp_path) == ["pages"]  # no output, not even its temporary file


def test_a_signal_held_during_a_failed_commit_still_ends_the_run():
    """held() delivers what it held back even when the commit call raised, and restores the handlers."""
    from toolkit.core.interrupts import as_interrupt, held, interrupted

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), as_interrupt(), held():
        signal.raise_signal(signal.SIGTERM)  # held back: nothing happens yet
        raise ValueError("the commit failed")
    assert interrupted() and signal.getsignal(signal.SIGINT) is before


def test_an_ignored_signal_stays_ignored():
    """A command started with nohup (SIGINT ignored) is not made interruptible by the CLI's handler."""
    from toolkit.core.interrupts import as_interrupt, held

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with as_interrupt(), held():
            signal.raise_signal(signal.SIGINT)  # ignored, not deferred nor raised
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_dead_workers_code_is_read_once_the_pool_has_stored_it():
    """ProcessPoolExecutor's own thread may be reaping the dead worker when we look: its exit code
    reads None for a moment, and the survivor's -15 (sent by the pool) was reported instead of -9."""
    from toolkit.core import executor

    class Proc:
        def __init__(self, codes):
            self.codes = list(codes)

        def join(self, timeout=None):
            pass

        @property
        def exitcode(self):
            return self.codes.pop(0) if len(self.codes) > 1 else self.codes[0]

    class Pool:
        _processes = {1: Proc([None, None, None, -signal.SIGKILL]), 2: Proc([-signal.SIGTERM])}

    assert executor._dead_exit_code(Pool()) == -signal.SIGKILL
