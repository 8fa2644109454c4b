"""Publish at scale: wall time, peak memory and shard layout of `newsarchive publish` on a synthetic archive.

    .venv/bin/python bench/bench_publish.py --records 200000 400000

For each size, generates gen_articles.py records (about 2.5 KB each), writes them into an archive laid
out as docs/archive-layout.md says (Delta, partitioned by year and month), then runs the real CLI in a
subprocess and reports its wall time and peak RSS. Peak RSS that stays flat while the archive doubles
is the evidence that publishing streams instead of loading the archive.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT.parent / "shared" / "tools" / "gen_articles.py"


def build_archive(records: int, work: Path) -> Path:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj
    from deltalake import WriterProperties, write_deltalake

    from toolkit.core.schema import load_schema

    batch = work / "batch.jsonl"
    subprocess.run([sys.executable, str(GEN), str(records), str(batch), "--seed", "7"], check=True)
    schema = load_schema()
    table = pj.read_json(batch, parse_options=pj.ParseOptions(explicit_schema=schema.read_schema(),
                                                              unexpected_field_behavior="ignore"))
    storage = schema.storage_schema()
    columns = []
    for field in storage:
        column = table[field.name]
        if pa.types.is_date32(field.type):
            column = pc.cast(pc.strptime(column, "%Y-%m-%d", "s"), pa.date32())
        elif pa.types.is_timestamp(field.type):
            column = pc.cast(pc.strptime(column, "%Y-%m-%dT%H:%M:%S%z", "us"), field.type)
        columns.append(column.cast(field.type))
    table = pa.Table.from_arrays(columns, schema=storage)
    table = table.append_column(pa.field("year", pa.int32()), pc.year(table["published_date"]).cast(pa.int32()))
    table = table.append_column(pa.field("month", pa.int32()), pc.month(table["published_date"]).cast(pa.int32()))
    table = table.sort_by([("source", "ascending"), ("published_date", "ascending"), ("id", "ascending")])
    root = work / "archive"
    write_deltalake(str(root / "articles"), table, partition_by=["year", "month"],
                    writer_properties=WriterProperties(compression="ZSTD"))
    batch.unlink()
    return root


#: Runs a command and prints the peak RSS (KiB) of its process tree alone, as the last line.
_MEASURE = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run_publish(root: Path, out: Path, *extra: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `newsarchive publish` run."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "toolkit", "publish",
                           "--archive", str(root), "--version", "v1.0.0", "--output", str(out), *extra],
                          capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if done.returncode != 0:
        raise SystemExit(f"publish failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start, int(done.stdout.strip().splitlines()[-1]) * 1024 / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 200_000])
    parser.add_argument("--max-shard-size", default="100MB")
    args = parser.parse_args()
    import pyarrow.parquet as pq

    for records in args.records:
        work = Path(tempfile.mkdtemp(prefix="bench-publish-"))
        try:
            root = build_archive(records, work)
            archive_bytes = sum(p.stat().st_size for p in (root / "articles").rglob("*.parquet"))
            out = work / "snapshots" / "v1.0.0"
            wall, rss = run_publish(root, out, "--max-shard-size", args.max_shard_size)
            shards = sorted((out / "data").glob("*.parquet"))
            sizes = [p.stat().st_size for p in shards]
            groups = sum(pq.ParquetFile(p).num_row_groups for p in shards)
            print(f"{records:>9,} records, archive {archive_bytes / 1e6:,.0f} MB on disk: publish {wall:.1f} s "
                  f"({records / wall:,.0f} records/s), peak RSS {rss:,.0f} MB; {len(shards)} shards, largest "
                  f"{max(sizes) / 1e6:.1f} MB (limit {args.max_shard_size}), {groups} row groups", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
