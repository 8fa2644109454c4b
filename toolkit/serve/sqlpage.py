"""The /sql page's runs: the `sql` command's sandbox, one page of rows at a time, and a time limit.

Why its own module: the page must stop a query after --sql-timeout, which needs the DuckDB
connection in hand (`con.interrupt()` from a timer thread); the statement checks, the sandbox and the
COPY options are the command's own, so a download equals `newsarchive sql --format csv` byte for byte.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from toolkit.core.errors import NewsarchiveError
from toolkit.sql import connect
from toolkit.sql.queries import run
from toolkit.sql.quote import literal

PAGE_ROWS = 100
#: The same COPY options as `newsarchive sql --format csv|parquet` (toolkit.sql.queries).
COPY_OPTIONS = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet, COMPRESSION zstd"}

T = TypeVar("T")


@dataclass
class SqlPage:
    """One page of a query's rows: `more` says whether rows follow the page."""

    columns: list[str]
    types: list[str]
    rows: list[dict[str, Any]]
    offset: int
    more: bool
    seconds: float
    messages: list[str] = field(default_factory=list)


#: Test hook (test-only): a file created when a query of the page starts, so a test can act then.
RUNNING_MARKER = "NEWSARCHIVE_TEST_SQL_STARTED"
_RUNNING: set[duckdb.DuckDBPyConnection] = set()
_RUNNING_LOCK = threading.Lock()


_STOPPING = threading.Event()


def interrupt_all() -> None:
    """Interrupt every query the pages are running, and any that starts from now on: serve is stopping
    (Ctrl-C, SIGTERM) and must not wait for them (up to --sql-timeout) before it exits.

    DuckDB's interrupt only stops a query that is executing, so a thread keeps interrupting until no
    query is left (one may be between its registration and its start)."""
    _STOPPING.set()

    def keep_interrupting() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with _RUNNING_LOCK:
                running = list(_RUNNING)
            if not running:
                return
            for con in running:
                con.interrupt()
            time.sleep(0.05)

    threading.Thread(target=keep_interrupting, name="newsarchive-stop-queries", daemon=True).start()


class Timeout:
    """Interrupts a DuckDB connection after `seconds` (a timer thread calls `con.interrupt()`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seconds: float) -> None:
        self.con = con
        self.seconds = seconds
        self.fired = threading.Event()
        self._timer = threading.Timer(seconds, self._fire, args=(con,))
        self._timer.daemon = True

    def _fire(self, con: duckdb.DuckDBPyConnection) -> None:
        self.fired.set()
        con.interrupt()

    def __enter__(self) -> Timeout:
        if _STOPPING.is_set():
            raise NewsarchiveError("serve is stopping: the query was not run")
        with _RUNNING_LOCK:
            _RUNNING.add(self.con)
        self._timer.start()
        marker = os.environ.get(RUNNING_MARKER)
        if marker:  # test-only: tells a test that a query is about to run, so it can stop serve then
            Path(marker).touch()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with _RUNNING_LOCK:
            _RUNNING.discard(self.con)


def cancelled_message(seconds: float) -> str:
    return (f"the query ran longer than {seconds:g} s and was cancelled (serve --sql-timeout {seconds:g}); "
            "narrow it (a WHERE, a LIMIT), or start serve with a longer --sql-timeout")


@contextmanager
def _limited(con: duckdb.DuckDBPyConnection, seconds: float) -> Iterator[Callable[[Callable[[], T]], T]]:
    """`call(fn)` runs fn under the time limit; an interruption by the timer becomes one clear line."""
    with Timeout(con, seconds) as timeout:
        def call(fn: Callable[[], T]) -> T:
            try:
                return fn()
            except (NewsarchiveError, duckdb.Error) as exc:
                if timeout.fired.is_set():
                    raise NewsarchiveError(cancelled_message(seconds)) from None
                if isinstance(exc, duckdb.Error):
                    raise NewsarchiveError(f"query: {' '.join(str(exc).split())}") from None
                raise
        yield call


def run_page(archive: Any, sql: str, *, as_of: int, offset: int = 0, rows: int = PAGE_ROWS,
             timeout: float = 30.0) -> SqlPage:
    """Rows offset..offset+rows of `sql` at version `as_of` (the query runs in the `sql` sandbox)."""
    started = time.perf_counter()
    con = connect(archive, as_of=as_of, sandbox=True)
    try:
        with _limited(con, timeout) as call:
            relation = call(lambda: run(con, sql))
            if relation is None:
                return SqlPage([], [], [], offset, False, time.perf_counter() - started, ["the statement ran"])
            reader = call(lambda: relation.to_arrow_reader(max(rows, 1024)))
            wanted = offset + rows + 1  # one row past the page says whether more follow
            seen = 0
            kept: list[pa.RecordBatch] = []
            while seen < wanted:
                try:
                    batch = call(reader.read_next_batch)
                except StopIteration:
                    break
                start = max(offset - seen, 0)
                stop = min(batch.num_rows, wanted - seen)
                if start < stop:
                    kept.append(batch.slice(start, stop - start))
                seen += batch.num_rows
            table = pa.Table.from_batches(kept, schema=reader.schema)
            more = table.num_rows > rows
            page = table.slice(0, rows).to_pylist()
            return SqlPage(list(reader.schema.names), [str(t) for t in reader.schema.types], page, offset, more,
                           time.perf_counter() - started)
    finally:
        con.close()


def run_download(archive: Any, sql: str, *, as_of: int, fmt: str, timeout: float = 30.0) -> Path:
    """The full result as a csv or parquet file in a new temporary folder (the caller removes it)."""
    if fmt not in COPY_OPTIONS:
        raise NewsarchiveError(f"format {fmt}: the page downloads csv or parquet")
    folder = Path(tempfile.mkdtemp(prefix="newsarchive-serve-"))
    path = folder / f"result.{fmt}"
    try:
        con = connect(archive, as_of=as_of, sandbox=True, writable=[path])
        try:
            with _limited(con, timeout) as call:
                relation = call(lambda: run(con, sql))
                if relation is None:
                    raise NewsarchiveError("the statement returns no rows to download")
                relation.create_view("newsarchive_result")
                call(lambda: con.execute(
                    f"COPY (FROM newsarchive_result) TO {literal(str(path))} ({COPY_OPTIONS[fmt]})").fetchone())
        finally:
            con.close()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return path


def remove_download(path: str | os.PathLike) -> None:
    """Remove the temporary folder of `run_download` once the file is sent."""
    shutil.rmtree(Path(path).parent, ignore_errors=True)
