"""Fixtures of the CI-integration tests: batches, a real Delta archive, and in-process reports."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.conftest import ROOT, Result
from tests.validate.conftest import good_record, jsonl
from toolkit.core.schema import load_schema
from toolkit.validate import validate
from toolkit.validate.render import RENDERERS

__all__ = ["ROOT", "good_record", "jsonl"]

CI_DIR = Path(__file__).resolve().parent
XSD = CI_DIR / "junit.xsd"

LEDGER_SCHEMA = pa.schema([
    ("batch", pa.string()),
    ("files", pa.list_(pa.struct([("name", pa.string()), ("sha256", pa.string()), ("bytes", pa.int64())]))),
    ("input", pa.int64()), ("appended", pa.int64()), ("duplicates", pa.int64()), ("quarantined", pa.int64()),
    ("version", pa.int64()), ("tool_version", pa.string()), ("appended_at", pa.timestamp("us", tz="UTC")),
])
QUARANTINE_SCHEMA = pa.schema([
    ("batch", pa.string()), ("file", pa.string()), ("line", pa.int64()), ("raw", pa.string()),
    ("raw_base64", pa.bool_()), ("errors", pa.string()), ("quarantined_at", pa.timestamp("us", tz="UTC")),
])


def articles_table(records: list[dict]) -> pa.Table:
    """Records in the archive's storage types plus int32 year and month (docs/archive-layout.md)."""
    storage = load_schema().storage_schema()
    rows = [{**{f.name: r.get(f.name) for f in storage},
             "published_date": dt.date.fromisoformat(r["published_date"])} for r in records]
    table = pa.Table.from_pylist(rows, schema=storage)
    table = table.append_column(pa.field("year", pa.int32()), pc.year(table["published_date"]).cast(pa.int32()))
    table = table.append_column(pa.field("month", pa.int32()), pc.month(table["published_date"]).cast(pa.int32()))
    return table.sort_by([("source", "ascending"), ("published_date", "ascending"), ("id", "ascending")])


def append_to_archive(root: Path | str, records: list[dict], batch: str,
                      storage_options: dict[str, str] | None = None) -> int:
    """Append a batch as the archive stage lays it out: articles, then its ledger row; returns the version."""
    from deltalake import DeltaTable, write_deltalake

    def exists(name: str) -> bool:
        return DeltaTable.is_deltatable(f"{root}/{name}", storage_options)

    def write(name: str, table: pa.Table, **kwargs) -> None:
        write_deltalake(f"{root}/{name}", table, mode="append" if exists(name) else "error",
                        storage_options=storage_options, **kwargs)

    write("articles", articles_table(records), partition_by=["year", "month"])
    version = DeltaTable(f"{root}/articles", storage_options=storage_options).version()
    write("batches", pa.Table.from_pylist([{
        "batch": batch, "files": [{"name": f"{batch}.jsonl", "sha256": "0" * 64, "bytes": 1}],
        "input": len(records), "appended": len(records), "duplicates": 0, "quarantined": 0,
        "version": version, "tool_version": "test", "appended_at": dt.datetime(2024, 8, 1, tzinfo=dt.timezone.utc),
    }], schema=LEDGER_SCHEMA))
    if not exists("quarantine"):
        write("quarantine", QUARANTINE_SCHEMA.empty_table())
    return version


@pytest.fixture(scope="session")
def archive_root(tmp_path_factory) -> Path:
    """A real archive in two versions: ids 0..9 (version 0), then 100..104 (version 1)."""
    root = tmp_path_factory.mktemp("archive") / "archive"
    append_to_archive(root, [good_record(i, published_date=f"2021-0{1 + i % 3}-15") for i in range(10)], "b0")
    append_to_archive(root, [good_record(i) for i in range(100, 105)], "b1")
    return root


@pytest.fixture
def write_batch(tmp_path) -> Callable[..., Path]:
    def write(name: str, *records) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jsonl(*records))
        return path

    return write


@pytest.fixture
def render() -> Callable[..., tuple[object, str]]:
    """Validate in process and render in one format: (report, output)."""
    def run(paths, fmt: str, **kwargs) -> tuple[object, str]:
        report = validate([str(p) for p in paths], **kwargs)
        out = io.StringIO()
        try:
            RENDERERS[fmt](report, out)
        finally:
            report.close()
        return report, out.getvalue()

    return run


@pytest.fixture
def main_cli(capsys) -> Callable[..., Result]:
    """The real `newsarchive` entry point, in process (quicker than a subprocess): code, stdout, stderr."""
    from toolkit.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def tool(name: str) -> str:
    """A command-line tool the test extras install next to Python (or on PATH), else a skip."""
    import sys

    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        message = f"`{name}` is not installed; `make test` installs it with the test extras (pip install -e '.[test]')"
        if os.environ.get("CI"):  # CI must run every check, never skip one silently
            pytest.fail(message)
        pytest.skip(message)
    return found
