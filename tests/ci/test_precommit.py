"""The pre-commit hook `newsarchive-validate` (.pre-commit-hooks.yaml): pre-commit's own manifest schema,
and a real `pre-commit run` in a scratch repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci.conftest import ROOT, good_record, jsonl, tool

MANIFEST = ROOT / ".pre-commit-hooks.yaml"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def test_manifest_passes_pre_commits_own_schema():
    clientlib = pytest.importorskip("pre_commit.clientlib", reason="pre-commit is in the test extras")
    [hook] = clientlib.load_manifest(str(MANIFEST))  # raises InvalidManifestError on any mistake
    assert hook["id"] == "newsarchive-validate"
    assert hook["language"] == "python" and hook["entry"] == "newsarchive validate"
    assert hook["pass_filenames"] is True and "file" in hook["types"]
    pattern = re.compile(hook["files"])
    assert pattern.search("batches/2024/06/a.jsonl") and pattern.search("b.ndjson")
    assert not pattern.search("schema/article.schema.json") and not pattern.search("a.jsonl.txt")


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ, **GIT_ENV)
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def test_the_hook_runs_for_real_on_staged_batches_only(tmp_path):
    """pre-commit clones the hook repository, reads the manifest and runs its entry on the matching
    files. The hook's `language: python` would pip-install newsarchive into an environment of its own
    (from the network); here the configuration overrides it with `language: system`, so the run uses
    the newsarchive of this checkout and everything else comes from the manifest: entry, args,
    files, types and pass_filenames."""
    pre_commit = tool("pre-commit")
    hooks_repo = tmp_path / "hooks"
    hooks_repo.mkdir()
    git(hooks_repo, "init", "-q")
    (hooks_repo / ".pre-commit-hooks.yaml").write_text(MANIFEST.read_text())
    git(hooks_repo, "add", ".")
    git(hooks_repo, "commit", "-q", "-m", "hooks")
    rev = git(hooks_repo, "rev-parse", "HEAD").strip()

    data = tmp_path / "data"
    (data / "batches").mkdir(parents=True)
    git(data, "init", "-q")
    (data / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks_repo.as_uri()}\n    rev: {rev}\n    hooks:\n"
        "      - id: newsarchive-validate\n        language: system\n")
    (data / "batches" / "good.jsonl").write_bytes(jsonl(good_record(1), good_record(2)))
    (data / "batches" / "bad.jsonl").write_bytes(jsonl(good_record(3), good_record(4, language="French")))
    (data / "notes.txt").write_text("not a batch, and not valid JSON Lines\n")
    (data / "meta.json").write_text("{not json either}\n")
    git(data, "add", ".")

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "newsarchive"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m toolkit "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, **GIT_ENV, PRE_COMMIT_HOME=str(tmp_path / "cache"), PRE_COMMIT_COLOR="never",
               PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([pre_commit, "run", "--all-files", "--verbose"], cwd=data, env=env,
                              capture_output=True, text=True, timeout=120)

    res = run()
    assert res.returncode == 1, res.stdout + res.stderr
    assert "newsarchive validate" in res.stdout and "Failed" in res.stdout
    assert "batches/bad.jsonl" in res.stdout and "line 2" in res.stdout and "/language [pattern]" in res.stdout
    assert "batches/good.jsonl" in res.stdout  # passed to the hook too
    assert "notes.txt" not in res.stdout and "meta.json" not in res.stdout  # files: only batches

    (data / "batches" / "bad.jsonl").write_bytes(jsonl(good_record(3), good_record(4)))
    git(data, "add", ".")
    res = run()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Passed" in res.stdout and "4 records, 4 valid: all records valid." in res.stdout
