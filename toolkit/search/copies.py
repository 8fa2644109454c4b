"""Near-duplicate clusters for search: one hit per cluster, with its copies and their outlets.

The archive keeps cluster membership in its `clusters/` table (toolkit/archive/near_duplicates.py),
a small table (clustered articles only). Each index update copies it into the index folder
(`near-duplicates.json`, for the archive version the index is at, written before the index's state),
so a search of a current index reads it with the standard library: the fast path loads neither the
archive stage nor pyarrow. Without that file (an index built before it, or another index folder),
the clusters are read from the archive.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.core.outputs import atomic_path
from toolkit.search.folder import local_root

CLUSTERS = "clusters"  # the archive's table (toolkit.archive.layout.CLUSTERS)
COPIES_FILE = "near-duplicates.json"


@dataclass(frozen=True)
class NearDuplicates:
    """Current cluster membership: id -> cluster, and each cluster's members with their outlets."""

    cluster: dict[str, str] = field(default_factory=dict)
    members: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)

    def cluster_of(self, article: str) -> str | None:
        return self.cluster.get(article)

    def copies(self, article: str) -> list[tuple[str, str | None]]:
        """The other members of the article's cluster (id, outlet), by id."""
        cluster = self.cluster.get(article)
        if cluster is None:
            return []
        return sorted(m for m in self.members[cluster] if m[0] != article)


def write_copies(path: Path, version: int, found: NearDuplicates) -> None:
    """The clusters, for archive `version`, into the index folder `path` (atomically)."""
    with atomic_path(path / COPIES_FILE, "near-duplicate clusters", make_parent=False) as temporary, \
            open(temporary, "w", encoding="utf-8") as f:
        json.dump({"version": version, "members": found.members}, f, ensure_ascii=False)


def read_copies(path: Path, version: int) -> NearDuplicates | None:
    """The clusters stored with the index at `version`, or None (no file, or another version)."""
    try:
        data = json.loads((path / COPIES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != version:
        return None
    found = NearDuplicates()
    for cluster, members in data.get("members", {}).items():
        found.members[cluster] = [(m[0], m[1]) for m in members]
        for ident, _ in members:
            found.cluster[ident] = cluster
    return found


def near_duplicates(archive: object) -> NearDuplicates:
    """The archive's clusters (empty when it has none, or no clusters table)."""
    root = local_root(archive) if isinstance(archive, (str, os.PathLike, type(None))) else None
    if root is not None:
        log = os.path.join(root, CLUSTERS, "_delta_log")
        if not os.path.isfile(os.path.join(log, f"{1:020d}.json")):
            return NearDuplicates()  # never written to (or absent): no clusters
    import duckdb

    from toolkit.archive.tables import Archive, open_archive

    target = archive if isinstance(archive, Archive) else open_archive(archive)  # type: ignore[arg-type]
    if not target.has(CLUSTERS):
        return NearDuplicates()
    dataset = target.dataset(CLUSTERS)
    if not dataset.files:
        return NearDuplicates()
    con = duckdb.connect()
    try:
        con.register("clusters", dataset.scanner(columns=["id", "cluster", "source", "seq"]))
        rows = con.execute("SELECT id, arg_max(cluster, seq), arg_max(source, seq) FROM clusters GROUP BY id"
                           ).fetchall()
    finally:
        con.close()
    found = NearDuplicates()
    for ident, cluster, source in rows:
        found.cluster[ident] = cluster
        found.members.setdefault(cluster, []).append((ident, source))
    return found
