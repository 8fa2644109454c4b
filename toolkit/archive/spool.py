"""A batch's valid rows, held until the batch is decided: sorted chunks in memory, on disk past a budget.

Data files can only be written once the whole batch is known (duplicates are decided over the whole
batch and the archive), so rows are held. Blocks from the validator are gathered into chunks of about
CHUNK_BYTES, and each chunk is taken once into (partition, sort keys) order, so a partition's rows in
a chunk are one zero-copy slice. Past the budget, the chunks' slices are written, partition by
partition, to a local Arrow IPC file and dropped from memory. At the end, each partition comes back
as sorted pieces (one per chunk it appeared in), which the writer merges per file.

Copies are what cost here (a fresh gigabyte is page faults first), so rows are moved as few times as
possible, and never through a take on a many-chunk table (which concatenates the whole table first).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.validate.arrays import bools

Key = tuple[object, ...]
CHUNK_BYTES = 64 << 20  # blocks are sorted together in chunks of about this many Arrow bytes


@dataclass
class _Chunk:
    rows: pa.Table  # sorted by (partition, sort keys), one Arrow chunk per column
    ranges: dict[Key, tuple[int, int]]  # partition -> (offset, length) in rows


class PartitionSpool:
    """Rows grouped by partition and sorted within it, in memory up to `budget_bytes`, then on disk."""

    def __init__(self, schema: pa.Schema, partition_by: tuple[str, ...], sort_keys: tuple[str, ...],
                 budget_bytes: int, spill_dir: str) -> None:
        self.schema = schema
        self.partition_by = partition_by
        self.order = [(c, "ascending") for c in (*partition_by, *sort_keys) if c in schema.names]
        self.budget = budget_bytes
        self.spill_dir = spill_dir
        self.staged: list[pa.Table] = []
        self.staged_bytes = 0
        self._chunks: list[_Chunk | Future[_Chunk]] = []
        self._sorter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-sort")
        self.held = 0  # Arrow bytes in memory, staged or sorted
        self.rows = 0
        self.bytes = 0
        self.runs: list[str] = []  # spill files, each one sorted run
        self.spilled: dict[Key, list[tuple[int, int]]] = defaultdict(list)  # key -> (run, batch index)

    @property
    def row_bytes(self) -> float:
        """Average Arrow bytes per row held."""
        return self.bytes / max(1, self.rows)

    def add(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        size = table.nbytes
        self.staged.append(table)
        self.staged_bytes += size
        self.held += size
        self.rows += table.num_rows
        self.bytes += size
        if self.staged_bytes >= CHUNK_BYTES:
            self._sort_staged()
        if self.held > self.budget:
            self._spill()

    def _sort_staged(self) -> None:
        """Sort the staged blocks into a chunk, on a thread of its own (Arrow releases the GIL), so
        it overlaps with validation; one sort at a time, so memory holds one sort's copies at most."""
        if not self.staged:
            return
        staged, self.staged, self.staged_bytes = self.staged, [], 0
        for pending in self._chunks:
            if isinstance(pending, Future):
                pending.result()
        self._chunks.append(self._sorter.submit(self._sort, staged))

    def _sort(self, staged: list[pa.Table]) -> _Chunk:
        table = pa.concat_tables(staged)
        rows = table.take(pc.sort_indices(table, sort_keys=self.order)) if table.num_rows > 1 else table
        rows = rows.combine_chunks()
        return _Chunk(rows, {key: (start, end - start) for start, end, key in _partition_runs(rows, self.partition_by)})

    @property
    def chunks(self) -> list[_Chunk]:
        """The sorted chunks in memory (waiting for sorts still running)."""
        self._chunks = [c.result() if isinstance(c, Future) else c for c in self._chunks]
        return self._chunks  # type: ignore[return-value]

    def _memory_pieces(self, key: Key) -> list[pa.Table]:
        return [c.rows.slice(*c.ranges[key]) for c in self.chunks if key in c.ranges]

    def _keys(self) -> list[Key]:
        keys = set(self.spilled)
        for chunk in self.chunks:
            keys.update(chunk.ranges)
        return sorted(keys, key=lambda k: tuple((v is not None, v) for v in k))

    def _spill(self) -> None:
        """Write the sorted chunks to disk as one run: their slices, partition by partition.

        Slices are written as they are (no merge, so no copy of a big partition): the writer merges
        the pieces of each file at the end anyway.
        """
        self._sort_staged()
        run = len(self.runs)
        path = os.path.join(self.spill_dir, f"run-{run:04d}.arrow")
        written = 0
        with pa.ipc.new_file(path, self.schema) as writer:  # uncompressed: written once, read once
            for key in self._keys():
                for piece in self._memory_pieces(key):
                    for batch in piece.to_batches():
                        writer.write_batch(batch)
                        self.spilled[key].append((run, written))
                        written += 1
        self.runs.append(path)
        self._chunks, self.held = [], 0

    def finish(self) -> None:
        """All rows are in. A batch that already spilled spills the rest too: memory is then free for
        deciding duplicates, and the write reads one partition at a time."""
        if self.runs:
            self._spill()
        else:
            self._sort_staged()

    def pieces(self, kept: Callable[[np.ndarray], np.ndarray], seq: str) -> Iterator[tuple[Key, Iterator[pa.Table]]]:
        """For each partition (in key order), its rows as sorted pieces, read from disk lazily; `kept`
        maps a piece's `seq` column (numpy) to the mask of rows to keep."""
        self._sort_staged()
        readers = [pa.ipc.open_file(pa.OSFile(path)) for path in self.runs]

        def pieces_of(key: Key) -> Iterator[pa.Table]:
            spilled = (pa.Table.from_batches([readers[run].get_batch(index)])
                       for run, index in self.spilled.get(key, []))
            for piece in itertools.chain(spilled, self._memory_pieces(key)):
                mask = kept(piece.column(seq).to_numpy())
                if mask.all():
                    yield piece
                elif mask.any():
                    yield piece.filter(bools(mask))

        for key in self._keys():
            yield key, pieces_of(key)

    def close(self) -> None:
        self._sorter.shutdown(wait=True, cancel_futures=True)
        self.staged, self._chunks, self.held = [], [], 0
        for path in self.runs:
            with contextlib.suppress(OSError):
                os.remove(path)
        self.runs = []


def _partition_runs(rows: pa.Table, columns: tuple[str, ...]) -> Iterator[tuple[int, int, Key]]:
    """(start, end, key) of each partition in `rows`, which are grouped by partition."""
    n = rows.num_rows
    if not columns:
        yield 0, n, ()
        return
    change = np.zeros(n, dtype=bool)
    change[0] = True
    values = []
    for name in columns:
        col = rows.column(name).combine_chunks()
        values.append(col)
        valid = col.is_valid().to_numpy(zero_copy_only=False)
        same = pc.equal(col.slice(1), col.slice(0, n - 1)).fill_null(False).to_numpy(zero_copy_only=False)
        change[1:] |= ~same & (valid[1:] | valid[:-1])  # two nulls in a row are the same partition
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], n)
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        yield start, end, tuple(col[start].as_py() for col in values)
