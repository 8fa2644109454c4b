"""The small pieces: ordering keys, size buckets, language codes, recipes, the deterministic chart."""

from __future__ import annotations

import pyarrow as pa
import pytest

from toolkit.core.errors import NewsarchiveError
from toolkit.core.schema import load_schema
from toolkit.publish.card import size_category
from toolkit.publish.chart import draw_articles_per_month, month_range
from toolkit.publish.croissant import data_type, semver
from toolkit.publish.languages import check_language_codes, is_iso_639
from toolkit.publish.recipe import Recipe, load_recipe
from toolkit.publish.shards import _units, content_bytes
from toolkit.publish.snapshot import check_tag, version_key


def test_version_key_orders_tags_numerically():
    tags = ["v1.10.0", "v1.2.0", "v1.9.3", "v0.9", "v2"]
    assert sorted(tags, key=version_key) == ["v0.9", "v1.2.0", "v1.9.3", "v1.10.0", "v2"]


@pytest.mark.parametrize("tag", ["v1.0.0", "2024-06", "release_3", "v1.0.0-rc.1"])
def test_usable_tags(tag):
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "v 1", "../x", "v1..2", "-v1", "v1.lock", "a/b"])
def test_unusable_tags(tag):
    with pytest.raises(NewsarchiveError):
        check_tag(tag)


def test_semver_versions_are_the_ones_mlcroissant_accepts():
    from mlcroissant._src.core.versions import cast_version

    for tag, expected in [("v1.2.0", "1.2.0"), ("3.0.1-rc.1", "3.0.1-rc.1"), ("v1.2", None), ("2024-06", None)]:
        assert semver(tag) == expected
        if expected:
            assert cast_version(expected) == expected


def test_size_categories_follow_the_hub_buckets():
    assert [size_category(n) for n in (0, 999, 1000, 54_321, 2_000_000)] == \
        ["n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]


def test_language_codes_come_from_the_iso_tables():
    assert all(is_iso_639(code) for code in ("fr", "ar", "ary", "en", "fra", "fre", "ber"))
    assert check_language_codes(["fr", "xx", "zz", "french"]) == ["xx", "zz", "french"]


def test_croissant_types_follow_the_schema_formats():
    schema = load_schema()
    assert data_type(schema.field("published_date")) == "sc:Date"
    assert data_type(schema.field("crawled_at")) == "sc:DateTime"
    assert data_type(schema.field("url")) == "sc:URL"
    assert data_type(schema.field("title")) == "sc:Text"


def test_no_recipe_gives_defaults_and_a_recipe_overrides_them(tmp_path, monkeypatch, recipe):
    monkeypatch.chdir(tmp_path)  # no datasets/maghress-sample here
    assert load_recipe(None) == Recipe()
    loaded = load_recipe(recipe)
    assert loaded.name == "maghress-test" and loaded.license == "cc-by-4.0"
    assert loaded.languages == ("fr", "ar") and loaded.sources == ("Le Matin", "هسبريس")
    assert load_recipe(recipe / "dataset.toml") == loaded


def test_content_bytes_ignore_how_the_rows_are_chunked():
    rows = [{"s": "é" * (i % 7), "l": ["a", "bc"][: i % 3], "n": i} for i in range(100)]
    whole = pa.Table.from_pylist(rows)
    pieces = pa.concat_tables([whole.slice(0, 13), whole.slice(13, 50), whole.slice(63)])
    assert sum(content_bytes(c) for c in whole.columns) == sum(content_bytes(c) for c in pieces.columns)


def test_units_cut_the_stream_the_same_way_whatever_the_batches():
    table = pa.table({"x": list(range(50))})

    def cut(sizes):
        batches, start = [], 0
        for size in sizes:
            batches.append(table.slice(start, size).to_batches()[0])
            start += size
        return [u["x"].to_pylist() for u in _units(iter(batches), 8, table.schema)]

    assert cut([50]) == cut([1, 2, 3, 4, 40]) == cut([7] * 7 + [1])


def test_chart_is_deterministic_and_zero_fills_gaps(tmp_path):
    months = ((2023, 11, 3), (2024, 2, 5))
    assert month_range(months) == [(2023, 11, 3), (2023, 12, 0), (2024, 1, 0), (2024, 2, 5)]
    draw_articles_per_month(months, tmp_path / "a.png", "t")
    draw_articles_per_month(months, tmp_path / "b.png", "t")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    draw_articles_per_month((), tmp_path / "empty.png", "t")
    assert (tmp_path / "empty.png").read_bytes().startswith(b"\x89PNG")
