"""The Ray backend of the executor: the same `map(task, items)` contract, tasks on a Ray cluster.

Imported only when `--executor ray` (or NEWSARCHIVE_EXECUTOR=ray) is chosen: `import ray` costs
about a second, which no other command should pay.

Why it looks like `LocalExecutor`: a `Task` is already what a cluster needs (a module-level function,
per-worker state built by `setup`, picklable items that name their input rather than carry it), so
Ray only changes where `run(item)` happens. The rules kept:

- results in item order, at most `jobs * in_flight_per_job` tasks submitted ahead (head-of-line,
  like the local pool: memory on the driver stays flat);
- a task's `NewsarchiveError` comes back as the same line and exit code (`WorkerFailure`);
- a worker process or node lost mid-task is Ray's to retry (`max_retries`, 3 or
  $NEWSARCHIVE_RAY_RETRIES): the task runs
  again from its item, so a task must be idempotent (the append's tasks write files under names
  fixed by the item, so a retry overwrites what a dead attempt left);
- a task that cannot finish even so ends the run with one line, exit 2.

The cluster is the one RAY_ADDRESS names; without it a local Ray is started with `jobs` CPUs and no
dashboard. Workers run in the driver's working directory when the node has it (relative paths then
mean the same on one machine or on a shared file system), and the job's workers get the driver's
AWS_* settings (the archive on S3) and the test-only fault hook.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import ray
import ray.exceptions

from toolkit.core.errors import NewsarchiveError
from toolkit.core.executor import IN_FLIGHT_PER_JOB, Done, Executor, Task, WorkerFailure
from toolkit.core.interrupts import FAULT_VARIABLE

T = TypeVar("T")
R = TypeVar("R")

RETRIES_VARIABLE = "NEWSARCHIVE_RAY_RETRIES"  # more on a cluster of preemptible nodes, fewer in tests
RETRIES = 3  # attempts after the first when a task's worker or node is lost (default)


def retries() -> int:
    """How many times Ray re-runs a task whose worker or node was lost: $NEWSARCHIVE_RAY_RETRIES, else 3."""
    text = os.environ.get(RETRIES_VARIABLE, "").strip()
    if not text:
        return RETRIES
    if not text.isdigit():
        raise NewsarchiveError(f"{RETRIES_VARIABLE}={text!r}: give a whole number of retries, e.g. 3")
    return int(text)
FORWARDED = ("AWS_",)  # the driver's environment the job's workers get (S3 settings)

_prepared: str | None = None  # in a worker: the map whose `setup` ran last in this process


def connect(jobs: int | None = None, *, quiet: bool = True) -> int:
    """Join the cluster RAY_ADDRESS names (or start a local one with `jobs` CPUs); its CPU count."""
    if not ray.is_initialized():
        env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED)}
        options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False,
                                   "runtime_env": {"env_vars": env} if env else None}
        address = os.environ.get("RAY_ADDRESS")
        if address:
            _reachable(address)
        try:
            if address:
                ray.init(address=address, **options)
            else:
                cpus = jobs or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                   else os.cpu_count() or 1)
                if not quiet:
                    print(f"newsarchive: RAY_ADDRESS is not set: starting a local Ray with {cpus} CPUs "
                          "(no dashboard); set RAY_ADDRESS to use a cluster", file=sys.stderr)
                ray.init(num_cpus=cpus, include_dashboard=False, **options)
        except Exception as exc:  # noqa: BLE001 (ray.init raises bare Exception on a start-up time-out)
            where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray"
            first = " ".join(str(exc).split())[:200]
            raise NewsarchiveError(f"cannot start or reach {where} ({first}); check `ray status`, or run with "
                                   "--executor local") from None
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _reachable(address: str, seconds: float = 5.0) -> None:
    """One line, at once, when RAY_ADDRESS (host:port) does not answer: Ray itself would retry for
    minutes, printing its own log lines, before giving up."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():  # "auto", ray://, http://: Ray's to resolve
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise NewsarchiveError(f"RAY_ADDRESS={address}: no Ray cluster answers there ({reason}); start one "
                               "(`ray start --head`), fix RAY_ADDRESS, or unset it to start a local Ray") from None


def _run_remote(task: Task, token: str, item: Any, cwd: str, fault_setting: str | None) -> Any:
    """In a Ray worker: the task's setup once per map, then its result (or its error as a WorkerFailure)."""
    global _prepared
    if os.path.isdir(cwd):
        os.chdir(cwd)
    if fault_setting:
        os.environ[FAULT_VARIABLE] = fault_setting
    else:
        os.environ.pop(FAULT_VARIABLE, None)
    try:
        if _prepared != token:
            if task.setup is not None:
                task.setup(*task.setup_args)
            _prepared = token
        return task.run(item)
    except Exception as exc:
        return WorkerFailure.of(exc, task.what)


_remote = ray.remote(max_retries=RETRIES, retry_exceptions=False)(_run_remote)


class RayExecutor(Executor):
    """Tasks on a Ray cluster; every item is a task there (even one: the driver may be a small node)."""

    def __init__(self, jobs: int | None = None, *, quiet: bool = True) -> None:
        self.retries = retries()
        self.jobs = jobs or connect(jobs, quiet=quiet)  # the cluster's CPUs unless --jobs says
        connect(jobs, quiet=quiet)

    def map(self, task: Task[T, R], items: Iterable[T | Done[R]], *,
            in_flight_per_job: int = IN_FLIGHT_PER_JOB, min_items: int = 2) -> Iterator[R]:
        limit = self.jobs * max(1, in_flight_per_job)
        remote = _remote.options(max_retries=self.retries)
        shipped = ray.put(replace(task, inline=None))  # once for all items; `inline` may hold the caller's objects
        token = uuid.uuid4().hex
        cwd = os.getcwd()
        fault_setting = os.environ.get(FAULT_VARIABLE)
        pending: deque[Any] = deque()
        finished = False
        try:
            for item in items:
                pending.append(item if isinstance(item, Done) else
                               remote.remote(shipped, token, item, cwd, fault_setting))
                while len(pending) > limit:
                    yield self._answer(pending.popleft(), task.what, self.retries)
            while pending:
                yield self._answer(pending.popleft(), task.what, self.retries)
            finished = True
        finally:
            if not finished:  # an error or an interrupt: nothing still running will be used
                for ref in pending:
                    if not isinstance(ref, Done):
                        with contextlib.suppress(Exception):  # already finished, or the cluster is gone
                            ray.cancel(ref, force=True)

    @staticmethod
    def _answer(ref: Any, what: str, retries: int) -> Any:
        if isinstance(ref, Done):
            return ref.result
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # not an Exception in the task (those come back as results)
            raise RuntimeError(f"a Ray task of {what} failed:\n{exc}") from None
        except ray.exceptions.RayError as exc:  # the worker, its node or the object was lost, every attempt
            raise lost(what, exc, retries) from None
        if isinstance(result, WorkerFailure):
            raise result.error()
        return result


def lost(what: str, exc: BaseException, retries: int = RETRIES) -> NewsarchiveError:
    """The one line for a task Ray could not finish, even after its retries."""
    detail = " ".join(str(exc).split())[:160]
    tries = f"{retries} retr{'y' if retries == 1 else 'ies'}"
    return NewsarchiveError(f"a Ray task of {what} was lost ({type(exc).__name__}: {detail}), also after {tries}; "
                            "nothing was written or committed: check the cluster (`ray status`), run again, "
                            "or use --executor local")
