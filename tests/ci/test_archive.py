"""`validate --archive URI [--strict]`: ids the archive already holds, looked up in a real Delta table."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET

import pytest
import xmlschema

from tests.ci.conftest import XSD, append_to_archive, good_record
from tests.ci.test_github import parse_commands
from toolkit.archive import archived_ids
from toolkit.core.errors import NewsarchiveError
from toolkit.validate import validate
from toolkit.validate.render import render_junit


@pytest.fixture
def archive_reader():
    """The archive is read through `toolkit.archive.open_archive`."""
    return "archive stage"


def batch_with_known_ids(write_batch):
    """Lines 1-6: ids 3 (archived), 50, 101 (archived), 7 (archived, invalid), bad id, 51."""
    return write_batch("new.jsonl", good_record(3), good_record(50), good_record(101), good_record(7, title=""),
                       good_record(0, id="NOT-HEX"), good_record(51))


def test_ids_already_archived_are_warnings_by_default(archive_root, write_batch, archive_reader):
    path = batch_with_known_ids(write_batch)
    report = validate([path], archive=archived_ids(str(archive_root)))
    assert (report.records, report.valid, report.invalid, report.exit_code) == (6, 4, 2, 1)
    assert report.archive == str(archive_root) and report.archive_version == 1
    warnings = [(w.line, w.id, w.path, w.keyword) for w in report.warnings()]
    assert warnings == [(1, good_record(3)["id"], "/id", "already_archived"),
                        (3, good_record(101)["id"], "/id", "already_archived"),
                        (4, good_record(7)["id"], "/id", "already_archived")]
    assert next(report.warnings()).message == (f"id {good_record(3)['id']!r} is already in the archive at "
                                               f"{archive_root}, version 1")
    assert report.warning_count == 3 and report.files[0].warnings == 3
    assert {e.keyword for e in report.errors()} == {"minLength", "pattern"}  # schema errors only
    report.close()


def test_warnings_alone_do_not_fail_the_run(archive_root, write_batch, archive_reader):
    path = write_batch("dupes.jsonl", good_record(3), good_record(4), good_record(60))
    report = validate([path], archive=archived_ids(str(archive_root)))
    assert report.exit_code == 0 and report.invalid == 0 and report.warning_count == 2
    report.close()


def test_strict_turns_them_into_errors_in_input_order(archive_root, write_batch, archive_reader):
    path = batch_with_known_ids(write_batch)
    report = validate([path], archive=archived_ids(str(archive_root)), strict=True)
    assert (report.records, report.valid, report.invalid, report.exit_code) == (6, 2, 4, 1)
    assert report.warning_count == 0 and list(report.warnings()) == []
    errors = [(e.line, e.keyword) for e in report.errors()]
    assert errors == [(1, "already_archived"), (3, "already_archived"), (4, "minLength"), (4, "pattern"),
                      (4, "already_archived"), (5, "pattern")]
    assert report.error_count == 6 and report.keywords["already_archived"] == 3
    report.close()


def test_max_errors_caps_the_merged_lists_not_the_counts(archive_root, write_batch):
    path = batch_with_known_ids(write_batch)
    report = validate([path], archive=archived_ids(str(archive_root)), strict=True, max_errors=3)
    assert [(e.line, e.keyword) for e in report.errors()] == [(1, "already_archived"), (3, "already_archived"),
                                                               (4, "minLength")]
    assert report.errors_kept == 3 and report.error_count == 6 and report.truncated
    report.close()
    report = validate([path], archive=archived_ids(str(archive_root)), max_errors=2)
    assert [w.line for w in report.warnings()] == [1, 3] and report.warning_count == 3 and report.warnings_truncated
    report.close()


def test_several_files_keep_their_own_lines(archive_root, write_batch):
    a = write_batch("a.jsonl", good_record(200), good_record(9))
    b = write_batch("sub/b.jsonl", good_record(104), good_record(201), good_record(0))
    report = validate([a, b], archive=archived_ids(str(archive_root)), strict=True)
    assert [(e.file, e.line) for e in report.errors()] == [(str(a), 2), (str(b), 1), (str(b), 3)]
    assert [(f.valid, f.invalid) for f in report.files] == [(1, 1), (1, 2)]
    report.close()


def test_every_format_reports_them(archive_root, write_batch, main_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    path = batch_with_known_ids(write_batch)
    res = main_cli("validate", "--quiet", "--format", "json", "--archive", str(archive_root), str(path))
    assert res.code == 1
    rep = json.loads(res.out)
    assert rep["warning_count"] == 3 and [w["line"] for w in rep["warnings"]] == [1, 3, 4]
    assert rep["archive"] == str(archive_root) and rep["archive_version"] == 1 and rep["strict"] is False
    assert rep["files"][0]["warnings"] == 3 and rep["invalid"] == 2

    res = main_cli("validate", "--quiet", "--archive", str(archive_root), str(path))
    assert "Warnings: ids already in" in res.out and "line 3 (id" in res.out
    assert res.out.rstrip().endswith("3 ids already in the archive (warnings).")

    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    res = main_cli("validate", "--quiet", "--format", "github", "--archive", str(archive_root), str(path))
    warnings = [c for c in parse_commands(res.out) if c["level"] == "warning"]
    assert [(w["file"], w["line"], w["title"]) for w in warnings] == [
        (str(path), "1", "id already in the archive"), (str(path), "3", "id already in the archive"),
        (str(path), "4", "id already in the archive")]
    md = summary.read_text()
    assert "**3** ids already archived, reported as warnings" in md and "### Ids already in the archive" in md

    res = main_cli("validate", "--quiet", "--format", "github", "--archive", str(archive_root), "--strict", str(path))
    assert res.code == 1
    errors = [c for c in parse_commands(res.out) if c["level"] == "error"]
    assert [e["line"] for e in errors] == ["1", "3", "4", "5"]
    assert not [c for c in parse_commands(res.out) if c["level"] == "warning"]


@pytest.mark.parametrize("strict", [False, True])
def test_junit_lists_warnings_in_system_out_and_strict_failures_as_cases(archive_root, write_batch, strict):
    path = batch_with_known_ids(write_batch)
    report = validate([path], archive=archived_ids(str(archive_root)), strict=strict)
    out = io.StringIO()
    render_junit(report, out)
    report.close()
    xmlschema.XMLSchema(str(XSD)).validate(out.getvalue())
    suite = ET.fromstring(out.getvalue()).find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props == {"newsarchive.archive": str(archive_root), "newsarchive.archive_version": "1",
                     "newsarchive.already_archived": "3"}
    names = [c.get("name").split(" (")[0] for c in suite.findall("testcase")]
    if strict:
        assert names == ["line 1", "line 3", "line 4", "line 5"] and suite.find("system-out") is None
    else:
        assert names == ["line 4", "line 5"]
        assert [line.split(": ")[0].strip() for line in suite.find("system-out").text.splitlines()[1:]] == [
            f"{path}:1", f"{path}:3", f"{path}:4"]


def test_an_archive_that_is_not_there_is_one_line_exit_2(write_batch, main_cli, tmp_path):
    path = write_batch("b.jsonl", good_record(1))
    (tmp_path / "empty").mkdir()
    for uri, needle in [(str(tmp_path / "nope"), "no such folder"),
                        (str(tmp_path / "empty"), "no articles/ Delta table there")]:
        res = main_cli("validate", "--quiet", "--archive", uri, str(path))
        assert res.code == 2 and needle in res.err and len(res.err.strip().splitlines()) == 1, res.err
    res = main_cli("validate", "--quiet", "--strict", str(path))
    assert res.code == 2 and "--strict needs --archive" in res.err


def test_a_schema_without_a_string_id_cannot_be_checked(archive_root, write_batch, tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                                  "properties": {"n": {"type": "integer"}}}))
    path = write_batch("b.jsonl", {"n": 1})
    with pytest.raises(NewsarchiveError, match="string `id` property"):
        validate([path], schema, archive=archived_ids(str(archive_root)))


def test_the_lookup_is_one_join_over_a_larger_archive(tmp_path, write_batch):
    """Some thousands of archived ids across versions and partitions; only the known ones are flagged."""
    root = tmp_path / "big"
    for v in range(3):
        append_to_archive(root, [good_record(v * 2000 + i, published_date=f"202{v}-0{1 + i % 9}-01")
                                 for i in range(2000)], f"b{v}")
    ids = list(range(5990, 6010))  # 5990..5999 are archived, 6000.. are new
    path = write_batch("b.jsonl", *[good_record(i) for i in ids])
    report = validate([path], archive=archived_ids(str(root)))
    assert [w.line for w in report.warnings()] == list(range(1, 11)) and report.archive_version == 2
    report.close()



@pytest.mark.s3
def test_an_archive_in_object_storage(seaweedfs, write_batch):
    """`--archive s3://bucket/prefix` against a real S3-compatible server (SeaweedFS), credentials from
    the AWS_* variables, through the real command."""
    from tests.conftest import run_cli

    root = seaweedfs.new_root()
    options = {**seaweedfs.env(), "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
    append_to_archive(root, [good_record(i) for i in range(5)], "b0", storage_options=options)
    path = write_batch("b.jsonl", good_record(4), good_record(5))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | seaweedfs.env()
    res = run_cli("validate", "--quiet", "--format", "json", "--archive", root, str(path), env=env)
    assert res.code == 0, res.err
    rep = json.loads(res.out)
    assert [(w["line"], w["id"]) for w in rep["warnings"]] == [(1, good_record(4)["id"])]
    assert rep["archive"] == root and rep["archive_version"] == 0
