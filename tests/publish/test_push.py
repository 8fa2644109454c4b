"""--dry-run touches no network; --push drives the real huggingface_hub client against a loopback fake Hub."""

from __future__ import annotations

import base64
import os

import pytest

from tests.conftest import run_cli
from tests.publish.conftest import append_batch, record
from tests.publish.fakehub import COMMIT_OID, FakeHub, running_hub
from toolkit.core.errors import NewsarchiveError
from toolkit.publish import publish

TOKEN = "hf_fakeTokenThatMustNeverBePrinted123"


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory, _offline):
    root = tmp_path_factory.mktemp("push") / "archive"
    append_batch(root, [record(i) for i in range(12)], "batch-0001")
    return root


def online_env(endpoint: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_TOKEN=TOKEN, HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0",
               HF_HUB_DISABLE_TELEMETRY="1")
    env.update(extra)
    return env


def test_dry_run_prints_the_operations_and_sends_nothing(small_archive, tmp_path):
    out = tmp_path / "snapshots" / "v1.0.0"
    with running_hub(FakeHub()) as hub:  # reachable and online: only the code can keep it silent
        result = run_cli("publish", "--archive", str(small_archive), "--version", "v1.0.0", "--output", str(out),
                         "--repo-id", "maghress/news", "--dry-run", env=online_env(hub.url))
    assert result.code == 0, result.err
    assert hub.requests == []
    assert 'HfApi.create_repo("maghress/news", repo_type="dataset", exist_ok=True)' in result.out
    assert 'HfApi.create_tag("maghress/news", repo_type="dataset", tag="v1.0.0"' in result.out
    for name in ("README.md", "croissant.json", "SHA256SUMS", "articles_per_month.png",
                 "data/train-00000-of-00001.parquet"):
        assert f'CommitOperationAdd("{name}")' in result.out
    assert TOKEN not in result.out + result.err
    assert (out / "SHA256SUMS").is_file()  # the snapshot itself is still built


def test_dry_run_works_fully_offline(small_archive, tmp_path):
    result = run_cli("publish", "--archive", str(small_archive), "--version", "v1.0.0", "--output",
                     str(tmp_path / "v1.0.0"), "--repo-id", "maghress/news", "--dry-run",
                     env=dict(os.environ, HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9", HF_TOKEN=TOKEN))
    assert result.code == 0, result.err
    assert "create_commit" in result.out and TOKEN not in result.out + result.err


def test_push_creates_repo_commits_everything_once_then_tags_that_commit(small_archive, tmp_path):
    out = tmp_path / "snapshots" / "v1.0.0"
    stale = ["README.md", "data/train-00000-of-00003.parquet", "data/train-00001-of-00003.parquet", "notes.md"]
    with running_hub(FakeHub(repo_files=stale)) as hub:
        result = run_cli("publish", "--archive", str(small_archive), "--version", "v1.0.0", "--output", str(out),
                         "--repo-id", "maghress/news", "--push", env=online_env(hub.url))
    assert result.code == 0, result.err
    assert TOKEN not in result.out + result.err
    assert f"commit {COMMIT_OID}" in result.out
    calls = [p for p in hub.paths() if p != "GET /api/agent-harnesses"]
    assert calls[0] == "POST /api/repos/create"
    assert calls[-1] == f"POST /api/datasets/maghress/news/tag/{COMMIT_OID}"
    commits = [r for r in hub.requests if "/commit/" in r.path]
    assert len(commits) == 1, "everything goes in one commit"
    create = next(r for r in hub.requests if r.path == "/api/repos/create")
    assert create.json() == {"name": "news", "organization": "maghress", "type": "dataset"}
    lines = commits[0].ndjson()
    added = {line["value"]["path"]: base64.b64decode(line["value"]["content"])
             for line in lines if line["key"] == "file"}
    local = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert added == local, "every snapshot file, byte for byte"
    deleted = sorted(line["value"]["path"] for line in lines if line["key"] == "deletedFile")
    assert deleted == ["data/train-00000-of-00003.parquet", "data/train-00001-of-00003.parquet"]
    tag = [r for r in hub.requests if "/tag/" in r.path][0]
    assert tag.json()["tag"] == "v1.0.0"
    for request in hub.requests:
        if request.path != "/api/agent-harnesses":
            assert request.headers.get("authorization") == f"Bearer {TOKEN}"


def test_push_refuses_a_tag_the_hub_already_has(small_archive, tmp_path):
    with running_hub(FakeHub(tags=["v1.0.0"])) as hub:
        result = run_cli("publish", "--archive", str(small_archive), "--version", "v1.0.0", "--output",
                         str(tmp_path / "v1.0.0"), "--repo-id", "maghress/news", "--push", env=online_env(hub.url))
    assert result.code == 2
    assert "already has tag v1.0.0" in result.err and result.err.count("\n") == 1
    assert not [r for r in hub.requests if "/commit/" in r.path or "/tag/" in r.path]


def test_push_failure_is_one_line_without_the_token(small_archive, tmp_path):
    result = run_cli("publish", "--archive", str(small_archive), "--version", "v1.0.0", "--output",
                     str(tmp_path / "v1.0.0"), "--repo-id", "maghress/news", "--push",
                     env=online_env("http://127.0.0.1:9"))
    assert result.code == 2
    assert result.err.startswith("newsarchive: error: push to maghress/news failed at create_repo")
    assert result.err.count("\n") == 1 and TOKEN not in result.err and "Traceback" not in result.err


def test_push_without_a_token_says_where_to_put_one(small_archive, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(NewsarchiveError, match="no Hugging Face token"):
        publish(str(small_archive), "v1.0.0", tmp_path / "v1.0.0", repo_id="maghress/news", push=True)
    assert not (tmp_path / "v1.0.0").exists(), "checked before building anything"


def test_push_flags_are_checked_before_any_work(small_archive, tmp_path):
    with pytest.raises(NewsarchiveError, match="need --repo-id"):
        publish(str(small_archive), "v1", tmp_path / "v1", push=True)
    with pytest.raises(NewsarchiveError, match="exclude each other"):
        publish(str(small_archive), "v1", tmp_path / "v1", repo_id="a/b", push=True, dry_run=True)
    with pytest.raises(NewsarchiveError, match="ORG/NAME"):
        publish(str(small_archive), "v1", tmp_path / "v1", repo_id="just-a-name", dry_run=True)
    with pytest.raises(NewsarchiveError, match="--repo-id"):
        publish(str(small_archive), "v1", tmp_path / "v1", repo_id="org/bad name!", dry_run=True)
    assert not (tmp_path / "v1").exists()
