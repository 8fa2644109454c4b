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

import pyarrow as pa
import pyarrow.compute as pc
from jsonschema import Draft202012Validator

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


def _rem(values: pa.Array, n: int) -> pa.Array:
    return pc.subtract(values, pc.multiply(pc.divide(values, n), n))  # integer division truncates


def _days_in_month(year: pa.Array, month: pa.Array) -> pa.Array:
    leap = pc.and_(
        pc.equal(pc.bit_wise_and(year, 3), 0),
        pc.or_(pc.not_equal(_rem(year, 100), 0), pc.equal(_rem(year, 400), 0)),
    )
    month_len = pa.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int32())
    base = pc.take(month_len, month)
    return pc.add(base, pc.cast(pc.and_(leap, pc.equal(month, 2)), pa.int32()))


def _calendar_ok(values: pa.Array, shape_ok: pa.Array, y: tuple[int, int], m: tuple[int, int],
                 d: tuple[int, int]) -> pa.Array:
    """Year >= 1 and the day exists in that month, for values whose shape already matched."""
    safe = pc.if_else(shape_ok, values, pa.scalar("0001-01-01"))

    def part(start: int, stop: int) -> pa.Array:
        return pc.cast(pc.utf8_slice_codeunits(safe, start, stop), pa.int32())

    year, month, day = part(*y), part(*m), part(*d)
    month_ok = pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12))
    safe_month = pc.if_else(month_ok, month, pa.scalar(1, pa.int32()))
    day_ok = pc.and_(pc.greater_equal(day, 1), pc.less_equal(day, _days_in_month(year, safe_month)))
    return pc.and_(shape_ok, pc.and_(pc.greater_equal(year, 1), pc.and_(month_ok, day_ok)))


def check_date(values: pa.Array) -> pa.Array:
    shape = pc.match_substring_regex(values, _DATE_RE2)
    return _calendar_ok(values, shape, (0, 4), (5, 7), (8, 10))


def check_datetime(values: pa.Array) -> pa.Array:
    shape = pc.match_substring_regex(values, _DATETIME_RE2)
    return _calendar_ok(values, shape, (0, 4), (5, 7), (8, 10))


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
        return pc.match_substring_regex(values, pattern)

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
