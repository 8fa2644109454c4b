"""The index folder, read side: where it is, its `state.json`, its group indexes, whether it is current.

Nothing here imports the archive stage (`toolkit.archive` loads pyarrow datasets, deltalake and the
validator: most of a second): a search on a local archive whose index is current needs only the
folder and two file lookups in the Delta log, so `newsarchive search` answers in a fraction of a
second. Updating (toolkit/search/index.py) opens the archive for real.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tantivy

from toolkit import __version__
from toolkit.core.errors import NewsarchiveError
from toolkit.core.location import resolve_root
from toolkit.core.outputs import atomic_path
from toolkit.search import analysis

INDEX_NAME = "search-index"
FORMAT = 2  # layout of the folder; another value means a rebuild (2: positions, fast source/language, title words)
STATE = "state.json"
ARTICLES = "articles"  # the archive's articles table (toolkit.archive.layout.ARTICLES)


@dataclass(frozen=True)
class IndexUpdate:
    """What bringing the index up to date did (nothing, when it already matched the archive)."""

    path: str
    version: int
    built: bool = False  # written from scratch
    added: int = 0
    removed: int = 0
    groups: tuple[str, ...] = ()  # language groups that got new or fewer articles
    reason: str | None = None  # why it was rebuilt (analyzer or format changed, --rebuild, ...)

    @property
    def changed(self) -> bool:
        return self.built or bool(self.added or self.removed)

    def describe(self) -> str:
        """One line for stderr: what the update did (empty when it did nothing)."""
        if not self.changed:
            return ""
        what = "built" if self.built else "updated"
        why = f" ({self.reason})" if self.reason else ""
        return (f"search index {what} for archive version {self.version}{why}: "
                f"{self.added} articles added, {self.removed} removed")


@dataclass
class State:
    """What `state.json` records."""

    version: int
    files: dict[str, int] = field(default_factory=dict)  # relative path -> rows
    groups: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # id files, relative to the index folder
    articles: int = 0
    format: int = FORMAT
    analyzer: int = analysis.ANALYZER_VERSION
    pending: int | None = None  # an update to this archive version began committing groups

    def as_dict(self) -> dict[str, Any]:
        return {"format": self.format, "analyzer": self.analyzer, "tantivy": _tantivy_version(),
                "newsarchive": __version__, "version": self.version, "articles": self.articles,
                "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "pending": self.pending, "groups": self.groups, "ids": self.ids, "files": self.files}


def _tantivy_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tantivy")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def folder_for(root: str, *, is_s3: bool) -> str:
    """`<root>/search-index`, or a folder in the user's cache for an S3 or read-only archive."""
    if not is_s3 and os.access(root, os.W_OK):
        return os.path.join(root, INDEX_NAME)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsarchive" / "search"
    return str(cache / hashlib.sha256(root.encode()).hexdigest()[:16])


def local_root(archive: str | os.PathLike | None) -> str | None:
    """The archive's root when it is an existing local folder (else None: the archive stage decides,
    with its errors), by the same rule as the archive stage (toolkit.core.location)."""
    try:
        root = resolve_root(archive)
    except NewsarchiveError:
        return None
    return root if not root.startswith("s3://") and os.path.isdir(root) else None


def read_state(path: Path) -> State | None:
    """The index's state, or None when there is no index or it is not one this version can use."""
    try:
        data = json.loads((path / STATE).read_text(encoding="utf-8"))
        state = State(version=int(data["version"]), files={str(k): int(v) for k, v in data["files"].items()},
                      groups=[str(g) for g in data["groups"]], ids=[str(i) for i in data["ids"]],
                      articles=int(data.get("articles", 0)), format=int(data["format"]),
                      analyzer=int(data["analyzer"]),
                      pending=int(data["pending"]) if data.get("pending") is not None else None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return state


def write_state(path: Path, state: State) -> None:
    """Replace `state.json` atomically (written beside it, then renamed)."""
    with atomic_path(path / STATE, "search index state", make_parent=False) as temporary:
        temporary.write_text(json.dumps(state.as_dict(), ensure_ascii=False, indent=0), encoding="utf-8")


def stale_reason(state: State | None) -> str | None:
    """Why an existing index cannot be updated in place and must be rebuilt (None: it can be)."""
    if state is None:
        return None
    if state.format != FORMAT:
        return f"index format {state.format} -> {FORMAT}"
    if state.analyzer != analysis.ANALYZER_VERSION:
        return f"analyzer version {state.analyzer} -> {analysis.ANALYZER_VERSION}"
    return None


def commit_file(version: int) -> tuple[str, str, str]:
    """Where a Delta commit lives, under the archive root."""
    return ARTICLES, "_delta_log", f"{version:020d}.json"


def is_current_local(root: str, state: State) -> bool:
    """`is_current` for a local archive, with os.path alone."""
    return (stale_reason(state) is None and os.path.exists(os.path.join(root, *commit_file(state.version)))
            and not os.path.exists(os.path.join(root, *commit_file(state.version + 1))))


# --- the group indexes ---------------------------------------------------------------------------
def schema(group: str) -> tantivy.Schema:
    """One document per article: filters and deletes on id/source/language/day, stored title and text."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    # source and language are fast fields too: toolkit.explore counts matches per outlet and language
    # with tantivy's terms aggregation. body and title_words keep positions, for "exact phrases".
    builder.add_text_field("source", stored=True, fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("language", stored=True, fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("day", stored=True, indexed=True, fast=True)  # days since 1970-01-01
    builder.add_bytes_field("title", stored=True)
    builder.add_bytes_field("text", stored=True)
    builder.add_text_field("body", stored=False, tokenizer_name=analysis.tokenizer_name(group), index_option="position")
    builder.add_text_field("title_words", stored=False, tokenizer_name=analysis.tokenizer_name(group),
                           index_option="position")  # the title alone, for `title:` in queries
    return builder.build()


def open_group(path: Path, group: str, *, create: bool = False) -> tantivy.Index:
    """A group's index with its analyzer registered (created empty if `create`)."""
    folder = path / group
    if create:
        folder.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(schema(group), str(folder), reuse=True)
    else:
        index = tantivy.Index.open(str(folder))
    analysis.register(index, group)
    return index
