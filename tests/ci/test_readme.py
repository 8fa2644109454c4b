"""docs/ci.md ("Validate batches in CI", formerly a README section) shows what the code does: its workflow passes
actionlint, its pre-commit configuration passes pre-commit's schema, its output is the real output."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.ci.conftest import ROOT, good_record, jsonl
from tests.ci.test_action import ACTION, run_actionlint

DOC = ROOT / "docs" / "ci.md"


@pytest.fixture(scope="module")
def section() -> str:
    text = DOC.read_text()
    start, end = text.index("<!-- section:ci -->"), text.index("<!-- /section:ci -->")
    return text[start:end]


def blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


def test_the_workflow_snippet_passes_actionlint(section, tmp_path):
    workflow = blocks(section, "yaml")[0]
    assert yaml.safe_load(workflow)["jobs"]["validate"]["steps"][2]["uses"].startswith("./")
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)  # actionlint finds `./` from the repository root
    shutil.copy(ACTION, repo / "action.yml")
    (repo / ".github" / "workflows" / "snippet.yml").write_text(workflow)
    res = run_actionlint(repo, ".github/workflows/snippet.yml")
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_pre_commit_snippet_names_the_hook_and_passes_pre_commits_schema(section, tmp_path):
    clientlib = pytest.importorskip("pre_commit.clientlib", reason="pre-commit is in the test extras")
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(blocks(section, "yaml")[1])
    loaded = clientlib.load_config(str(config))
    manifest = clientlib.load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    assert [h["id"] for h in loaded["repos"][0]["hooks"]] == [h["id"] for h in manifest]


def test_the_github_example_is_the_real_output(section, main_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "batches").mkdir()
    (tmp_path / "batches" / "2024-06-28.jsonl").write_bytes(
        jsonl(good_record(1), good_record(2, title=""), good_record(3, published_date="2021-02-30")))
    [example] = [b for b in blocks(section, "console") if "--format github" in b]
    command, *shown = example.strip().splitlines()
    res = main_cli(*command.removeprefix("$ newsarchive ").split(), "--quiet")
    assert res.code == 1 and res.out.splitlines() == shown
