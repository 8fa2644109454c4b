"""Where an article is: its file and row in every archive version, from the ids of the archive's files.

An article page used to find its row by reading the id column of each file of its month, then again
for every version (~17 ms of CPU an article at 1,000,000 articles, half of the serve bench's CPU). A
Delta file never changes once written (a new version adds files and removes others, it never rewrites
one), so each file's ids are read once per process: the ids of every file of every version are kept
sorted, with their file and row (~45 MB at 1,000,000 articles, built in ~1 s of CPU in the
background). A lookup is then a binary search, and the versions holding an article are the versions
whose file list holds one of its files.

The lookup is built only when asked (`prepare`: `newsarchive serve` asks at start, in the
background); afterwards a page at a version it does not cover yet asks for the new files in the
background, and is answered the slow way until then. A row it points to is checked against the id
asked before it is shown (`article_detail`), so a wrong answer falls back instead of showing another
article.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Version:
    """One version's files, in the dataset's order, and each file's place in that order."""

    fragments: list[Any]
    places: dict[int, int]  # file number -> position in `fragments`


@dataclass(frozen=True)
class Located:
    """Where an article is at a version: the fragment and row holding it there (None: that version
    does not hold it) and every version (up to the one asked) that holds it."""

    fragment: Any
    row: int
    versions: list[int]


@dataclass
class _Locator:
    """Per archive root: sorted id segments (one per build) over every file of the covered versions."""

    numbers: dict[str, int] = field(default_factory=dict)  # file path -> file number
    segments: list[tuple[pa.Array, np.ndarray, np.ndarray]] = field(default_factory=list)  # ids, files, rows
    versions: dict[int, Version | None] = field(default_factory=dict)  # None: the version's log is gone


_LOCK = threading.Lock()
_LOCATORS: dict[str, _Locator] = {}
_BUILDING: dict[str, threading.Lock] = {}
_PENDING: set[str] = set()
_FAILED: set[tuple[str, int]] = set()  # (root, version) whose files could not all be read


class _Sorted:
    """A sorted string array seen as a sequence of Python strings, for `bisect`."""

    def __init__(self, ids: pa.Array) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> str:
        return self.ids[i].as_py()


def prepare(target: Any, version: int) -> bool:
    """Cover versions 0..`version` of the archive (`target`: an opened archive): reads the ids of
    every file not read before. Returns False when a file could not be read (vacuumed: the pages of
    those versions are answered the slow way)."""
    from toolkit.explore.archive import _version_dataset

    root = target.root
    with _LOCK:
        building = _BUILDING.setdefault(root, threading.Lock())
    with building:  # one build per archive at a time; the next finds the work done
        with _LOCK:
            locator = _LOCATORS.get(root) or _Locator()
        numbers = dict(locator.numbers)
        versions = dict(locator.versions)
        new: list[Any] = []
        for v in range(version + 1):
            if v in versions:
                continue
            dataset = _version_dataset(target, v)
            if dataset is None:
                versions[v] = None
                continue
            fragments = list(dataset.get_fragments())
            for fragment in fragments:
                if fragment.path not in numbers:
                    numbers[fragment.path] = len(numbers)
                    new.append(fragment)
            versions[v] = Version(fragments, {numbers[f.path]: i for i, f in enumerate(fragments)})
        segments = list(locator.segments)
        if new:
            try:
                segments.append(_segment(new, numbers))
            except OSError:  # a file vacuumed: not asked again for this version (pages read the files)
                with _LOCK:
                    _FAILED.add((root, version))
                return False
        with _LOCK:
            _LOCATORS[root] = _Locator(numbers, segments, versions)
    return True


def _segment(fragments: list[Any], numbers: dict[str, int]) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The ids of `fragments` sorted, with each one's file number and row."""
    columns, files, rows = [], [], []
    for fragment in fragments:
        ids = fragment.to_table(columns=["id"]).column("id").combine_chunks()
        columns.append(ids)
        files.append(np.full(len(ids), numbers[fragment.path], dtype=np.uint32))
        rows.append(np.arange(len(ids), dtype=np.uint32))
    if not columns:
        return pa.array([], pa.string()), np.array([], np.uint32), np.array([], np.uint32)
    ids = pa.concat_arrays(columns)
    del columns  # the copies per file go before the sorted copy is made
    order = pc.sort_indices(ids)
    at = order.to_numpy()
    file_of, row_of = np.concatenate(files)[at], np.concatenate(rows)[at]
    del files, rows, at
    ordered = ids.take(order)
    del ids, order
    pa.default_memory_pool().release_unused()  # the build's copies go back to the system
    return ordered, file_of, row_of


def locate(target: Any, version: int, article_id: str) -> Located | None:
    """Where the article is at `version`, and the versions up to it holding it; None when the lookup
    does not cover `version` yet (it then asks for the new files in the background, when the
    archive's lookup was prepared before)."""
    with _LOCK:
        locator = _LOCATORS.get(target.root)
    if locator is None:
        return None
    if any(v not in locator.versions for v in range(version + 1)):
        prepare_later(target, version)
        return None
    files: dict[int, int] = {}  # file number -> row
    for ids, file_of, row_of in locator.segments:
        at = bisect.bisect_left(_Sorted(ids), article_id)
        while at < len(ids) and ids[at].as_py() == article_id:
            files.setdefault(int(file_of[at]), int(row_of[at]))  # stable sort: the first row
            at += 1
    if not files:
        return Located(None, -1, [])
    held = [v for v in range(version + 1) if locator.versions[v] is not None
            and any(f in locator.versions[v].places for f in files)]
    here = locator.versions[version]
    if here is None:
        return Located(None, -1, held)
    places = sorted(here.places[f] for f in files if f in here.places)
    if not places:
        return Located(None, -1, held)
    fragment = here.fragments[places[0]]  # the first in the dataset's order, as a scan finds it
    return Located(fragment, files[locator.numbers[fragment.path]], held)


def prepare_later(target: Any, version: int) -> None:
    """`prepare` in a background thread (at most one waiting per archive): a page never waits for it."""
    root = target.root
    with _LOCK:
        if root in _PENDING or (root, version) in _FAILED:
            return
        _PENDING.add(root)

    def run() -> None:
        try:
            prepare(target, version)
        except Exception:  # noqa: BLE001 - a speed-up only: without it pages take the slow path
            pass
        finally:
            with _LOCK:
                _PENDING.discard(root)

    threading.Thread(target=run, name="newsarchive-article-lookup", daemon=True).start()


def forget(root: str | None = None) -> None:
    """Drop the lookups (of one archive root, or all): for tests."""
    with _LOCK:
        if root is None:
            _LOCATORS.clear()
        else:
            _LOCATORS.pop(root, None)
