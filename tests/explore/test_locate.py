"""The kept article lookup (`prepare_articles`, toolkit/explore/_locate.py): an article page answered
from it must be the page the files give (the slow path), at every version, after an append and after
a compact that rewrites the files; and it must really answer (no id column read)."""

from __future__ import annotations

import pytest

from tests.explore.conftest import _gen, _write
from toolkit.explore import archive as archive_module
from toolkit.explore import article_detail, prepare_articles


def _slow(root, ids, versions):
    """Every page the slow way: the lookup forgotten, the files read."""
    from toolkit.explore import _locate

    _locate.forget(str(root))
    return {(i, v): article_detail(root, i, as_of=v, max_chars=50) for i in ids for v in versions}


def _fast(root, ids, versions, monkeypatch):
    """Every page from the lookup, prepared first; a page falling back to the files fails the test."""
    assert prepare_articles(root) is True
    with monkeypatch.context() as m:
        def no_read(*args, **kwargs):
            raise AssertionError("the lookup did not answer: the files were read")
        m.setattr(archive_module, "_read_direct", no_read)
        m.setattr(archive_module, "_day_of", no_read)
        m.setattr(archive_module, "_versions_holding", no_read)
        return {(i, v): article_detail(root, i, as_of=v, max_chars=50) for i in ids for v in versions}


@pytest.mark.parametrize("then", ["append", "compact"])
def test_the_lookup_gives_the_row_the_files_give(tmp_path, monkeypatch, then):
    from toolkit.archive import append, compact, open_archive

    rows = _gen(tmp_path / "gen.jsonl", 160, 5)
    root = tmp_path / "archive"
    for n, part in enumerate((rows[:60], rows[60:110])):  # two appends: each month gets two files
        append([_write(tmp_path / f"b{n}.jsonl", part)], archive=root, progress=False)
    ids = [r["id"] for r in rows] + ["f" * 32]
    latest = open_archive(root).at(None).version
    versions = list(range(latest + 1))
    assert _fast(root, ids, versions, monkeypatch) == _slow(root, ids, versions)

    if then == "append":  # a new version: its files are added to the lookup
        append([_write(tmp_path / "b2.jsonl", rows[110:])], archive=root, progress=False)
    else:  # the files rewritten: every article in a new file and row, the old files still held by old versions
        result = compact(root)
        assert result.as_dict()  # it ran
    newest = open_archive(root).at(None).version
    assert newest > latest
    versions = list(range(newest + 1))
    fast = _fast(root, ids, versions, monkeypatch)
    assert fast == _slow(root, ids, versions)
    some = fast[(rows[0]["id"], newest)]
    assert some["title"] == rows[0]["title"] and some["id"] == rows[0]["id"]
    assert sum(page is not None for page in fast.values()) > len(rows)  # the pages are not all empty


def test_a_row_that_is_not_the_article_is_not_shown(tmp_path, monkeypatch):
    """A lookup pointing at another article's row (it never should) falls back to reading the files."""
    from toolkit.archive import append
    from toolkit.explore import _locate

    rows = _gen(tmp_path / "gen.jsonl", 30, 6)
    root = tmp_path / "archive"
    append([_write(tmp_path / "b.jsonl", rows)], archive=root, progress=False)
    assert prepare_articles(root)
    real = _locate.locate
    monkeypatch.setattr(_locate, "locate", lambda *args: (lambda got: _locate.Located(
        got.fragment, (got.row + 1) % 2, got.versions))(real(*args)))
    for row in rows[:4]:
        assert article_detail(root, row["id"])["title"] == row["title"]


def test_a_new_version_is_read_the_slow_way_until_the_lookup_covers_it(tmp_path):
    """A page at a version the lookup does not cover yet is answered from the files, and asks for the
    new files in the background; once they are read the lookup answers for the new version."""
    import threading

    from toolkit.archive import append, open_archive
    from toolkit.explore import _locate

    rows = _gen(tmp_path / "gen.jsonl", 40, 7)
    root = tmp_path / "archive"
    append([_write(tmp_path / "b0.jsonl", rows[:20])], archive=root, progress=False)
    assert prepare_articles(root)
    append([_write(tmp_path / "b1.jsonl", rows[20:])], archive=root, progress=False)
    target = open_archive(root)
    newest = target.at(None).version
    assert _locate.locate(target, newest, rows[30]["id"]) is None  # not covered: asks in the background
    for thread in [t for t in threading.enumerate() if t.name == "newsarchive-article-lookup"]:
        thread.join(timeout=60)
    located = _locate.locate(target, newest, rows[30]["id"])
    assert located is not None and located.versions == [newest]
    assert article_detail(root, rows[30]["id"])["title"] == rows[30]["title"]
    assert article_detail(root, rows[3]["id"])["versions"] == [newest - 1, newest]
