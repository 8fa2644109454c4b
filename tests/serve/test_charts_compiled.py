"""Charts are compiled from Vega-Lite once per shape and drawn with each page's rows (issue 19's
speed: compiling was 10-40 ms of every new page). The SVG must be what vl-convert draws from the
whole Vega-Lite spec, for every kind of chart the pages draw, and a second chart of the same shape
must reuse the compiled spec."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import vl_convert

from toolkit.serve import charts


def _attention(n: int, queries: int = 1, split: str | None = None, offset: int = 0) -> pa.Table:
    rows: dict[str, list] = {"query": [], "bucket": [], "matches": [], "articles": [], "share": []}
    if split:
        rows[split] = []
    for q in range(queries):
        for i in range(n):
            rows["query"].append(f"q{q} <b>&")
            rows["bucket"].append(dt.date(2001, 1, 1) + dt.timedelta(days=7 * i))
            rows["matches"].append((i * 37 + q + offset) % 101)
            rows["articles"].append(1000 + i)
            rows["share"].append(((i * 37 + q + offset) % 101) / (1000 + i))
            if split:
                rows[split].append(f"outlet {i % 3}")
    if split:
        rows = {k: rows[k] for k in ("query", "bucket", split, "matches", "articles", "share")}
    return pa.table(rows)


@pytest.mark.parametrize("n, queries, split, measure, by", [
    (1, 1, None, "matches", "day"), (5, 1, None, "matches", "week"), (60, 2, None, "share", "month"),
    (40, 1, "source", "matches", "month"), (30, 2, "language", "share", "week"),
    (charts.POINTS + 5, 1, None, "matches", "day"),  # a line without points
])
def test_a_compiled_chart_draws_what_vl_convert_draws(n, queries, split, measure, by):
    shapes = []
    for offset in (0, 11):  # the second chart of a shape reuses the compiled spec
        spec = charts.attention_spec(_attention(n, queries, split, offset), measure=measure, split=split, by=by)
        hits = charts._compiled.cache_info().hits
        assert charts.svg(spec) == vl_convert.vegalite_to_svg(spec)
        shapes.append({**spec, "data": None})
        if offset and shapes[0] == shapes[1]:  # (small counts have their own axis ticks: another shape)
            assert charts._compiled.cache_info().hits > hits
    assert n == 1 or shapes[0] == shapes[1]


def test_the_timeline_chart_too():
    for rows in ([{"month": "2020-01", "articles": 5}], [{"month": "2020-01", "articles": 7},
                                                         {"month": "2020-02", "articles": 70_000}]):
        spec = charts.timeline_spec(rows)
        assert charts.svg(spec) == vl_convert.vegalite_to_svg(spec)
