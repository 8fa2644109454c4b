"""Fixtures shared by every stage's tests."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def pytest_configure(config) -> None:
    """A suite started in the background (`make test &`, nohup, some CI runners) inherits SIGINT ignored,
    and so would every child it starts: newsarchive keeps an ignored SIGINT ignored (as it must), so the
    tests that send SIGINT would each wait out a 60 s timeout and fail. A handler, unlike SIG_IGN, is
    reset to the default when a child execs, so the children get Ctrl-C as in a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


def run_in_process(capsys, monkeypatch, args, *, stdin: bytes | str | None = None, env: dict | None = None,
                   drop: tuple[str, ...] = ()) -> Result:
    """Run `newsarchive` in this process (toolkit.cli.main: same parsing, errors and exit codes)."""
    import io

    from toolkit.cli import main as cli_main

    for key in drop:
        monkeypatch.delenv(key, raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    if stdin is not None:
        raw = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    capsys.readouterr()
    try:
        cli_main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """The S3-compatible server of every object-storage test, one per session. (A fixture imported into
    several test modules is a fixture of each: the suite used to start and stop five servers.)"""
    from tests.archive.conftest import seaweedfs_server

    yield from seaweedfs_server(tmp_path_factory)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} (the read-only shared material) is not present")
    return SHARED
