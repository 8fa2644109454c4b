"""Check a snapshot folder as a consumer would: checksums first, then that it loads as the card says.

Loading is checked without writing a datasets cache: `datasets` resolves the card (configs, features,
split sizes) exactly as `load_dataset` does, every shard is read through in bounded memory and cast to
those features, the row count must equal the card's num_examples, the first record must stream through
`load_dataset(..., streaming=True)`, and croissant.json must pass mlcroissant's validation.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.core.errors import NewsarchiveError
from toolkit.publish.checksums import SUMS_FILE, check_sums
from toolkit.publish.croissant import CROISSANT_FILE
from toolkit.publish.shards import SPLIT


@dataclass
class SnapshotCheck:
    """What `newsarchive verify DIR` reports; `ok` is False as soon as one problem is found."""

    path: Path
    problems: list[str] = field(default_factory=list)
    files: int = 0
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"{self.path}: snapshot OK ({self.files} files match {SUMS_FILE}, {self.rows:,} rows load)"
        return f"{self.path}: {len(self.problems)} problem(s)"


def _check_load(folder: Path, check: SnapshotCheck) -> None:
    with tempfile.TemporaryDirectory(prefix="newsarchive-verify-") as cache:
        _check_load_in(folder, check, cache)


def _check_load_in(folder: Path, check: SnapshotCheck, cache: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import load_dataset, load_dataset_builder
    from datasets.table import table_cast

    try:
        builder = load_dataset_builder(str(folder), cache_dir=cache)
    except Exception as exc:  # datasets raises many kinds; each means "does not load"
        check.problems.append(f"README.md: datasets cannot resolve the snapshot ({type(exc).__name__}: {exc})")
        return
    info = builder.info
    if info.features is None or info.splits is None or SPLIT not in info.splits:
        check.problems.append(f"README.md: dataset_info lacks the features or the {SPLIT} split")
        return
    files = builder.config.data_files.get(SPLIT, []) if builder.config.data_files else []
    listed = sorted(Path(f).resolve() for f in files)
    present = sorted(p.resolve() for p in (folder / "data").glob("*.parquet"))
    if listed != present:
        check.problems.append("README.md: configs.data_files do not list exactly the shards in data/")
    target = info.features.arrow_schema
    rows = 0
    for path in present:
        try:
            parquet = pq.ParquetFile(path)
            for batch in parquet.iter_batches(batch_size=4096):
                rows += table_cast(pa.Table.from_batches([batch]), target).num_rows
        except Exception as exc:
            check.problems.append(f"{path.relative_to(folder)}: does not read as the card's features ({exc})")
            return
    check.rows = rows
    expected = info.splits[SPLIT].num_examples
    if rows != expected:
        check.problems.append(f"README.md: the card says {expected} rows in {SPLIT}, the shards hold {rows}")
    if rows:
        try:
            streamed = load_dataset(str(folder), split=SPLIT, streaming=True, cache_dir=cache)
            next(iter(streamed))
        except Exception as exc:
            check.problems.append(f"load_dataset cannot stream the snapshot ({type(exc).__name__}: {exc})")


def _check_croissant(folder: Path, check: SnapshotCheck) -> None:
    import logging

    import mlcroissant as mlc

    path = folder / CROISSANT_FILE
    if not path.is_file():
        check.problems.append(f"{CROISSANT_FILE}: missing")
        return
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        mlc.Dataset(jsonld=str(path))
    except mlc.ValidationError as exc:
        check.problems.append(f"{CROISSANT_FILE}: fails Croissant validation ({str(exc).strip().splitlines()[-1]})")


def verify_snapshot(path: str | Path) -> SnapshotCheck:
    """Verify a published snapshot folder; raises NewsarchiveError only when it is not one at all."""
    folder = Path(path)
    if not folder.is_dir():
        raise NewsarchiveError(f"{folder}: no such folder; pass a snapshot folder (one holding {SUMS_FILE})")
    if not (folder / SUMS_FILE).is_file():
        raise NewsarchiveError(f"{folder}: not a snapshot (no {SUMS_FILE}); pass the folder `publish` wrote "
                              "(or the bag `deposit` wrote)")
    check = SnapshotCheck(folder)
    try:
        (folder / SUMS_FILE).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:  # a damaged list of checksums is a finding, not a crash
        check.problems.append(f"{SUMS_FILE}: not text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                              "the file is damaged: restore it from the published copy")
        return check
    check.problems.extend(check_sums(folder))
    check.files = sum(1 for line in (folder / SUMS_FILE).read_text(encoding="utf-8").splitlines() if line.strip())
    if check.problems:  # a file that does not match its checksum is not worth loading
        return check
    _check_load(folder, check)
    _check_croissant(folder, check)
    return check
