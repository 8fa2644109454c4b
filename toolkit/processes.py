"""How newsarchive's worker processes start (validate, extract and append all use some)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import threading


def start_context() -> multiprocessing.context.BaseContext:
    """Fork where it is safe, spawn otherwise.

    Fork shares the parent's imports and needs no re-import of the caller's script (spawn needs an
    `if __name__ == "__main__"` guard there); it is only safe while the parent runs no other thread.
    """
    fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    return multiprocessing.get_context("fork" if fork else "spawn")
