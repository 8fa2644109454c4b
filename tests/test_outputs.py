"""Never write over what is not ours: every command's outputs, against its inputs and other people's files.

Each refusal is exit 2 with one line, before anything is written: the files named stay byte for byte.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, Result, run_in_process
from tests.sql.conftest import article, records

PAGES = ROOT / "datasets" / "maghress-sample" / "pages"
MIXED = ROOT / "datasets" / "examples" / "mixed-batch.jsonl"


@pytest.fixture
def main(capsys, monkeypatch):
    def run(*args: str) -> Result:
        return run_in_process(capsys, monkeypatch, args, drop=("NEWSARCHIVE_ARCHIVE",))
    return run


def refused(result: Result, *expected: str) -> str:
    assert result.code == 2, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def snapshot(*paths: Path) -> dict[str, bytes]:
    found = {}
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        found.update({str(p): p.read_bytes() for p in files})
    return found


@pytest.fixture
def pages(tmp_path) -> Path:
    folder = tmp_path / "pages"
    folder.mkdir()
    for page in sorted(PAGES.iterdir())[:3]:
        shutil.copy(page, folder / page.name)
    return folder


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory) -> Path:
    from toolkit.archive import append

    root = tmp_path_factory.mktemp("outputs") / "archive"
    batch = records(root.parent / "batch.jsonl", [article(i) for i in range(3)])
    append([batch], archive=root)
    return root


# --- extract ----------------------------------------------------------------------------------------
def test_extract_refuses_an_output_that_is_one_of_its_inputs(main, pages, monkeypatch):
    monkeypatch.chdir(pages.parent)
    page = sorted(pages.iterdir())[0]
    os.symlink(page, pages.parent / "link.txt")
    os.link(page, pages.parent / "hard.txt")
    before = snapshot(pages)
    for inputs, option, target in [
        ([str(page)], "--output", str(page)),                                   # page.txt -o page.txt
        ([f"pages/{page.name}"], "--output", f"./pages/../pages/{page.name}"),  # the same file, spelled otherwise
        (["pages"], "--output", "link.txt"),                                    # a symbolic link to a page read
        (["pages"], "--output", "hard.txt"),                                    # a hard link to a page read
        (["pages"], "--output", "pages/new-page.txt"),                          # a page the folder would read
        ([str(page)], "--rejects", str(page)),
    ]:
        extra = ["--output", "out.jsonl"] if option == "--rejects" else []
        refused(main("extract", *inputs, option, target, *extra, "--quiet"), option, "write the output")
        assert snapshot(pages) == before
        assert not (pages.parent / "out.jsonl").exists()
    # a name the folder does not read may sit in it
    assert main("extract", "pages", "--output", "pages/records.jsonl", "--quiet").code == 0


# --- validate ----------------------------------------------------------------------------------------
def test_validate_refuses_an_output_or_quarantine_that_is_an_input(main, tmp_path):
    batches = tmp_path / "batches"
    batches.mkdir()
    batch = shutil.copy(MIXED, batches / "mixed.jsonl")
    before = snapshot(batches)
    for args, option in [
        ([str(batch), "--output", str(batch)], "--output"),
        ([str(batch), "--quarantine", str(batch)], "--quarantine"),
        ([str(batches), "--quarantine", str(batches / "rejected.jsonl")], "--quarantine"),  # read next time
        ([str(batch), "--output", str(tmp_path / "r.txt"), "--quarantine", str(tmp_path / "r.txt")], "--quarantine"),
    ]:
        refused(main("validate", *args, "--quiet"), option)
        assert snapshot(batches) == before
        assert not (tmp_path / "r.txt").exists()
    # a report that validate does not read may go next to the batches, and replace an older report
    (batches / "report.json").write_text("old")
    assert main("validate", str(batches), "--format", "json", "--output", str(batches / "report.json")).code == 1
    assert (batches / "report.json").read_text().startswith("{")


def test_a_failed_validation_leaves_the_old_quarantine_whole(main, tmp_path, monkeypatch):
    quarantine = tmp_path / "rejected.jsonl"
    quarantine.write_text('{"kept": "from the last run"}\n')

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("toolkit.validate.quarantine_line", fail)  # the run dies at its first invalid line
    result = main("validate", str(MIXED), "--quarantine", str(quarantine), "--quiet")
    assert result.code == 2
    assert quarantine.read_text() == '{"kept": "from the last run"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rejected.jsonl"]  # no temporary file left


# --- catalog -----------------------------------------------------------------------------------------
def test_catalog_replaces_only_a_catalog(main, small_archive, tmp_path):
    import duckdb

    notes = tmp_path / "notes.txt"
    notes.write_text("three months of field notes\n")
    theirs = tmp_path / "research.duckdb"
    con = duckdb.connect(str(theirs))
    con.execute("CREATE TABLE coded AS SELECT 1 AS article")
    con.close()
    before = snapshot(notes, theirs)
    for target in (notes, theirs):
        refused(main("catalog", "--archive", str(small_archive), "--output", str(target)),
                "is not a newsarchive catalog")
    assert snapshot(notes, theirs) == before
    ours = tmp_path / "catalog.duckdb"
    assert main("catalog", "--archive", str(small_archive), "--output", str(ours)).code == 0
    assert main("catalog", "--archive", str(small_archive), "--output", str(ours)).code == 0  # ours: replaced
    refused(main("catalog", "--archive", str(small_archive), "--output",
                 str(small_archive / "articles" / "_delta_log" / "00000000000000000009.json")),
            "inside the archive's articles/ table")
    assert not (small_archive / "articles" / "_delta_log" / "00000000000000000009.json").exists()


def test_the_refresh_hook_leaves_a_file_that_is_not_a_catalog(small_archive, tmp_path, capsys):
    from toolkit.sql import refresh_catalog

    archive = tmp_path / "archive"
    shutil.copytree(small_archive, archive)
    (archive / "catalog.duckdb").write_text("not a catalog\n")
    assert refresh_catalog(archive) is None
    assert (archive / "catalog.duckdb").read_text() == "not a catalog\n"
    assert "is not a newsarchive catalog" in capsys.readouterr().err


# --- publish -----------------------------------------------------------------------------------------
def test_publish_refuses_a_snapshot_inside_the_archive(main, small_archive):
    for table in ("articles", "batches"):
        refused(main("publish", "--archive", str(small_archive), "--version", "v1.0.0", "--output",
                     str(small_archive / table / "v1.0.0")), f"inside the archive's {table}/ table")
        assert not (small_archive / table / "v1.0.0").exists()
