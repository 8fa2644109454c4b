"""Push a snapshot folder to the Hub: one commit with every file, then a tag on that commit.

Everything goes through huggingface_hub (no hand-written HTTP); the token comes from where
huggingface_hub looks (HF_TOKEN, then the login cache) and is never printed. A dry run builds the same
CommitOperationAdd objects locally and describes the calls without making any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.core.errors import NewsarchiveError
from toolkit.publish.checksums import snapshot_files

REPO_TYPE = "dataset"
STALE_PREFIX = "data/"  # files the Hub has under data/ but the snapshot lacks are deleted in the same commit


@dataclass(frozen=True)
class PushPlan:
    """The calls a push makes, in order; `lines()` is what --dry-run prints."""

    repo_id: str
    tag: str
    folder: Path
    commit_message: str
    commit_description: str
    files: tuple[tuple[str, int, str], ...]  # path in repo, bytes, sha256

    def lines(self) -> list[str]:
        out = [
            f"dry run: nothing is sent; with --push, newsarchive would make these huggingface_hub calls "
            f"for {self.folder}:",
            f'  HfApi.create_repo("{self.repo_id}", repo_type="dataset", exist_ok=True)',
            f'  HfApi.list_repo_refs("{self.repo_id}", repo_type="dataset")  # refuse if tag {self.tag} exists',
            f'  HfApi.list_repo_files("{self.repo_id}", repo_type="dataset")  # find stale {STALE_PREFIX} files',
            f'  HfApi.create_commit("{self.repo_id}", repo_type="dataset", revision="main", '
            f'commit_message="{self.commit_message}", operations=[',
        ]
        out += [f'      CommitOperationAdd("{path}")  # {size:,} bytes, sha256 {sha}' for path, size, sha in self.files]
        out += [
            f"      CommitOperationDelete(...) for each {STALE_PREFIX} file on the Hub that this snapshot lacks",
            "  ])",
            f'  HfApi.create_tag("{self.repo_id}", repo_type="dataset", tag="{self.tag}", '
            "revision=<the commit above>)",
            f"{len(self.files)} files, {sum(size for _, size, _ in self.files):,} bytes.",
        ]
        return out


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    tag: str
    commit_oid: str
    commit_url: str
    deleted: tuple[str, ...]

    @property
    def url(self) -> str:
        return self.commit_url.split("/commit/")[0]


def check_repo_id(repo_id: str) -> str:
    """ORG/NAME as the Hub accepts it; a bad one is a usage error before any work is done."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if repo_id.count("/") != 1:
        raise NewsarchiveError(f"--repo-id {repo_id!r}: expected ORG/NAME (e.g. my-org/maghress-news)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise NewsarchiveError(f"--repo-id {repo_id!r}: {str(exc).splitlines()[0]}") from None
    return repo_id


def operations(folder: Path) -> list[Any]:
    """One CommitOperationAdd per snapshot file, README.md first (the Hub checks its YAML first)."""
    from huggingface_hub import CommitOperationAdd

    names = snapshot_files(folder) + ["SHA256SUMS"]
    names.sort(key=lambda n: (n != "README.md", n))
    return [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in names]


def plan_push(folder: Path, repo_id: str, tag: str, archive_version: int) -> PushPlan:
    ops = operations(folder)
    files = tuple((op.path_in_repo, op.upload_info.size, op.upload_info.sha256.hex()) for op in ops)
    return PushPlan(
        repo_id=check_repo_id(repo_id),
        tag=tag,
        folder=folder,
        commit_message=f"Publish snapshot {tag} (archive version {archive_version})",
        commit_description=f"Snapshot {tag} built by newsarchive from archive version {archive_version}; "
                           "SHA256SUMS lists every file.",
        files=files,
    )


def require_token() -> None:
    """Fail before any work when a push could not authenticate; the token itself is never shown."""
    from huggingface_hub import get_token

    if not get_token():
        raise NewsarchiveError("no Hugging Face token: set HF_TOKEN or run `hf auth login`, then rerun with --push")


def _scrub(message: str, token: str | None) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "no detail"
    return first.replace(token, "***") if token else first


def push_snapshot(plan: PushPlan, *, api: Any | None = None) -> PushResult:
    """Create the repo if needed, commit every file at once, then tag that commit."""
    from huggingface_hub import CommitOperationDelete, HfApi, get_token

    token = get_token()
    if api is None:
        require_token()
        api = HfApi(token=token)
    step = "create_repo"
    try:
        api.create_repo(plan.repo_id, repo_type=REPO_TYPE, exist_ok=True)
        step = "list_repo_refs"
        tags = {ref.name for ref in api.list_repo_refs(plan.repo_id, repo_type=REPO_TYPE).tags}
        if plan.tag in tags:
            raise NewsarchiveError(
                f"{plan.repo_id} already has tag {plan.tag}; published snapshots are immutable: "
                "publish a new --version"
            )
        step = "list_repo_files"
        local = {path for path, _, _ in plan.files}
        stale = sorted(f for f in api.list_repo_files(plan.repo_id, repo_type=REPO_TYPE)
                       if f.startswith(STALE_PREFIX) and f not in local)
        step = "create_commit"
        ops: list[Any] = operations(plan.folder)
        ops += [CommitOperationDelete(path_in_repo=path) for path in stale]
        commit = api.create_commit(plan.repo_id, operations=ops, commit_message=plan.commit_message,
                                   commit_description=plan.commit_description, repo_type=REPO_TYPE)
        step = "create_tag"
        api.create_tag(plan.repo_id, tag=plan.tag, revision=commit.oid, repo_type=REPO_TYPE,
                       tag_message=plan.commit_message)
    except NewsarchiveError:
        raise
    except Exception as exc:  # huggingface_hub's HTTP, offline and validation errors alike
        raise NewsarchiveError(
            f"push to {plan.repo_id} failed at {step}: {type(exc).__name__}: {_scrub(str(exc), token)}"
        ) from None
    return PushResult(plan.repo_id, plan.tag, commit.oid, commit.commit_url, tuple(stale))
