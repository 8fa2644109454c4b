"""The Ray backend against the local executor, on a real local Ray cluster (one per module).

Identical results for extract (bytes), validate (report and quarantine), append (rows, quarantine;
local folder and SeaweedFS S3) and publish (snapshot bytes); a worker SIGKILLed mid-task is retried
by Ray and the archive holds exactly the files of the successful attempts; a task that always dies
commits nothing and the CLI says so in one line. Faults come from the test hook (kill, kill-once).
"""

# ruff: noqa: F811 (the fixtures of tests/archive are imported, then named as parameters)
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from tests.archive.conftest import _AWS_VARS, record, write_jsonl  # noqa: F401 (fixtures)
from tests.conftest import ROOT, run_cli, run_in_process
from toolkit.archive.storage import Storage
from toolkit.core.errors import NewsarchiveError
from toolkit.core.executor import Task, executor

ray = pytest.importorskip("ray")

SAMPLE_PAGES = ROOT / "datasets" / "maghress-sample" / "pages"
#: What a command run in this process must not see (as cli_env leaves out for a subprocess).
DROP = (*_AWS_VARS, "NEWSARCHIVE_ARCHIVE", "NEWSARCHIVE_EXECUTOR")


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster for the module: this process is its driver, and RAY_ADDRESS lets the CLI's
    subprocesses join it as drivers of their own jobs."""
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield context.address_info["gcs_address"]
    finally:
        ray.shutdown()


def cli_env(address: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NEWSARCHIVE_"))}
    return {**env, "RAY_ADDRESS": address, **extra}


def batch(path: Path, record, start: int, count: int, *, invalid: int = 0, repeat: int = 0) -> Path:
    """Records start..start+count, then `repeat` of them again (in-batch duplicates), then invalid lines."""
    recs: list = [record(i, published_date=f"20{20 + i % 3}-0{1 + i % 4}-1{i % 10}")
                  for i in range(start, start + count)]
    recs += recs[:repeat]
    recs += ["{not json", json.dumps({"id": "x"})] * invalid
    return write_jsonl(path, recs)


def rows(root: str, table: str, env: dict[str, str] | None = None) -> pa.Table:
    """A table's rows, without the columns that name the batch or its time, in a fixed order."""
    from toolkit.archive.storage import s3_options_from_env

    options = s3_options_from_env(env) if root.startswith("s3://") else None
    t = DeltaTable(f"{root}/{table}", storage_options=options).to_pyarrow_table()
    t = t.drop_columns([c for c in ("batch", "appended_at", "quarantined_at") if c in t.column_names])
    keys = [c for c in t.column_names if pa.types.is_string(t.schema.field(c).type)
            or pa.types.is_integer(t.schema.field(c).type)]
    return t.sort_by([(c, "ascending") for c in keys])


def files_on_disk(root: Path) -> set[str]:
    table = root / "articles"
    return {p.relative_to(table).as_posix() for p in table.rglob("*.parquet")}


def files_committed(root: Path) -> set[str]:
    return {Path(u).relative_to(root / "articles").as_posix() for u in DeltaTable(str(root / "articles")).file_uris()}


# --- the executor's contract ------------------------------------------------------------------------
def test_results_in_order_and_a_tasks_error_is_its_one_line(cluster, tmp_path, monkeypatch):
    from toolkit.core.location import resolve_root

    monkeypatch.chdir(tmp_path)  # a relative path means the same in the workers (they run in the driver's cwd)
    results = executor(2, "ray")
    items = [f"archive-{i}" for i in range(9)]
    assert list(results.map(Task(resolve_root), items)) == [str(tmp_path / i) for i in items]
    with pytest.raises(NewsarchiveError, match="ftp://x: unsupported archive location") as caught:
        list(results.map(Task(resolve_root), ["a", "ftp://x", "b"]))
    assert caught.value.exit_code == 2


def test_ray_absent_or_an_unknown_backend_is_one_line(monkeypatch):
    monkeypatch.delitem(sys.modules, "toolkit.core._ray", raising=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(NewsarchiveError, match=r"needs Ray: pip install 'newsarchive\[ray\]'") as caught:
        executor(2, "ray")
    assert caught.value.exit_code == 2
    monkeypatch.setenv("NEWSARCHIVE_EXECUTOR", "dask")
    with pytest.raises(NewsarchiveError, match="executor 'dask': unknown; use local or ray"):
        executor(2)


def test_a_cluster_that_does_not_answer_is_one_line_at_once(tmp_path, record):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**cli_env(f"127.0.0.1:{port}")}
    started = time.monotonic()
    done = run_cli("validate", str(batch(tmp_path / "b.jsonl", record, 0, 5)), "--executor", "ray", env=env)
    assert done.code == 2 and time.monotonic() - started < 30
    assert done.err.strip().splitlines() == [f"newsarchive: error: RAY_ADDRESS=127.0.0.1:{port}: no Ray cluster "
                                             "answers there (Connection refused); start one (`ray start --head`), "
                                             "fix RAY_ADDRESS, or unset it to start a local Ray"]


# --- identical results ------------------------------------------------------------------------------
def test_extract_writes_the_same_bytes(cluster, tmp_path):
    """Page files, and a WARC that a Ray worker reads whole (locally the driver reads it)."""
    from tests.extract.test_warc import crawl, write_warc
    from toolkit.extract import extract

    warc = tmp_path / "crawl.warc.gz"
    write_warc(warc, crawl(True), gz=True)
    reports = {}
    for backend in ("local", "ray"):
        report = extract([SAMPLE_PAGES, warc], tmp_path / f"{backend}.jsonl", rejects=tmp_path / f"{backend}.rejects",
                         jobs=2, backend=backend)
        reports[backend] = (report.records, report.rejected, dict(report.skipped), report.warnings, report.pages)
        assert report.records > 30
    assert (tmp_path / "local.jsonl").read_bytes() == (tmp_path / "ray.jsonl").read_bytes()
    assert (tmp_path / "local.rejects").read_bytes() == (tmp_path / "ray.rejects").read_bytes()
    assert reports["local"] == reports["ray"]
    assert reports["ray"][2]  # the WARC's skipped records (a request, an image...) are counted


def test_validate_gives_the_same_report_and_quarantine(cluster, tmp_path, record, monkeypatch):
    from toolkit.validate import validate
    from toolkit.validate.render import render_json

    monkeypatch.setattr("toolkit.validate.engine.work_items.__defaults__", (None, 8 << 10))  # many tasks
    path = batch(tmp_path / "b.jsonl", record, 0, 300, invalid=20)
    reports = {}
    for backend in ("local", "ray"):
        report = validate([path], jobs=2, backend=backend, quarantine=tmp_path / f"{backend}.q")
        out = io.StringIO()
        render_json(report, out)
        reports[backend] = json.loads(out.getvalue())
        reports[backend].pop("seconds", None)
        assert report.exit_code == 1
    assert reports["local"] == reports["ray"]
    assert (tmp_path / "local.q").read_bytes() == (tmp_path / "ray.q").read_bytes()


def _append(*args, **kwargs):
    from toolkit.archive import append

    return append(*args, **kwargs)


def _two_appends(tmp_path, record, append_second) -> tuple[Path, Path]:
    """The same two batches appended to two archives, the second batch locally to one and by
    `append_second(paths, archive)` to the other; the second overlaps the first, repeats ids and
    holds invalid lines."""
    first = batch(tmp_path / "first.jsonl", record, 0, 200)
    second = batch(tmp_path / "second.jsonl", record, 150, 300, invalid=5, repeat=40)
    local, other = tmp_path / "local", tmp_path / "other"
    for archive in (local, other):
        _append([first], archive=archive, jobs=2)
    _append([second], archive=local, jobs=2)
    append_second([second], other)
    return local, other


def assert_same_archive(local: str, other: str, env: dict[str, str] | None = None) -> None:
    for table in ("articles", "quarantine"):
        assert rows(local, table).equals(rows(other, table, env)), table
    counts = ["input", "appended", "duplicates", "quarantined"]
    assert rows(local, "batches").select(counts).equals(rows(other, "batches", env).select(counts))


def test_append_gives_the_same_archive(cluster, tmp_path, record, monkeypatch):
    from toolkit.archive import append

    monkeypatch.setattr(sys.modules["toolkit.archive.append"], "BLOCK_BYTES", 16 << 10)  # several blocks, several tasks

    def read_back(*args, **kwargs):
        raise AssertionError("a normal append read its batch back to sign it")

    # The tasks sign the rows they stage: the driver indexes those signatures, never reads back.
    monkeypatch.setattr(sys.modules["toolkit.archive.near_duplicates"], "_batch_articles", read_back)

    def on_ray(paths, archive):
        result = append(paths, archive=archive, jobs=2, backend="ray")
        assert (result.input, result.appended, result.duplicates, result.quarantined) == (350, 250, 90, 10)

    local, other = _two_appends(tmp_path, record, on_ray)
    assert_same_archive(str(local), str(other))
    for table in ("minhash", "clusters"):  # the tasks' signatures are the local stagers'
        assert rows(str(local), table).equals(rows(str(other), table)), table
    assert not (other / "_staging").exists()
    assert files_on_disk(other) == files_committed(other)


@pytest.mark.s3
def test_append_on_s3_through_the_cli_gives_the_same_archive(cluster, tmp_path, record, seaweedfs, monkeypatch):
    """The Ray run is the CLI's, a driver of its own job: its workers get its AWS_* settings."""
    from toolkit.archive import append

    remote = seaweedfs.new_root()

    def on_ray(paths, archive):
        env = cli_env(cluster, **seaweedfs.env())
        done = run_cli("append", *map(str, paths), "--archive", remote, "--executor", "ray", env=env)
        assert done.code == 0, done.err
        assert "RAY_ADDRESS" not in done.err  # it joined the cluster, no local Ray was started
        assert not Storage.at(remote).filesystem.get_file_info(Storage.at(remote).fs_path("_staging")).is_file

    for key, value in seaweedfs.env().items():
        monkeypatch.setenv(key, value)
    real = append

    def first_to_s3(paths, archive=None, **kwargs):  # the first batch: this process, locally, to both
        return real(paths, archive=remote if str(archive).endswith("other") else archive, **kwargs)

    monkeypatch.setattr(sys.modules[__name__], "_append", first_to_s3)
    local, _ = _two_appends(tmp_path, record, on_ray)
    assert_same_archive(str(local), remote, seaweedfs.env())


def test_publish_writes_the_same_snapshot(cluster, tmp_path, record, capsys, monkeypatch):
    """The command in this process (its Ray driver: a subprocess would start a driver of its own, which
    test_append_on_s3_through_the_cli_gives_the_same_archive does)."""
    from toolkit.archive import append

    archive = tmp_path / "archive"
    append([batch(tmp_path / "b.jsonl", record, 0, 50)], archive=archive, jobs=1)
    snapshots = {}
    for backend in ("local", "ray"):
        out = tmp_path / backend / "v1.0.0"  # apart: a sibling snapshot with the same tag is refused
        done = run_in_process(capsys, monkeypatch, ["publish", "--archive", str(archive), "--version", "v1.0.0",
                                                    "--output", str(out), "--executor", backend],
                              drop=DROP)
        assert done.code == 0, done.err
        assert ("publish runs on this machine" in done.err) == (backend == "ray")
        snapshots[backend] = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert snapshots["local"] == snapshots["ray"]


# --- faults -----------------------------------------------------------------------------------------
def test_a_worker_killed_while_writing_is_retried_and_its_files_are_not_left(cluster, tmp_path, record, monkeypatch):
    """The first task to write a data file SIGKILLs its own worker right after; Ray runs it again,
    and the retry overwrites the dead attempt's file: the archive holds exactly the committed files."""
    from toolkit.archive import append

    marker = tmp_path / "killed"
    monkeypatch.setattr(sys.modules["toolkit.archive.append"], "BLOCK_BYTES", 16 << 10)

    def on_ray(paths, archive):
        monkeypatch.setenv("NEWSARCHIVE_TEST_FAULT", f"append.write:kill-once:{marker}")
        append(paths, archive=archive, jobs=2, backend="ray")
        monkeypatch.delenv("NEWSARCHIVE_TEST_FAULT")

    local, other = _two_appends(tmp_path, record, on_ray)
    assert marker.exists()  # a worker did die
    assert_same_archive(str(local), str(other))
    assert files_on_disk(other) == files_committed(other)


def test_a_task_that_always_dies_commits_nothing_and_says_so_in_one_line(cluster, tmp_path, record, capsys,
                                                                         monkeypatch):
    """The command in this process, this Ray's driver; the fault reaches the workers with each task."""
    from toolkit.archive import append

    archive = tmp_path / "archive"
    append([batch(tmp_path / "a.jsonl", record, 0, 20)], archive=archive, jobs=1)
    before, version = files_on_disk(archive), DeltaTable(str(archive / "articles")).version()
    done = run_in_process(capsys, monkeypatch, ["append", str(batch(tmp_path / "b.jsonl", record, 100, 20)),
                                                "--archive", str(archive), "--executor", "ray", "--quiet"],
                          env={"NEWSARCHIVE_TEST_FAULT": "append.staging:kill", "NEWSARCHIVE_RAY_RETRIES": "1"},
                          drop=DROP)
    assert done.code == 2
    lines = done.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("newsarchive: error: a Ray task of append"), done.err
    assert "also after 1 retry; nothing was written or committed" in lines[0]
    assert DeltaTable(str(archive / "articles")).version() == version
    assert files_on_disk(archive) == before
    assert not (archive / "_staging").exists()


def test_ray_is_imported_only_when_chosen():
    """`newsarchive --help` and every local run stay as fast as before: no `import ray` (about a second)."""
    code = ("import sys, toolkit.cli, toolkit.extract, toolkit.validate, toolkit.archive, toolkit.publish\n"
            "from toolkit.core.executor import executor\n"
            "executor(1, 'local')\n"
            "assert 'ray' not in sys.modules, 'ray was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
