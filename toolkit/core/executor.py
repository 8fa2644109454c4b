"""One executor for every stage: tasks in, results back in task order, a bounded number in flight.

Why one: validate, extract and append each had a pool of their own, with two `default_jobs`, the
worker set-up written twice and a worker's death reported three ways (or not at all: a killed
`multiprocessing.Pool` worker hung its caller). Here, once:

- `default_jobs()`: the cores this process may use (its CPU affinity: a container's share, not the
  host's count);
- `start_context()`: fork where it is safe, spawn otherwise;
- `prepare_worker()`: what every worker process does first (signals are the parent's to report; die
  with the parent, even after kill -9);
- `Executor.map(task, items)`: results in item order, at most `jobs * in_flight_per_job` items
  handed out at once (memory stays flat), a worker's error or death raised in the parent as one
  `NewsarchiveError` line.

The unit of work is a task over a shard of input (a byte range of a file, a chunk of pages), a
module-level function with per-worker state built once by `Task.setup`: what a cluster backend
(Ray) needs too, since it ships the function and the item, never the caller's objects.
`LocalExecutor` runs tasks in this machine's processes, `RayExecutor` (toolkit/core/_ray.py, imported
only when chosen) on a Ray cluster; `executor(jobs, backend)` picks one.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import multiprocessing
import multiprocessing.context
import os
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from toolkit.core.errors import NewsarchiveError, environment_error
from toolkit.core.interrupts import worker_signals

T = TypeVar("T")
R = TypeVar("R")

IN_FLIGHT_PER_JOB = 3  # items handed to each worker ahead: enough to keep it busy, few enough to bound memory


def default_jobs() -> int:
    """The cores this process may use (a container's share, not the host's count): the default `--jobs`."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def start_context() -> multiprocessing.context.BaseContext:
    """Fork where it is safe, spawn otherwise.

    Fork shares the parent's imports and needs no re-import of the caller's script (spawn needs an
    `if __name__ == "__main__"` guard there); it is only safe while the parent runs no other thread.
    """
    fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    return multiprocessing.get_context("fork" if fork else "spawn")


def prepare_worker(parent: int | None = None, *, interrupt_on_term: bool = False) -> None:
    """What every worker process does first: leave Ctrl-C to the parent (see `worker_signals`), and
    ask Linux to kill it if the parent dies, even by kill -9 (an orphan would wait on its queue forever)."""
    worker_signals(interrupt_on_term=interrupt_on_term)
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if parent is not None and os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)


def worker_died(what: str, exit_code: int | None, outcome: str = "nothing was written") -> NewsarchiveError:
    """The one line for a worker process that ended without an answer (killed, out of memory, crashed)."""
    code = "unknown" if exit_code is None else str(exit_code)
    return NewsarchiveError(f"a worker process of {what} died (exit code {code}, -9 is usually the out-of-memory "
                            f"killer); {outcome}: run again, with --jobs 1 or more memory")


@dataclass(frozen=True)
class WorkerFailure:
    """An exception raised in a worker, as a picklable answer: a user's error keeps its one line and
    exit code; anything else (a bug) keeps its traceback."""

    message: str
    exit_code: int | None  # None: not a NewsarchiveError, a bug

    @classmethod
    def of(cls, exc: BaseException, what: str) -> WorkerFailure:
        if isinstance(exc, NewsarchiveError):
            return cls(str(exc), exc.exit_code)
        refused = environment_error(exc)  # a full disk is the user's to fix: one line, not a traceback
        if refused is not None:
            return cls(f"{what}: {refused}", refused.exit_code)
        return cls(traceback.format_exc(), None)

    def error(self, worker: int | None = None) -> BaseException:
        """The exception to raise in the parent: the user's one line, or a bug with the worker's traceback."""
        if self.exit_code is None:
            return RuntimeError(f"{'a worker' if worker is None else f'worker {worker}'} failed:\n{self.message}")
        return NewsarchiveError(self.message, self.exit_code)


@dataclass(frozen=True)
class Done(Generic[R]):
    """An item whose result is already known (e.g. an input's end marker): passed through in its
    place in the order, never sent to a worker."""

    result: R


@dataclass(frozen=True)
class Task(Generic[T, R]):
    """What a worker runs: `run(item)` for each item, after `setup(*setup_args)` once per worker
    (per-worker state, such as a compiled schema, goes in module globals there).

    Both must be module-level functions and the arguments picklable: they travel to the worker.
    `inline`, when given, runs items in the calling process instead when no worker is started
    (it may use objects the caller already built); otherwise `setup` then `run` are called here.
    """

    run: Callable[[T], R]
    setup: Callable[..., None] | None = None
    setup_args: tuple = ()
    inline: Callable[[T], R] | None = field(default=None, compare=False)
    what: str = "the run"  # names the stage in a worker's error: "a worker process of validate died"


class Executor:
    """Where tasks run. Backends differ only in that; the contract is `map`'s."""

    jobs: int

    def map(self, task: Task[T, R], items: Iterable[T | Done[R]], *,
            in_flight_per_job: int = IN_FLIGHT_PER_JOB, min_items: int = 2) -> Iterator[R]:
        """`task.run(item)` for each item, in item order. Raises a worker's error (one line for a
        NewsarchiveError or an environment refusal) or `worker_died(...)`.

        Fewer than `min_items` real items (not `Done`), or one job: they run in this process.
        """
        raise NotImplementedError


def _call(run: Callable[[T], R], item: T, what: str) -> R | WorkerFailure:
    """In a worker: the task's result, or its exception as a WorkerFailure."""
    try:
        return run(item)
    except Exception as exc:
        return WorkerFailure.of(exc, what)


def _setup_worker(setup: Callable[..., None] | None, args: tuple, parent: int) -> None:
    prepare_worker(parent)
    if setup is not None:
        setup(*args)


class LocalExecutor(Executor):
    """Tasks in this machine's worker processes (`ProcessPoolExecutor`), or in this process for one job.

    Processes, not threads: Arrow's JSON parsing and lxml's HTML parsing do not scale across threads
    of one process (measured for Arrow: two threads barely beat one), while processes do.
    """

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = max(1, jobs or default_jobs())

    def map(self, task: Task[T, R], items: Iterable[T | Done[R]], *,
            in_flight_per_job: int = IN_FLIGHT_PER_JOB, min_items: int = 2) -> Iterator[R]:
        stream = iter(items)
        head: list[T | Done[R]] = []
        if self.jobs > 1:
            for item in stream:  # look ahead: is there enough work to start processes?
                head.append(item)
                if sum(not isinstance(x, Done) for x in head) >= min_items:
                    break
        everything = itertools.chain(head, stream)
        if self.jobs == 1 or sum(not isinstance(x, Done) for x in head) < min_items:
            yield from self._inline(task, everything)
            return
        pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=start_context(), initializer=_setup_worker,
                                   initargs=(task.setup, task.setup_args, os.getpid()))
        finished = False
        seen: dict[int, Any] = {}
        try:
            pending: deque[Future] = deque()
            limit = self.jobs * max(1, in_flight_per_job)
            for item in everything:
                pending.append(_done(item.result) if isinstance(item, Done) else
                               pool.submit(_call, task.run, item, task.what))
                _workers(pool, seen)
                while len(pending) > limit:
                    yield self._answer(pending.popleft())
            while pending:
                yield self._answer(pending.popleft())
            finished = True
        except BrokenProcessPool:  # from a result, or from `submit` once the pool knows
            raise worker_died(task.what, _dead_exit_code(pool, seen)) from None
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:  # an error or an interrupt: nothing the workers still do will be used
                _terminate(pool)

    @staticmethod
    def _inline(task: Task[T, R], items: Iterable[T | Done[R]]) -> Iterator[R]:
        run = task.inline
        if run is None:
            if task.setup is not None:
                task.setup(*task.setup_args)
            run = task.run
        for item in items:
            yield item.result if isinstance(item, Done) else run(item)

    @staticmethod
    def _answer(future: Future) -> Any:
        result = future.result()
        if isinstance(result, WorkerFailure):
            raise result.error()
        return result


BACKENDS = ("local", "ray")
EXECUTOR_VARIABLE = "NEWSARCHIVE_EXECUTOR"  # the backend when --executor is not given


def chosen_backend(backend: str | None = None) -> str:
    """The backend's name: `backend`, else $NEWSARCHIVE_EXECUTOR, else local."""
    return (backend or os.environ.get(EXECUTOR_VARIABLE) or "local").strip().lower()


def executor(jobs: int | None = None, backend: str | None = None, *, quiet: bool = True) -> Executor:
    """The executor for `--jobs` (default: `default_jobs()`, or the Ray cluster's CPUs) and `--executor`
    (default: $NEWSARCHIVE_EXECUTOR, else local). Ray is imported only here, only when chosen; `quiet`
    silences the note that a local Ray is started."""
    backend = chosen_backend(backend)
    if backend == "local":
        return LocalExecutor(jobs)
    if backend == "ray":
        try:
            from toolkit.core._ray import RayExecutor
        except ImportError as exc:
            if (exc.name or "ray").split(".")[0] != "ray":
                raise
            raise NewsarchiveError("the ray executor needs Ray: pip install 'newsarchive[ray]'") from None
        return RayExecutor(jobs, quiet=quiet)
    raise NewsarchiveError(f"executor {backend!r}: unknown; use local or ray (--executor, or {EXECUTOR_VARIABLE})")


def _done(result: Any) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


def _workers(pool: ProcessPoolExecutor, seen: dict[int, Any]) -> None:
    """Remember the pool's worker processes: once one dies, the pool may drop it from its own list
    before we ask, and only the dead one's exit code says why."""
    seen.update(getattr(pool, "_processes", None) or {})


def _dead_exit_code(pool: ProcessPoolExecutor, seen: dict[int, Any] | None = None) -> int | None:
    """The exit code of a pool worker that died (ProcessPoolExecutor only says that one did)."""
    procs = list({**(seen or {}), **(getattr(pool, "_processes", None) or {})}.values())
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(timeout=1)
    codes: list[int | None] = []
    for _ in range(40):
        codes = []
        for proc in procs:
            with contextlib.suppress(Exception):
                codes.append(proc.exitcode)
        # The pool's own thread may be reaping a dead worker right now: our wait then finds no child
        # and reads no code until that thread has stored it (seen: -15, a survivor's, reported).
        if None not in codes:
            break
        time.sleep(0.025)
    # The pool sends SIGTERM to the survivors once one died: the dead one's code is the other one.
    return next((c for c in codes if c not in (None, 0, -signal.SIGTERM)), next((c for c in codes if c), None))


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop at once: pending items cancelled, workers sent SIGTERM (they end quietly), then reaped."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.terminate()
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
