"""Progress bars on a terminal only, and only for work that takes more than a moment."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

SHOW_AFTER_SECONDS = 0.5


class ByteProgress:
    """A bar over bytes read; it appears after SHOW_AFTER_SECONDS, never on a pipe or with --quiet."""

    def __init__(self, total: int | None, label: str, enabled: bool) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.monotonic()
        self.progress: Progress | None = None
        self.task = None
        self.done_before = 0  # bytes of inputs already finished

    def update(self, completed: int) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            if time.monotonic() - self.started < SHOW_AFTER_SECONDS:
                return
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total)
        self.progress.update(self.task, completed=completed)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def byte_progress(total: int | None, label: str, enabled: bool) -> Iterator[ByteProgress]:
    bar = ByteProgress(total, label, enabled)
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def status(label: str, enabled: bool) -> Iterator[None]:
    """A spinner with a label for a phase that has no byte count (e.g. writing files), on a terminal
    only; it disappears when the phase ends."""
    if not (enabled and sys.stderr.isatty()):
        yield
        return
    with Console(stderr=True).status(label):
        yield
