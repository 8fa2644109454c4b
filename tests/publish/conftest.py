"""Archives built with deltalake exactly as docs/archive-layout.md lays them out, for the publish tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from toolkit.core.schema import load_schema

SOURCES_FR = ("Le Matin", "L'Économiste", "Hespress FR")
SOURCES_AR = ("هسبريس", "اليوم 24")

LEDGER_SCHEMA = pa.schema([
    ("batch", pa.string()),
    ("files", pa.list_(pa.struct([("name", pa.string()), ("sha256", pa.string()), ("bytes", pa.int64())]))),
    ("input", pa.int64()),
    ("appended", pa.int64()),
    ("duplicates", pa.int64()),
    ("quarantined", pa.int64()),
    ("version", pa.int64()),
    ("tool_version", pa.string()),
    ("appended_at", pa.timestamp("us", tz="UTC")),
])


@pytest.fixture(autouse=True, scope="module")
def _offline(tmp_path_factory):
    """No test here may reach a network or a real Hugging Face cache or token, in-process or in the CLI."""
    home = tmp_path_factory.mktemp("hf-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_DATASETS_OFFLINE", "1")
        patch.setenv("HF_HOME", str(home))
        patch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
        patch.delenv("HF_TOKEN", raising=False)
        # the libraries read these once, at import: pin the in-process copies too
        import datasets.config
        import huggingface_hub.constants

        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        patch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        patch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
        yield


def record(i: int, *, day: dt.date | None = None) -> dict:
    """One synthetic article; French and Arabic alternate, over three sources each and 2023-2024."""
    arabic = i % 3 == 0
    day = day or dt.date(2023, 1, 1) + dt.timedelta(days=(i * 37) % 540)
    return {
        "id": hashlib.sha256(f"article-{i}".encode()).hexdigest()[:32],
        "source": SOURCES_AR[(i // 3) % 2] if arabic else SOURCES_FR[(i // 3) % 3],
        "title": f"خبر رقم {i}" if arabic else f"Titre numéro {i}",
        "text": ("فقرة أولى.\n\nفقرة ثانية." if arabic else "Premier paragraphe.\n\nSecond paragraphe.") * (1 + i % 4),
        "published_date": day,
        "language": "ar" if arabic else "fr",
        "url": f"https://example.ma/{i}" if i % 5 else None,
        "aggregator": "maghress",
        "authors": [f"Auteur {i % 4}"] if i % 2 else [],
        "tags": ["politique", "économie"][: i % 3],
        "crawled_at": dt.datetime(2024, 7, 1, 12, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i),
        "description": None if i % 4 else f"Chapeau {i}",
        "image_url": None,
    }


def articles_table(records: list[dict]) -> pa.Table:
    """Records in the archive's storage types, plus int32 year and month, sorted as the archive sorts."""
    table = pa.Table.from_pylist(records, schema=load_schema().storage_schema())
    table = table.append_column(pa.field("year", pa.int32()), pc.year(table["published_date"]).cast(pa.int32()))
    table = table.append_column(pa.field("month", pa.int32()), pc.month(table["published_date"]).cast(pa.int32()))
    return table.sort_by([("source", "ascending"), ("published_date", "ascending"), ("id", "ascending")])


def append_batch(root: Path, records: list[dict], batch: str) -> int:
    """Append one batch the way the archive stage does: articles commit, then its ledger row."""
    from deltalake import DeltaTable, WriterProperties, write_deltalake

    articles = root / "articles"
    mode = "append" if (articles / "_delta_log").is_dir() else "error"
    write_deltalake(str(articles), articles_table(records), partition_by=["year", "month"], mode=mode,
                    writer_properties=WriterProperties(compression="ZSTD"))
    version = DeltaTable(str(articles)).version()
    body = "".join(r["id"] for r in records).encode()
    ledger = pa.Table.from_pylist([{
        "batch": batch,
        # the ledger keeps paths as given, private folders included; the card must not show them
        "files": [{"name": f"/srv/private-batches/{batch}.jsonl", "sha256": hashlib.sha256(body).hexdigest(),
                   "bytes": len(body)}],
        "input": len(records), "appended": len(records), "duplicates": 0, "quarantined": 0,
        "version": version, "tool_version": "0.1.0",
        "appended_at": dt.datetime(2024, 8, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=version),
    }], schema=LEDGER_SCHEMA)
    ledger_mode = "append" if (root / "batches" / "_delta_log").is_dir() else "error"
    write_deltalake(str(root / "batches"), ledger, mode=ledger_mode)
    return version


def delete_ids(root: Path, ids: list[str]) -> int:
    """Remove records (as a correction would), giving a new version with fewer articles."""
    from deltalake import DeltaTable

    table = DeltaTable(str(root / "articles"))
    quoted = ", ".join(f"'{i}'" for i in ids)
    table.delete(f"id IN ({quoted})")
    return DeltaTable(str(root / "articles")).version()


@pytest.fixture
def archive(tmp_path) -> Path:
    """Two batches: 30 records at version 0, 18 more at version 1."""
    root = tmp_path / "archive"
    append_batch(root, [record(i) for i in range(30)], "batch-0001")
    append_batch(root, [record(i) for i in range(30, 48)], "batch-0002")
    return root


@pytest.fixture
def recipe(tmp_path) -> Path:
    folder = tmp_path / "datasets" / "maghress-test"
    folder.mkdir(parents=True)
    (folder / "dataset.toml").write_text(
        'name = "maghress-test"\n'
        'pretty_name = "Maghress test articles"\n'
        'description = "Moroccan news in French and Arabic, collected through Maghress."\n'
        'license = "CC-BY-4.0"\n'
        'languages = ["fr", "ar"]\n'
        'partitioning = ["year", "month"]\n'
        'tags = ["news", "morocco"]\n'
        'homepage = "https://example.ma"\n'
        'sources = [{ name = "Le Matin" }, "هسبريس"]\n',
        encoding="utf-8",
    )
    return folder


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for CLI subprocesses: the current one (already offline) plus extras."""
    env = dict(os.environ)
    env.update(extra)
    return env
