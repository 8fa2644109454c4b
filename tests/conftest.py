"""Fixtures shared by every stage's tests."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, stdin: bytes | None = None, cwd: Path | None = None, env: dict | None = None) -> Result:
    """Run the real `newsarchive` command (as `python -m toolkit`) in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} (the read-only shared material) is not present")
    return SHARED
