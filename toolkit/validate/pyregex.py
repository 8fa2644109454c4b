"""Translate Python `re` patterns into RE2 patterns with the same `re.search` verdicts.

The reference validator (python-jsonschema) applies `pattern` with Python's `re.search`, and its
format checkers use Python regexes too. Arrow's compute kernels speak RE2. The two differ in ways
that change verdicts: `\\d` and `\\s` are Unicode-aware in Python and ASCII in RE2, and Python's `$`
also matches before a final newline. So we parse the pattern with Python's own parser and re-emit
it for RE2, spelling out every class explicitly. Anything whose meaning we cannot reproduce exactly
(lookarounds, backreferences, word boundaries, case folding, inline flags, ...) is refused with
`Untranslatable`; callers then leave those values to the reference validator.
"""

from __future__ import annotations

import re
import sys
from functools import cache, lru_cache

if sys.version_info >= (3, 11):
    from re import _constants as C  # noqa: N812
    from re import _parser as sre_parse
else:  # pragma: no cover - Python 3.10
    import sre_constants as C  # noqa: N812
    import sre_parse

MAX_UNICODE = 0x10FFFF
_RE2_MAX_REPEAT = 1000


class Untranslatable(ValueError):
    """The pattern uses a construct whose Python semantics RE2 cannot reproduce exactly."""


@lru_cache(maxsize=1)
def _all_code_points() -> str:
    """Every scalar value (no surrogates) in one string, so one C-level regex scan classifies them."""
    import numpy as np

    cps = np.concatenate([np.arange(0xD800), np.arange(0xE000, MAX_UNICODE + 1)]).astype("<u4")
    return cps.tobytes().decode("utf-32-le")


@cache
def _category_ranges(category: str, ascii_only: bool) -> tuple[tuple[int, int], ...]:
    """Code point ranges matched by Python's `\\d`, `\\s` or `\\w` under the given flags."""
    rx = re.compile(rf"\{category}+", re.ASCII if ascii_only else 0)
    text = _all_code_points()
    gap = 0xE000 - 0xD800  # index -> code point shift after the surrogate hole
    out = []
    for m in rx.finditer(text):
        lo, hi = m.start(), m.end() - 1
        lo += gap if lo >= 0xD800 else 0
        hi += gap if hi >= 0xD800 else 0
        out.append((lo, hi))
    return tuple(out)


def _complement(ranges: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    out = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_UNICODE:
        out.append((nxt, MAX_UNICODE))
    # RE2 cannot represent surrogates; they never occur in valid UTF-8 anyway.
    fixed = []
    for lo, hi in out:
        if hi < 0xD800 or lo > 0xDFFF:
            fixed.append((lo, hi))
        else:
            if lo < 0xD800:
                fixed.append((lo, 0xD7FF))
            if hi > 0xDFFF:
                fixed.append((0xE000, hi))
    return fixed


def _cp(c: int) -> str:
    return f"\\x{{{c:x}}}"


def _class_body(ranges) -> str:
    return "".join(_cp(lo) if lo == hi else f"{_cp(lo)}-{_cp(hi)}" for lo, hi in ranges)


class _Emitter:
    def __init__(self, flags: int) -> None:
        if flags & (re.IGNORECASE | re.MULTILINE | re.LOCALE):
            raise Untranslatable("case-insensitive, multiline and locale flags are not translated")
        self.ascii = bool(flags & re.ASCII)
        self.dotall = bool(flags & re.DOTALL)

    def category(self, cat) -> list[tuple[int, int]]:
        name = str(cat).lower()
        table = {
            "category_digit": ("d", False),
            "category_not_digit": ("d", True),
            "category_space": ("s", False),
            "category_not_space": ("s", True),
            "category_word": ("w", False),
            "category_not_word": ("w", True),
        }
        if name not in table:
            raise Untranslatable(f"class category {cat}")
        letter, negate = table[name]
        ranges = _category_ranges(letter, self.ascii)
        return _complement(ranges) if negate else list(ranges)

    def emit_in(self, items) -> str:
        negate = False
        ranges: list[tuple[int, int]] = []
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                ranges.append((av, av))
            elif op is C.RANGE:
                ranges.append((av[0], av[1]))
            elif op is C.CATEGORY:
                ranges.extend(self.category(av))
            else:
                raise Untranslatable(f"class item {op}")
        if not ranges:
            return "[^\\x{0}-\\x{10ffff}]" if not negate else "[\\x{0}-\\x{10ffff}]"
        body = _class_body(_merge(ranges))
        return f"[^{body}]" if negate else f"[{body}]"

    def emit(self, seq, tail: bool) -> str:
        items = list(seq)
        out = []
        for i, (op, av) in enumerate(items):
            is_tail = tail and i == len(items) - 1
            out.append(self.emit_one(op, av, is_tail))
        return "".join(out)

    def emit_one(self, op, av, tail: bool) -> str:
        if op is C.LITERAL:
            return _cp(av)
        if op is C.NOT_LITERAL:
            return f"[^{_cp(av)}]"
        if op is C.ANY:
            return "(?s:.)" if self.dotall else "[^\\n]"
        if op is C.IN:
            return self.emit_in(av)
        if op is C.BRANCH:
            _, alternatives = av
            return "(?:" + "|".join(self.emit(alt, tail) for alt in alternatives) + ")"
        if op is C.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise Untranslatable("inline flags")
            return "(?:" + self.emit(sub, tail) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, sub = av
            if lo > _RE2_MAX_REPEAT or (hi is not C.MAXREPEAT and hi > _RE2_MAX_REPEAT):
                raise Untranslatable("repeat count above RE2's limit of 1000")
            body = "(?:" + self.emit(sub, False) + ")"
            if hi is C.MAXREPEAT:
                return body + ("*" if lo == 0 else "+" if lo == 1 else f"{{{lo},}}")
            return body + f"{{{lo},{hi}}}"
        if op is C.AT:
            name = str(av).lower()
            if name == "at_beginning" or name == "at_beginning_string":
                return "\\A"
            if name == "at_end_string":
                return "\\z"
            if name == "at_end":
                # Python's $ also matches just before a final newline; consuming that newline is
                # equivalent only where nothing follows in the pattern.
                if not tail:
                    raise Untranslatable("$ followed by more pattern")
                return "(?:\\n?\\z)"
            raise Untranslatable(f"assertion {av}")
        raise Untranslatable(f"construct {op}")


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    ranges = sorted(ranges)
    merged: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


@lru_cache(maxsize=512)
def to_re2(pattern: str, flags: int = 0, anchored: bool = False) -> str:
    """RE2 pattern that `search`es like Python's `re.search(pattern, s, flags)`.

    With `anchored=True` it behaves like `re.match` instead (used for format checkers).
    Raises `Untranslatable` when exactness cannot be guaranteed.
    """
    try:
        parsed = sre_parse.parse(pattern, flags)
    except re.error as exc:
        raise Untranslatable(f"not a Python regex: {exc}") from None
    emitter = _Emitter(parsed.state.flags)
    body = emitter.emit(parsed, tail=True)
    return ("\\A(?:" + body + ")") if anchored else body
