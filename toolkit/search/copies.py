"""Near-duplicate clusters for search: one hit per cluster, with its copies and their outlets.

The archive keeps cluster membership in its `clusters/` table (toolkit/archive/near_duplicates.py),
a small table (clustered articles only). It is read once per search, and only when it holds rows: a
local archive whose clusters table was never written to (its log has version 0 only) costs one file
lookup, so a search of an archive without near-duplicates stays on the fast path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from toolkit.search.folder import local_root

CLUSTERS = "clusters"  # the archive's table (toolkit.archive.layout.CLUSTERS)


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
