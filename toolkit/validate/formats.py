"""Columnar versions of the reference's format checkers (date, date-time, uri).

Each function takes a string array and returns a boolean array with exactly the verdict of the
python-jsonschema checker that `Draft202012Validator.FORMAT_CHECKER` would run, so the bulk path
can assert formats without calling Python per value. Only formats whose reference implementation
we reproduce are listed in `columnar_format_checks()`; any other format leaves the value to the
reference validator.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from jsonschema import Draft202012Validator

from toolkit.validate.arrays import bools, int64s, to_numpy_bools
from toolkit.validate.pyregex import Untranslatable, to_re2

FormatCheck = Callable[[pa.Array], pa.Array]

# jsonschema's `date` checker: `^\d{4}-\d{2}-\d{2}$` with re.ASCII and fullmatch, then date.fromisoformat.
_DATE_RE2 = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\z"
# rfc3339_validator, applied by jsonschema to `instance.upper()` with re.match and a Python `$`.
# No non-ASCII character upper-cases into the digits, 'T' or 'Z' this needs in place, so matching
# the lower-case letters too is the same verdict as upper-casing first.
_DATETIME_RE2 = (
    r"\A([0-9]{4})-(0[1-9]|1[0-2])-([0-9]{2})[Tt](?:[01][0-9]|2[0123]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0123]):[0-5][0-9])\n?\z"
)


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_DIGIT_POS = np.array([0, 1, 2, 3, 5, 6, 8, 9])


def _calendar_ok(values: pa.Array | pa.ChunkedArray, shape_ok: np.ndarray) -> np.ndarray:
    """Year >= 1 and the day exists in that month, read from the first ten bytes (YYYY-MM-DD).

    Only rows whose shape already matched are looked at, so those bytes are ASCII digits and
    dashes. numpy over the raw string buffer: a dozen array operations instead of Python per value.
    """
    out = np.zeros(len(shape_ok), dtype=bool)
    rows = np.flatnonzero(shape_ok)
    if not len(rows):
        return out
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    base = 0
    for chunk in chunks:
        in_chunk = rows[(rows >= base) & (rows < base + len(chunk))] - base
        if len(in_chunk):
            _, offsets_buf, data_buf = chunk.buffers()
            offsets = np.frombuffer(offsets_buf, dtype=np.int32)[chunk.offset:chunk.offset + len(chunk) + 1]
            data = np.frombuffer(data_buf, dtype=np.uint8)
            digits = data[offsets[in_chunk][:, None] + _DIGIT_POS].astype(np.int64) - 48
            year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
            month = digits[:, 4] * 10 + digits[:, 5]
            day = digits[:, 6] * 10 + digits[:, 7]
            month_ok = (month >= 1) & (month <= 12)
            leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
            length = _MONTH_DAYS[np.where(month_ok, month, 1)] + (leap & (month == 2))
            out[in_chunk + base] = (year >= 1) & month_ok & (day >= 1) & (day <= length)
        base += len(chunk)
    return out


def _as_bool(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return to_numpy_bools(mask)


def check_date(values: pa.Array) -> pa.Array:
    shape = _as_bool(pc.match_substring_regex(values, _DATE_RE2))
    return bools(_calendar_ok(values, shape))


def check_datetime(values: pa.Array) -> pa.Array:
    shape = _as_bool(pc.match_substring_regex(values, _DATETIME_RE2))
    return bools(_calendar_ok(values, shape))


# A strict subset of rfc3986-validator's URI rule: scheme "://" reg-name [":" port] path-abempty
# ["?" query] ["#" fragment], with Python's `$`. Its verdict "valid" is always the full rule's verdict.
_PCHAR = r"(?:[a-zA-Z0-9_.~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
_SIMPLE_URI_RE2 = (
    r"\A[a-zA-Z][a-zA-Z0-9+.-]*://(?:[a-zA-Z0-9_.~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*(?::[0-9]*)?"
    rf"(?:/{_PCHAR}*)*(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?\n?\z"
)


def _uri_check() -> FormatCheck | None:
    if importlib.util.find_spec("rfc3987") is not None:
        return None  # jsonschema would use the GPL rfc3987 parser instead; not reproduced here
    try:
        from rfc3986_validator import URI_RE_COMP
    except ImportError:
        return None
    try:
        pattern = to_re2(URI_RE_COMP.pattern, URI_RE_COMP.flags, anchored=True)
    except Untranslatable:
        return None

    def check_uri(values: pa.Array) -> pa.Array:
        # Most URLs are plain http(s) ones that a small pattern accepts quickly; the small pattern's
        # language is a subset of the full rule's, so only the others need the big automaton.
        simple = _as_bool(pc.match_substring_regex(values, _SIMPLE_URI_RE2))
        rest = np.flatnonzero(~simple & _as_bool(pc.is_valid(values)))  # absent values need no verdict
        if not len(rest):
            return bools(simple)
        full = _as_bool(pc.match_substring_regex(pc.take(values, int64s(rest)), pattern))
        simple[rest] = full
        return bools(simple)

    return check_uri


def columnar_format_checks() -> dict[str, FormatCheck]:
    """Formats the reference asserts *and* we reproduce in bulk; other formats fall back per value."""
    asserted = set(Draft202012Validator.FORMAT_CHECKER.checkers)
    checks: dict[str, FormatCheck] = {}
    if "date" in asserted:
        checks["date"] = check_date
    if "date-time" in asserted and importlib.util.find_spec("rfc3339_validator") is not None:
        checks["date-time"] = check_datetime
    uri = _uri_check() if "uri" in asserted else None
    if uri is not None:
        checks["uri"] = uri
    return checks


def asserted_formats() -> frozenset[str]:
    """Formats the reference validator asserts (others are annotations and never fail)."""
    return frozenset(Draft202012Validator.FORMAT_CHECKER.checkers)
