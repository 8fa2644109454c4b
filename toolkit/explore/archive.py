"""The archive as a whole (versions, quarantine, outlets, languages, coverage) and one article in full."""

from __future__ import annotations

import os
from typing import Any

import pyarrow.compute as pc

from toolkit.core.errors import NewsarchiveError
from toolkit.explore import _clusters


def _connect(archive: Any, as_of: int | None) -> Any:
    from toolkit.sql import connect

    return connect(archive, as_of=as_of)


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    relation = con.execute(sql, params or [])
    names = [d[0] for d in relation.description]
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


def archive_overview(archive: str | os.PathLike | None, as_of: int | None = None) -> dict[str, Any]:
    """Everything the archive page shows, at ONE version (the latest when `as_of` is None)."""
    from toolkit.archive import history, open_archive

    target = open_archive(archive)
    at = target.at(as_of)
    entries = [e for e in history(target) if e.version <= at.version]
    con = _connect(target, at.version)
    try:
        quarantine = _rows(con, "SELECT coalesce(json_extract_string(errors, '$[0].keyword'), 'unknown') AS reason, "
                                "count(*) AS count FROM quarantine GROUP BY ALL ORDER BY count DESC, reason")
        outlet_rows = _rows(con, "SELECT source, count(*) AS articles FROM articles GROUP BY ALL "
                                 "ORDER BY articles DESC, source")
        languages = _rows(con, "SELECT language, count(*) AS articles FROM articles GROUP BY ALL "
                               "ORDER BY articles DESC, language")
        timeline = _rows(con, "SELECT strftime(date_trunc('month', published_date), '%Y-%m') AS month, "
                              "count(*) AS articles FROM articles GROUP BY ALL ORDER BY month")
        snapshots = _rows(con, "SELECT * FROM snapshots ORDER BY ALL") if _clusters._has_view(con, "snapshots") else []
    finally:
        con.close()
    this = next((e for e in entries if e.version == at.version), None)
    versions = []
    for entry in entries:
        item = entry.as_dict()
        item["timestamp"] = entry.timestamp.isoformat() if entry.timestamp else None
        item["articles_added"] = entry.appended
        versions.append(item)
    return {
        "version": at.version, "latest": at.latest,
        "version_date": this.timestamp.isoformat() if this and this.timestamp else None,
        "versions": versions, "quarantine_by_reason": quarantine, "outlets": outlet_rows, "languages": languages,
        "timeline": timeline, "snapshots": snapshots,
        "schema": {f.name: str(f.type) for f in target.articles_schema},
    }


def article_detail(archive: str | os.PathLike | None, id: str, as_of: int | None = None,  # noqa: A002
                   max_chars: int = 200_000) -> dict[str, Any] | None:
    """One article at a version (None when that version does not hold it): its fields, the first
    `max_chars` characters of its text with `text_length` and `truncated`, whether its address may be a
    link (http/https only), its provenance, its near-duplicate cluster, the versions holding it.
    Values are returned raw: escaping them is the web layer's job."""
    from toolkit.archive import history, open_archive

    if max_chars < 0:
        raise NewsarchiveError(f"max_chars {max_chars}: must be 0 or more")
    target = open_archive(archive)
    at = target.at(as_of)
    con = _connect(target, at.version)
    try:
        columns = [c for c in target.articles_schema.names if c != "text"]
        found = _rows(con, f"SELECT {', '.join(_quote(c) for c in columns)}, substr(text, 1, ?) AS text, "
                           "length(text) AS text_length FROM articles WHERE id = ? LIMIT 1", [max_chars, id])
        if not found:
            return None
        record = found[0]
        cluster = _clusters.cluster_of(con, id)
    finally:
        con.close()
    for key, value in list(record.items()):
        if hasattr(value, "isoformat"):
            record[key] = value.isoformat()
    record["truncated"] = record["text_length"] > len(record["text"])
    url = record.get("url") or ""
    record["url_is_link"] = is_link(url)
    versions = _versions_holding(target, id, at.version, record)
    added = versions[0] if versions else at.version
    entry = next((e for e in history(target) if e.version == added), None)
    record["provenance"] = {
        "batch": entry.batch if entry else None, "version_added": added,
        "input_file": entry.files[0] if entry and len(entry.files) == 1 else (list(entry.files) if entry else None),
        "line": None,  # the archive does not record input lines of archived records (only of quarantined ones)
    }
    record["cluster"] = cluster
    record["versions"] = versions
    return record


def is_link(url: Any) -> bool:
    """Whether an address may be shown as a link: http or https, no spaces or control characters
    (`javascript:`, `data:` and the rest are shown as text)."""
    return isinstance(url, str) and url.lower().startswith(("http://", "https://")) \
        and not any(c.isspace() or ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in url)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _versions_holding(target: Any, article_id: str, last: int, record: dict[str, Any]) -> list[int]:
    """The versions (up to `last`) whose files hold the article: its partition's files only."""
    import pyarrow.dataset as ds

    from toolkit.archive.layout import ARTICLES

    wanted = ds.field("id") == article_id
    for column in target.partition_by:
        if column in ("year", "month") and record.get("published_date"):
            value = int(record["published_date"][:4]) if column == "year" else int(record["published_date"][5:7])
            wanted = wanted & (ds.field(column) == value)
    held = []
    for version in range(last + 1):
        try:
            dataset = target.dataset(ARTICLES, version)
        except NewsarchiveError:  # a version whose log was cleaned up
            continue
        table = dataset.to_table(columns=["id"], filter=wanted)
        if table.num_rows and pc.any(pc.equal(table["id"], article_id)).as_py():
            held.append(version)
    return held
