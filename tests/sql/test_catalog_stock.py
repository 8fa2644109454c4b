"""The catalog in a stock `duckdb` Python install (no pytz): what fails, and what the README says to do.

DuckDB's Python client needs pytz to fetch TIMESTAMP WITH TIME ZONE values as Python objects. The
test runs the stock reader in a subprocess where `import pytz` fails (a sitecustomize hides it), so
it holds whether or not pytz is installed here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT
from toolkit.sql import VIEWS, build_catalog, open_catalog

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HIDE_PYTZ = textwrap.dedent("""
    import sys

    class _NoPytz:
        def find_spec(self, name, path=None, target=None):
            if name == "pytz" or name.startswith("pytz."):
                raise ImportError("pytz is not installed (hidden by the test)")
            return None

    sys.meta_path.insert(0, _NoPytz())
""")

READER = textwrap.dedent("""
    import json, sys
    import duckdb

    catalog, columns = sys.argv[1], json.loads(sys.argv[2])
    con = duckdb.connect(catalog, read_only=True)
    con.execute("SET file_search_path = " + repr(catalog.rsplit("/", 1)[0]))
    out = {}
    for view, zoned in columns.items():
        try:
            con.execute(f"SELECT * FROM {view}").fetchall()
            plain = "ok"
        except duckdb.Error as exc:
            plain = str(exc).splitlines()[0]
        replace = ", ".join(f"{c} AT TIME ZONE 'UTC' AS {c}" for c in zoned)
        query = f"SELECT * REPLACE ({replace}) FROM {view}" if zoned else f"SELECT * FROM {view}"
        rows = con.execute(query).fetchall()
        valued = " OR ".join(f"{c} IS NOT NULL" for c in zoned) or "false"
        out[view] = [plain, len(rows), con.execute(f"SELECT count(*) FROM {view} WHERE {valued}").fetchone()[0]]
    print(json.dumps(out))
""")


def _zoned_columns(catalog: Path) -> dict[str, list[str]]:
    con = open_catalog(catalog)
    try:
        return {view: [name for name, kind, *_ in con.execute(f"DESCRIBE {view}").fetchall()
                       if kind == "TIMESTAMP WITH TIME ZONE"] for view in VIEWS}
    finally:
        con.close()


def test_stock_duckdb_reads_every_view_as_the_readme_says(archive_copy, tmp_path):
    catalog = Path(build_catalog(archive_copy).path)
    zoned = _zoned_columns(catalog)
    assert zoned["articles"] == ["crawled_at"] and zoned["batches"] == ["appended_at"]
    assert zoned["catalog_info"] == ["built_at"] and zoned["quarantine"] == ["quarantined_at"]
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(HIDE_PYTZ)
    proc = subprocess.run([sys.executable, "-c", READER, str(catalog), json.dumps(zoned)], capture_output=True,
                          text=True, env={"PYTHONPATH": str(tmp_path / "site")}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    for view in VIEWS:
        plain, rows, valued = outcome[view]
        if valued:  # what the README warns of (a zoned column with a value) ...
            assert "Required module 'pytz' failed to import" in plain, (view, plain)
        else:
            assert plain == "ok", (view, plain)
        assert rows > 0 or view in ("quarantine", "near_duplicates"), view  # ... its stock recipe reads every view
    assert outcome["batches"][2] and outcome["catalog_info"][2]  # the failure was seen

    doc = (ROOT / "docs" / "sql.md").read_text(encoding="utf-8")
    section = doc[doc.index("## The catalog"):doc.index("## Extensions come from wheels")]
    prose = " ".join(section.split())
    assert "SELECT * REPLACE (crawled_at AT TIME ZONE 'UTC' AS crawled_at) FROM articles" in prose
    for view, columns in zoned.items():
        for column in columns:
            assert f"`{view}.{column}`" in prose, f"docs/sql.md's catalog section does not name {view}.{column}"


def test_newsarchive_installs_pytz_for_its_own_python_readers():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(d.split(">")[0].split("=")[0].strip() == "pytz" for d in project["dependencies"])
