"""One "archive at version N" (`toolkit.archive.ArchiveVersion`), read by sql, search and publish alike."""

from __future__ import annotations

import pytest

from tests.archive.conftest import write_jsonl
from toolkit.archive import ArchiveVersion, append, open_archive
from toolkit.core.errors import NewsarchiveError


def test_every_later_stage_reads_the_same_archive_version(tmp_path, record):
    root = tmp_path / "archive"
    for batch in range(2):
        append([write_jsonl(tmp_path / f"b{batch}.jsonl", [record(batch * 10 + i) for i in range(3)])],
               archive=root)
    archive = open_archive(root)
    past = archive.at(1)
    assert (past.version, past.latest, past.as_of) == (1, 2, 1)
    assert past.articles.count_rows() == 3 and past.batches.num_rows == 1  # nothing of batch 2
    assert archive.at().articles.count_rows() == 6 and archive.at().batches.num_rows == 2
    with pytest.raises(NewsarchiveError, match=r"no version 5; the archive has versions 0 to 2"):
        archive.at(5)

    from toolkit.publish.source import open_source
    from toolkit.sql.views import snapshot

    published, queried = open_source(str(root), 1), snapshot(root, 1)
    assert isinstance(published, ArchiveVersion) and isinstance(queried.at, ArchiveVersion)
    assert published.version == queried.version == 1 and queried.latest == 2
    assert sorted(published.files().column("path").to_pylist()) == queried.articles.relative
