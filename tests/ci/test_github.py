"""`--format github`: at most 10 annotations pointing at file and line, a job summary, the usual exit codes."""

from __future__ import annotations

import os
import re

import pytest

from tests.ci.conftest import good_record, jsonl
from tests.conftest import run_cli
from toolkit.validate.render import GITHUB_ANNOTATION_LIMIT

COMMAND = re.compile(r"^::(?P<level>error|warning|notice) (?P<props>[^:]*)::(?P<message>.*)$")


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def parse_commands(output: str) -> list[dict]:
    """Workflow commands as the runner reads them: level, properties, message (unescaped)."""
    commands = []
    for line in output.splitlines():
        match = COMMAND.match(line)
        if not match:
            continue
        props = {}
        for item in filter(None, match["props"].split(",")):
            key, _, value = item.partition("=")
            props[key] = unescape_property(value)
        commands.append({"level": match["level"], **props, "message": unescape_data(match["message"])})
    return commands


def test_at_most_ten_error_annotations_one_per_record_at_file_and_line(render, write_batch, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    records = [good_record(i) for i in range(30)]
    for i in range(3, 30, 2):  # 14 invalid records, two errors each
        records[i] = good_record(i, title="")
    path = write_batch("batch.jsonl", *records)
    report, out = render([path], "github")
    commands = parse_commands(out)
    errors = [c for c in commands if c["level"] == "error"]
    assert len(errors) == GITHUB_ANNOTATION_LIMIT == 10
    assert [e["line"] for e in errors] == [str(n) for n in range(4, 24, 2)]
    assert all(e["file"] == str(path) for e in errors)
    assert errors[0]["title"] == "minLength at /title (+1 more)"
    assert errors[0]["message"].splitlines() == [
        "/title [minLength] '' should be non-empty",
        "/title [pattern] '' does not match '\\\\S'",
        f"(record id {good_record(3)['id']})",
    ]
    notices = [c for c in commands if c["level"] == "notice"]
    assert len(notices) == 1 and notices[0]["message"].startswith("4 more invalid records not annotated")
    assert out.rstrip().endswith("30 records, 16 valid: 14 invalid records.")


def test_one_error_record_is_one_plain_annotation(render, write_batch, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    path = write_batch("b.jsonl", good_record(1), good_record(2, language="French"))
    _, out = render([path], "github")
    [error] = parse_commands(out)
    assert error == {"level": "error", "file": str(path), "line": "2", "title": "pattern at /language",
                     "message": f"'French' does not match '^[a-z]{{2,3}}$'\n(record id {good_record(2)['id']})"}


def test_special_characters_are_escaped_so_the_runner_reads_them_back(render, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    path = tmp_path / "odd, name: 100%.jsonl"
    path.write_bytes(jsonl(good_record(1, title="", **{"x,y:z%\n": 1})))
    _, out = render([path], "github")
    lines = [line for line in out.splitlines() if line.startswith("::error")]
    assert len(lines) == 1, out  # the newline in the message did not break the command
    [error] = parse_commands(out)
    assert error["file"] == str(path) and error["line"] == "1"
    assert "'x,y:z%\\n' was unexpected" in error["message"]


def test_paths_are_made_relative_to_the_workspace(render, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    path = tmp_path / "batches" / "2024" / "b.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(jsonl(good_record(1, title="")))
    _, out = render([path.resolve()], "github")
    assert parse_commands(out)[0]["file"] == "batches/2024/b.jsonl"


def test_step_summary_is_appended_with_counts_kinds_and_first_errors(render, write_batch, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    a = write_batch("a.jsonl", *[good_record(i, title="") for i in range(25)], good_record(99, language="xxxxx"))
    b = write_batch("b.jsonl", good_record(1), good_record(2))
    render([a, b], "github")
    md = summary.read_text()
    assert md.startswith("# earlier step\n## newsarchive validate: 26 invalid records")
    assert f"| `{a}` | 26 | 0 | 26 | 51 |" in md
    assert f"| `{b}` | 2 | 2 | 0 | 0 |" in md
    assert "| **total** | 28 | 2 | 26 | 51 |" in md
    kinds = md.split("### Most frequent errors")[1].split("###")[0]
    assert 0 < kinds.index("| `pattern` | 26 |") < kinds.index("| `minLength` | 25 |")
    first = md.split("### First 20 errors")[1].split("###")[0]
    rows = [r for r in first.splitlines() if r.startswith(f"| `{a}` |")]
    assert len(rows) == 20 and rows[0].startswith(f"| `{a}` | 1 | {good_record(0)['id']} | `/title` | `minLength` |")
    assert "31 more errors" in md


def test_unwritable_step_summary_is_one_line_exit_2(write_batch, tmp_path):
    path = write_batch("b.jsonl", good_record(1))
    env = dict(os.environ, GITHUB_STEP_SUMMARY=str(tmp_path / "missing" / "summary.md"))
    res = run_cli("validate", "--format", "github", "--quiet", str(path), env=env)
    assert res.code == 2
    assert res.err.strip().splitlines() == [
        f"newsarchive: error: $GITHUB_STEP_SUMMARY {tmp_path / 'missing' / 'summary.md'}: cannot append the "
        "job summary (No such file or directory)"
    ]


@pytest.mark.parametrize("fmt", ["text", "json", "github", "junit"])
def test_exit_codes_are_the_same_for_every_format(fmt, main_cli, write_batch, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    good = write_batch("good.jsonl", good_record(1))
    bad = write_batch("bad.jsonl", good_record(1, title=""))
    assert main_cli("validate", "--quiet", "--format", fmt, str(good)).code == 0
    res = main_cli("validate", "--quiet", "--format", fmt, str(good), str(bad))
    assert res.code == 1 and res.out.strip()
    res = main_cli("validate", "--quiet", "--format", fmt, str(tmp_path / "missing.jsonl"))
    assert res.code == 2 and "Traceback" not in res.err and len(res.err.strip().splitlines()) == 1
