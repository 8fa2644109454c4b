#!/usr/bin/env python3
"""What the driver alone does in an append, whatever the executor: its cost per million ids.

    python bench/bench_driver.py                     # a batch of 1 M ids against an archive of 2 M
    python bench/bench_driver.py --ids 2000000 --archived 10000000 --files 400

On a cluster every per-record step (validation, conversion, sorting, Parquet encoding) runs in the
workers; the driver keeps three steps, timed here with the functions `append` runs:
  first occurrences  DuckDB groups the batch's ids (toolkit.archive.append._first_occurrences)
  archive lookup     DuckDB semi-join of the batch's unique ids against the archive's id column
                     (append._archived_ids), here over Parquet files of `--archived` ids
  commit             one Delta commit of `--files` data files (create_write_transaction); it
                     depends on the number of files, not of ids
and it holds every valid row's id and position in memory until the commit (printed: Arrow bytes).
The machine is shared and noisy: run it more than once.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def ids(start: int, count: int) -> pa.Array:
    """32-hex-digit ids like the archive's (toolkit.extract.ids), scrambled so they are not sorted."""
    numbers = (np.arange(start, start + count, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    return pa.array([f"{int(n):032x}" for n in numbers], pa.string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ids", type=int, default=1_000_000, help="valid rows in the batch")
    parser.add_argument("--archived", type=int, default=2_000_000, help="ids already in the archive")
    parser.add_argument("--files", type=int, default=400, help="data files in the commit")
    args = parser.parse_args()

    from deltalake import DeltaTable, write_deltalake

    from toolkit.archive.append import _archived_ids, _first_occurrences, _unique
    from toolkit.archive.files import TableFiles
    from toolkit.archive.storage import Storage

    work = Path(tempfile.mkdtemp(prefix="bench-driver-"))
    try:
        repeat = args.ids // 10  # a tenth of the batch repeats its own ids, a tenth is archived already
        batch = pa.chunked_array([ids(args.archived - repeat, args.ids - repeat), ids(args.archived - repeat, repeat)])
        places = np.arange(args.ids, dtype=np.int64)
        held = batch.nbytes + places.nbytes
        archive = work / "ids"
        archive.mkdir()
        per_file = 500_000
        for n, start in enumerate(range(0, args.archived, per_file)):
            pq.write_table(pa.table({"id": ids(start, min(per_file, args.archived - start))}),
                           archive / f"part-{n:04d}.parquet", compression="zstd")

        start = time.perf_counter()
        keep = _first_occurrences(batch, places, str(work))
        first = time.perf_counter() - start
        candidates = _unique(batch, keep)
        start = time.perf_counter()
        found = _archived_ids(ds.dataset(archive), candidates)
        lookup = time.perf_counter() - start
        assert len(found) == repeat and int(keep.sum()) == args.ids - repeat, (len(found), int(keep.sum()))

        table_root = work / "table"
        schema = pa.schema([("id", pa.string()), ("year", pa.int32())])
        write_deltalake(str(table_root), schema.empty_table(), partition_by=["year"])
        one = TableFiles(Storage.at(str(work)), "table", schema, ["year"], ["id"]).write(
            pa.table({"id": ids(0, 1000), "year": pa.array([2024] * 1000, pa.int32())}), (2024,))
        actions = []
        for n in range(args.files):
            action = one.add_action()
            action.path = one.path.replace("part-00001", f"part-{n:05d}")
            actions.append(action)
        table = DeltaTable(str(table_root))
        start = time.perf_counter()
        table.create_write_transaction(actions, mode="append", schema=schema, partition_by=["year"])
        commit = time.perf_counter() - start

        million = args.ids / 1e6
        print(f"batch of {args.ids:,} ids ({repeat:,} repeated, {repeat:,} archived), archive of {args.archived:,} ids")
        print(f"  first occurrences   {first:6.2f} s   {first / million:6.2f} s per million ids")
        print(f"  archive lookup      {lookup:6.2f} s   {lookup / million:6.2f} s per million ids "
              f"(against {args.archived / 1e6:.0f} M archived)")
        print(f"  commit              {commit:6.2f} s   for {args.files} data files")
        print(f"  held until commit   {held / 1e6:6.0f} MB  {held / million / 1e6:6.0f} MB per million ids")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
