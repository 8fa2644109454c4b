"""Near-duplicate clusters, behind ONE module: the catalog's `near_duplicates` view when the archive
has it (id, cluster, cluster_size, similarity; `unique_articles` holds one article per cluster), else
every article is its own cluster. So copies=one|all and the cluster panels light up once the clusters
stage lands, without another change here.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, int], frozenset[str]] = {}


def _connect(root: str, version: int) -> Any:
    from toolkit.sql import connect

    return connect(root, as_of=version)


def _has_view(con: Any, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchone()[0])


_HAS: dict[tuple[str, int], bool] = {}


def has_clusters(root: str, version: int) -> bool:
    """Whether the archive's catalog has the clusters' views at this version (asked once per version)."""
    key = (root, version)
    with _LOCK:
        if key in _HAS:
            return _HAS[key]
    con = _connect(root, version)
    try:
        found = _has_view(con, "near_duplicates")
    finally:
        con.close()
    with _LOCK:
        _HAS[key] = found
    return found


def hidden_copies(root: str, version: int) -> frozenset[str]:
    """The ids that copies=one leaves out: every member of a cluster but the one `unique_articles` keeps
    (empty without clusters). Cached per archive version (a version never changes)."""
    key = (root, version)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    if not has_clusters(root, version):
        with _LOCK:
            _CACHE[key] = frozenset()
        return frozenset()
    con = _connect(root, version)
    try:
        if not _has_view(con, "unique_articles"):
            ids: frozenset[str] = frozenset()
        else:
            rows = con.execute("SELECT id FROM near_duplicates WHERE cluster_size > 1 "
                               "AND id NOT IN (SELECT id FROM unique_articles)").fetchall()
            ids = frozenset(str(r[0]) for r in rows)
    finally:
        con.close()
    with _LOCK:
        _CACHE[key] = ids
    return ids


def cluster_sizes(root: str, version: int, ids: list[str]) -> dict[str, int]:
    """Each id's cluster size (1 when it has no cluster, or without clusters)."""
    sizes = dict.fromkeys(ids, 1)
    if not ids or not has_clusters(root, version):
        return sizes
    con = _connect(root, version)
    try:
        if _has_view(con, "near_duplicates"):
            rows = con.execute("SELECT id, max(cluster_size) FROM near_duplicates WHERE id IN (SELECT unnest(?)) "
                               "GROUP BY id", [ids]).fetchall()
            sizes.update({str(i): int(n) for i, n in rows if n is not None})
    finally:
        con.close()
    return sizes


def cluster_of(con: Any, article_id: str) -> list[dict[str, Any]]:
    """The other members of the article's cluster with their similarity ([] without clusters)."""
    if not _has_view(con, "near_duplicates"):
        return []
    rows = con.execute(
        "SELECT a.id, a.title, a.source, a.published_date, d.similarity FROM near_duplicates d "
        "JOIN articles a ON a.id = d.id WHERE d.cluster IN (SELECT cluster FROM near_duplicates WHERE id = ?) "
        "AND d.id <> ? ORDER BY d.similarity DESC NULLS LAST, a.id", [article_id, article_id]).fetchall()
    return [{"id": r[0], "title": r[1], "source": r[2], "published_date": r[3].isoformat() if r[3] else None,
             "similarity": float(r[4]) if r[4] is not None else None} for r in rows]
