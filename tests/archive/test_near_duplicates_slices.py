"""A batch indexed in slices must give the tables one slice gives (toolkit/archive/near_duplicates.py).

Why: indexing holds one slice's band rows at a time so that memory does not grow with the batch;
pairs that cross slices (an article and its copy far apart in one batch) and pairs with the archive
must still be found, and the slices' files must all land in the batch's one minhash commit.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing
import random
import threading

import pyarrow as pa
import pytest

from tests.archive.conftest import index_tables, write_jsonl
from toolkit.archive import append, open_archive, verify
from toolkit.archive import near_duplicates as nd
from toolkit.archive.files import TableFiles
from toolkit.archive.ledger import committed_batches

append_module = importlib.import_module("toolkit.archive.append")
TINY = 7  # articles per slice: the second batch (75 articles) is cut in 11


def _texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [f"mot{i}" for i in range(400)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(40, 120))) for _ in range(count)]


def _batches(tmp_path) -> tuple:
    """A first batch; a second with copies of first-batch articles (pairs with the archive) and, at its
    end, copies of its own first articles (pairs across slices), one copied twice (a cluster of three)."""
    rng = random.Random(11)
    base = _texts(100, 12)

    def record(i: int, text: str) -> dict:
        return {"id": hashlib.sha256(text.encode()).hexdigest()[:32], "source": f"outlet{i % 3}", "title": f"t{i}",
                "text": text, "language": "fr", "published_date": f"2022-{i % 12 + 1:02d}-0{i % 9 + 1}"}

    def cut(text: str) -> str:
        return " ".join(text.split()[rng.randint(1, 6):])

    first = [record(i, t) for i, t in enumerate(base[:40])]
    second = [record(40 + i, t) for i, t in enumerate(base[40:100])]
    second += [record(200 + i, cut(t)) for i, t in enumerate(base[:8])]  # copies of archived articles
    second += [record(300 + i, cut(t)) for i, t in enumerate(base[40:46])]  # copies of the batch's own
    second.append(record(400, cut(cut(base[40]))))
    return write_jsonl(tmp_path / "first.jsonl", first), write_jsonl(tmp_path / "second.jsonl", second)


@pytest.mark.parametrize("path", ["staged", "read back", "staged, slices spilled to scratch"])
def test_a_batch_indexed_in_tiny_slices_gives_the_tables_of_one_slice(tmp_path, monkeypatch, path) -> None:
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 8 << 10)  # several blocks: several spilled parts
    if path.endswith("scratch"):  # every slice but the latest: band hashes and signatures read back from files
        monkeypatch.setattr(nd, "SCRATCH_MEMORY", 0)
    # Workers started fresh, so that they sign (forked from a process that signed, they leave it here).
    monkeypatch.setattr(importlib.import_module("toolkit.archive.staging"), "start_context",
                        lambda: multiprocessing.get_context("spawn"))
    if path == "read back":  # the committed rows read back and signed after the commit, as a repair does
        monkeypatch.setattr(append_module._BatchRun, "_signed", lambda self, keep: None)
    built = []
    real_band_rows = nd.band_rows

    def band_rows(ids, *args, **kwargs):
        built.append(len(ids))
        return real_band_rows(ids, *args, **kwargs)

    monkeypatch.setattr(nd, "band_rows", band_rows)
    first, second = _batches(tmp_path)
    results = {}
    for name, size in (("one", 100_000), ("sliced", TINY)):
        monkeypatch.setenv(nd.SLICE_VARIABLE, str(size))
        built.clear()
        results[name] = [append([p], archive=tmp_path / name, jobs=2).as_dict() | {"batch": None}
                         for p in (first, second)]
        assert max(built) <= size  # never more than a slice's band rows at once
    assert results["sliced"] == results["one"]
    assert [r["near_duplicates"] for r in results["one"]] == [0, 21]  # 8 + 6 + 1 copies, and 6 originals
    assert index_tables(tmp_path / "sliced") == index_tables(tmp_path / "one")
    assert verify(tmp_path / "sliced").ok

    # Each batch's bands: a file per slice, all in the batch's one minhash commit (and listed in it).
    archive = open_archive(tmp_path / "sliced")
    commits = {}
    for log in sorted((tmp_path / "sliced" / "minhash" / "_delta_log").glob("*.json")):
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        info = next(e["commitInfo"] for e in entries if "commitInfo" in e)
        if "newsarchive" in info:
            adds = {e["add"]["path"] for e in entries if "add" in e}
            assert set(info["newsarchive"]["data_files"]) == adds
            commits.setdefault(info["newsarchive"]["batch"], []).append(len(adds))
    assert commits == {r.batch: [-(-n // TINY)] for r, n in zip(committed_batches(archive), (40, 75), strict=True)}
    assert len(archive.dataset("minhash").files) == 6 + 11


def test_a_slice_size_that_is_not_a_number_is_one_clear_line(monkeypatch) -> None:
    monkeypatch.setenv(nd.SLICE_VARIABLE, "lots")
    with pytest.raises(nd.NewsarchiveError, match="NEWSARCHIVE_INDEX_SLICE='lots' is not a positive number"):
        nd.slice_articles()


def test_the_stagers_signatures_reach_indexing_as_their_files_never_through_the_parent(tmp_path, monkeypatch) -> None:
    """Each staging worker writes its blocks' signatures to its own file in the run's work folder and
    sends the file's name: the parent neither unpickles the signatures (512 bytes a row) nor writes
    them again (it did: a third of what near-duplicates added to its CPU)."""
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 8 << 10)  # several blocks
    monkeypatch.setattr(importlib.import_module("toolkit.archive.staging"), "start_context",
                        lambda: multiprocessing.get_context("spawn"))  # workers that sign (see above)

    def unpickled(self, state):  # only the parent has this (spawned workers import afresh)
        raise AssertionError("the parent unpickled a block's signatures")

    def spilled_here(*args, **kwargs):
        raise AssertionError("the parent wrote a block's signatures again")

    monkeypatch.setattr(nd.Signed, "__setstate__", unpickled, raising=False)
    monkeypatch.setattr(append_module, "spill", spilled_here)
    parts = []
    real_gather = append_module.gather

    def gather(signed, keep):
        parts.extend(signed)
        return real_gather(signed, keep)

    monkeypatch.setattr(append_module, "gather", gather)
    first, second = _batches(tmp_path)
    results = [append([p], archive=tmp_path / "a", jobs=2).near_duplicates for p in (first, second)]
    assert results == [0, 21]  # as in the test above: the files hold the same signatures
    assert len(parts) > 2 and all(isinstance(p, nd.Spilled) for p in parts)
    # in the workers' own folders (which worker took which block is the scheduler's choice)
    assert {p.path.split("/spill/")[1].split("/")[0] for p in parts} <= {"worker-0", "worker-1"}


def test_a_failure_while_a_band_file_is_written_on_its_thread_leaves_no_file(tmp_path, monkeypatch) -> None:
    """Slices' band files are written on threads while indexing goes on; if indexing fails meanwhile,
    the files being written are waited for and removed with the others (none is left unreferenced)."""
    first, _ = _batches(tmp_path)
    append([first], archive=tmp_path / "a", jobs=1)
    archive = open_archive(tmp_path / "a")
    before = set((tmp_path / "a" / "minhash").glob("*.parquet"))
    texts = _texts(30, 5)
    ids = [hashlib.sha256(t.encode()).hexdigest()[:32] for t in texts]
    articles = pa.table({"id": ids, "published_date": pa.array([None] * 30, pa.date32()), "source": ["s"] * 30})
    deleting = threading.Event()
    real_write, real_delete = TableFiles.write, TableFiles.delete

    def write(self, rows, *args, **kwargs):  # finishes only once the cleanup began (or after 2 s)
        deleting.wait(timeout=2)
        return real_write(self, rows, *args, **kwargs)

    def delete(self, files):
        deleting.set()
        return real_delete(self, files)

    monkeypatch.setattr(TableFiles, "write", write)
    monkeypatch.setattr(TableFiles, "delete", delete)

    def slices():  # two slices: both files are being written when indexing fails
        yield articles.slice(0, 15), nd.signatures(texts[:15], ids[:15])
        yield articles.slice(15), nd.signatures(texts[15:], ids[15:])
        raise RuntimeError("indexing failed")

    with pytest.raises(RuntimeError, match="indexing failed"):
        nd.cluster_batch(archive, slices())
    assert set((tmp_path / "a" / "minhash").glob("*.parquet")) == before


def test_duckdb_reading_the_band_files_gives_what_an_arrow_scan_gives(tmp_path, monkeypatch) -> None:
    """On a local archive the join and the candidates' bands are read by DuckDB's own Parquet reader
    (S3, and paths DuckDB would take for a glob, use an Arrow scan): both give the same tables."""
    first, second = _batches(tmp_path)
    reads = []
    real_local_files = nd._local_files

    def local_files(archive, minhash):
        found = real_local_files(archive, minhash)
        reads.append(found is not None)
        return found

    monkeypatch.setattr(nd, "_local_files", local_files)
    for p in (first, second):
        append([p], archive=tmp_path / "duckdb", jobs=1)
    assert reads and all(reads)  # the join and the candidates' bands, by DuckDB
    reads.clear()
    for p in (first, second):
        append([p], archive=tmp_path / "band files [glob-like]", jobs=1)  # DuckDB would glob: Arrow
    assert reads and not any(reads)
    monkeypatch.setattr(nd, "_local_files", lambda archive, minhash: None)
    for p in (first, second):
        append([p], archive=tmp_path / "arrow", jobs=1)
    tables = index_tables(tmp_path / "duckdb")
    assert tables == index_tables(tmp_path / "arrow") == index_tables(tmp_path / "band files [glob-like]")
    # 8 copies of archived articles and those 8; 6 of the batch's own articles and their 7 copies
    assert len(tables[1]) == 8 * 2 + 6 + 7
