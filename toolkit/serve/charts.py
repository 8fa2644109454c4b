"""Charts as server-side SVG (and PNG): a Vega-Lite spec from Altair, drawn by vl-convert.

Why not vega-embed in the browser: the page then needs no script at all, so the CSP can forbid
every script; the SVG is part of the HTML (inert markup), and the same spec gives the downloads.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

import pyarrow as pa

POINTS = 1_000  # up to this many buckets, each is a point on its line (more: the line alone, a lighter SVG)
MAX_BUCKETS = 20_000  # beyond, no chart (seconds to draw): the page asks for coarser buckets
WIDTH = 640
HEIGHT = 240


def _rows(table: pa.Table, columns: list[str]) -> list[dict[str, Any]]:
    rows = []
    for row in table.select(columns).to_pylist():
        rows.append({k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in row.items()})
    return rows


def attention_spec(table: pa.Table, *, measure: str = "matches", split: str | None = None,
                   by: str = "day") -> dict[str, Any]:
    """One line (with a point per bucket) per query, or per query and split value."""
    import altair as alt

    columns = [c for c in ("query", "bucket", split, "matches", "articles", "share") if c and c in table.column_names]
    rows = _rows(table, columns)
    series = "series"
    for row in rows:
        row[series] = row["query"] if not split else f"{row['query']} · {row.get(split)}"
    y_title = "share of articles in scope" if measure == "share" else "matching articles"
    y = alt.Y(f"{measure}:Q", title=y_title,
              axis=alt.Axis(format=".1%") if measure == "share" else _count_axis(r[measure] for r in rows))
    unit = {"day": "yearmonthdate", "week": "yearmonthdate", "month": "yearmonth"}.get(by, "yearmonthdate")
    chart = (
        alt.Chart(alt.UrlData(url="rows"))  # the rows go in after: Altair walks inline data value by value
        .mark_line(point=len(rows) <= POINTS)
        .encode(x=alt.X(f"{unit}(bucket):T", title=f"{by} (bucket start)", axis=alt.Axis(format="%Y-%m-%d")),
                y=y, color=alt.Color(f"{series}:N", title="query" if not split else f"query · {split}"))
        .properties(width=WIDTH, height=HEIGHT)
    )
    return _with_values(chart, rows)


def _with_values(chart: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The chart's Vega-Lite spec with `rows` as its data. The spec is ours: Altair's JSON Schema check
    (validate) and its walk through inline data cost a second for a few thousand rows."""
    spec = chart.to_dict(validate=False)
    spec["data"] = {"values": rows}
    return spec


def _count_axis(values: Any) -> Any:
    """Whole numbers with thousands separators; small counts get one tick per unit (not 0, 0.5 shown as 0, 1)."""
    import altair as alt

    top = max((v for v in values if v is not None), default=0)
    if top < 10:
        return alt.Axis(format=",d", values=list(range(0, int(top) + 1)))
    return alt.Axis(format=",d")


def timeline_spec(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The archive's articles per month, as bars."""
    import altair as alt

    values = [{"month": str(r["month"]), "articles": r["articles"]} for r in rows]
    chart = (
        alt.Chart(alt.UrlData(url="rows"))
        .mark_bar()
        .encode(x=alt.X("month:O", title="month"),
                y=alt.Y("articles:Q", title="articles", axis=_count_axis(r["articles"] for r in values)))
        .properties(width=WIDTH, height=HEIGHT)
    )
    return _with_values(chart, values)


def svg(spec: dict[str, Any]) -> str:
    """The chart as SVG text (no script in it: vl-convert writes marks, text and paths only).

    Drawing takes vl-convert 150-300 ms whatever the size, and a spec holds the numbers of one
    archive version, so the same spec always gives the same SVG: recent ones are kept.
    """
    return _svg(json.dumps(spec, sort_keys=True, default=str))


def png(spec: dict[str, Any]) -> bytes:
    return _png(json.dumps(spec, sort_keys=True, default=str))


@functools.lru_cache(maxsize=64)
def _svg(spec: str) -> str:
    import vl_convert

    return vl_convert.vega_to_svg(_vega(json.loads(spec)))


def _vega(spec: dict[str, Any]) -> dict[str, Any]:
    """The Vega spec vl-convert would compile from the Vega-Lite `spec`, compiled once per chart shape.

    Compiling costs 10-40 ms of a new page's chart; it does not depend on the rows (a Vega-Lite spec's
    inline values go into one Vega dataset as they are, the scales read them when drawing), so the
    spec is compiled without its rows and they are put in the compiled dataset."""
    values = spec.get("data", {}).get("values") if isinstance(spec.get("data"), dict) else None
    if values is None:
        import vl_convert

        return vl_convert.vegalite_to_vega(spec)
    compiled = json.loads(_compiled(json.dumps({**spec, "data": {"values": []}}, sort_keys=True)))
    sources = [d for d in compiled.get("data", []) if "values" in d]
    if len(sources) != 1:  # not the one inline dataset expected: compile it all
        import vl_convert

        return vl_convert.vegalite_to_vega(spec)
    sources[0]["values"] = values
    return compiled


@functools.lru_cache(maxsize=64)
def _compiled(shape: str) -> str:
    import vl_convert

    return json.dumps(vl_convert.vegalite_to_vega(json.loads(shape)))


@functools.lru_cache(maxsize=16)
def _png(spec: str) -> bytes:
    import vl_convert

    return vl_convert.vegalite_to_png(json.loads(spec), scale=2)


def warm_up() -> None:
    """Import Altair and start vl-convert's engine (seconds), so the first page a user opens is fast."""
    import datetime as _dt

    table = pa.table({"query": ["x"], "bucket": [_dt.date(2000, 1, 1)], "matches": [1], "articles": [1],
                      "share": [1.0]})
    svg(attention_spec(table))
