"""Interrupts (Ctrl-C, SIGTERM) that never break a commit, and the test-only fault hook.

Why this exists: a signal that arrives while deltalake writes a commit reaches Python only when the
call returns, that is after the commit landed. A run that then decided "committed or not" from a
flag set after the call deleted the data files its own commit references. So, everywhere newsarchive
commits (append, the quarantine and ledger commits, compact, the catalog's rename):

- whether a commit landed is read back from the Delta log (the batch's transaction id), never from
  a Python flag;
- SIGINT and SIGTERM are held back for the few milliseconds of the commit call (`held`), then
  delivered: the commit is never abandoned half-way in Python code.

The command line turns SIGTERM into the same interrupt as Ctrl-C (`as_interrupt`): every command
ends with exit status 130 and one line, and an error that merely wraps an interrupt (DuckDB's
"Query interrupted", a worker process that got the signal too) is reported as the interrupt.

**Test hook** (test-only, documented in docs/archive-layout.md): `NEWSARCHIVE_TEST_FAULT=STEP:ACTION`
makes `fault(STEP)` act at that protocol step (several steps: `STEP:ACTION;STEP:ACTION`): `interrupt`
raises KeyboardInterrupt there, `hang:PATH` creates the file PATH and sleeps until the process is
killed (a test then SIGKILLs it at exactly that step), `pause:PATH` creates PATH and waits until
PATH.go exists, then goes on (a test runs another command meanwhile: two appends interleaved at
exactly that step), `kill` makes the process SIGKILL itself there every time, `kill-once:PATH` only
the first time any process reaches the step (it creates PATH; a Ray task retried after that runs
through).
Unset, `fault` does nothing. The steps are listed in FAULT_STEPS.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
FAULT_VARIABLE = "NEWSARCHIVE_TEST_FAULT"

#: Where `fault` can act, in protocol order.
FAULT_STEPS = (
    "append.staging",  # a block being validated (in a worker process when there are several)
    "append.staged",  # data files written, nothing committed
    "append.commit",  # inside the articles commit call, once the log entry is written
    "append.committed",  # after the articles commit, before the quarantine and ledger commits
    "ledger.quarantine",  # inside the quarantine commit call, once its log entry is written
    "ledger.batches",  # inside the ledger commit call, once its log entry is written
    "ledger.indexed",  # near-duplicate bands written and clusters found, neither committed
    "ledger.minhash",  # inside the near-duplicate bands commit call, once its log entry is written
    "ledger.clusters",  # inside the near-duplicate clusters commit call, once its log entry is written
    "catalog.refresh",  # the new catalog written under its temporary name, not yet renamed
    "compact.staged",  # merged files written, nothing committed
    "compact.commit",  # inside compact's articles commit call, once the log entry is written
    "compact.optimize",  # quarantine and ledger compacted, nothing vacuumed
    "compact.vacuum",  # articles vacuumed, the other tables not yet
    "append.write",  # a Ray task of the append has written one of its data files (tests/ray)
)

_received: list[int] = []  # signals `as_interrupt` turned into KeyboardInterrupt


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: object) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def _handling(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """SIGINT and SIGTERM go to `handler` inside the block, and back to what they were after. A signal
    that is ignored (`nohup`, a background job) or handled outside Python (None) is left alone."""
    previous = {}
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current is not signal.SIG_IGN and current is not None:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, current in previous.items():
            signal.signal(signum, current)


@contextlib.contextmanager
def as_interrupt() -> Iterator[None]:
    """For the command line: SIGINT and SIGTERM raise KeyboardInterrupt, and are remembered.

    A signal that is ignored (a background job started with `nohup` or `&`) stays ignored.
    """
    _received.clear()
    if not _in_main_thread():
        yield
        return
    with _handling(_raise_interrupt):
        yield


def worker_signals(interrupt_on_term: bool = False) -> None:
    """In a worker process: Ctrl-C (sent to the whole process group) is left to the parent, which
    reports it and stops its workers; SIGTERM ends the worker quietly (a forked worker would
    otherwise inherit the command line's handler and print a traceback). With `interrupt_on_term`,
    SIGTERM raises KeyboardInterrupt once instead, so the worker can remove what it was writing."""
    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one interrupt: the clean-up must not be cut short
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop if interrupt_on_term else signal.SIG_DFL)


def interrupted() -> bool:
    """Whether this process got SIGINT or SIGTERM under `as_interrupt` (then any failure is that)."""
    return bool(_received)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends, then deliver them (main thread only).

    For the commit calls only: they take milliseconds, and a commit must not be left half-done in
    Python code around the Rust call. Signals ignored, or set outside Python, are left alone.
    """
    if not _in_main_thread():
        yield
        return
    pending: list[int] = []

    def defer(signum: int, frame: object) -> None:
        pending.append(signum)

    try:
        with _handling(defer):
            yield
    finally:  # even when the commit failed: the signal still ends the run
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)  # the handler restored on leaving `_handling` runs now


def fault(step: str) -> None:
    """The test hook: act at `step` if NEWSARCHIVE_TEST_FAULT names it (see the module docstring)."""
    setting = os.environ.get(FAULT_VARIABLE)
    if not setting:
        return
    for one in setting.split(";"):  # several steps: STEP:ACTION;STEP:ACTION
        wanted, _, action = one.partition(":")
        if wanted == step:
            _act(step, action, setting)


def _act(step: str, action: str, setting: str) -> None:
    if action == "interrupt":
        raise KeyboardInterrupt
    if action == "kill" or action.startswith("kill-once:"):
        if action != "kill":
            try:  # exactly one process wins the marker, once
                os.close(os.open(action[len("kill-once:"):], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
        os.kill(os.getpid(), signal.SIGKILL)
    if action.startswith("pause:"):
        path = action[len("pause:"):]
        _mark(path, step)
        deadline = time.monotonic() + PAUSE_SECONDS
        while not os.path.exists(f"{path}.go"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{FAULT_VARIABLE}: paused at {step} for {PAUSE_SECONDS} s, {path}.go never came")
            time.sleep(0.02)
        return
    if action.startswith("hang:"):
        _mark(action[len("hang:"):], step)
        while True:  # until the test kills this process
            time.sleep(60)
    raise ValueError(f"{FAULT_VARIABLE}={setting!r}: the action is interrupt, hang:PATH, pause:PATH, kill or "
                     "kill-once:PATH")


PAUSE_SECONDS = 120  # how long `pause:PATH` waits for PATH.go


def _mark(path: str, step: str) -> None:
    """Create `path` naming this process and `step`, whole when it appears (even if two processes
    reach the step at once)."""
    with open(f"{path}.{os.getpid()}", "w") as marker:
        marker.write(f"{os.getpid()} {step}\n")
    os.replace(f"{path}.{os.getpid()}", path)
