"""Connections with the archive's views: `connect` (built from the Delta log, any version) and S3 setup.

    >>> from toolkit.sql import connect
    >>> con = connect("archive")                                    # doctest: +SKIP
    >>> con.sql("SELECT source, articles FROM sources").fetchall()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import urlparse

import duckdb

from toolkit.archive.storage import Storage
from toolkit.archive.tables import Archive, open_archive
from toolkit.sql.extensions import connect_duckdb
from toolkit.sql.quote import literal
from toolkit.sql.sandbox import SANDBOX_CONNECT_CONFIG, allowed_reads, archive_reads, sandboxed
from toolkit.sql.views import define_views, snapshot


def connect(archive: str | os.PathLike | Archive | None = None, *, as_of: int | None = None,
            extensions: tuple[str, ...] = (), sandbox: bool = False,
            allow_paths: Sequence[str | os.PathLike] = (),
            writable: Sequence[str | os.PathLike] = ()) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose views show the archive at version `as_of` (default: latest).

    The views are defined from the Delta log when called, so they are never stale; reopen to see
    later appends. `extensions` (delta, httpfs) are loaded from their wheels. With `sandbox`,
    the connection can then read only the archive and `allow_paths`, write only `writable` (files
    newsarchive writes itself), load nothing and change no setting (`toolkit.sql.sandbox`).
    """
    target = archive if isinstance(archive, Archive) else open_archive(archive)
    reads = allowed_reads(allow_paths) if sandbox else []  # a missing path fails before any work
    snap = snapshot(target, as_of)
    wanted = tuple(dict.fromkeys([*extensions, *(("httpfs",) if snap.is_s3 else ())]))
    con = connect_duckdb(extensions=wanted, config=SANDBOX_CONNECT_CONFIG if sandbox else None)
    try:
        if snap.is_s3:
            configure_s3(con, target.storage)
        define_views(con, snap)
        if sandbox:
            sandboxed(con, read=[*archive_reads(snap.root), *reads], write=writable)
    except BaseException:
        con.close()
        raise
    return con


def configure_s3(con: duckdb.DuckDBPyConnection, storage: Storage) -> None:
    """A temporary DuckDB secret for the archive's bucket, from the same AWS_* settings delta-rs uses."""
    options = storage.options
    bucket = storage.root[len("s3://"):].split("/", 1)[0]
    parts = ["TYPE s3", f"SCOPE {literal('s3://' + bucket)}", "URL_STYLE 'path'"]
    if options.get("AWS_ACCESS_KEY_ID"):
        parts.append(f"KEY_ID {literal(options['AWS_ACCESS_KEY_ID'])}")
        parts.append(f"SECRET {literal(options.get('AWS_SECRET_ACCESS_KEY', ''))}")
    if options.get("AWS_SESSION_TOKEN"):
        parts.append(f"SESSION_TOKEN {literal(options['AWS_SESSION_TOKEN'])}")
    if options.get("AWS_REGION"):
        parts.append(f"REGION {literal(options['AWS_REGION'])}")
    endpoint = options.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint)
        parts.append(f"ENDPOINT {literal(parsed.netloc + parsed.path.rstrip('/'))}")
        parts.append(f"USE_SSL {'false' if parsed.scheme == 'http' else 'true'}")
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET newsarchive_s3 ({', '.join(parts)})")
