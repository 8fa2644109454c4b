"""What other stages keep in step with the archive after each commit: callbacks, not imports.

The SQL stage's catalog (a DuckDB file of views naming the current Parquet files) must follow every
new version, or its views would name files a compaction replaced. The archive comes before SQL in
the flow and does not import it: a later stage registers a callback here (`on_commit`), and append
and compact call every registered one after each commit (`committed`). The CLI wires the catalog's
refresh; `toolkit.sql` also registers it when imported, so Python callers get the same behaviour.
A callback must never fail the caller: a commit that is done stays done.
"""

from __future__ import annotations

from collections.abc import Callable

from toolkit.archive.tables import Archive

#: called as `callback(archive, rebuild)`; `rebuild`: interrupted batches were just completed, so
#: derived files must be rewritten even at the same articles version.
CommitCallback = Callable[[Archive, bool], None]

_callbacks: list[CommitCallback] = []


def on_commit(callback: CommitCallback) -> CommitCallback:
    """Call `callback` after every commit of append and compact (once, however often registered)."""
    if callback not in _callbacks:
        _callbacks.append(callback)
    return callback


def committed(archive: Archive, *, rebuild: bool = False) -> None:
    """Run the registered callbacks: the archive changed (or `rebuild`: its ledger did)."""
    for callback in list(_callbacks):
        callback(archive, rebuild)
