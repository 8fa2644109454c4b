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
    """A cursor of the connection kept per version (defining the views costs tenths of a second under load)."""
    from toolkit.explore.archive import _connect as kept

    return kept(root, version)


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
    """Each id's cluster size (1 when it has no cluster, or without clusters), from the membership
    kept per version (no query per call)."""
    sizes = dict.fromkeys(ids, 1)
    if not ids or not has_clusters(root, version):
        return sizes
    con = _connect(root, version)
    try:
        members, clusters = _membership(con, root, version)
    finally:
        con.close()
    for i in ids:
        if i in members:
            sizes[i] = len(clusters[members[i][0]])
    return sizes


Membership = tuple[dict[str, tuple[str, float | None]], dict[str, list[str]]]
_MEMBERS: dict[tuple[str, int], Membership] = {}


def _membership(con: Any, root: str, version: int) -> Membership:
    """id -> (cluster, similarity) of every clustered article at a version, read once per version: the
    view groups the whole clusters table, which every article page used to pay twice."""
    key = (root, version)
    with _LOCK:
        cached = _MEMBERS.get(key)
    if cached is None:
        rows = con.execute("SELECT id, cluster, similarity FROM near_duplicates").fetchall()
        of = {str(r[0]): (str(r[1]), r[2]) for r in rows}
        clusters: dict[str, list[str]] = {}
        for member, (cluster, _) in of.items():
            clusters.setdefault(cluster, []).append(member)
        cached = (of, clusters)
        with _LOCK:
            if len(_MEMBERS) >= 8:
                _MEMBERS.pop(next(iter(_MEMBERS)))
            _MEMBERS[key] = cached
    return cached


def cluster_of(con: Any, article_id: str, root: str, version: int) -> list[dict[str, Any]]:
    """The other members of the article's cluster with their similarity ([] without clusters); the
    articles table is read only for the members (none for an article without a cluster)."""
    if not has_clusters(root, version):  # asked once per version (a catalog query cost ~1.6 ms a page)
        return []
    members, clusters = _membership(con, root, version)
    mine = members.get(article_id)
    if mine is None:
        return []
    others = [i for i in clusters[mine[0]] if i != article_id]
    if not others:
        return []
    rows = con.execute("SELECT id, title, source, published_date FROM articles WHERE id IN (SELECT unnest(?))",
                       [others]).fetchall()
    found = [{"id": r[0], "title": r[1], "source": r[2], "published_date": r[3].isoformat() if r[3] else None,
              "similarity": float(members[r[0]][1]) if members[r[0]][1] is not None else None} for r in rows]
    # ORDER BY similarity DESC NULLS LAST, id
    found.sort(key=lambda m: (m["similarity"] is None, -(m["similarity"] or 0.0), m["id"]))
    return found
