"""One writer for every table of toolkit.explore, so that the page's downloads and the command's output
are the same bytes: `table` (aligned text for a terminal), `csv`, `json` (JSON Lines), `parquet`."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import IO, Any

import pyarrow as pa

from toolkit.core.errors import NewsarchiveError

FORMATS = ("table", "csv", "json", "parquet")


def _cell(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _text(table: pa.Table, fmt: str) -> str:
    rows = table.to_pylist()
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in rows:
            writer.writerow(["" if v is None else _cell(v) for v in row.values()])
    elif fmt == "json":
        for row in rows:
            buffer.write(json.dumps({k: _cell(v) for k, v in row.items()}, ensure_ascii=False) + "\n")
    else:
        buffer.write(_aligned(table.column_names, rows))
    return buffer.getvalue()


def _shown(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "share" and isinstance(value, float):
        return f"{value * 100:.2f} %"
    if isinstance(value, int):
        return f"{value:,}"
    text = str(_cell(value))
    text = "".join(c if c.isprintable() else " " for c in text)  # no control characters on a terminal
    return text if len(text) <= 60 else text[:59] + "…"


def _aligned(names: list[str], rows: list[dict[str, Any]]) -> str:
    cells = [[_shown(n, row[n]) for n in names] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    numeric = [bool(rows) and all(isinstance(row[n], (int, float)) for row in rows if row[n] is not None)
               for n in names]
    lines = ["  ".join(n.rjust(w) if num else n.ljust(w) for n, w, num in zip(names, widths, numeric, strict=True))]
    for row in cells:
        lines.append("  ".join(c.rjust(w) if num else c.ljust(w)
                               for c, w, num in zip(row, widths, numeric, strict=True)).rstrip())
    if not rows:
        lines.append("(no rows)")
    return "\n".join(lines) + "\n"


def write_table(table: pa.Table, fmt: str, out: IO[bytes] | IO[str]) -> None:
    """Write `table` as `fmt` to a binary or text stream (UTF-8; Parquet needs bytes: a text stream's
    buffer is used)."""
    if fmt not in FORMATS:
        raise NewsarchiveError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        binary = out if not isinstance(out, io.TextIOBase) else getattr(out, "buffer", None)
        if binary is None:
            raise NewsarchiveError("parquet output needs a binary stream or a file; pass --output FILE")
        if isinstance(out, io.TextIOBase):
            out.flush()
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        binary.write(sink.getvalue())  # type: ignore[arg-type]
        return
    text = _text(table, fmt)
    if isinstance(out, io.TextIOBase):
        out.write(text)
    else:
        out.write(text.encode("utf-8"))  # type: ignore[arg-type]
