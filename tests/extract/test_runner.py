"""The run as a whole: counts add up, duplicates, order, exit codes, files and folders, the CLI."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import run_cli
from tests.extract.conftest import FR_BODY, SAMPLE_PAGES, dump, run_extract, write_page
from toolkit.cli import main
from toolkit.core.errors import NewsarchiveError
from toolkit.core.schema import load_schema
from toolkit.extract import extract
from toolkit.validate import validate


def test_every_page_is_a_record_a_duplicate_or_a_reject(tmp_path):
    write_page(tmp_path, dump(title="Premier titre"), "a.txt")
    write_page(tmp_path, dump(title="Premier titre", body=[FR_BODY[1]]), "b.txt")  # same id as a.txt
    write_page(tmp_path, dump(title="Un autre titre pour le même texte"), "c.txt")  # same text as a.txt
    write_page(tmp_path, dump(title="Troisième titre", body=[FR_BODY[0]]), "sub/d.txt")
    write_page(tmp_path, dump(date="31 - 04 - 2021"), "e.txt")
    write_page(tmp_path, "pas une page", "f")
    run = run_extract(tmp_path)
    report = run.report
    assert (report.pages, report.records, report.duplicate_count, report.rejected) == (6, 2, 2, 2)
    assert [r["title"] for r in run.records] == ["Premier titre", "Troisième titre"]
    folder = tmp_path / "in"
    assert [(d.input, d.why, d.kept_input) for d in report.duplicates] == [
        (str(folder / "b.txt"), "same id", str(folder / "a.txt")),
        (str(folder / "c.txt"), "same text", str(folder / "a.txt")),
    ]
    assert [(r["input"], r["reason"].split(":")[0]) for r in run.rejects] == [
        (str(folder / "e.txt"), "line 16"), (str(folder / "f"), "no publication line")]
    assert report.exit_code == 1
    summary = report.summary()
    assert "duplicates        2" in summary and "rejected          2" in summary
    assert f"{folder / 'c.txt'}: same text as {folder / 'a.txt'}" in summary


def test_sample_extracts_cleanly_validates_and_keeps_the_schema_order(tmp_path):
    run = run_extract(tmp_path, [SAMPLE_PAGES], jobs=2)
    pages = sorted(p for p in SAMPLE_PAGES.iterdir() if p.suffix == ".txt")
    assert run.report.exit_code == 0
    assert run.report.records == len(pages) and run.report.rejected == run.report.duplicate_count == 0
    assert validate([run.output]).invalid == 0
    order = [f.name for f in load_schema().fields]
    for record in run.records:
        assert list(record) == [name for name in order if name in record]
    assert len({r["id"] for r in run.records}) == len(pages)


def test_output_does_not_depend_on_jobs(tmp_path):
    one = run_extract(tmp_path / "a", [SAMPLE_PAGES], jobs=1).output.read_bytes()
    two = run_extract(tmp_path / "b", [SAMPLE_PAGES], jobs=2).output.read_bytes()
    assert one == two
    # sorted by input path, whatever order the inputs were given in
    pages = sorted(SAMPLE_PAGES.glob("*.txt"))
    shuffled = run_extract(tmp_path / "c", [pages[5], *pages[:5], *pages[6:]], jobs=2).output.read_bytes()
    assert shuffled == one


def test_folders_skip_hidden_files_and_list_other_extensions(tmp_path):
    write_page(tmp_path, dump(), "pages/2021/a.txt")
    write_page(tmp_path, dump(title="Un autre titre"), "pages/.hidden/b.txt")
    write_page(tmp_path, dump(title="Encore un titre"), "pages/.c.txt")
    write_page(tmp_path, "# notes", "pages/README.md")
    write_page(tmp_path, dump(title="Le titre du fichier nommé", body=[FR_BODY[1]]), "odd.dump")
    run = run_extract(tmp_path, [tmp_path / "in" / "pages", tmp_path / "in" / "odd.dump"])
    assert run.report.files == 2 and run.report.records == 2
    assert run.report.ignored == [str(tmp_path / "in" / "pages" / "README.md")]
    assert "ignored           1" in run.report.summary()


def test_run_that_cannot_happen_raises(tmp_path):
    with pytest.raises(NewsarchiveError, match="no such file or directory"):
        extract([tmp_path / "missing"], tmp_path / "out.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NewsarchiveError, match="no pages found"):
        extract([tmp_path / "empty"], tmp_path / "out.jsonl")
    page = write_page(tmp_path, dump())
    with pytest.raises(NewsarchiveError, match="is a directory"):
        extract([page], tmp_path)
    with pytest.raises(NewsarchiveError, match="'xx' is not an ISO 639-1 code"):
        extract([page], tmp_path / "out.jsonl", languages=["fr", "xx"])
    assert not (tmp_path / "out.jsonl").exists()


def test_cli_exit_codes_and_files(tmp_path, capsys):
    good = write_page(tmp_path, dump(), "good.txt")
    bad = write_page(tmp_path, dump(date="29 - 02 - 2021"), "bad.txt")
    out, rejects = tmp_path / "out" / "records.jsonl", tmp_path / "out" / "rejects.jsonl"

    with pytest.raises(SystemExit) as exit_info:
        main(["extract", str(good), "--output", str(out), "--quiet", "--jobs", "1"])
    assert exit_info.value.code == 0
    assert "records           1" in capsys.readouterr().out
    assert json.loads(out.read_text(encoding="utf-8"))["published_date"] == "2020-10-12"

    with pytest.raises(SystemExit) as exit_info:
        main(["extract", str(tmp_path / "in"), "-o", str(out), "--rejects", str(rejects), "-q", "-j", "1"])
    assert exit_info.value.code == 1
    assert "rejected          1" in capsys.readouterr().out
    assert [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()] == [
        {"input": str(bad), "record": None,
         "reason": "line 16: impossible date 29 - 02 - 2021 in the publication line (day is out of range "
                   "for month); fix the date (DD - MM - YYYY)"}]


def test_cli_lists_rejects_on_screen_when_there_is_no_rejects_file(tmp_path, capsys):
    write_page(tmp_path, dump(body=[]), "bad.txt")
    with pytest.raises(SystemExit):
        main(["extract", str(tmp_path / "in"), "-o", str(tmp_path / "out.jsonl"), "-q", "-j", "1"])
    assert f"{tmp_path / 'in' / 'bad.txt'}: empty body" in capsys.readouterr().out


def test_cli_writes_records_to_stdout_and_the_summary_to_stderr(tmp_path, capsys):
    page = write_page(tmp_path, dump())
    with pytest.raises(SystemExit) as exit_info:
        main(["extract", str(page), "-o", "-", "-q", "-j", "1"])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["source"] == "Le360"
    assert captured.err.startswith("extract: 1 page ")


@pytest.mark.parametrize("args", [
    ["extract", "{tmp}/missing", "-o", "{tmp}/out.jsonl"],
    ["extract", "{tmp}/empty", "-o", "{tmp}/out.jsonl"],
    ["extract", "{page}", "-o", "{tmp}/out.jsonl", "--languages", "fr,zz"],
])
def test_cli_usage_errors_are_one_line_and_exit_2(tmp_path, args):
    (tmp_path / "empty").mkdir()
    page = write_page(tmp_path, dump())
    result = run_cli(*[a.format(tmp=tmp_path, page=page) for a in args])
    assert result.code == 2
    assert result.err.startswith("newsarchive: error: ") and result.err.count("\n") == 1
    assert "Traceback" not in result.err


def test_sample_through_the_real_command(tmp_path):
    shutil.copytree(SAMPLE_PAGES, tmp_path / "pages")
    result = run_cli("extract", str(tmp_path / "pages"), "--output", str(tmp_path / "sample.jsonl"))
    assert result.code == 0, result.err
    assert "rejected          0" in result.out
    assert validate([tmp_path / "sample.jsonl"]).invalid == 0
