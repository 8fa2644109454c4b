"""verify_snapshot: checksums first, then that the folder loads as its card says."""

from __future__ import annotations

import shutil

import pytest

from tests.publish.conftest import append_batch, record
from toolkit.core.errors import NewsarchiveError
from toolkit.publish import ShardOptions, publish, verify_snapshot
from toolkit.publish.checksums import write_sums


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory, _offline):
    base = tmp_path_factory.mktemp("verify")
    append_batch(base / "archive", [record(i) for i in range(20)], "batch-0001")
    options = ShardOptions(max_shard_bytes=30_000, row_group_bytes=3_000, unit_rows=4)
    return publish(str(base / "archive"), "v1.0.0", base / "snapshots" / "v1.0.0", options=options).path


@pytest.fixture
def copy(snapshot_dir, tmp_path):
    target = tmp_path / "v1.0.0"
    shutil.copytree(snapshot_dir, target)
    return target


def test_a_fresh_snapshot_verifies(snapshot_dir):
    check = verify_snapshot(snapshot_dir)
    assert check.ok, check.problems
    assert check.rows == 20 and check.files >= 5
    assert "snapshot OK" in check.summary()


def test_a_changed_byte_is_named(copy):
    shard = sorted((copy / "data").glob("*.parquet"))[-1]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    check = verify_snapshot(copy)
    assert not check.ok
    assert check.problems == [f"data/{shard.name}: SHA-256 does not match SHA256SUMS (the file changed or is corrupt)"]


def test_missing_and_unlisted_files_are_named(copy):
    (copy / "articles_per_month.png").unlink()
    (copy / "data" / "extra.parquet").write_bytes(b"PAR1")
    problems = verify_snapshot(copy).problems
    assert "articles_per_month.png: listed in SHA256SUMS but missing" in problems
    assert "data/extra.parquet: not listed in SHA256SUMS (a file was added after publishing)" in problems


def test_a_card_that_disagrees_with_the_data_fails_even_with_fresh_checksums(copy):
    card = copy / "README.md"
    text = card.read_text(encoding="utf-8")
    card.write_text(text.replace("num_examples: 20", "num_examples: 21"), encoding="utf-8")
    write_sums(copy)  # someone "fixed" the checksums too: the load check still catches it
    problems = verify_snapshot(copy).problems
    assert any("the card says 21 rows" in p for p in problems), problems


def test_a_shard_dropped_from_the_card_fails(copy):
    card = copy / "README.md"
    shards = sorted(p.name for p in (copy / "data").glob("*.parquet"))
    assert len(shards) > 1
    lines = [line for line in card.read_text(encoding="utf-8").splitlines() if shards[-1] not in line]
    card.write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_sums(copy)
    problems = verify_snapshot(copy).problems
    assert any("do not list exactly the shards" in p for p in problems), problems


def test_broken_croissant_fails(copy):
    path = copy / "croissant.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"cr:RecordSet"', '"cr:Nothing"'), encoding="utf-8")
    write_sums(copy)
    problems = verify_snapshot(copy).problems
    assert any(p.startswith("croissant.json") for p in problems), problems


def test_not_a_snapshot_is_a_usage_error(tmp_path):
    with pytest.raises(NewsarchiveError, match="no such folder"):
        verify_snapshot(tmp_path / "missing")
    with pytest.raises(NewsarchiveError, match="not a snapshot"):
        verify_snapshot(tmp_path)


def test_newsarchive_verify_dir_uses_the_snapshot_check(snapshot_dir, copy):
    from tests.conftest import run_cli

    fresh = run_cli("verify", str(snapshot_dir))
    assert fresh.code == 0, fresh.out + fresh.err
    assert "snapshot OK" in fresh.out
    (copy / "croissant.json").write_text("{}", encoding="utf-8")
    broken = run_cli("verify", str(copy))
    assert broken.code == 1
    assert "croissant.json: SHA-256 does not match SHA256SUMS" in broken.out
