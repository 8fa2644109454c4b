"""Near-duplicate signatures computed fast must be the same signatures (toolkit/archive/near_duplicates.py).

The words are found on the UTF-8 bytes in numpy, the batch's own candidate pairs by sorting band
hashes, and a batch read back is signed chunk by chunk: each against a plain reference (Python's
`str.split`, a DuckDB self-join, `signatures` of the texts), and the values pinned, because stored
bands computed by one version must match the bands of the next.
"""

from __future__ import annotations

import hashlib
import importlib
import random

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from tests.archive.conftest import index_tables, write_jsonl
from toolkit.archive import append, open_archive, verify
from toolkit.archive import near_duplicates as nd
from toolkit.archive.ledger import BENCH_SWITCH, committed_batches

append_module = importlib.import_module("toolkit.archive.append")

#: Every character Python's str.split and Arrow's utf8_split_whitespace split on, punctuation, and
#: characters sharing a lead byte with a multi-byte space (U+00C2 Â, U+200B, U+2060, U+3001, U+2080).
ALPHABET = (list(nd.WHITESPACE) + list(nd.PUNCTUATION[:30]) + list("aBcÉé")
            + ["مرحبا", "\u00c2", "\u200b", "\u2060", "\u3001", "\u2080", "\u1680x", "\u00c5\u00a0"])


def _reference(texts: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    hashes, owners = [], []
    for i, text in enumerate(texts):
        for word in (text or "").lower().split():
            word = word.strip(nd.PUNCTUATION)
            if word:
                hashes.append(nd._word_hash(word))
                owners.append(i)
    return np.array(hashes, np.uint64), np.array(owners, np.int64)


def test_words_are_those_of_str_split_lowered_and_trimmed_of_punctuation() -> None:
    rng = random.Random(7)
    for trial in range(1500):
        texts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(1, 6))]
        texts = [None if rng.random() < 0.1 else t for t in texts]
        kind = pa.string() if trial % 2 else pa.large_string()
        array, expected = pa.array(texts, kind), texts
        if len(texts) > 2 and trial % 3 == 0:  # a slice: offsets that do not start at 0
            array, expected = array.slice(1), texts[1:]
        array = array.fill_null("") if array.null_count else array
        hashes, owners = nd._word_hashes(array)
        want_hashes, want_owners = _reference(expected)
        assert np.array_equal(hashes, want_hashes) and np.array_equal(owners, want_owners), expected


#: Control bytes that are not spaces (words are found taking every byte <= 0x20 for a space, then
#: checked), next to the spaces and letters they could be confused with.
CONTROLS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0E, 0x1C))] + ["\t", "\x1c", " ", "a", "Bé", ".", "\u00a0"]


def test_words_with_control_bytes_are_those_of_str_split() -> None:
    rng = random.Random(11)
    seen = []
    for trial in range(800):
        texts = ["".join(rng.choice(CONTROLS) for _ in range(rng.randint(0, 10))) for _ in range(rng.randint(1, 5))]
        if trial % 2:  # the same pieces again: known to this thread's vocabulary then, not new
            texts += rng.sample(seen, min(len(seen), 3))
        seen += texts
        hashes, owners = nd._word_hashes(pa.array(texts, pa.string()))
        want_hashes, want_owners = _reference(texts)
        assert np.array_equal(hashes, want_hashes) and np.array_equal(owners, want_owners), texts


def _sign_in_a_new_thread(texts: list[str], ids: list[str]) -> np.ndarray:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # a fresh thread: an empty vocabulary
        return pool.submit(nd.signatures, texts, ids, nd.PARAMETERS, 1).result()


def test_a_thread_signs_the_same_whatever_it_signed_before(monkeypatch) -> None:
    first, second = _texts(700, 21), _texts(700, 22) + PINNED_TEXTS[:3]
    ids = [f"i{i}" for i in range(len(second))]
    alone = _sign_in_a_new_thread(second, ids)
    nd.signatures(first, [f"f{i}" for i in range(len(first))], threads=1)  # this thread knows their pieces
    assert np.array_equal(nd.signatures(second, ids, threads=1), alone)
    monkeypatch.setattr(nd, "VOCABULARY_PIECES", 50)  # full after a few texts: it starts again, often
    assert np.array_equal(nd.signatures(second, ids, threads=1), alone)

PINNED_TEXTS = [
    "Le Maroc a signé\u00a0: un accord « historique » avec l'Espagne, a annoncé mardi le ministre.\n\n"
    "Lire aussi : la suite.",
    "أعلنت وزارة الاقتصاد والمالية، اليوم الثلاثاء، عن ارتفاع مداخيل الضرائب بنسبة 8 في المائة.",
    "", None, "Court texte.", "  — … « »  ", "ÉTÉ À CASABLANCA\u2003\u2003: LES PRIX MONTENT " * 5,
]


def test_signatures_are_the_ones_stored_before_the_speedup() -> None:
    # The SHA-256 of these texts' signatures as computed by the first implementation (Arrow's split
    # kernels, chunks of 2,048): archives hold bands of that version, new bands must match them.
    sigs = nd.signatures(PINNED_TEXTS, [f"id{i}" for i in range(len(PINNED_TEXTS))])
    digest = hashlib.sha256(np.ascontiguousarray(sigs, "<u4").tobytes()).hexdigest()
    assert digest == "5a5fe96764ad15a62a93756611da1c1f952251693a6809f72e8b74a121c7d61e"


def _texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [f"mot{i}" for i in range(400)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(40, 120))) for _ in range(count)]


def test_batch_pairs_are_the_self_join_of_its_bands() -> None:
    base = _texts(150, 1)
    rng = random.Random(2)
    edited = [" ".join(t.split()[rng.randint(0, 20):]) for t in rng.sample(base, 60)]  # cut openings
    texts = base + edited + [base[0]] * 12  # and a run of exact copies
    ids = pa.array([f"{rng.random():.15f}" for _ in texts])
    sigs = nd.signatures(texts, ids.to_pylist())
    bands = nd.band_rows(ids, pa.nulls(len(ids), pa.date32()), pa.nulls(len(ids), pa.string()), sigs)
    con = duckdb.connect()
    con.register("new", bands.select(["id", "band", "hash"]))
    joined = set(con.execute("SELECT DISTINCT x.id, y.id FROM new x JOIN new y "
                             "ON x.band = y.band AND x.hash = y.hash WHERE x.id < y.id").fetchall())
    con.close()
    pairs = nd._batch_pairs(ids, bands.column("hash").to_numpy().reshape(len(ids), nd.PARAMETERS.bands))
    found = list(zip(pairs.column("a").to_pylist(), pairs.column("b").to_pylist(), strict=True))
    assert len(joined) > 100 and len(found) == len(set(found)) and set(found) == joined


def test_a_batch_read_back_is_signed_row_for_row(tmp_path, monkeypatch) -> None:
    # Small chunks: the scan's batches (one data file per month here) are gathered across files.
    texts = _texts(90, 3)
    records = [{"id": hashlib.sha256(t.encode()).hexdigest()[:32], "source": f"outlet{i % 4}", "title": f"t{i}",
                "text": t, "language": "fr", "published_date": f"20{10 + i % 9}-{i % 12 + 1:02d}-01"}
               for i, t in enumerate(texts)]
    write_jsonl(tmp_path / "batch.jsonl", records)
    monkeypatch.setenv(BENCH_SWITCH, "1")  # append without indexing: the test reads the batch back itself
    append([tmp_path / "batch.jsonl"], archive=tmp_path / "archive", jobs=1)
    archive = open_archive(tmp_path / "archive")
    record = committed_batches(archive)[-1]
    assert len(record.data_files) > 5
    by_id = {r["id"]: r["text"] for r in records}
    for chunk in (7, 1000):  # chunks gathered across files; the whole batch as the last, partial chunk
        monkeypatch.setattr(nd, "SIGNATURE_CHUNK", chunk)
        articles, sigs = nd._batch_articles(archive, record.data_files)
        ids = articles.column("id").to_pylist()
        assert sorted(ids) == sorted(by_id) and "text" not in articles.column_names
        assert np.array_equal(sigs, nd.signatures([by_id[i] for i in ids], ids))


def test_a_batch_read_back_is_signed_on_as_many_threads_as_its_jobs(tmp_path, monkeypatch) -> None:
    # The read-back path (an interrupted batch completed by the next append, compact's backfill).
    texts = _texts(20, 4)
    records = [{"id": hashlib.sha256(t.encode()).hexdigest()[:32], "source": "outlet", "title": f"t{i}",
                "text": t, "language": "fr", "published_date": "2020-01-01"} for i, t in enumerate(texts)]
    write_jsonl(tmp_path / "batch.jsonl", records)
    monkeypatch.setenv(BENCH_SWITCH, "1")
    result = append([tmp_path / "batch.jsonl"], archive=tmp_path / "archive", jobs=1)
    monkeypatch.delenv(BENCH_SWITCH)
    pools = []

    class Recording(nd.ThreadPoolExecutor):
        def __init__(self, max_workers: int, **kwargs) -> None:
            if kwargs.get("thread_name_prefix") == "minhash":  # the signing threads (not the band file's writer)
                pools.append(max_workers)
            super().__init__(max_workers, **kwargs)

    monkeypatch.setattr(nd, "ThreadPoolExecutor", Recording)
    monkeypatch.setattr(nd.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    archive = open_archive(tmp_path / "archive")
    record = committed_batches(archive)[-1]
    assert nd.index_batch(archive, record.batch, record.data_files, jobs=1).articles == result.appended == 20
    assert pools == [1]


def _wire_batches(tmp_path) -> tuple:
    """Two batches with near-duplicate copies, an id repeated in a batch with another text (the
    first occurrence is kept), ids of the first batch again in the second (with other texts:
    dropped), and a damaged line: what the committed rows' signatures must follow."""
    rng = random.Random(5)
    base = _texts(120, 6)
    copies = [" ".join(t.split()[rng.randint(1, 8):]) for t in base[:30]]  # cut openings: near-duplicates

    def record(i: int, text: str, ident: str | None = None) -> dict:
        return {"id": ident or hashlib.sha256(text.encode()).hexdigest()[:32], "source": f"outlet{i % 5}",
                "title": f"t{i}", "text": text, "language": "fr", "published_date": f"2021-{i % 12 + 1:02d}-03"}

    first = [record(i, t) for i, t in enumerate(base[:80])]
    first.insert(40, record(999, "un autre texte entier " * 20, first[3]["id"]))  # same id, other text: dropped
    second = [record(i, t) for i, t in enumerate(base[80:] + copies)]
    second += [record(7, "encore un autre texte " * 20, first[i]["id"]) for i in (1, 2)]  # archived ids
    second.append("{not json")
    return write_jsonl(tmp_path / "first.jsonl", first), write_jsonl(tmp_path / "second.jsonl", second)


@pytest.mark.parametrize("jobs", [1, 3])
def test_append_indexes_the_signatures_its_stagers_computed(tmp_path, monkeypatch, jobs) -> None:
    # Signed in the stagers (worker processes with several jobs): the batch is never read back.
    def read_back(*args, **kwargs):
        raise AssertionError("a normal append read its batch back to sign it")

    monkeypatch.setattr(nd, "_batch_articles", read_back)
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 16 << 10)  # several blocks: worker processes
    _spawned_workers(monkeypatch)
    first, second = _wire_batches(tmp_path)
    archive = tmp_path / "archive"
    assert append([first], archive=archive, jobs=jobs).appended == 80
    result = append([second], archive=archive, jobs=jobs)
    assert (result.appended, result.duplicates, result.quarantined, result.near_duplicates) == (70, 2, 1, 30)
    assert verify(archive).ok


def _spawned_workers(monkeypatch) -> None:
    """Workers started fresh: once this test process has signed (an earlier test), workers forked from
    it may not sign (rensa's thread pool does not survive fork) and the batch would be read back."""
    import multiprocessing

    monkeypatch.setattr(importlib.import_module("toolkit.archive.staging"), "start_context",
                        lambda: multiprocessing.get_context("spawn"))


def test_bands_signed_by_the_stagers_are_those_of_the_batch_read_back(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(append_module, "BLOCK_BYTES", 16 << 10)
    _spawned_workers(monkeypatch)
    first, second = _wire_batches(tmp_path)
    results = {}
    for name, read_back in (("staged", False), ("read", True)):
        if read_back:  # the committed rows are read back and signed after the commit, as a repair does
            monkeypatch.setattr(append_module._BatchRun, "_signed", lambda self, keep: None)
        results[name] = [append([path], archive=tmp_path / name, jobs=3).as_dict() | {"batch": None}
                         for path in (first, second)]
    assert results["staged"] == results["read"]
    staged, read = index_tables(tmp_path / "staged"), index_tables(tmp_path / "read")
    assert len(staged[0]) == 150 * nd.PARAMETERS.bands and len(staged[1]) >= 60
    assert staged == read


FORKED_AFTER_SIGNING = """
import importlib, sys
from toolkit.archive import append
from toolkit.archive import near_duplicates as nd
importlib.import_module("toolkit.archive.append").BLOCK_BYTES = 1 << 19  # blocks of ~400 rows: forked workers
nd.signatures(["un texte signé ici avant le fork, dans ce processus même " * 5] * 600, [str(i) for i in range(600)])
result = append([sys.argv[1]], archive=sys.argv[2], jobs=2)
print(result.appended, result.near_duplicates)
"""


def test_an_append_forked_after_this_process_signed_does_not_hang(tmp_path):
    """rensa's thread pool does not survive fork: a process that already signed (a notebook's second
    append, a test run) must not hand signing to forked workers (they waited forever)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    rows = [{"id": f"{n:032x}", "source": "Le Test", "language": "fr", "published_date": "2024-01-02",
             "title": f"Titre {n}", "text": " ".join(f"mot{n}x{k}" for k in range(60))} for n in range(2000)]
    batch = write_jsonl(tmp_path / "b.jsonl", rows)
    run = subprocess.run([sys.executable, "-c", FORKED_AFTER_SIGNING, str(batch), str(tmp_path / "archive")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["2000", "0"]


def test_band_files_write_their_random_columns_plain(tmp_path) -> None:
    # The band hashes and MinHash values are random bytes: zstd, dictionaries and statistics only cost
    # time there (a third of a band file's encoding); the other columns keep them.
    import pyarrow.parquet as pq

    from toolkit.archive.files import TableFiles
    from toolkit.archive.layout import MINHASH, MINHASH_SCHEMA
    from toolkit.archive.storage import Storage

    texts = _texts(300, 31)
    ids = pa.array([f"id{i:04d}" for i in range(len(texts))])
    sigs = nd.signatures(texts, ids)
    bands = nd.band_rows(ids, pa.nulls(len(ids), pa.date32()), pa.array(["outlet"] * len(ids)), sigs)
    written = TableFiles(Storage.at(str(tmp_path)), MINHASH, MINHASH_SCHEMA).write(bands)
    meta = pq.ParquetFile(tmp_path / MINHASH / written.path).metadata.row_group(0)
    columns = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    for name in ("hash", "mins"):
        assert columns[name].compression == "UNCOMPRESSED" and not columns[name].is_stats_set
        assert not any("DICT" in e for e in columns[name].encodings), columns[name].encodings
    assert columns["id"].compression == "ZSTD" and columns["source"].compression == "ZSTD"
    assert pq.read_table(tmp_path / MINHASH / written.path).equals(bands)
