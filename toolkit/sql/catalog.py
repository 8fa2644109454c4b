"""The catalog: a DuckDB file of views over the archive that any DuckDB opens, with no extension.

    >>> from toolkit.sql import build_catalog, open_catalog
    >>> build_catalog("archive").path                               # doctest: +SKIP
    '/.../archive/catalog.duckdb'
    >>> open_catalog("archive/catalog.duckdb").sql("FROM sources")  # doctest: +SKIP

How it stays right:

- **Current.** The views name the Parquet files of the latest version (read from the Delta log), so
  they never read a file a compaction replaced or an interrupted append left. `refresh_catalog` is
  the hook `append` and `compact` call after each commit: it rewrites the catalog when one exists
  and is behind. `catalog_info.up_to_date` tells a reader whether the archive moved on since.
- **Movable.** File paths are written relative to the folder holding the catalog (its default place
  is the archive root), and DuckDB resolves relative paths against its working directory or
  `file_search_path`: so a stock DuckDB opens it from inside that folder (`cd archive && duckdb
  catalog.duckdb`) or after `SET file_search_path = '<that folder>'`; `open_catalog` sets it for you.
- **Atomic.** A new catalog is written under a temporary name and renamed over the old one, so
  readers never see half a file and concurrent appends never wait on DuckDB's file lock.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from toolkit.archive.hooks import on_commit
from toolkit.archive.layout import ARTICLES
from toolkit.archive.tables import Archive, open_archive
from toolkit.core.errors import NewsarchiveError
from toolkit.core.interrupts import fault, held
from toolkit.core.outputs import atomic_path, refuse_inside_archive
from toolkit.sql.connection import configure_s3
from toolkit.sql.extensions import connect_duckdb
from toolkit.sql.quote import literal
from toolkit.sql.views import VIEWS, define_views, snapshot

CATALOG_NAME = "catalog.duckdb"
REFRESH_ATTEMPTS = 5


@dataclass(frozen=True)
class CatalogResult:
    """A catalog written: where, for which archive version, over how many data files."""

    path: str
    version: int
    files: int
    views: tuple[str, ...] = VIEWS

    def summary(self) -> str:
        return (f"catalog {self.path}: views {', '.join(self.views)} over {self.files} data files "
                f"(archive version {self.version})")


def catalog_path(archive: Archive) -> str:
    """Where the catalog of an archive lives by default: `<archive>/catalog.duckdb`."""
    return archive.storage.uri(CATALOG_NAME)


def build_catalog(archive: str | os.PathLike | Archive | None = None,
                  output: str | os.PathLike | None = None) -> CatalogResult:
    """Write the catalog (default `<archive>/catalog.duckdb`) with views of the archive's latest version."""
    target = archive if isinstance(archive, Archive) else open_archive(archive)
    destination = os.fspath(output) if output is not None else catalog_path(target)
    snap = snapshot(target)
    remote = destination.startswith("s3://")
    if "://" in destination and not remote:
        raise NewsarchiveError(f"{destination}: the catalog goes to a local file or s3://bucket/key")
    if not remote:
        _check_destination(destination, target)
    folder = Path(tempfile.mkdtemp(prefix="newsarchive-catalog-")) if remote else _local_folder(destination)
    # a catalog that is not next to local files names them in full
    spell = _absolute if snap.is_s3 or remote else _relative_to(folder)
    extensions = ("httpfs",) if snap.is_s3 else ()

    def write(temporary: Path) -> None:
        try:
            con = connect_duckdb(temporary, extensions=extensions, config={"file_search_path": str(folder)})
            try:
                if snap.is_s3:
                    configure_s3(con, target.storage)
                define_views(con, snap, where=spell, log_dir=spell(_log_dir(target)))
                con.execute("CHECKPOINT")
            finally:
                con.close()
            fault("catalog.refresh")
        finally:
            Path(f"{temporary}.wal").unlink(missing_ok=True)

    if not remote:  # written beside the old catalog, renamed over it with signals held
        with atomic_path(destination, "catalog", rename=held) as temporary:
            write(temporary)
    else:
        temporary = folder / CATALOG_NAME
        try:
            write(temporary)
            _upload(target, temporary, destination)
        except OSError as exc:
            raise NewsarchiveError(f"{destination}: cannot write the catalog ({exc.strerror or exc})") from None
        finally:
            temporary.unlink(missing_ok=True)
            folder.rmdir()
    where = destination if remote else str(Path(destination).resolve())
    return CatalogResult(where, snap.version, len(snap.data_files()))


def refresh_catalog(archive: str | os.PathLike | Archive | None = None,
                    output: str | os.PathLike | None = None, *, force: bool = False) -> CatalogResult | None:
    """Rewrite the catalog if there is one and it is behind the archive; the hook for append and compact.

    Returns None when there is no catalog to refresh or it is current. It never fails the caller's
    commit: a catalog it cannot rewrite is left as it was (its `catalog_info.up_to_date` then says
    false) with a warning on standard error. Concurrent appends converge: each rechecks the archive
    version after writing and writes again if another commit landed meanwhile. `force` rewrites a
    catalog of the current version too: after an interrupted append is completed, its ledger and
    quarantine rows are new while the articles version is not.
    """
    try:
        target = archive if isinstance(archive, Archive) else open_archive(archive)
        destination = os.fspath(output) if output is not None else catalog_path(target)
        if not _exists(target, destination):
            return None
        result = None
        for _ in range(REFRESH_ATTEMPTS):
            version = target.version
            if catalog_version(destination) == version and not force:
                return result
            force = False
            result = build_catalog(target, destination)
        return result
    except NewsarchiveError as exc:
        print(f"newsarchive: warning: catalog not refreshed: {exc}; run `newsarchive catalog`", file=sys.stderr)
        return None


def open_catalog(path: str | os.PathLike, *, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open a catalog file from anywhere: relative file paths are resolved against its folder."""
    text = os.fspath(path)
    if text.startswith("s3://"):
        con = connect_duckdb(extensions=("httpfs",))
        from toolkit.archive.storage import Storage

        configure_s3(con, Storage.at(text.rsplit("/", 1)[0]))
        con.execute(f"ATTACH {literal(text)} AS catalog (READ_ONLY)")
        con.execute("USE catalog")
        return con
    file = Path(text).expanduser().resolve()
    if not file.is_file():
        raise NewsarchiveError(f"{text}: no catalog file there; write one with `newsarchive catalog`")
    return connect_duckdb(file, read_only=read_only, config={"file_search_path": str(file.parent)})


def catalog_version(path: str | os.PathLike) -> int | None:
    """The archive version a catalog file shows, or None if it cannot be read."""
    try:
        con = open_catalog(path)
    except NewsarchiveError:
        return None
    try:
        row = con.execute("SELECT version FROM catalog_info").fetchone()
        return int(row[0]) if row else None
    except duckdb.Error:
        return None
    finally:
        con.close()


def is_catalog(path: str | os.PathLike) -> bool:
    """Whether a local file is a newsarchive catalog: a DuckDB database with our `catalog_info` view.

    The view's `newsarchive` column (the version that wrote it) is the mark: every catalog since the
    first has it, and a database of someone else's is very unlikely to.
    """
    file = Path(path).expanduser()
    try:
        with open(file, "rb") as handle:
            if handle.read(12)[8:12] != b"DUCK":  # DuckDB's magic bytes, after the 8-byte checksum
                return False
    except OSError:
        return False
    try:
        con = open_catalog(file)  # the settings every catalog reader in this process uses
    except NewsarchiveError:
        return False
    try:
        return con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'catalog_info' AND column_name = 'newsarchive'"
        ).fetchone() == (1,)
    except duckdb.Error:
        return False
    finally:
        con.close()


# --- helpers --------------------------------------------------------------------------------------
def _check_destination(destination: str, archive: Archive) -> None:
    """Never write over what is not ours: an existing file is replaced only if it is a catalog."""
    refuse_inside_archive(destination, None if archive.storage.is_s3 else archive.root, "--output")
    file = Path(destination).expanduser()
    if file.exists() and not file.is_dir() and not is_catalog(file):
        raise NewsarchiveError(f"{destination}: exists and is not a newsarchive catalog; the catalog replaces only "
                               "a catalog: choose a new file name (or move that file away)")


def _local_folder(destination: str) -> Path:
    file = Path(destination).expanduser()
    if file.is_dir():
        raise NewsarchiveError(f"{destination}: is a folder; pass --output the catalog's file name")
    folder = file.resolve().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NewsarchiveError(f"{folder}: cannot create the catalog's folder ({exc.strerror})") from None
    return folder


def _absolute(path: str) -> str:
    return path


def _relative_to(folder: Path):
    def spell(path: str) -> str:
        try:
            return Path(os.path.relpath(path, folder)).as_posix()
        except ValueError:  # another drive (Windows): no relative path exists
            return path
    return spell


def _log_dir(archive: Archive) -> str:
    return archive.storage.uri(ARTICLES, "_delta_log")


def _exists(archive: Archive, destination: str) -> bool:
    if destination.startswith("s3://"):
        try:
            return archive.storage.filesystem.get_file_info(destination[len("s3://"):]).is_file
        except OSError:
            return False
    return Path(destination).expanduser().is_file()


def _upload(archive: Archive, local: Path, destination: str) -> None:
    """Copy the catalog to S3 in one PUT (an object appears whole or not at all)."""
    from toolkit.archive.storage import Storage

    fs = archive.storage.filesystem if archive.storage.is_s3 else Storage.at(destination.rsplit("/", 1)[0]).filesystem
    with open(local, "rb") as source, fs.open_output_stream(destination[len("s3://"):]) as sink:
        while chunk := source.read(8 << 20):
            sink.write(chunk)


def commit_hook(archive: Archive, rebuild: bool) -> None:
    """After an append or a compaction (`toolkit.archive.hooks`): refresh the catalog if there is one."""
    refresh_catalog(archive, force=rebuild)


on_commit(commit_hook)  # Python callers of append get what the CLI wires explicitly
