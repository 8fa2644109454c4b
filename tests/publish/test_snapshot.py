"""A published snapshot is exactly what the Hub, `datasets`, Croissant and `sha256sum -c` expect."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from deltalake import DeltaTable

from tests.conftest import run_cli
from tests.publish.conftest import append_batch, delete_ids, record
from toolkit.core.errors import NewsarchiveError
from toolkit.core.schema import load_schema
from toolkit.publish import ShardOptions, publish, verify_snapshot
from toolkit.publish.languages import is_iso_639
from toolkit.publish.shards import _writer_options, content_bytes, snapshot_schema

SMALL = ShardOptions(max_shard_bytes=40_000, row_group_bytes=3_000, unit_rows=4)


def front_matter(card: Path) -> dict:
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def archive_rows(root: Path, version: int | None = None) -> pa.Table:
    return DeltaTable(str(root / "articles"), version=version).to_pyarrow_table()


@pytest.fixture(scope="module")
def published(tmp_path_factory, _offline):
    """One archive (two batches) and its snapshot in small shards, shared by the read-only tests."""
    base = tmp_path_factory.mktemp("published")
    root = base / "archive"
    append_batch(root, [record(i) for i in range(30)], "batch-0001")
    append_batch(root, [record(i) for i in range(30, 48)], "batch-0002")
    snapshot = publish(str(root), "v1.0.0", base / "snapshots" / "v1.0.0", options=SMALL)
    return root, snapshot


def test_layout_is_flat_with_expected_files(published):
    _, snapshot = published
    files = sorted(p.relative_to(snapshot.path).as_posix() for p in snapshot.path.rglob("*") if p.is_file())
    shards = [f for f in files if f.startswith("data/")]
    assert len(shards) >= 2, "the small shard limit must split the data"
    assert shards == [f"data/train-{i:05d}-of-{len(shards):05d}.parquet" for i in range(len(shards))]
    assert set(files) - set(shards) == {"README.md", "croissant.json", "SHA256SUMS", "articles_per_month.png"}
    assert not any("=" in f for f in files), "no key=value folders: datasets would drop those columns"


def test_parquet_files_hold_every_column_in_order_zstd_with_page_index(published):
    root, snapshot = published
    target = snapshot_schema(load_schema())
    tables = []
    for shard in sorted((snapshot.path / "data").glob("*.parquet")):
        parquet = pq.ParquetFile(shard)
        assert parquet.schema_arrow.names == target.names  # year and month included
        metadata = parquet.metadata
        for g in range(metadata.num_row_groups):
            for c in range(metadata.num_columns):
                chunk = metadata.row_group(g).column(c)
                assert chunk.compression == "ZSTD"
                assert chunk.has_offset_index and chunk.has_column_index
        tables.append(parquet.read())
    table = pa.concat_tables(tables)
    order = table.sort_by([("published_date", "ascending"), ("id", "ascending")])
    assert table["id"].to_pylist() == order["id"].to_pylist()
    assert table["year"].to_pylist() == [d.year for d in table["published_date"].to_pylist()]
    assert table["month"].to_pylist() == [d.month for d in table["published_date"].to_pylist()]
    archived = archive_rows(root)
    assert sorted(table["id"].to_pylist()) == sorted(archived["id"].to_pylist())


def test_row_groups_are_sized_in_bytes_and_shards_stay_under_the_limit(published):
    _, snapshot = published
    groups = 0
    for shard in (snapshot.path / "data").glob("*.parquet"):
        assert shard.stat().st_size <= SMALL.max_shard_bytes
        parquet = pq.ParquetFile(shard)
        for g in range(parquet.num_row_groups):
            group = parquet.read_row_group(g)
            size = sum(content_bytes(column) for column in group.columns)
            assert size <= SMALL.row_group_bytes or group.num_rows <= SMALL.unit_rows
            groups += 1
    assert groups > len(snapshot.shards.files), "several byte-sized row groups per shard"


def test_content_defined_chunking_is_used_when_pyarrow_has_it():
    import inspect

    has_cdc = "use_content_defined_chunking" in inspect.signature(pq.ParquetWriter.__init__).parameters
    options = _writer_options(ShardOptions())
    assert options.get("use_content_defined_chunking", False) is has_cdc
    assert options["write_page_index"] is True and options["compression"] == "zstd"


def test_load_dataset_round_trip_matches_the_archive_and_the_card(published, tmp_path):
    from datasets import Features, load_dataset

    root, snapshot = published
    loaded = load_dataset(str(snapshot.path), split="train", cache_dir=str(tmp_path / "cache"))
    archived = archive_rows(root)
    assert loaded.num_rows == archived.num_rows == snapshot.num_examples
    assert loaded.features == Features.from_arrow_schema(snapshot_schema(load_schema()))
    info = front_matter(snapshot.card)["dataset_info"]
    split = {s["name"]: s for s in info["splits"]}["train"]
    assert split["num_examples"] == loaded.info.splits["train"].num_examples
    assert split["num_bytes"] == loaded.info.splits["train"].num_bytes
    by_id = {row["id"]: row for row in archived.to_pylist()}
    for row in loaded.select(range(0, loaded.num_rows, 7)):
        source = by_id[row["id"]]
        for name in ("source", "title", "text", "published_date", "language", "authors", "tags", "crawled_at"):
            assert row[name] == source[name], name


def test_as_of_publishes_an_earlier_version(published, tmp_path):
    root, _ = published
    snapshot = publish(str(root), "v0.1.0", tmp_path / "v0.1.0", as_of=0)
    assert snapshot.archive_version == 0
    assert snapshot.num_examples == archive_rows(root, version=0).num_rows == 30


def test_front_matter_is_derived_from_schema_and_data(published):
    from datasets import Features
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard

    root, snapshot = published
    card = DatasetCard.load(snapshot.card)
    meta = front_matter(snapshot.card)
    assert meta["pretty_name"] and meta["license"] and meta["tags"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["language"] == ["ar", "fr"] and all(is_iso_639(code) for code in meta["language"])
    assert meta["configs"] == [{"config_name": "default", "data_files": [
        {"split": "train", "path": [f.path for f in snapshot.shards.files]}]}]
    info = DatasetInfosDict.from_dataset_card_data(card.data)["default"]
    assert info.features == Features.from_arrow_schema(snapshot_schema(load_schema()))
    assert info.splits["train"].num_examples == archive_rows(root).num_rows


def test_card_tables_come_from_the_schema_and_the_data(published):
    root, snapshot = published
    text = snapshot.card.read_text(encoding="utf-8")
    body = text.split("---\n", 2)[2]
    for field in load_schema().fields:
        row = next(line for line in body.splitlines() if line.startswith(f"| `{field.name}` |"))
        assert field.description.replace("|", "\\|")[:40] in row
        assert ("| yes |" if field.required else "| no |") in row
    archived = archive_rows(root)
    for language, n in Counter(archived["language"].to_pylist()).items():
        assert f"| `{language}` | {n:,} |" in body
    for source, n in Counter(archived["source"].to_pylist()).items():
        assert f"| {source} | {n:,} |" in body
    for year, n in Counter(d.year for d in archived["published_date"].to_pylist()).items():
        assert f"| {year} | {n:,} |" in body
    assert "![Articles per month](articles_per_month.png)" in body
    assert "version **1**" in body and "batch-0001" in body and "batch-0002" in body  # provenance
    assert "batch-0001.jsonl (sha256" in body and "/srv/private-batches" not in body
    assert "load_dataset(" in body and "@misc{" in body and "## Changelog" in body


def test_chart_is_a_png_without_software_or_time_metadata(published):
    from PIL import Image

    _, snapshot = published
    with Image.open(snapshot.path / "articles_per_month.png") as image:
        assert image.format == "PNG" and image.size[0] >= 600
        assert not {"Software", "Creation Time", "date:create"} & set(image.info)


def test_croissant_validates_and_loads_records_offline(published):
    import mlcroissant as mlc

    root, snapshot = published
    document = json.loads((snapshot.path / "croissant.json").read_text(encoding="utf-8"))
    assert document["conformsTo"] == "http://mlcommons.org/croissant/1.1"
    shards = [d for d in document["distribution"] if d["@type"] == "cr:FileObject"]
    assert [d["contentUrl"] for d in shards] == [f.path for f in snapshot.shards.files]
    fields = document["recordSet"][0]["field"]
    assert [f["name"] for f in fields] == snapshot_schema(load_schema()).names
    dataset = mlc.Dataset(jsonld=str(snapshot.path / "croissant.json"))  # raises on validation errors
    assert not dataset.metadata.ctx.issues.errors
    records = list(dataset.records("articles"))
    assert len(records) == archive_rows(root).num_rows
    ids = sorted(r["articles/id"].decode() for r in records)
    assert ids == sorted(archive_rows(root)["id"].to_pylist())
    first = records[0]
    assert isinstance(first["articles/year"], int) and first["articles/published_date"] is not None


def test_sha256sums_pass_the_real_sha256sum_and_catch_tampering(published, tmp_path):
    import shutil

    _, snapshot = published
    copy = tmp_path / "copy"
    shutil.copytree(snapshot.path, copy)
    listed = [line.split("  ", 1)[1] for line in (copy / "SHA256SUMS").read_text().splitlines()]
    assert sorted(listed) == sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")
                                    if p.is_file() and p.name != "SHA256SUMS")
    ok = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=copy, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    shard = next((copy / "data").glob("*.parquet"))
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    bad = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=copy, capture_output=True, text=True)
    assert bad.returncode != 0 and "FAILED" in bad.stdout


def _same_files(a: Path, b: Path) -> None:
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_same_archive_version_gives_byte_identical_files(published, tmp_path):
    """Several shards in-process twice; then the defaults in-process and through the CLI in a fresh process."""
    root, snapshot = published
    _same_files(snapshot.path, publish(str(root), "v1.0.0", tmp_path / "a" / "v1.0.0", options=SMALL).path)
    here = publish(str(root), "v1.0.0", tmp_path / "b" / "v1.0.0")
    result = run_cli("publish", "--archive", str(root), "--version", "v1.0.0", "--output",
                     str(tmp_path / "c" / "v1.0.0"))
    assert result.code == 0, result.err
    _same_files(here.path, tmp_path / "c" / "v1.0.0")


def test_existing_snapshot_is_refused_unless_force(published, tmp_path):
    root, _ = published
    out = tmp_path / "snapshots" / "v2.0.0"
    first = publish(str(root), "v2.0.0", out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(NewsarchiveError, match="already holds snapshot v2.0.0"):
        publish(str(root), "v2.0.0", out)
    with pytest.raises(NewsarchiveError, match="holds snapshot v2.0.0, not v3.0.0"):
        publish(str(root), "v3.0.0", out)
    with pytest.raises(NewsarchiveError, match="already holds that tag"):
        publish(str(root), "v2.0.0", tmp_path / "snapshots" / "elsewhere")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    again = publish(str(root), "v2.0.0", out, force=True)
    assert again.path == first.path
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "no partial or old folders left"
    cluttered = tmp_path / "notes"
    cluttered.mkdir()
    (cluttered / "mine.txt").write_text("keep me")
    with pytest.raises(NewsarchiveError, match="not a snapshot"):
        publish(str(root), "v4.0.0", cluttered, force=True)
    assert (cluttered / "mine.txt").read_text() == "keep me"


def test_changelog_against_the_previous_snapshot(tmp_path):
    root = tmp_path / "archive"
    append_batch(root, [record(i) for i in range(30)], "batch-0001")
    snapshots = tmp_path / "snapshots"
    v1 = publish(str(root), "v1.0.0", snapshots / "v1.0.0")
    assert v1.changelog is None
    assert "First snapshot" in v1.card.read_text(encoding="utf-8")
    append_batch(root, [record(i) for i in range(30, 40)], "batch-0002")
    removed = sorted(record(i)["id"] for i in (3, 4))
    delete_ids(root, removed)
    v2 = publish(str(root), "v1.1.0", snapshots / "v1.1.0")
    assert (v2.changelog.previous_tag, v2.changelog.added, v2.changelog.removed) == ("v1.0.0", 10, 2)
    body = v2.card.read_text(encoding="utf-8")
    assert "Against **v1.0.0**: 10 articles added, 2 removed" in body
    for article_id in removed:
        assert f"`{article_id}`" in body
    # a later tag compares with the highest earlier one, not with the first
    v3 = publish(str(root), "v1.10.0", snapshots / "v1.10.0")
    assert v3.changelog.previous_tag == "v1.1.0" and v3.changelog.added == v3.changelog.removed == 0


def test_recipe_feeds_the_card_and_croissant(published, recipe, tmp_path):
    root, _ = published
    snapshot = publish(str(root), "v1.0.0", tmp_path / "v1.0.0", dataset=str(recipe), repo_id="maghress/news")
    meta = front_matter(snapshot.card)
    assert meta["pretty_name"] == "Maghress test articles"
    assert meta["license"] == "cc-by-4.0"
    assert {"news", "morocco"} <= set(meta["tags"])
    body = snapshot.card.read_text(encoding="utf-8")
    assert "Moroccan news in French and Arabic" in body
    assert 'load_dataset("maghress/news", revision="v1.0.0"' in body
    croissant = json.loads((snapshot.path / "croissant.json").read_text(encoding="utf-8"))
    assert croissant["name"] == "maghress-test" and croissant["version"] == "1.0.0"
    assert croissant["url"] == "https://huggingface.co/datasets/maghress/news"


def test_language_codes_outside_iso_639_stay_out_of_the_metadata(tmp_path):
    root = tmp_path / "archive"
    rows = [record(i) for i in range(6)]
    rows[1]["language"] = "zz"  # the schema's pattern admits it; ISO 639 does not
    rows[2]["language"] = "ary"
    append_batch(root, rows, "batch-0001")
    snapshot = publish(str(root), "v1", tmp_path / "v1")
    meta = front_matter(snapshot.card)
    assert "zz" not in meta["language"] and "ary" in meta["language"]
    assert "`zz`" in snapshot.card.read_text(encoding="utf-8")  # still counted in the statistics


def test_bad_recipe_and_bad_arguments_are_one_line_errors(published, tmp_path):
    root, _ = published
    bad = tmp_path / "datasets" / "bad"
    bad.mkdir(parents=True)
    (bad / "dataset.toml").write_text('name = "bad"\nlanguages = ["fr", "french"]\n')
    with pytest.raises(NewsarchiveError, match="french"):
        publish(str(root), "v1", tmp_path / "x", dataset=str(bad))
    (bad / "dataset.toml").write_text('name = "bad\n')
    with pytest.raises(NewsarchiveError, match="not valid TOML"):
        publish(str(root), "v1", tmp_path / "x", dataset=str(bad))
    with pytest.raises(NewsarchiveError, match="no dataset.toml"):
        publish(str(root), "v1", tmp_path / "x", dataset=str(tmp_path / "missing"))
    with pytest.raises(NewsarchiveError, match="no version 9"):
        publish(str(root), "v1", tmp_path / "x", as_of=9)
    with pytest.raises(NewsarchiveError, match="not a usable tag"):
        publish(str(root), "v1 final", tmp_path / "x")
    with pytest.raises(NewsarchiveError, match="no articles/ Delta table"):
        publish(str(tmp_path / "nowhere"), "v1", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    result = run_cli("publish", "--archive", str(tmp_path / "nowhere"), "--version", "v1", "--output",
                     str(tmp_path / "x"))
    assert result.code == 2
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert result.err.startswith("newsarchive: error: ") and "no articles/ Delta table" in result.err


def test_cli_publishes_and_prints_where_the_card_is(published, tmp_path):
    root, _ = published
    out = tmp_path / "snapshots" / "v5.0.0"
    result = run_cli("publish", "--archive", str(root), "--version", "v5.0.0", "--output", str(out))
    assert result.code == 0, result.err
    assert f"card: {out / 'README.md'}" in result.out
    assert "48 articles" in result.out
    assert verify_snapshot(out).ok


def test_empty_archive_version_publishes_an_empty_but_valid_snapshot(tmp_path):
    root = tmp_path / "archive"
    append_batch(root, [record(1)], "batch-0001")
    delete_ids(root, [record(1)["id"]])
    snapshot = publish(str(root), "v0", tmp_path / "v0")
    assert snapshot.num_examples == 0
    check = verify_snapshot(snapshot.path)
    assert check.ok, check.problems
    assert pc.sum(pa.array([f.rows for f in snapshot.shards.files])).as_py() == 0
