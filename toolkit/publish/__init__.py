"""Publish immutable, Hub-ready snapshots of the archive (Parquet shards, card, Croissant, checksums).

    from toolkit.publish import publish, verify_snapshot
    snapshot = publish("archive", "v1.0.0", "snapshots/v1.0.0")
    verify_snapshot(snapshot.path).ok

Imports are lazy so `newsarchive --help` does not pay for datasets, DuckDB or matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkit.publish.bagcheck import BagCheck, verify_bag
    from toolkit.publish.bagging import Deposit, deposit
    from toolkit.publish.push import PushPlan, PushResult
    from toolkit.publish.shards import ShardOptions
    from toolkit.publish.snapshot import Snapshot, publish
    from toolkit.publish.verify import SnapshotCheck, verify_snapshot

__all__ = ["BagCheck", "Deposit", "PushPlan", "PushResult", "ShardOptions", "Snapshot", "SnapshotCheck", "deposit",
           "publish", "verify_bag", "verify_snapshot"]

_WHERE = {
    "publish": "snapshot", "Snapshot": "snapshot", "ShardOptions": "shards", "PushPlan": "push",
    "PushResult": "push", "verify_snapshot": "verify", "SnapshotCheck": "verify",
    "deposit": "bagging", "Deposit": "bagging", "verify_bag": "bagcheck", "BagCheck": "bagcheck",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"toolkit.publish.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'toolkit.publish' has no attribute {name!r}")
