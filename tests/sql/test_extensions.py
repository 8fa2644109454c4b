"""Extensions load from the duckdb-extension-* wheels' files; nothing is downloaded or installed."""

from __future__ import annotations

import json

import duckdb
import pytest

from tests.sql.conftest import SEED_TITLE, python
from toolkit.core.errors import NewsarchiveError
from toolkit.sql.extensions import EXTENSIONS, connect_duckdb, extension_path


@pytest.mark.parametrize("name", EXTENSIONS)
def test_each_extension_file_is_the_wheels_build_for_this_duckdb(name):
    path = extension_path(name)
    assert path.is_file() and path.name == f"{name}.duckdb_extension"
    assert path.parent.name == f"v{duckdb.__version__}"
    assert f"duckdb_extension_{name}" in path.parts


def test_unknown_extension_is_refused():
    with pytest.raises(NewsarchiveError, match="only loads"):
        extension_path("spatial")


def test_connections_cannot_autoinstall_or_autoload():
    con = connect_duckdb()
    settings = dict(con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('autoinstall_known_extensions', 'autoload_known_extensions')").fetchall())
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    # a function of an extension that is not loaded fails at once instead of being fetched
    with pytest.raises(duckdb.CatalogException, match="delta"):
        con.execute("SELECT * FROM delta_scan('nowhere')")


# Runs in a fresh interpreter whose HOME is an empty folder, so no extension cached in ~/.duckdb can be
# used: delta_scan works only if the extensions come from the wheels' files, and search needs none.
_PROBE = """
import json, os
from toolkit.search import search
from toolkit.sql.extensions import connect_duckdb
hits = search("Bourita Blinken", archive={archive!r}).hits
con = connect_duckdb(extensions=["delta", "httpfs"])
rows = con.execute("SELECT extension_name, loaded, installed, install_path, install_mode "
                   "FROM duckdb_extensions() WHERE extension_name IN ('fts', 'delta', 'httpfs') AND loaded "
                   "ORDER BY extension_name").fetchall()
count = con.execute("SELECT count(*) FROM delta_scan(?)", [os.path.join({archive!r}, "articles")]).fetchone()[0]
print(json.dumps({{"first": hits[0].title, "extensions": rows, "delta_rows": count,
                  "home": sorted(os.listdir(os.environ["HOME"]))}}))
"""


def test_search_and_delta_scan_work_with_an_empty_home_and_install_nothing(archive_copy, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    proc = python(_PROBE.format(archive=str(archive_copy)), cwd=tmp_path, home=home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["first"] == SEED_TITLE
    assert report["delta_rows"] == 42
    for name, loaded, installed, install_path, mode in report["extensions"]:
        assert (loaded, installed, install_path, mode) == (True, False, "", "NOT_INSTALLED"), name
    assert [row[0] for row in report["extensions"]] == ["delta", "httpfs"]  # search loads no fts
    assert ".duckdb" not in report["home"]  # nothing cached or installed under HOME
    assert not (home / ".duckdb").exists()
