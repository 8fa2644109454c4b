"""Fixity: every data file's SHA-256 is recorded when it is committed, and the full `verify` finds
every altered byte by re-hashing; `--quick` is not a fixity check and says so."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.archive.conftest import write_jsonl
from toolkit.archive import append, compact, open_archive, verify
from toolkit.archive.files import DataFile
from toolkit.archive.tables import file_actions
from toolkit.archive.verify import recorded_hashes

TABLES = ("articles", "quarantine", "batches")


@pytest.fixture
def archive(tmp_path, record) -> Path:
    """Three batches with quarantined lines, a compaction of all three tables, then a fourth batch:
    files written by the append workers, the quarantine stream, the ledger and `compact`."""
    root = tmp_path / "a"
    for b in range(3):
        recs = [record(b * 100 + i, source=f"S{i % 3}", published_date=f"2021-{1 + i % 12:02d}-1{b}")
                for i in range(24)]
        append([write_jsonl(tmp_path / f"{b}.jsonl", [*recs, f"broken {b}"])], archive=root)
    result = compact(root)
    assert all(result.files_added[t] for t in TABLES)  # every table has files written by compact
    append([write_jsonl(tmp_path / "3.jsonl", [record(99, published_date="2021-01-20"), "broken 3"])], archive=root)
    return root


def _files(root: Path) -> dict[str, list[str]]:
    archive = open_archive(root)
    return {t: file_actions(archive.table(t)).column("path").to_pylist() for t in TABLES}


def _flip(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    bit = rng.randrange(len(data) * 8)
    data[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


def test_every_file_has_a_recorded_hash_that_matches(archive):
    files = _files(archive)
    for table, paths in files.items():
        hashes = recorded_hashes(open_archive(archive), table)
        assert set(paths) <= set(hashes), table
    report = verify(archive)
    assert report.ok
    for table in TABLES:
        [check] = [c for c in report.checks if c.name == f"{table} fixity"]
        assert check.detail.startswith(f"{len(files[table])} files match the SHA-256")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_single_bit_flip_is_reported_by_path(archive, main, seed):
    """One random bit flipped in each of a random dozen files of the three tables: each is named."""
    rng = random.Random(seed)
    files = _files(archive)
    chosen = [(t, files[t][0]) for t in ("quarantine", "batches")]  # every table is hit
    chosen += [("articles", p) for p in rng.sample(files["articles"], 10)]
    for table, path in chosen:
        _flip(archive / table / path, rng)
    res = main("verify", "--archive", str(archive), "--format", "json")
    assert res.code == 1, res.out
    checks = {c["check"]: c for c in json.loads(res.out)["checks"]}
    for table in TABLES:
        assert not checks[f"{table} fixity"]["ok"]
    for table, path in chosen:
        assert f"{table}/{path}" in checks[f"{table} fixity"]["detail"], (table, path)
    text = main("verify", "--archive", str(archive)).out
    assert "FAULT  articles fixity: 10 of" in text


def test_quick_says_it_is_not_a_fixity_check(archive, main):
    path = _files(archive)["articles"][0]
    _flip(archive / "articles" / path, random.Random(7))
    quick = main("verify", "--archive", str(archive), "--quick")
    assert "articles fixity: not checked: --quick" in quick.out
    assert main("verify", "--archive", str(archive)).code == 1
    assert "not a fixity check" in " ".join(main("verify", "--help").out.split())


def test_files_without_a_recorded_hash_are_reported_apart(archive, main):
    """An archive written before hashes were recorded: no fault, but said so (and old metadata reads)."""
    for table in TABLES:
        for log in (archive / table / "_delta_log").glob("*.json"):
            lines = []
            for line in log.read_text().splitlines():
                action = json.loads(line)
                meta = action.get("commitInfo", {}).get("newsarchive")
                if isinstance(meta, dict):
                    for key in ("data_files", "ledger_file"):
                        meta.pop(key, None)
                    if isinstance(meta.get("quarantine_file"), dict):
                        meta["quarantine_file"].pop("sha256")
                lines.append(json.dumps(action))
            log.write_text("\n".join(lines) + "\n")
    res = main("verify", "--archive", str(archive))
    assert res.code == 0, res.out
    assert "files have no recorded SHA-256 (written before newsarchive recorded them)" in res.out
    assert DataFile.from_dict({"path": "p", "size": 1, "rows": 1, "partition": {}, "stats": "{}",
                               "modified_ms": 0}).sha256 is None
