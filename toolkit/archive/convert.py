"""Validated rows (read types, dates as strings) to archive rows (storage types, year and month).

Everything here is column-wise: one Arrow kernel call per column per block, never per record. The
inputs are already valid, so the conversions cannot fail on a well-formed value; they only have to
be exact:
- `date` strings are YYYY-MM-DD (the validator checked the calendar), a plain cast to date32;
- `date-time` strings are RFC 3339 as the reference accepts them: `t`/`z` in any case, fractional
  seconds of any length, `Z` or a +HH:MM/-HH:MM offset. They become UTC microseconds: lower-case
  letters are upper-cased, digits past the microsecond are dropped (truncation, like Python's
  datetime), and Arrow's ISO 8601 cast applies the offset.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from toolkit.archive.layout import DATE_FIELD, DERIVED

_SUBMICROSECOND = r"(\.[0-9]{6})[0-9]+"


def rfc3339_to_timestamp(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """RFC 3339 date-time strings (already validated) to timestamp[us, UTC]."""
    text = pc.replace_substring_regex(pc.utf8_upper(values), _SUBMICROSECOND, r"\1")
    return pc.cast(text, pa.timestamp("us", tz="UTC"))


def to_storage(rows: pa.Table, target: pa.Schema) -> pa.Table:
    """Rows in the target schema: each field cast to its storage type, year and month derived.

    Extra columns of `rows` (such as the engine's `_line`) are dropped; target fields the rows lack
    are added as nulls.
    """
    converted: dict[str, pa.Array | pa.ChunkedArray] = {}
    for fld in target:
        if fld.name in DERIVED:
            continue
        if fld.name not in rows.column_names:
            converted[fld.name] = pa.nulls(rows.num_rows, fld.type)
            continue
        col = rows.column(fld.name)
        if col.type == fld.type:
            converted[fld.name] = col
        elif pa.types.is_timestamp(fld.type) and pa.types.is_string(col.type):
            converted[fld.name] = rfc3339_to_timestamp(col).cast(fld.type)
        else:
            converted[fld.name] = col.cast(fld.type)
    if "year" in target.names:
        date = converted[DATE_FIELD]
        converted["year"] = pc.year(date).cast(pa.int32())
        converted["month"] = pc.month(date).cast(pa.int32())
    return pa.Table.from_arrays([converted[f.name] for f in target], schema=target)
