"""Python regex -> RE2 translation and the columnar format checks agree with Python exactly."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from toolkit.validate.formats import columnar_format_checks
from toolkit.validate.pyregex import Untranslatable, to_re2

ATOMS = [r"a", r"b", r"\d", r"\D", r"\s", r"\S", r"\w", r"\W", r".", r"[a-c]", r"[^a\s]", r"[\d_]", r"é",
         r"\u0661", r"\.", r"-", r"\n", r"[\u00a0\u3000]", r"\x41"]
STRINGS = st.text(alphabet=st.sampled_from(list("ab c1_é\n\t\u00a0\u3000\u0661\u2028A.-xyz")), max_size=8)


@st.composite
def patterns(draw, depth=0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["atom"] * 4 + (["group", "alt"] if depth < 2 else [])))
        if kind == "atom":
            part = draw(st.sampled_from(ATOMS))
        elif kind == "group":
            part = "(?:" + draw(patterns(depth + 1)) + ")"
        else:
            part = "(?:" + draw(patterns(depth + 1)) + "|" + draw(patterns(depth + 1)) + ")"
        part += draw(st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,3}", "{,2}", "*?"]))
        parts.append(part)
    pattern = "".join(parts)
    if draw(st.booleans()):
        pattern = "^" + pattern
    if draw(st.booleans()):
        pattern += draw(st.sampled_from(["$", r"\Z"]))
    return pattern


@settings(max_examples=300, deadline=None)
@given(patterns(), st.lists(STRINGS, min_size=1, max_size=12))
def test_translated_patterns_search_like_python(pattern, strings):
    try:
        translated = to_re2(pattern)
    except Untranslatable:
        return
    got = pc.match_substring_regex(pa.array(strings, pa.string()), translated).to_pylist()
    assert got == [re.search(pattern, s) is not None for s in strings], (pattern, translated)


@pytest.mark.parametrize("pattern", [r"a$b", r"\bword", r"(?i)abc", r"(a)\1", r"(?=a)b", r"(?<!a)b", r"a{2000}",
                                     r"(?m)^a", r"(?>a)", r"a*+"])
def test_constructs_re2_cannot_reproduce_are_refused(pattern):
    with pytest.raises(Untranslatable):
        to_re2(pattern)


def test_python_dollar_and_unicode_classes():
    rx = to_re2(r"^[a-z]{2,3}$")
    values = pa.array(["fr", "fr\n", "fr\n\n", "FR", "ary"])
    assert pc.match_substring_regex(values, rx).to_pylist() == [True, True, False, False, True]
    assert pc.match_substring_regex(pa.array(["\u00a0", "\u3000", " x"]), to_re2(r"\S")).to_pylist() == \
        [False, False, True]
    assert pc.match_substring_regex(pa.array(["\u0661", "1", "x"]), to_re2(r"^\d$")).to_pylist() == \
        [True, True, False]


FORMAT_SAMPLES = {
    "date": ["2021-06-28", "2021-02-29", "2020-02-29", "1900-02-29", "2000-02-29", "0000-01-01", "0001-01-01",
             "2021-13-01", "2021-00-10", "2021-06-31", "2021-6-28", "2021-06-28\n", " 2021-06-28", "２０２１-06-28",
             "\u0661\u0662\u0663\u0664-01-01", "28 - 06 - 2021", "", "9999-12-31"],
    "date-time": ["2021-06-28T10:00:00Z", "2021-06-28t10:00:00z", "2021-06-28T10:00:00.5+01:00",
                  "2021-06-28T24:00:00Z", "2021-06-28T23:60:00Z", "2021-06-28T23:59:60Z", "2021-02-29T10:00:00Z",
                  "2021-06-28T10:00:00Z\n", "2021-06-28T10:00:00", "2021-06-28 10:00:00Z", "0000-01-01T00:00:00Z",
                  "2021-06-28T10:00:00+24:00", "2021-06-28T10:00:00-23:59", "yesterday", ""],
    "uri": ["https://www.maghress.com/fr/1/2", "http://a b", "mailto:x@y.ma", "urn:isbn:123", "//no-scheme",
            "https://[::1]:80/", "https://ex.com/%zz", "https://ex.com/%41", "https://ex.com/é", "x",
            "https://ex.com/\n", "1http://x", "https://user:pw@h.ma:8080/p?q=1#f"],
}


@pytest.mark.parametrize("fmt", sorted(FORMAT_SAMPLES))
def test_columnar_formats_match_the_reference_checker(fmt):
    checks = columnar_format_checks()
    assert fmt in checks, f"{fmt} is asserted by the reference but has no columnar check"
    values = FORMAT_SAMPLES[fmt]
    expected = [Draft202012Validator.FORMAT_CHECKER.conforms(v, fmt) for v in values]
    assert checks[fmt](pa.array(values, pa.string())).to_pylist() == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?"
                              r"(Z|[+-][0-9]{2}:[0-9]{2}))?\Z"), min_size=1, max_size=20))
def test_generated_dates_and_datetimes(values):
    checks = columnar_format_checks()
    arr = pa.array(values, pa.string())
    for fmt in ("date", "date-time"):
        expected = [Draft202012Validator.FORMAT_CHECKER.conforms(v, fmt) for v in values]
        assert checks[fmt](arr).to_pylist() == expected


# --- the typed decoder's folding of `not: {pattern}` into one Python pattern --------------------------

FOLD_CASES = [("^[0-9a-f]{16,64}$", "\\s"), ("^[a-z]{2,3}$", "\\s"), ("^a|b", "x"), (None, "\\d"), ("x", "\\w"),
              ("\\bword", "[ab]+c"), ("(a)(b)?", "\\S"), ("$", "^$")]


@pytest.mark.parametrize(("first", "second"), FOLD_CASES)
@settings(max_examples=150, deadline=None)
@given(value=st.text(alphabet="0123456789abcdefwordxy \n\t\u00a0\u3000١٢", max_size=20))
def test_folded_not_pattern_means_pattern_and_not_pattern(first, second, value):
    import re

    from toolkit.validate.typed import _fold_not_pattern

    sub = {"not": {"pattern": second}} | ({"pattern": first} if first is not None else {})
    folded = _fold_not_pattern(sub)
    assert folded is not None
    expected = (first is None or re.search(first, value) is not None) and re.search(second, value) is None
    assert (re.search(folded, value) is not None) == expected


def test_patterns_that_cannot_be_folded_stay_column_checks():
    from toolkit.validate.typed import _fold_not_pattern

    assert _fold_not_pattern({"pattern": "(a)", "not": {"pattern": "(b)\\1"}}) is None  # group numbers would shift
    assert _fold_not_pattern({"pattern": "(?i)a", "not": {"pattern": "b"}}) is None  # global flags
    assert _fold_not_pattern({"not": {"pattern": "b", "minLength": 2}}) is None
