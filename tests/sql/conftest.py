"""Fixtures for the SQL tests: the sample archive built for real (extract, then append), once.

Tests that change an archive work on a copy (`archive_copy`); the others share `sample_archive`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Result, run_in_process

PAGES = ROOT / "datasets" / "maghress-sample" / "pages"
SEED_TITLE = "Maroc-US : le partenariat stratégique bilatéral au centre des entretiens de Bourita-Blinken"
SAMPLE_ARTICLES = 42
_ENV_DROP = ("NEWSARCHIVE_ARCHIVE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID",
             "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.fixture(scope="session")
def sample_batch(tmp_path_factory) -> Path:
    """The sample pages extracted to JSON Lines by the real extractor."""
    from toolkit.extract import extract

    out = tmp_path_factory.mktemp("sample") / "sample.jsonl"
    report = extract([PAGES], out, jobs=1)
    assert report.exit_code == 0 and report.records == SAMPLE_ARTICLES, report.summary()
    return out


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory, sample_batch) -> Path:
    """The sample appended to a fresh archive by the real `append` (version 1). Do not modify it."""
    from toolkit.archive import append

    root = tmp_path_factory.mktemp("archive") / "archive"
    result = append([sample_batch], archive=root)
    assert (result.version, result.appended) == (1, SAMPLE_ARTICLES), result.as_dict()
    return root


@pytest.fixture
def archive_copy(sample_archive, tmp_path) -> Path:
    """A private copy of the sample archive (without catalog or search index), to append to or move."""
    target = tmp_path / "copy" / "archive"
    shutil.copytree(sample_archive, target,
                    ignore=shutil.ignore_patterns("catalog.duckdb", "search-index", ".search-index.lock"))
    return target


def records(path: Path, items: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    return path


def article(i: int, **fields) -> dict:
    """A valid record that is not in the sample (ids of the form 00..0abc<i>)."""
    rec = {"id": f"{0xabc000 + i:032x}", "source": "Le Test", "title": f"Article de test numéro {i}",
           "text": f"Un paragraphe sur le sujet {i}.\n\nUne suite.", "published_date": "2021-11-15",
           "language": "fr"}
    rec.update(fields)
    return rec


@pytest.fixture
def main(capsys, monkeypatch):
    """Run `newsarchive` in this process, without archive settings from the environment."""
    def run(*args: str, stdin: str | None = None) -> Result:
        return run_in_process(capsys, monkeypatch, args, stdin=stdin, drop=tuple(_ENV_DROP))
    return run


def python(code: str, *, cwd: Path, home: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run Python code in a fresh interpreter with HOME at `home` (no cached DuckDB extension there)."""
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def one_line_error(result: Result) -> str:
    """The error of a failed run: exit 2, one line on stderr, no traceback."""
    assert result.code == 2, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    return lines[0]
