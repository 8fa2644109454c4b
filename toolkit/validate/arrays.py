"""Arrow arrays from numpy and Python values without `pa.array`.

Why: `pa.array` (and `pa.scalar`, which `pc.fill_null` calls) imports pandas on first use, half a
second per process, paid again by every worker process. Building from buffers costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def bools(mask: np.ndarray) -> pa.Array:
    """A boolean Arrow array with the values of a numpy mask."""
    mask = np.asarray(mask, dtype=bool)
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(np.packbits(mask, bitorder="little"))])


def int64s(values: np.ndarray) -> pa.Array:
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def strings(values: Sequence[str | None]) -> pa.Array:
    builder = pa.lib.StringBuilder()
    builder.append_values(list(values))
    return builder.finish()


def false_if_null(mask: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`pc.fill_null(mask, False)` without a scalar: null AND false is false in Kleene logic."""
    if mask.null_count == 0:
        return mask
    return pc.and_kleene(mask, pc.is_valid(mask))


def to_numpy_bools(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numpy mask from an Arrow boolean array, nulls as False (read from the bit buffer:
    `to_numpy` on booleans imports pandas too)."""
    mask = false_if_null(mask)
    chunks = mask.chunks if isinstance(mask, pa.ChunkedArray) else [mask]
    parts = []
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        data = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
        bits = np.unpackbits(data, bitorder="little", count=chunk.offset + len(chunk))
        parts.append(bits[chunk.offset:].astype(bool))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
