"""DuckDB connections whose extensions come from the duckdb-extension-* wheels, never from the network.

DuckDB installs and loads a "known" extension (delta, httpfs) by itself the first time a query
needs it, downloading it from extensions.duckdb.org into ~/.duckdb. That is switched off here
(`autoinstall_known_extensions` and `autoload_known_extensions` are false), and each extension is
loaded with `LOAD '<file>'` from the file its wheel ships:
`site-packages/duckdb_extension_<name>/extensions/v<duckdb version>/<name>.duckdb_extension`.
Those wheels are pinned to the duckdb version in pyproject.toml, so the file always matches.

    >>> con = connect_duckdb(extensions=["delta"])
    >>> con.execute("SELECT count(*) FROM delta_scan('archive/articles')").fetchone()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb

from toolkit.core.errors import NewsarchiveError

#: The extensions newsarchive uses: Delta Lake reads, S3/HTTP files (full-text search is tantivy's).
EXTENSIONS = ("delta", "httpfs")

#: Settings of every connection newsarchive opens: nothing is ever fetched from the network.
NO_NETWORK_EXTENSIONS = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


def extension_path(name: str) -> Path:
    """The extension file shipped by the `duckdb-extension-<name>` wheel for the installed DuckDB."""
    if name not in EXTENSIONS:
        raise NewsarchiveError(f"DuckDB extension {name!r}: newsarchive only loads {', '.join(EXTENSIONS)}")
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise NewsarchiveError(
            f"DuckDB extension {name}: the wheel duckdb-extension-{name} is not installed; "
            f"pip install 'duckdb-extension-{name}=={duckdb.__version__}'"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    path = folder / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        found = sorted(p.name for p in folder.glob("v*")) if folder.is_dir() else []
        raise NewsarchiveError(
            f"DuckDB extension {name}: duckdb-extension-{name} has no build for DuckDB {duckdb.__version__} "
            f"(it has {', '.join(found) or 'none'}); pip install 'duckdb-extension-{name}=={duckdb.__version__}'"
        )
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    """LOAD each extension from its wheel's file (a path, so DuckDB never looks it up online)."""
    from toolkit.sql.quote import literal

    for name in names:
        con.execute(f"LOAD {literal(os.fspath(extension_path(name)))}")


def connect_duckdb(
    database: str | os.PathLike = ":memory:",
    *,
    read_only: bool = False,
    extensions: Iterable[str] = (),
    config: Mapping[str, object] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that cannot download extensions, with `extensions` loaded from the wheels."""
    settings: dict[str, object] = dict(NO_NETWORK_EXTENSIONS)
    settings.update(config or {})
    try:
        con = duckdb.connect(os.fspath(database), read_only=read_only, config=settings)  # type: ignore[arg-type]
    except duckdb.Error as exc:
        hint = ""
        if "different configuration" in str(exc):
            hint = "; close the other connections this process has to it first"
        elif "lock" in str(exc).lower():
            hint = "; another process has it open for writing: open it read-only there"
        raise NewsarchiveError(
            f"{os.fspath(database)}: cannot open the DuckDB database ({first_line(exc)}){hint}") from None
    try:
        load_extensions(con, extensions)
    except BaseException:
        con.close()
        raise
    return con


def first_line(exc: BaseException) -> str:
    """DuckDB's message on one line (its messages add a caret diagram below)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
