"""`newsarchive validate`: every bad-input class with its line number, inputs, formats, exit codes."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
import zstandard

from tests.conftest import run_cli, run_in_process
from tests.validate.conftest import good_record, jsonl


@pytest.fixture
def cli(capsys, monkeypatch):
    """`newsarchive` in this process (toolkit.cli.main: the same parsing, output and exit codes), which
    spares each case a Python start; the first test and the github one run the real command."""
    def run(*args: str, stdin: bytes | None = None):
        return run_in_process(capsys, monkeypatch, args, stdin=stdin)

    return run


def report_of(cli, *args, stdin=None):
    res = cli("validate", "--format", "json", "--quiet", *args, stdin=stdin)
    assert "Traceback" not in res.err
    return res, (json.loads(res.out) if res.out.strip() else None)


def errors_by_line(report):
    out: dict[int, list[dict]] = {}
    for e in report["errors"]:
        out.setdefault(e["line"], []).append(e)
    return out


def test_valid_batch_exits_0(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_bytes(jsonl(good_record(1), good_record(2)))
    res, rep = report_of(run_cli, str(path))  # the real command, in a subprocess
    assert res.code == 0
    assert rep["records"] == 2 and rep["valid"] == 2 and rep["invalid"] == 0 and rep["errors"] == []
    assert rep["schema"].endswith("/1.0.0/article.schema.json")
    assert rep["files"] == [{"file": str(path), "records": 2, "valid": 2, "invalid": 0, "errors": 0, "warnings": 0}]


BAD_LINES = {
    "not json": (b"{'single': 'quotes'}", "json"),
    "nan": (b'{"id": NaN}', "json"),
    "infinity": (b'{"id": "aaaaaaaaaaaaaaaa", "x": -Infinity}', "json"),
    "array": (b"[1, 2, 3]", "type"),
    "null": (b"null", "type"),
    "string": (b'"just a string"', "type"),
    "truncated": (json.dumps(good_record(9)).encode()[:40], "json"),
    "latin-1": (json.dumps(good_record(8), ensure_ascii=False).encode("latin-1"), "encoding"),
    "empty middle line": (b"", "json"),
    "two values": (jsonl(good_record(5)).strip() + b" " + jsonl(good_record(6)).strip(), "json"),
    "duplicate key": (b'{"id": "aaaaaaaaaaaaaaaa", "id": "bbbbbbbbbbbbbbbb"}', "json"),
    "lone surrogate": (json.dumps(good_record(7, title="a\ud800b")).encode(), "json"),
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_bad_line_reported_with_its_line_number_and_run_goes_on(cli, tmp_path, kind):
    raw, keyword = BAD_LINES[kind]
    path = tmp_path / "batch.jsonl"
    path.write_bytes(jsonl(good_record(1), raw, good_record(2)))
    res, rep = report_of(cli, str(path))
    assert res.code == 1
    assert rep["records"] == 3 and rep["valid"] == 2 and rep["invalid"] == 1
    by_line = errors_by_line(rep)
    assert list(by_line) == [2]
    assert by_line[2][0]["keyword"] == keyword
    assert by_line[2][0]["message"]


def test_bom_crlf_and_trailing_empty_line_are_accepted(cli, tmp_path):
    path = tmp_path / "windows.jsonl"
    body = jsonl(good_record(1), good_record(2)).replace(b"\n", b"\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + body + b"\r\n")
    res, rep = report_of(cli, str(path))
    assert res.code == 0, rep
    assert rep["records"] == 2 and rep["valid"] == 2


def test_last_line_without_newline_is_a_record(cli, tmp_path):
    path = tmp_path / "nonl.jsonl"
    path.write_bytes(jsonl(good_record(1)) + json.dumps(good_record(2, title="")).encode())
    res, rep = report_of(cli, str(path))
    assert res.code == 1
    assert rep["records"] == 2
    assert [(e["line"], e["path"], e["keyword"]) for e in rep["errors"]] == [(2, "/title", "minLength"),
                                                                           (2, "/title", "pattern")]


def test_every_error_of_every_record_with_pointer_keyword_and_id(cli, tmp_path):
    rec = good_record(3, published_date="2021-02-30", language="FR", publishd_date="x", authors=["ok", 1])
    path = tmp_path / "b.jsonl"
    path.write_bytes(jsonl(good_record(1), rec))
    res, rep = report_of(cli, str(path))
    assert res.code == 1
    got = {(e["line"], e["id"], e["path"], e["keyword"]) for e in rep["errors"]}
    rid = rec["id"]
    assert got == {
        (2, rid, "", "additionalProperties"),
        (2, rid, "/published_date", "format"),
        (2, rid, "/language", "pattern"),
        (2, rid, "/authors/1", "type"),
    }


def test_impossible_date_is_invalid(cli, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(jsonl(good_record(1, published_date="2021-02-30"), good_record(2, published_date="2020-02-29")))
    res, rep = report_of(cli, str(path))
    assert [(e["line"], e["keyword"]) for e in rep["errors"]] == [(1, "format")]
    assert "'2021-02-30' is not a 'date'" in rep["errors"][0]["message"]


def test_compressed_inputs_directories_and_stdin(cli, tmp_path):
    data = jsonl(good_record(1), good_record(2, title=""), good_record(3))
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.jsonl.gz").write_bytes(gzip.compress(data))
    (tmp_path / "d" / "sub" / "b.ndjson.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    (tmp_path / "d" / "notes.txt").write_text("not a batch")
    res, rep = report_of(cli, str(tmp_path / "d"))
    assert res.code == 1
    assert [f["file"] for f in rep["files"]] == [str(tmp_path / "d" / "a.jsonl.gz"),
                                                  str(tmp_path / "d" / "sub" / "b.ndjson.zst")]
    assert [(f["records"], f["invalid"]) for f in rep["files"]] == [(3, 1), (3, 1)]
    res, rep = report_of(cli, "-", stdin=data)
    assert res.code == 1 and rep["files"][0]["file"] == "<stdin>" and rep["records"] == 3


def test_quarantine_keeps_every_invalid_line_verbatim(cli, tmp_path):
    latin = json.dumps(good_record(4, title="Été"), ensure_ascii=False).encode("latin-1")
    bad = json.dumps(good_record(5, title="")).encode()
    path = tmp_path / "q.jsonl"
    path.write_bytes(jsonl(good_record(1), latin, bad))
    qpath = tmp_path / "quarantine.jsonl"
    res, rep = report_of(cli, str(path), "--quarantine", str(qpath))
    assert res.code == 1
    rows = [json.loads(line) for line in qpath.read_text().splitlines()]
    assert [r["line"] for r in rows] == [2, 3]
    assert rows[0]["raw_base64"] is True and base64.b64decode(rows[0]["raw"]) == latin
    assert rows[1]["raw"] == bad.decode() and "raw_base64" not in rows[1]
    assert rows[1]["errors"] == [
        {"path": e["path"], "keyword": e["keyword"], "message": e["message"]} for e in rep["errors"] if e["line"] == 3
    ]
    assert {(e["keyword"]) for e in rows[1]["errors"]} == {"minLength", "pattern"}


def test_max_errors_caps_the_list_not_the_counts(cli, tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(jsonl(*[good_record(i, title="") for i in range(10)]))
    res, rep = report_of(cli, str(path), "--max-errors", "3")
    assert res.code == 1
    assert rep["invalid"] == 10 and rep["error_count"] == 20 and len(rep["errors"]) == 3
    assert rep["errors_truncated"] is True


def test_text_report_groups_errors_by_file(cli, tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(good_record(1), good_record(2, language="french")))
    out = tmp_path / "report.txt"
    res = cli("validate", str(path), "--output", str(out), "--quiet")
    assert res.code == 1
    text = out.read_text()
    assert str(path) in text and "line 2" in text and "/language" in text and "[pattern]" in text
    assert "2 records, 1 valid" in text


@pytest.mark.parametrize(
    "args, needle",
    [
        (["/nonexistent/batch.jsonl"], "no such file"),
        (["{path}", "--schema", "/nonexistent/schema.json"], "no such file"),
        (["{path}", "--schema", "{bad_schema}"], "invalid at"),
        (["{path}", "--schema", "{not_json}"], "not valid JSON"),
        (["{path}", "--format", "yaml"], "Invalid value"),
        (["{path}", "--max-errors", "-1"], "Invalid value"),
        (["{empty_dir}"], "no .jsonl"),
    ],
)
def test_run_that_cannot_happen_exits_2_with_one_line(cli, tmp_path, args, needle):
    path = tmp_path / "ok.jsonl"
    path.write_bytes(jsonl(good_record(1)))
    bad_schema = tmp_path / "bad.schema.json"
    bad_schema.write_text(json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": 12}))
    not_json = tmp_path / "nj.json"
    not_json.write_text("{oops")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    subst = {"path": path, "bad_schema": bad_schema, "not_json": not_json, "empty_dir": empty_dir}
    res = cli("validate", *[a.format(**subst) for a in args])
    assert res.code == 2
    assert needle in res.err
    assert "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_corrupt_gzip_is_a_clear_error(cli, tmp_path):
    path = tmp_path / "broken.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl(*[good_record(i) for i in range(200)]))[:300])
    res = cli("validate", str(path))
    assert res.code == 2 and "broken.jsonl.gz" in res.err and "Traceback" not in res.err


def test_real_goud_batch_reports_missing_dates_and_non_hex_ids(cli, shared_dir):
    res, rep = report_of(cli, str(shared_dir / "data" / "marsum-goud-sample.jsonl"))
    assert res.code == 1
    assert rep["records"] == 100 and rep["invalid"] == 100
    first = [e for e in rep["errors"] if e["line"] == 1]
    assert {(e["path"], e["keyword"]) for e in first} == {("", "required"), ("/id", "pattern")}
    assert any(e["message"] == "'published_date' is a required property" for e in first)
    assert all(e["id"] and e["id"].startswith("marsum-test-") for e in rep["errors"])


def test_other_schema_with_its_own_verdicts(cli, tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 3}, "tag": {"enum": ["a", "b"]}},
        "required": ["n"],
    }))
    path = tmp_path / "b.jsonl"
    path.write_bytes(jsonl({"n": 3}, {"n": 2}, {"n": 4, "tag": "c"}, {"n": 5.0}, {"x": 1}))
    res, rep = report_of(cli, str(path), "--schema", str(schema))
    assert res.code == 1
    assert [(e["line"], e["keyword"]) for e in rep["errors"]] == [(2, "minimum"), (3, "enum"), (5, "required")]


def test_github_format_and_step_summary(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_bytes(jsonl(*[good_record(i, title="") for i in range(15)]))
    summary = tmp_path / "summary.md"
    import os
    env = dict(os.environ, GITHUB_STEP_SUMMARY=str(summary))
    res = run_cli("validate", "--format", "github", str(path), env=env)
    assert res.code == 1
    annotations = [line for line in res.out.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 10
    assert annotations[0].startswith(f"::error file={path},line=1,title=")
    md = summary.read_text()
    assert "| `minLength` | 15 |" in md and str(path) in md
