"""Near-duplicate clusters: MinHash signatures, LSH bands and cluster membership, computed at append.

Why here: a syndicated wire story republished with a new headline or a cut paragraph gets a new id
(its url differs), so id dedup keeps every copy. Each appended article gets a MinHash signature of
its normalized text (rensa's RMinHash: measured against datasketch in bench/bench_near_duplicates.py,
docs/near-duplicates.md) split into LSH bands, stored in the `minhash/` Delta table (one row per
article and band: `id, band, hash, mins`; an article's `mins` in band order are its signature).

A batch is indexed in slices of SLICE_ARTICLES: each slice's band rows are written as one file of the
batch's minhash commit and dropped, so memory grows neither with the batch nor with the archive.
Candidates are found by joining the batch's bands with the archive's in DuckDB (the archive side
streams past a hash table of the batch's (band, hash, row), under a memory limit, spilling past it),
and within the batch on its int64 band hashes, band by band; never by loading the archive's
signatures. Each candidate pair is confirmed by its estimated Jaccard similarity (the signatures of
the candidates only, read back by id or row). Confirmed pairs and the clusters they touch are
merged into connected components; each component's representative is its earliest published
article (ties: smallest id). The `clusters/` table gets one row per member of every component that
changed (`id, cluster, similarity, published_date, source, seq`); the latest `seq` per id is current, so a
later-arriving earlier article that becomes the representative rewrites its cluster's rows.

Commit protocol (see ledger.py): after the ledger commit, the minhash commit then the clusters
commit, each carrying the batch's transaction id and made at most once. Both are derived from the
batch's data files (named in its articles commit), so a crash between any two commits is completed by
the next append (`repair`) or compact (`repair(full=True)`); the archive side of the candidate join
excludes the batch's own ids, so recomputing after the minhash commit landed gives the same rows.
"""

from __future__ import annotations

import array
import collections
import contextlib
import hashlib
import itertools
import os
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import overload

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from toolkit.archive.files import DataFile, TableFiles
from toolkit.archive.layout import (
    ARTICLES,
    CLUSTERS,
    CLUSTERS_SCHEMA,
    DATE_FIELD,
    ID_FIELD,
    MINHASH,
    MINHASH_SCHEMA,
)
from toolkit.archive.retry import attempts
from toolkit.archive.tables import Archive, ArchiveVersion, ensure_table
from toolkit.core.errors import NewsarchiveError
from toolkit.core.interrupts import fault, held

TEXT_FIELD = "text"
SOURCE_FIELD = "source"
SIGNATURE_CHUNK = 512  # texts shingled at a time, per thread: its arrays stay in the heap (larger ones are
#                       mapped and faulted in afresh each time: a quarter more time, in the kernel)
JOIN_MEMORY = "256MB"  # DuckDB's limit for the band join: the archive side streams, memory stays flat


@dataclass(frozen=True)
class Parameters:
    """MinHash LSH parameters, chosen by bench/bench_near_duplicates.py (docs/near-duplicates.md)."""

    shingle: int = 5  # words per shingle
    permutations: int = 128
    bands: int = 32
    rows: int = 4  # bands * rows == permutations
    threshold: float = 0.3  # estimated Jaccard at or above which a candidate pair is a near-duplicate
    seed: int = 42

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


PARAMETERS = Parameters()

#: Stripped from both ends of every word: ASCII, French, Arabic punctuation and typographic quotes.
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~«»“”‘’„‚‹›–—…·•،؛؟٪٫٬ـ"
_U64 = np.uint64
#: What Arrow's utf8_split_whitespace splits on (every code point, checked by the tests): ASCII, then
#: U+0085, U+00A0 (2 UTF-8 bytes), U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 (3 bytes).
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
              + "\u2028\u2029\u202f\u205f\u3000")


def _memory() -> pa.MemoryPool:
    """Where indexing's Arrow buffers come from: jemalloc when pyarrow has it, passed to each call
    (the process's default pool is the caller's to choose). Why: the batch's texts and their
    pieces are fresh memory each append, and faulting it in through the default mimalloc cost more
    system time than the signing itself (20,000 gen_articles records: 0.3-0.4 s against 0.1 s)."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.default_memory_pool()


def _word_hash(word: str) -> int:
    """A stable 64-bit hash of a word (blake2b: the same in every process and Python version)."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def _word_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Each word's hash (uint64) and the index of its text, in text order: the words of
    `utf8_split_whitespace(utf8_lower(text))` trimmed of PUNCTUATION, empty ones left out."""
    hashes, counts = _words(texts)
    return hashes, np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def _words(texts: pa.Array, controls: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The words' hashes (uint64, in text order) and how many words each text has (int64): see
    `_word_hashes`.

    Why not Arrow's split kernels: on a batch they cost 3-4x more than the whole MinHash. The words
    are found on the UTF-8 bytes in numpy, in as few passes over them as possible, and each is
    viewed, with the spaces after it, as a string of one zero-copy Arrow array, whose strings are
    looked up in those already hashed (`_Vocabulary`), so lowering, trimming and hashing run once
    per distinct string. No array with an element per word is built that is not needed (the text of
    each word is counted, not repeated).

    One comparison finds the ASCII spaces: every byte <= 0x20, which takes the control bytes that
    are not spaces (\x00-\x08, \x0e-\x1b) for spaces too. They are rare (extract removes them), so
    rather than two more passes over every chunk, the pieces found are checked (each piece once, when
    first seen); a chunk that has one is done again with `controls` (its spaces exactly).
    """
    n = len(texts)
    wide = pa.types.is_large_string(texts.type) or pa.types.is_large_binary(texts.type)
    bounds = np.frombuffer(texts.buffers()[1], np.int64 if wide else np.int32)[texts.offset:texts.offset + n + 1]
    bounds = bounds.astype(np.int64)
    first, last = int(bounds[0]), int(bounds[-1])
    size = last - first
    none = np.zeros(0, _U64), np.zeros(n, np.int64)
    if size == 0:
        return none
    data = np.frombuffer(texts.buffers()[2], np.uint8, size, first)
    bounds -= first
    # Comparisons rather than a 256-entry table: a ufunc pass costs a fraction of a fancy index.
    space = data <= 0x20
    if controls:
        space &= ~(((data - np.uint8(0x0E)) < 14) | (data < 0x09))  # not \x0e-\x1b, not \x00-\x08
    maybe = (data - np.uint8(0xE1)) < 3  # lead bytes of the 3-byte spaces, then of U+0085, U+00A0
    maybe |= data == 0xC2
    lead = np.flatnonzero(maybe)
    if len(lead):
        _mark_wide_spaces(data, lead, space)
    start = np.empty(size, bool)  # a word starts after a space (True > False) or at its text's first byte
    start[0] = not space[0]
    np.greater(space[:-1], space[1:], out=start[1:])
    heads = bounds[:-1][bounds[:-1] < size]
    start[heads] = ~space[heads]
    starts = np.flatnonzero(start)
    del start, space, maybe
    if not controls and _has_controls(data[:starts[0]] if len(starts) else data):  # before any piece
        return _words(texts, controls=True)
    if not len(starts):
        return none
    per_text = np.diff(np.searchsorted(starts, bounds))
    width = np.int32 if size < 2**31 else np.int64
    ends = np.empty(len(starts) + 1, width)
    np.subtract(starts, starts[0], out=ends[:-1], casting="unsafe")
    ends[-1] = size - starts[0]
    kind = pa.string() if width is np.int32 else pa.large_string()
    pieces = pa.Array.from_buffers(kind, len(starts), [None, pa.py_buffer(ends), pa.py_buffer(data[starts[0]:])])
    table, kept, indices, dirty = _VOCABULARY.look_up(pieces)
    if dirty and not controls:
        return _words(texts, controls=True)
    if kept.all():
        return table[indices], per_text
    keep = kept[indices]
    counted = np.r_[0, np.cumsum(keep)]
    firsts = np.r_[0, np.cumsum(per_text)]
    return table[indices[keep]], counted[firsts[1:]] - counted[firsts[:-1]]


class _Vocabulary(threading.local):
    """The pieces (a word with the spaces after it) this thread has hashed, with their words' hashes.

    Why: a batch's texts share most of their words, so each chunk's pieces are looked up in the
    known ones (Arrow's `index_in`: a third cheaper than dictionary-encoding them afresh), and only
    the new ones are lowered, trimmed and hashed. A piece's hash depends on the piece alone, so what
    is known changes nothing in the result. Kept to VOCABULARY_PIECES pieces (looking up costs more
    the more there are: Arrow builds the set at every call); past that it starts again.
    """

    def __init__(self) -> None:
        self.pieces: pa.Array | None = None
        self.hashes = np.zeros(0, _U64)
        self.kept = np.zeros(0, bool)
        self.controls = np.zeros(0, bool)

    def look_up(self, pieces: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """(hash of each known piece's word, whether that word is not empty, each piece's index,
        whether one of the pieces holds a control byte that is not a space)."""
        hashes, kept, indices = self._indices(pieces)
        return hashes, kept, indices, bool(self.controls.any() and self.controls[indices].any())

    def _indices(self, pieces: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        known = self.pieces
        if known is not None and known.type != pieces.type:
            known = known.cast(pieces.type)
        if known is None or len(known) > VOCABULARY_PIECES:
            encoded = pc.dictionary_encode(pieces, memory_pool=_memory())
            self._reset(encoded.dictionary)
            return self.hashes, self.kept, encoded.indices.to_numpy()
        found = pc.index_in(pieces, value_set=known, memory_pool=_memory())
        if not found.null_count:
            return self.hashes, self.kept, found.to_numpy()
        missing = found.is_null()
        encoded = pc.dictionary_encode(pieces.filter(missing), memory_pool=_memory())
        indices = found.fill_null(0).to_numpy().copy()
        indices[missing.to_numpy(zero_copy_only=False)] = encoded.indices.to_numpy() + len(known)
        self._add(known, encoded.dictionary)
        return self.hashes, self.kept, indices

    def _reset(self, distinct: pa.Array) -> None:
        self.__init__()
        self._add(None, distinct)

    def _add(self, known: pa.Array | None, distinct: pa.Array) -> None:
        # Pieces differing only by case, punctuation or the spaces after them are one word: hashed once.
        words = pc.dictionary_encode(pc.utf8_trim(pc.utf8_lower(pc.utf8_rtrim(distinct, WHITESPACE)), PUNCTUATION))
        unique = words.dictionary.to_pylist()
        table = np.fromiter((_word_hash(w) for w in unique), _U64, len(unique))
        kept = np.fromiter(map(bool, unique), bool, len(unique))
        at = words.indices.to_numpy()
        self.pieces = distinct if known is None else pa.concat_arrays([known, distinct])
        self.hashes = np.concatenate([self.hashes, table[at]])
        self.kept = np.concatenate([self.kept, kept[at]])
        self.controls = np.concatenate([self.controls, pc.match_substring_regex(distinct, _CONTROLS).to_numpy(
            zero_copy_only=False)])


VOCABULARY_PIECES = 16_384  # pieces kept per thread (see _Vocabulary)
_CONTROLS = "[\\x00-\\x08\\x0e-\\x1b]"  # RE2: the control bytes that are not spaces
_VOCABULARY = _Vocabulary()


def _has_controls(data: np.ndarray) -> bool:
    """Whether the bytes hold a control character that is not a space (\\x00-\\x08, \\x0e-\\x1b)."""
    return bool(((data - np.uint8(0x0E)) < 14).any() or (data < 0x09).any())


def _mark_wide_spaces(data: np.ndarray, lead: np.ndarray, space: np.ndarray) -> None:
    """Set `space` on every byte of the multi-byte spaces starting at the candidate `lead` bytes:
    U+0085, U+00A0 (2 UTF-8 bytes), U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000."""
    size = len(data)
    a = data[lead]  # the two bytes after each lead (0 past the end)
    b = np.where(lead + 1 < size, data[np.minimum(lead + 1, size - 1)], 0)
    c = np.where(lead + 2 < size, data[np.minimum(lead + 2, size - 1)], 0)
    two = lead[(a == 0xC2) & ((b == 0x85) | (b == 0xA0))]
    three = lead[((a == 0xE1) & (b == 0x9A) & (c == 0x80))
                 | ((a == 0xE2) & (b == 0x80) & (((c >= 0x80) & (c <= 0x8A)) | (c == 0xA8) | (c == 0xA9)
                                                | (c == 0xAF)))
                 | ((a == 0xE2) & (b == 0x81) & (c == 0x9F)) | ((a == 0xE3) & (b == 0x80) & (c == 0x80))]
    for step in range(2):
        space[two + step] = True
    for step in range(3):
        space[three + step] = True


def _text_id(ids: Sequence[str] | pa.Array | pa.ChunkedArray, i: int) -> str:
    value = ids[i]
    return value.as_py() if isinstance(value, pa.Scalar) else value


def shingle_hashes(texts: pa.Array | Sequence[str | None], ids: Sequence[str] | pa.Array,
                   params: Parameters = PARAMETERS) -> tuple[np.ndarray, np.ndarray]:
    """The shingles of each text as 64-bit hashes, flat (uint64), and each text's offsets into them.

    Text: as stored (extract's records are NFC with invisible characters removed already), lower
    case, split on whitespace, punctuation trimmed from each word; a shingle is `params.shingle`
    consecutive words. Done in bulk (Arrow kernels, numpy): words are hashed once per distinct word,
    shingles by combining word hashes, so no Python runs per word. A text of fewer words is one
    shingle; a text without words gets its id as its only shingle, so empty articles are not
    near-duplicates of each other. `ids` are read for such texts only (an Arrow array is not
    converted).
    """
    n, k = len(texts), params.shingle
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())
    h, counts = _words(pc.fill_null(arr, "") if arr.null_count else arr)
    m = max(0, len(h) - k + 1)
    with np.errstate(over="ignore"):
        x = h * _U64(0x9E3779B97F4A7C15)
        sh = x[:m].copy()
        for j in range(1, k):  # in place: each step is one pass, no new array
            sh *= _U64(0xBF58476D1CE4E5B9)
            sh ^= x[j:j + m]
        sh ^= sh >> _U64(31)
    # A window is a shingle when its k words are of one text: all but the last k-1 starts of each text.
    ends = np.cumsum(counts)
    valid = np.ones(m, bool)
    for j in range(1, k):
        tail = (ends - j)[counts >= j]
        valid[tail[tail < m]] = False
    if not valid.all():
        sh = sh[valid]
    per_text = np.maximum(counts - (k - 1), 0)
    short = np.flatnonzero(counts < k)
    if len(short):  # one shingle for the whole (short) text, or the id for an empty one
        firsts = ends - counts
        extra = []
        for i in short:
            seq = h[firsts[i]:ends[i]]
            extra.append(_word_hash(" ".join(map(str, seq.tolist()))) if len(seq)
                         else _word_hash("\0empty:" + _text_id(ids, int(i))))
        at = np.r_[0, np.cumsum(per_text)][short]  # where each short text's (no) shingles begin
        sh = np.insert(sh, at, np.array(extra, _U64))
        per_text[short] = 1
    offsets = np.empty(n + 1, _U64)
    offsets[0] = 0
    np.cumsum(per_text, out=offsets[1:], dtype=_U64)
    return sh, offsets


def signatures(texts: pa.Array | Sequence[str | None], ids: Sequence[str] | pa.Array,
               params: Parameters = PARAMETERS, threads: int | None = None) -> np.ndarray:
    """MinHash signatures (rows of uint32), one per text, with rensa's RMinHash over the hashed shingles.

    Texts are cut in chunks shingled on `threads` threads (default: the cores this process may use):
    Arrow's kernels and numpy release the GIL, and indexing runs after the append's workers ended.
    """
    if not len(texts):
        return np.zeros((0, params.permutations), np.uint32)
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())
    if not isinstance(ids, (pa.Array, pa.ChunkedArray)):
        ids = list(ids)
    starts = range(0, len(arr), SIGNATURE_CHUNK)
    workers = max(1, min(threads or len(os.sched_getaffinity(0)), len(starts)))
    if workers == 1:
        return np.concatenate([_signature_chunk(arr.slice(i, SIGNATURE_CHUNK), ids[i:i + SIGNATURE_CHUNK], params)
                               for i in starts])
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="minhash") as pool:
        parts = pool.map(lambda i: _signature_chunk(arr.slice(i, SIGNATURE_CHUNK), ids[i:i + SIGNATURE_CHUNK],
                                                    params), starts)
        return np.concatenate(list(parts))


# rensa's bulk digest runs on a rayon thread pool, started in the process on first use. A process
# forked after that inherits the pool's bookkeeping but not its threads: rensa there waits forever.
_RAYON_STARTED = False


def forked_children_can_sign() -> bool:
    """Whether a child forked from this process now could call rensa (no rayon pool started here yet)."""
    return not _RAYON_STARTED


def _signature_chunk(texts: pa.Array, ids: Sequence[str] | pa.Array, params: Parameters) -> np.ndarray:
    import rensa

    global _RAYON_STARTED
    hashes, offsets = shingle_hashes(texts, ids, params)
    _RAYON_STARTED = True
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, params.permutations, params.seed)
    return _matrix_rows(matrix.to_rows(), params.permutations)


def _matrix_rows(rows: list[list[int]], width: int) -> np.ndarray:
    """rensa's digest rows (lists of ints: its matrix has no buffer interface) as a uint32 array.
    Why `array.fromlist` row by row: it converts at C speed, in a third of the time of `np.fromiter`
    over the chained rows (and of `np.array`)."""
    out = array.array("I")
    if out.itemsize != 4:  # C's unsigned int is 4 bytes wherever numpy and rensa have wheels
        return np.fromiter(itertools.chain.from_iterable(rows), np.uint32, len(rows) * width).reshape(-1, width)
    collections.deque(map(out.fromlist, rows), maxlen=0)  # the loop at C speed
    return np.frombuffer(out, np.uint32).reshape(len(rows), width)


def band_hashes(sigs: np.ndarray, params: Parameters = PARAMETERS) -> np.ndarray:
    """A 64-bit hash of each band of each signature (n x bands, int64): FNV-1a over the band's
    values, then splitmix64's finalizer, in numpy."""
    n = len(sigs)
    x = sigs.reshape(n, params.bands, params.rows)
    h = np.full((n, params.bands), 0xCBF29CE484222325, np.uint64)
    shifted = np.empty_like(h)
    with np.errstate(over="ignore"):  # in place: no array per step
        for r in range(params.rows):
            h ^= x[:, :, r]
            h *= np.uint64(0x100000001B3)
        for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB), (31, None)):
            np.right_shift(h, np.uint64(shift), out=shifted)
            h ^= shifted
            if factor is not None:
                h *= np.uint64(factor)
    return h.view(np.int64)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The share of equal signature positions, row by row: MinHash's estimate of Jaccard similarity."""
    return (a == b).mean(axis=-1)


def band_rows(ids: pa.Array, dates: pa.Array, sources: pa.Array, sigs: np.ndarray,
              params: Parameters = PARAMETERS) -> pa.Table:
    """The `minhash/` rows of articles: one per article and band, built in bulk (no per-row Python)."""
    n, b, r = len(sigs), params.bands, params.rows
    take = pa.array(np.repeat(np.arange(n, dtype=np.int64), b))
    # `mins` views the signatures' bytes (each band's 4 * r bytes; no copy). The takes use the default
    # pool: this process's jemalloc one faults their fresh pages in again (0.04 s against 0.026 s for
    # 20,000 articles).
    raw = np.ascontiguousarray(sigs, "<u4")
    width = 4 * r
    mins = pa.Array.from_buffers(pa.binary(), n * b, [None, pa.py_buffer(np.arange(0, width * (n * b + 1), width,
                                                                                     dtype=np.int32)),
                                                      pa.py_buffer(raw)])
    return pa.table({
        "id": pc.take(ids, take),
        "band": pa.array(np.tile(np.arange(b, dtype=np.int16), n)),
        "hash": pa.array(band_hashes(sigs, params).reshape(-1)),
        "mins": mins,
        "published_date": pc.take(dates, take),
        "source": pc.take(sources, take),
    }, schema=MINHASH_SCHEMA)


def _signatures_of(rows: pa.Table, params: Parameters) -> tuple[list[str], np.ndarray]:
    """Signatures back from `minhash/` rows sorted by (id, band); ids missing a band are left out."""
    if rows.num_rows == 0:
        return [], np.zeros((0, params.permutations), np.uint32)
    ids = rows.column("id").to_numpy(zero_copy_only=False)
    mins = rows.column("mins").combine_chunks()
    offsets = np.frombuffer(mins.buffers()[1], np.int32)[mins.offset:mins.offset + len(mins) + 1]
    data = np.frombuffer(mins.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.diff(np.r_[starts, len(ids)])
    whole = counts == params.bands
    if not np.all(np.diff(offsets) == 4 * params.rows):
        raise NewsarchiveError("minhash/: a band of another width than these parameters; run `newsarchive verify`")
    matrix = data.view("<u4").reshape(len(ids), params.rows)
    out = []
    keep = []
    for start, count, ok in zip(starts, counts, whole, strict=True):
        if ok:
            out.append(matrix[start:start + count].reshape(-1))
            keep.append(str(ids[start]))
    sigs = np.stack(out).astype(np.uint32) if out else np.zeros((0, params.permutations), np.uint32)
    return keep, sigs


# --- signed where the rows are ---------------------------------------------------------------------
@dataclass
class Signed:
    """Articles signed by the process that held their rows (a staging worker): `articles` has id,
    published_date and source (when the schema has it), `signatures` one row per article, in order."""

    articles: pa.Table
    signatures: np.ndarray

    def __len__(self) -> int:
        return self.articles.num_rows


def sign_rows(rows: pa.Table, threads: int | None = 1, params: Parameters = PARAMETERS) -> Signed | None:
    """The signatures of rows in storage form, by the function indexing uses (`signatures`), and the
    columns their bands carry; None if the rows lack a column indexing needs (then the batch is read
    back after its commit, as a repair does).

    Why: signing in the staging workers, while they hold the rows, spares reading the batch's texts
    back after the commit (a second copy of them, on the parent alone) and runs on every --jobs worker.
    """
    if not {ID_FIELD, TEXT_FIELD, DATE_FIELD} <= set(rows.column_names):
        return None
    ids, texts = rows.column(ID_FIELD), rows.column(TEXT_FIELD)
    # One chunk is used as it is: combine_chunks would copy the block's texts into fresh memory.
    sigs = signatures(texts.chunk(0) if texts.num_chunks == 1 else texts.combine_chunks(), ids, params,
                      threads)
    kept = [c for c in (ID_FIELD, DATE_FIELD, SOURCE_FIELD) if c in rows.column_names]
    return Signed(rows.select(kept).combine_chunks(), sigs)


def gather(parts: Sequence[Signed | Spilled], keep: np.ndarray) -> Gathered:
    """The signed articles of a batch from its blocks' parts (in batch order), minus those not kept.
    Nothing is concatenated here: indexing reads the parts back one by one, in slices, so a batch's
    signatures (512 bytes an article) are never held whole."""
    return Gathered(list(parts), np.asarray(keep, bool))


@dataclass
class Spilled:
    """A block's signed articles written by `spill` to a local Arrow IPC file (the articles' columns
    and a `signature` column), read back when indexing reaches them."""

    path: str
    rows: int

    def __len__(self) -> int:
        return self.rows


def spill(part: Signed, folder: str) -> Spilled:
    """Write `part` to a new file in `folder` (made if needed). Why: append receives every block's
    signatures while staging and indexes them only after its commit; held in memory they grew with
    the batch (a batch of a million: 512 MB, twice over once concatenated)."""
    os.makedirs(folder, exist_ok=True)
    sigs = np.ascontiguousarray(part.signatures, "<u4")
    width = 4 * (sigs.shape[1] if sigs.ndim == 2 else PARAMETERS.permutations)
    column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(sigs), [None, pa.py_buffer(sigs.tobytes())])
    table = part.articles.append_column("signature", column)
    path = os.path.join(folder, f"signed-{uuid.uuid4().hex}.arrow")
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return Spilled(path, len(sigs))


def _unspill(part: Signed | Spilled) -> Signed:
    """A part as articles and signatures in memory (read into the heap, not mapped)."""
    if isinstance(part, Signed):
        return part
    with pa.OSFile(part.path, "rb") as source:
        table = pa.ipc.open_file(source).read_all()
    column = table.column("signature").combine_chunks()
    width = column.type.byte_width
    raw = np.frombuffer(column.buffers()[1], np.uint8, len(column) * width, column.offset * width)
    return Signed(table.drop_columns(["signature"]), raw.view("<u4").reshape(len(column), width // 4))


class Gathered:
    """A batch's signed parts and which of their rows were committed, handed out in slices."""

    def __init__(self, parts: list[Signed | Spilled], keep: np.ndarray) -> None:
        self.parts = parts
        self.keep = keep

    def __len__(self) -> int:
        return int(self.keep.sum())

    def slices(self, size: int) -> Iterator[tuple[pa.Table, np.ndarray]]:
        """(articles, signatures) of at most `size` kept articles each, in batch order."""
        def kept() -> Iterator[tuple[pa.Table, np.ndarray]]:
            start = 0
            for part in self.parts:
                mask = self.keep[start:start + len(part)]
                start += len(part)
                if mask.all():  # most parts: every row committed, nothing to copy
                    signed = _unspill(part)
                    yield signed.articles, signed.signatures
                elif mask.any():
                    signed = _unspill(part)
                    yield signed.articles.filter(pa.array(mask)), signed.signatures[mask]
        return _resliced(kept(), size)


def _resliced(parts: Iterable[tuple[pa.Table, np.ndarray]], size: int) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """The same rows and signatures cut into slices of `size` (the last one smaller)."""
    tables: list[pa.Table] = []
    sigs: list[np.ndarray] = []
    held = 0
    for table, sig in parts:
        if not table.num_rows:
            continue
        tables.append(table)
        sigs.append(sig)
        held += table.num_rows
        while held >= size:
            whole, every = pa.concat_tables(tables), np.concatenate(sigs)
            yield whole.slice(0, size), every[:size]
            tables, sigs, held = [whole.slice(size)], [every[size:]], held - size
    if held:
        yield pa.concat_tables(tables), np.concatenate(sigs)


# --- clusters at append ------------------------------------------------------------------------------
#: Articles indexed at a time: their band rows (~2.7 KB an article in Arrow) are built, written as one
#: `minhash/` file and dropped before the next slice, so indexing's memory does not grow with the batch.
#: Measured (200,000-record append, the parent's peak RSS): slices of 100,000 842 MB, 50,000 608 MB,
#: 25,000 489 MB, for the same indexing time (docs/near-duplicates.md).
SLICE_ARTICLES = 25_000
SLICE_VARIABLE = "NEWSARCHIVE_INDEX_SLICE"  # overrides SLICE_ARTICLES (tests force tiny slices)


def slice_articles() -> int:
    """How many articles indexing handles at a time: $NEWSARCHIVE_INDEX_SLICE, or SLICE_ARTICLES."""
    value = os.environ.get(SLICE_VARIABLE, "").strip()
    if not value:
        return SLICE_ARTICLES
    if not value.isdigit() or int(value) < 1:
        raise NewsarchiveError(f"{SLICE_VARIABLE}={value!r} is not a positive number of articles; unset it "
                               f"(default {SLICE_ARTICLES:,}) or set it to e.g. 50000")
    return int(value)


@dataclass
class Indexed:
    """What indexing one batch found: its articles in a cluster of two or more (near_duplicates)."""

    articles: int
    near_duplicates: int
    clusters_changed: int


def _connect(scratch: str | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": str(max(1, min(4, os.cpu_count() or 1))), "memory_limit": JOIN_MEMORY,
                                 "preserve_insertion_order": "false"})
    # DuckDB has no row count for an Arrow scan: its optimizer could build the hash table on the
    # archive's bands. The query's shape fixes the sides (the batch, on the right, is built).
    con.execute("SET disabled_optimizers = 'build_side_probe_side'")
    if scratch is not None:  # a batch's bands larger than the memory limit spill there
        con.execute("SET temp_directory = ?", [os.path.join(scratch, "duckdb")])
    return con


@overload
def _batch_articles(archive: Archive, paths: Iterable[str], params: Parameters = ..., jobs: int | None = ...,
                    slice_size: None = ...) -> tuple[pa.Table, np.ndarray]: ...
@overload
def _batch_articles(archive: Archive, paths: Iterable[str], params: Parameters = ..., jobs: int | None = ...,
                    slice_size: int = ...) -> Iterator[tuple[pa.Table, np.ndarray]]: ...
def _batch_articles(archive: Archive, paths: Iterable[str], params: Parameters = PARAMETERS,
                    jobs: int | None = None, slice_size: int | None = None
                    ) -> tuple[pa.Table, np.ndarray] | Iterator[tuple[pa.Table, np.ndarray]]:
    """id, published_date and source of the rows in the given articles data files, and their
    signatures: the whole batch, or with `slice_size` an iterator of slices of that many (what
    indexing reads: the batch is never held). Why together: the texts are signed chunk by chunk on a
    thread per core as the scan reads them (Arrow decodes on its own threads), so reading them back
    overlaps the signing and the batch's texts are never all held at once."""
    wanted = set(paths)
    dataset = archive.dataset(ARTICLES)
    fragments = [f for f in dataset.get_fragments() if f.path in wanted]
    # Files a compaction merged meanwhile are not found: their rows are left to `backfill` (compact).
    part = ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)
    columns = _columns(dataset)
    kept = [c for c in columns if c != TEXT_FIELD]
    threads = max(1, min(jobs or os.cpu_count() or 1, len(os.sched_getaffinity(0))))
    chunks = _read_back(part, columns, kept, params, threads)
    if slice_size is not None:
        return _resliced(chunks, slice_size)
    tables, sigs = [], []
    for table, sig in chunks:
        tables.append(table)
        sigs.append(sig)
    schema = pa.schema([dataset.schema.field(c) for c in kept])
    articles = pa.concat_tables(tables) if tables else schema.empty_table()
    return articles, (np.concatenate(sigs) if sigs else np.zeros((0, params.permutations), np.uint32))


def _read_back(part: ds.Dataset, columns: list[str], kept: list[str], params: Parameters,
               threads: int) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Chunks of SIGNATURE_CHUNK rows (the `kept` columns) and their signatures, in scan order, with
    a bounded number of chunks being signed at a time."""
    memory = _memory()
    pending: list[pa.RecordBatch] = []
    futures: deque = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="minhash") as pool:
        def submit() -> None:
            chunk = pa.Table.from_batches(pending)
            futures.append((chunk.select(kept), pool.submit(_signature_chunk, chunk.column(TEXT_FIELD).combine_chunks(
                memory), chunk.column(ID_FIELD).to_pylist(), params)))
            pending.clear()

        for rows in part.to_batches(columns=columns, batch_size=SIGNATURE_CHUNK, use_threads=False, memory_pool=memory):
            if rows.num_rows:
                pending.append(rows)
            if sum(b.num_rows for b in pending) >= SIGNATURE_CHUNK:
                submit()
                while len(futures) > 2 * threads:
                    table, future = futures.popleft()
                    yield table, future.result()
        if pending:
            submit()
        while futures:
            table, future = futures.popleft()
            yield table, future.result()


def _columns(dataset: ds.Dataset) -> list[str]:
    """The columns indexing reads (an archive of another schema may have no `source`)."""
    return [ID_FIELD, TEXT_FIELD, DATE_FIELD] + ([SOURCE_FIELD] if SOURCE_FIELD in dataset.schema.names else [])


def _sources(articles: pa.Table) -> pa.Array:
    if SOURCE_FIELD in articles.column_names:
        return articles.column(SOURCE_FIELD).combine_chunks()
    return pa.nulls(articles.num_rows, pa.string())


@dataclass
class Clustered:
    """What `cluster_batch` found: the batch's `minhash/` files (written, not committed), the
    `clusters/` rows it changes (seq still 0), and how many of its articles are in a cluster of two
    or more."""

    articles: int
    bands: list[DataFile]
    clusters: pa.Table
    joined: int


_BUILD_SCHEMA = pa.schema([("band", pa.int16()), ("hash", pa.int64()), ("row", pa.int32())])


def cluster_batch(archive: Archive, slices: Iterable[tuple[pa.Table, np.ndarray]],
                  params: Parameters = PARAMETERS, *, minhash: DeltaTable | None = None,
                  clusters: DeltaTable | None = None, write_bands: bool = True) -> Clustered:
    """Write the `minhash/` files of a batch given in slices of (articles, signatures), and find the
    clusters it changes. Reads the archive's bands and clusters; commits nothing (the caller commits
    the files or deletes them).

    Memory is bounded by a slice: each slice's band rows are written as one file, and only its band
    hashes (band by band) and signatures go to a local scratch folder. The batch's own pairs are
    found on those int64 hashes, band by band; its pairs with the archive by one DuckDB join (the
    batch's (band, hash, row) built, spilling past the memory limit; the archive's bands stream past,
    read by DuckDB's Parquet reader when local: `_local_files`); signatures are read back for the
    candidates only (`_candidate_bands`).

    `minhash` and `clusters`: the versions to read (loaded tables; default the latest). Without
    `write_bands` (the batch's bands are committed already) no band file is written."""
    files = TableFiles(archive.storage, MINHASH, MINHASH_SCHEMA)
    written: list[DataFile] = []
    # Slices' band files are written on threads while this one goes on (the next slice's hashes,
    # then the pairs and the join), _BandWriter.SLOTS at a time (see there).
    writing = _BandWriter(files, written) if write_bands else None
    try:
        with tempfile.TemporaryDirectory(prefix="newsarchive-minhash-") as scratch:
            found = _cluster(archive, slices, params, writing, scratch, minhash, clusters)
        if writing is not None:
            writing.done()  # the last file, in `written`, which is found.bands
        return found
    except BaseException:
        if writing is not None:
            writing.close()  # the file being written, if it was, is removed with the others
        files.delete(written)
        raise
    finally:
        if writing is not None:
            writing.pool.shutdown()


class _BandWriter:
    """Writes slices' band rows on threads of its own, `SLOTS` files at a time; `done()` waits for them.

    Why two: indexing runs after the staging workers ended, so a core is free; a file's Parquet
    encoding and SHA-256 release the GIL. Each slice's band rows are held until written, so at most
    SLOTS + 1 slices' rows are in memory (~70 MB a slice of 25,000 articles)."""

    SLOTS = 2

    def __init__(self, files: TableFiles, written: list[DataFile]) -> None:
        self.files = files
        self.written = written
        self.pool = ThreadPoolExecutor(max_workers=self.SLOTS, thread_name_prefix="minhash-write")
        self.pending: deque[Future[DataFile]] = deque()

    def make_room(self) -> None:
        """Wait until fewer than SLOTS files are being written (the oldest first, so `written` keeps
        the slices' order)."""
        while len(self.pending) >= self.SLOTS:
            self.written.append(self.pending.popleft().result())

    def write(self, bands: pa.Table) -> None:
        self.make_room()
        self.pending.append(self.pool.submit(self.files.write, bands))

    def done(self) -> None:
        """Wait for every file being written (the first error, if one failed, is raised here, once
        the others are done: every file written is then in `written`, to be removed)."""
        error: BaseException | None = None
        while self.pending:
            try:
                self.written.append(self.pending.popleft().result())
            except BaseException as exc:  # noqa: BLE001  (raised below, after the others)
                error = error or exc
        if error is not None:
            raise error

    def close(self) -> None:
        """After a failure elsewhere: wait for the files being written, whatever became of them."""
        with contextlib.suppress(BaseException):
            self.done()


#: Bytes of the batch's band hashes and signatures (768 an article) kept in memory while indexing;
#: past that, the earliest slices' go to the scratch folder (a batch of 150,000 articles writes none).
SCRATCH_MEMORY = 128 << 20


def _cluster(archive: Archive, slices: Iterable[tuple[pa.Table, np.ndarray]], params: Parameters,
             writing: _BandWriter | None, scratch: str, minhash_table: DeltaTable | None,
             clusters_table: DeltaTable | None) -> Clustered:
    written = writing.written if writing is not None else []
    nbands = params.bands
    ids_parts, date_parts, source_parts, sizes = [], [], [], []
    # The slices' band hashes (band by band) and signatures stay in memory up to SCRATCH_MEMORY; past
    # that, the earliest ones go to the scratch folder. Most batches write none.
    recent: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for articles, sigs in slices:
        m = articles.num_rows
        if not m:
            continue
        ids = articles.column(ID_FIELD).combine_chunks()
        dates = articles.column(DATE_FIELD).combine_chunks()
        sources = _sources(articles)
        if writing is not None:
            writing.make_room()  # an earlier slice's band rows are freed before these are built
            bands = band_rows(ids, dates, sources, sigs, params)
            writing.write(bands)
            slice_hashes = bands.column("hash").to_numpy()
            del bands
        else:
            slice_hashes = band_hashes(sigs, params).reshape(-1)
        recent[len(sizes)] = (np.ascontiguousarray(slice_hashes.reshape(m, nbands).T),
                              np.ascontiguousarray(sigs, "<u4"))
        del slice_hashes
        while len(recent) > 1 and sum(h.nbytes + g.nbytes for h, g in recent.values()) > SCRATCH_MEMORY:
            k = min(recent)
            hashes, signed = recent.pop(k)
            hashes.tofile(os.path.join(scratch, f"hash-{k}"))
            signed.tofile(os.path.join(scratch, f"sig-{k}"))
        ids_parts.append(ids)
        date_parts.append(dates)
        source_parts.append(sources)
        sizes.append(m)
    n = sum(sizes)
    empty_clusters = CLUSTERS_SCHEMA.empty_table()
    if n == 0:
        return Clustered(0, written, empty_clusters, 0)
    ids = pa.concat_arrays(ids_parts).cast(pa.string()) if len(ids_parts) > 1 else ids_parts[0].cast(pa.string())
    starts = np.r_[0, np.cumsum(sizes)]
    del ids_parts

    def band_hashes_of(k: int, m: int, band: int) -> np.ndarray:
        if k in recent:
            return recent[k][0][band]
        return np.fromfile(os.path.join(scratch, f"hash-{k}"), np.int64, m, offset=band * m * 8)

    def band_column(band: int) -> np.ndarray:
        return np.concatenate([band_hashes_of(k, m, band) for k, m in enumerate(sizes)])

    # Pairs within the batch (on its band hashes), then with the archive (minus the batch's own
    # rows, committed when a run is repaired after its minhash commit).
    inner = _pair_rows(n, (band_column(b) for b in range(nbands)))
    outer_rows = np.zeros(0, np.int64)
    outer_ids = pa.array([], pa.string())
    members = pa.table({"id": pa.array([], pa.string()), "cluster": pa.array([], pa.string())})
    old_rows = MINHASH_SCHEMA.empty_table()
    minhash = archive.dataset(MINHASH, table=minhash_table)
    con = _connect(scratch) if _has_files(minhash) else None

    def build() -> Iterator[pa.RecordBatch]:
        for k, m in enumerate(sizes):
            rows = pa.array(np.arange(starts[k], starts[k] + m, dtype=np.int32))
            for b in range(nbands):
                hashes = band_hashes_of(k, m, b)
                yield pa.record_batch([pa.array(np.full(m, b, np.int16)), pa.array(hashes), rows],
                                      schema=_BUILD_SCHEMA)

    try:
        if con is not None:
            con.register("new", pa.RecordBatchReader.from_batches(_BUILD_SCHEMA, build()))
            local = _local_files(archive, minhash)
            if local is not None:
                con.read_parquet(local).project("id, band, hash").create_view("archived")
            else:
                con.register("archived", _scan(minhash, ["id", "band", "hash"]))
            outer = con.execute("SELECT DISTINCT n.row AS a, m.id AS b FROM archived m JOIN new n "
                                "ON m.band = n.band AND m.hash = n.hash").to_arrow_table()
            if local is not None:
                con.execute("DROP VIEW archived")
            else:
                con.unregister("archived")
            outer = outer.filter(pc.invert(pc.is_in(outer.column("b"), value_set=ids)))
            outer_rows = outer.column("a").to_numpy().astype(np.int64)
            outer_ids = outer.column("b").combine_chunks().cast(pa.string())
            if outer.num_rows:
                clusters = archive.dataset(CLUSTERS, table=clusters_table)
                candidates = pc.unique(outer_ids)
                con.register("candidates", pa.table({"id": candidates}))
                if _has_files(clusters):
                    con.register("clusters", clusters.scanner(columns=["id", "cluster", "seq"]))
                    members = con.execute(
                        "WITH latest AS (SELECT id, arg_max(cluster, seq) AS cluster FROM clusters GROUP BY id) "
                        "SELECT id, cluster FROM latest WHERE cluster IN "
                        "(SELECT l.cluster FROM latest l SEMI JOIN candidates c ON l.id = c.id)").to_arrow_table()
                known = members.column("id").combine_chunks().cast(pa.string())
                need = pc.unique(pa.concat_arrays([candidates, known]))
                old_rows = _candidate_bands(minhash, need, con, local).sort_by([("id", "ascending"),
                                                                               ("band", "ascending")])
    except (duckdb.Error, pa.ArrowException, OSError) as exc:
        raise NewsarchiveError(f"cannot look the batch's near-duplicates up in {archive.root}/minhash "
                               f"({' '.join(str(exc).split())[:300]}); run `newsarchive verify`") from None
    finally:
        if con is not None:
            con.close()

    if not len(inner) and not len(outer_rows):  # no candidate: no cluster changes (most batches)
        return Clustered(n, written, empty_clusters, 0)
    # The batch's candidates: their signatures read back by row, their dates and sources taken.
    rows = np.unique(np.concatenate([inner.reshape(-1), outer_rows]))
    new_sigs = np.empty((len(rows), params.permutations), np.uint32)
    for k, m in enumerate(sizes):
        lo, hi = np.searchsorted(rows, [starts[k], starts[k] + m])
        if hi > lo:
            stored = recent[k][1] if k in recent else np.memmap(os.path.join(scratch, f"sig-{k}"), "<u4", "r",
                                                             shape=(m, params.permutations))
            new_sigs[lo:hi] = stored[rows[lo:hi] - starts[k]]
            del stored
    take = pa.array(rows)
    new_ids = pc.take(ids, take).to_pylist()
    date_of = dict(zip(new_ids, pc.take(pa.chunked_array(date_parts), take).to_pylist(), strict=True))
    source_of = dict(zip(new_ids, pc.take(pa.chunked_array(source_parts, pa.string()), take).to_pylist(),
                         strict=True))
    old_ids, old_sigs = _signatures_of(old_rows, params)
    old_dates: dict = {}
    old_sources: dict = {}
    if old_rows.num_rows:
        first = old_rows.filter(pc.equal(old_rows.column("band"), 0))
        old_dates = dict(zip(first.column("id").to_pylist(), first.column("published_date").to_pylist(), strict=True))
        old_sources = dict(zip(first.column("id").to_pylist(), first.column("source").to_pylist(), strict=True))
    index = {ident: i for i, ident in enumerate(new_ids)}
    base = len(index)
    for j, ident in enumerate(old_ids):
        index.setdefault(ident, base + j)
    all_sigs = np.concatenate([new_sigs, old_sigs]) if len(old_ids) else new_sigs
    for ident in old_ids:
        date_of.setdefault(ident, old_dates.get(ident))
        source_of.setdefault(ident, old_sources.get(ident))

    # Confirm the candidate pairs by estimated Jaccard.
    pairs = _id_pairs(ids, inner)
    pairs_a = pairs.column("a").to_pylist() + pc.take(ids, pa.array(outer_rows)).to_pylist()
    pairs_b = pairs.column("b").to_pylist() + outer_ids.to_pylist()
    known = [(a, b) for a, b in zip(pairs_a, pairs_b, strict=True) if a in index and b in index]
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    if known:
        ia = np.array([index[a] for a, _ in known])
        ib = np.array([index[b] for _, b in known])
        similar = estimated_jaccard(all_sigs[ia], all_sigs[ib]) >= params.threshold
        for (a, b), ok in zip(known, similar, strict=True):
            if ok:
                union(a, b)
    # Existing clusters the confirmed pairs reach are one component with them.
    member_ids = members.column("id").to_pylist()
    member_clusters = members.column("cluster").to_pylist()
    by_cluster: dict[str, list[str]] = {}
    for ident, cluster in zip(member_ids, member_clusters, strict=True):
        by_cluster.setdefault(cluster, []).append(ident)
    for group in by_cluster.values():
        if any(m in parent for m in group):
            for m in group:
                union(group[0], m)
    components: dict[str, list[str]] = {}
    for x in list(parent):
        components.setdefault(find(x), []).append(x)
    out_ids, out_cluster, out_sim, out_dates, out_sources = [], [], [], [], []
    clustered_new = 0
    far = np.datetime64("9999-12-31")
    for group in components.values():
        if len(group) < 2:
            continue
        rep = min(group, key=lambda m: (np.datetime64(date_of[m]) if date_of.get(m) is not None else far, m))
        if rep not in index:
            continue
        rep_sig = all_sigs[index[rep]]
        for m in group:
            if m not in index:
                continue
            out_ids.append(m)
            out_cluster.append(rep)
            out_sim.append(1.0 if m == rep else float(estimated_jaccard(all_sigs[index[m]], rep_sig)))
            out_dates.append(date_of.get(m))
            out_sources.append(source_of.get(m))
            clustered_new += index[m] < base
    rows_out = pa.table({"id": pa.array(out_ids, pa.string()), "cluster": pa.array(out_cluster, pa.string()),
                         "similarity": pa.array(out_sim, pa.float32()),
                         "published_date": pa.array(out_dates, pa.date32()),
                         "source": pa.array(out_sources, pa.string()),
                         "seq": pa.array(np.zeros(len(out_ids), np.int64))}, schema=CLUSTERS_SCHEMA)
    return Clustered(n, written, rows_out, clustered_new)


def _candidate_bands(minhash: ds.FileSystemDataset, ids: pa.Array, con: duckdb.DuckDBPyConnection,
                     paths: list[str] | None) -> pa.Table:
    """The `minhash/` rows (every band) of the archived articles `ids`: the candidates' signatures.

    A second pass over the archive's bands (the join found the candidates, but only their matching
    bands). On a local archive DuckDB reads the Parquet files itself, in parallel, filtering as it
    reads: 0.7 s against 1.6 s for an Arrow scan, half the CPU, for 1,000 candidates among 1,000,000
    archived articles. `paths`: the band files for DuckDB (`_local_files`); None (S3, or a path DuckDB
    would take for a glob pattern): an Arrow scan filtered as it streams (registered in DuckDB
    instead, such a scan held ~100 MB more at 1 M)."""
    names = list(MINHASH_SCHEMA.names)
    if paths is not None:
        con.register("candidate_ids", pa.table({"id": ids}))
        try:
            rows = con.execute(f"SELECT {', '.join(names)} FROM read_parquet(?) "
                               "WHERE id IN (SELECT id FROM candidate_ids)", [paths]).to_arrow_table()
        finally:
            con.unregister("candidate_ids")
        return rows.cast(MINHASH_SCHEMA)
    return minhash.to_table(columns=names, filter=pc.field("id").isin(ids), **SCAN_READAHEAD)


def _local_files(archive: Archive, minhash: ds.FileSystemDataset) -> list[str] | None:
    """The band files' local paths, for DuckDB's own Parquet reader; None on S3, or if a path holds a
    character DuckDB would take for a glob pattern."""
    if archive.storage.is_s3:
        return None
    folder = archive.storage.uri(MINHASH)
    paths = [os.path.join(folder, p) for p in minhash.files]
    return None if any(c in p for p in paths for c in "*?[]{}") else paths


def _pair_rows(n: int, columns: Iterable[np.ndarray]) -> np.ndarray:
    """The distinct pairs (k x 2, rows i < j) of articles sharing a band, from each band's column of
    hashes (n int64) in turn: what a self-join of the batch's `minhash/` rows on (band, hash) gives,
    in numpy (a DuckDB self-join of 32 rows per article cost a fifth of the indexing time), one band
    in memory at a time. Most bands have no repeated hash: each band is sorted (a third of an
    argsort's time), and only the rows holding a repeated hash are found and ordered."""
    left, right = [], []
    for column in columns if n else ():
        ranked = np.sort(column)
        same = ranked[1:] == ranked[:-1]
        if not same.any():
            continue
        repeated = np.unique(ranked[1:][same])
        at = np.minimum(np.searchsorted(repeated, column), len(repeated) - 1)
        rows = np.flatnonzero(repeated[at] == column)  # ascending
        order = rows[np.argsort(column[rows], kind="stable")]  # runs of equal hashes, each ascending
        ranked = column[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        lengths = np.diff(np.r_[starts, len(order)])
        pairs = lengths == 2  # most runs: two copies of one text
        left.append(order[starts[pairs]])
        right.append(order[starts[pairs] + 1])
        # Every pair within a longer run (runs are short: the copies of one text).
        for first, length in zip(starts[~pairs], lengths[~pairs], strict=True):
            members = order[first:first + length]
            a, b = np.triu_indices(len(members), 1)
            left.append(members[a])
            right.append(members[b])
    if not left:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.stack([np.concatenate(left), np.concatenate(right)], axis=1), axis=0)


def _id_pairs(ids: pa.Array, pairs: np.ndarray) -> pa.Table:
    """Row pairs as id pairs (a < b), pairs of one id with itself left out."""
    if not len(pairs):
        return pa.table({"a": pa.array([], pa.string()), "b": pa.array([], pa.string())})
    a, b = pc.take(ids, pa.array(pairs[:, 0])), pc.take(ids, pa.array(pairs[:, 1]))
    swap = pc.greater(a, b).to_numpy(zero_copy_only=False)
    low = np.where(swap, pairs[:, 1], pairs[:, 0])
    high = np.where(swap, pairs[:, 0], pairs[:, 1])
    distinct = pc.not_equal(pc.take(ids, pa.array(low)), pc.take(ids, pa.array(high))).to_numpy(zero_copy_only=False)
    return pa.table({"a": pc.take(ids, pa.array(low[distinct])), "b": pc.take(ids, pa.array(high[distinct]))})


def _batch_pairs(ids: pa.Array, hashes: np.ndarray) -> pa.Table:
    """The distinct pairs (a < b) of the batch's articles sharing a band, from their band hashes
    (n x bands int64)."""
    n = len(ids)
    return _id_pairs(ids, _pair_rows(n, (hashes[:, b] for b in range(hashes.shape[1] if n else 0))))


#: Read-ahead of the archive-side scans. pyarrow's defaults (16 batches, 4 files at once) held more the
#: more files the archive has: 100,000 new articles' peak RSS was 861 MB against 100,000 archived,
#: 1,386 MB against 1,000,000. One batch of one file at a time is as fast here (the join is CPU-bound).
SCAN_READAHEAD = {"batch_readahead": 1, "fragment_readahead": 1}


def _scan(dataset: ds.Dataset, columns: list[str]) -> ds.Scanner:
    """A scan of the archive's bands whose read-ahead does not grow with the archive."""
    return dataset.scanner(columns=columns, **SCAN_READAHEAD)


def _has_files(dataset: ds.FileSystemDataset) -> bool:
    return bool(dataset.files)


def index_batch(archive: Archive, batch: str, data_files: Iterable[str],
                params: Parameters = PARAMETERS, jobs: int | None = None,
                signed: Gathered | Signed | None = None, slice_size: int | None = None) -> Indexed:
    """Compute and commit (each at most once) the batch's bands and the clusters it changes.

    The articles are those `signed` by the staging workers (the batch's committed rows) when given;
    otherwise (a repair: an interrupted batch, compact) they are read back from the batch's data
    files and signed on `jobs` threads (append's --jobs; default: a thread per core). Either way
    they are indexed `slice_size` at a time (default `slice_articles()`)."""
    from toolkit.archive.ledger import app_id  # ledger calls this module

    ensure_table(archive, MINHASH, MINHASH_SCHEMA)
    ensure_table(archive, CLUSTERS, CLUSTERS_SCHEMA)
    if archive.table(CLUSTERS).transaction_version(app_id(batch)) is not None:
        return Indexed(0, 0, 0)
    size = slice_size or slice_articles()
    if isinstance(signed, Signed):
        signed = Gathered([signed], np.ones(len(signed), bool))
    if signed is not None:
        gathered = signed
        return _index(archive, batch, lambda: gathered.slices(size), params)
    files = list(data_files)
    return _index(archive, batch, lambda: _batch_articles(archive, files, params, jobs, slice_size=size), params)


def index_rows(archive: Archive, batch: str, articles: pa.Table, params: Parameters = PARAMETERS,
               sigs: np.ndarray | None = None, slice_size: int | None = None) -> Indexed:
    """Compute and commit the bands of `articles` (id, text, published_date; no text if their
    signatures `sigs` are given) and the clusters they change, each commit once under the
    transaction id of `batch`; `slice_size` articles signed and indexed at a time."""
    size = slice_size or slice_articles()

    def slices() -> Iterator[tuple[pa.Table, np.ndarray]]:
        for start in range(0, articles.num_rows, size):
            part = articles.slice(start, size)
            if sigs is not None:
                yield part, sigs[start:start + size]
            else:
                ids = part.column(ID_FIELD).combine_chunks()
                yield part.drop_columns([TEXT_FIELD]), signatures(part.column(TEXT_FIELD).combine_chunks(),
                                                                  ids.to_pylist(), params)
    return _index(archive, batch, slices, params)


def _index(archive: Archive, batch: str, slices: Callable[[], Iterable[tuple[pa.Table, np.ndarray]]],
           params: Parameters) -> Indexed:
    """Index a batch given in slices (`slices()` hands them out afresh): its bands' files are written
    slice by slice, then listed in the batch's one `minhash/` commit; then its `clusters/` commit
    (each at most once).

    Concurrent appends: clusters are found from the clusters and bands committed when they were
    read, in that order, and the clusters commit is made on the `clusters/` version read, without
    retries: if another commit landed since, the batch is clustered again against what is committed
    now (its own bands, committed by then, left out of its join). So of two batches holding copies
    of one article, the one whose clusters commit lands second read the other's clusters and,
    after them, its bands (committed before those clusters): the copies are linked, whatever the
    order of the two runs' other steps (tests/archive/test_near_duplicates_concurrent.py)."""
    import rensa

    from toolkit.archive.ledger import app_id, commit_once

    app = app_id(batch)
    band_files = TableFiles(archive.storage, MINHASH, MINHASH_SCHEMA)
    bands_committed = False  # by this call, or found committed (a repaired run)
    last: Clustered | None = None
    for _ in attempts(f"near-duplicate clusters of batch {batch}"):
        clusters_table = archive.table(CLUSTERS)
        if clusters_table.transaction_version(app) is not None:  # a run repairing this batch did it
            break
        minhash_table = archive.table(MINHASH)  # read after the clusters (see above)
        found = cluster_batch(archive, slices(), params, minhash=minhash_table, clusters=clusters_table,
                              write_bands=not bands_committed)
        last = found
        meta = {"newsarchive": {"batch": batch, "near_duplicates": {
            "parameters": params.as_dict(), "rensa_algorithm": rensa.RMinHash.ALGORITHM_VERSION,
            "articles": found.articles, "joined": found.joined}}}
        if not bands_committed:
            def add_bands(table: DeltaTable, found: Clustered = found, meta: dict = meta) -> None:
                # In article order (each id's 32 rows together, which Parquet's run-length encoding
                # keeps small); `compact` sorts by (band, hash). Sorting here cost a third of the
                # indexing time.
                table.create_write_transaction([f.add_action() for f in found.bands], mode="append",
                                               schema=MINHASH_SCHEMA,
                                               commit_properties=_properties(batch, meta, found.bands))
            try:
                fault("ledger.indexed")
                committed = commit_once(archive, MINHASH, batch, add_bands, f"minhash bands of batch {batch}")
            except BaseException:
                if not _landed(archive, MINHASH, app):  # files nobody references: removed
                    band_files.delete(found.bands)
                raise
            if not committed:  # the batch's bands were committed before (a repaired run): these are spare
                band_files.delete(found.bands)
            bands_committed = True
        try:
            _commit_clusters(archive, clusters_table, batch, app, found.clusters, meta)
        except CommitFailedError:
            continue  # the clusters changed since they were read: cluster again
        break
    if last is None:
        return Indexed(0, 0, 0)
    return Indexed(last.articles, last.joined, len(set(last.clusters.column("cluster").to_pylist())))


def _commit_clusters(archive: Archive, table: DeltaTable, batch: str, app: str, clusters: pa.Table,
                     meta: dict) -> None:
    """The batch's `clusters/` rows, committed on `table` (the version they were computed from) or not
    at all (CommitFailedError: another commit landed since). Their `seq` is that commit's version."""
    seq = pa.array(np.full(clusters.num_rows, table.version() + 1, np.int64))
    rows = clusters.set_column(clusters.schema.get_field_index("seq"), "seq", seq)
    files = TableFiles(archive.storage, CLUSTERS, CLUSTERS_SCHEMA, (), ("cluster", "id"))
    written = [files.write(rows)] if rows.num_rows else []
    try:
        with held():  # a signal now is delivered once the commit is written (or refused)
            table.create_write_transaction([f.add_action() for f in written], mode="append", schema=CLUSTERS_SCHEMA,
                                           commit_properties=_properties(batch, meta, written))
            fault(f"ledger.{CLUSTERS}")
    except CommitFailedError:  # not committed: the file is nobody's
        files.delete(written)
        raise
    except BaseException:
        if written and not _landed(archive, CLUSTERS, app):
            files.delete(written)
        raise


def _landed(archive: Archive, table: str, app: str) -> bool:
    """Whether `table`'s log holds the transaction `app` (True if it cannot be read: files that may
    be referenced are kept; an unreferenced one only costs disk until a vacuum)."""
    try:
        return archive.table(table).transaction_version(app) is not None
    except Exception:
        return True


def backfill(archive: Archive, params: Parameters = PARAMETERS, chunk: int = 50_000) -> int:
    """Index the articles that have no bands (archived before near-duplicate detection, or whose
    batch's files were merged before it was indexed), `chunk` at a time; returns how many."""
    ensure_table(archive, MINHASH, MINHASH_SCHEMA)
    ensure_table(archive, CLUSTERS, CLUSTERS_SCHEMA)
    con = duckdb.connect(config={"memory_limit": JOIN_MEMORY})
    try:
        con.register("ids", archive.articles().scanner(columns=[ID_FIELD]))
        con.register("bands", archive.dataset(MINHASH).scanner(columns=["id"]))
        missing = con.execute(f"SELECT i.{ID_FIELD} AS id FROM ids i ANTI JOIN (SELECT DISTINCT id FROM bands) b "
                              f"ON i.{ID_FIELD} = b.id ORDER BY 1").to_arrow_table().column("id").combine_chunks()
    except (duckdb.Error, OSError) as exc:
        raise NewsarchiveError(f"{archive.root}: cannot read the articles' ids and bands to index them "
                               f"({' '.join(str(exc).split())[:200]}); run `newsarchive verify` to name the "
                               "damaged files") from None
    finally:
        con.close()
    for start in range(0, len(missing), chunk):
        wanted = missing.slice(start, chunk)
        dataset = archive.articles()
        rows = dataset.to_table(columns=_columns(dataset), filter=pc.field(ID_FIELD).isin(wanted))
        index_rows(archive, f"backfill-{uuid.uuid4().hex}", rows, params)
    return len(missing)


def non_representatives(version: ArchiveVersion) -> tuple[pa.Array, dict]:
    """The ids of the archive version that are near-duplicate copies (in a cluster, not its
    representative), and a description for a dataset card (parameters, counts).

    The representative is recomputed among the cluster's members present at the version (earliest
    published, ties: smallest id), so an older version drops the same way its views would show it.
    """
    described = {"parameters": PARAMETERS.as_dict(), "clusters": 0, "dropped": 0}
    archive = version.archive
    empty = pa.array([], pa.string())
    if not archive.has(CLUSTERS):
        return empty, described
    clusters = archive.dataset(CLUSTERS)
    if not clusters.files:
        return empty, described
    con = duckdb.connect(config={"memory_limit": JOIN_MEMORY})
    try:
        con.register("present", version.articles.scanner(columns=[ID_FIELD]))
        con.register("clusters", clusters.scanner(columns=["id", "cluster", "published_date", "seq"]))
        rows = con.execute(
            "WITH latest AS (SELECT id, arg_max(cluster, seq) AS cluster, arg_max(published_date, seq) AS day "
            "FROM clusters GROUP BY id), "
            f"here AS (SELECT l.* FROM latest l SEMI JOIN present p ON l.id = p.{ID_FIELD}), "
            "reps AS (SELECT cluster, arg_min(id, (coalesce(day, DATE '9999-12-31'), id)) AS rep, count(*) AS n "
            "FROM here GROUP BY cluster HAVING n >= 2) "
            "SELECT h.id FROM here h JOIN reps r ON h.cluster = r.cluster WHERE h.id <> r.rep ORDER BY h.id"
        ).to_arrow_table()
        count = con.execute("SELECT count(*) FROM (SELECT cluster FROM (SELECT id, arg_max(cluster, seq) AS cluster "
                            "FROM clusters GROUP BY id) l SEMI JOIN present p ON l.id = p.id "
                            "GROUP BY cluster HAVING count(*) >= 2)").fetchone()[0]
    finally:
        con.close()
    dropped = rows.column("id").combine_chunks() if rows.num_rows else empty
    described.update(clusters=int(count), dropped=len(dropped))
    return dropped, described


def _properties(batch: str, meta: dict, written: list) -> object:
    from deltalake import CommitProperties, Transaction

    from toolkit.archive.ledger import app_id

    body = {**meta["newsarchive"], "data_files": {f.path: f.sha256 for f in written}}
    return CommitProperties(custom_metadata={"newsarchive": body}, app_transactions=[Transaction(app_id(batch), 1)],
                            max_commit_retries=0)
