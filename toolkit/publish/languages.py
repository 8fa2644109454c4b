"""ISO 639 language codes, checked against pycountry's copy of the ISO tables rather than a typed list.

The Hub accepts ISO 639-1, 639-2 and 639-3 codes in a card's `language`; a code outside them makes the
card's metadata invalid, so codes are checked before they are written.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=1)
def iso_639_codes() -> frozenset[str]:
    """Every ISO 639-1/-2/-3 code (plus 639-5 collective codes that 639-2 also lists)."""
    import pycountry

    codes: set[str] = set()
    for language in pycountry.languages:
        for attr in ("alpha_2", "alpha_3", "bibliographic"):
            code = getattr(language, attr, None)
            if code:
                codes.add(code)
    for family in pycountry.language_families:
        codes.add(family.alpha_3)
    return frozenset(codes)


def is_iso_639(code: str) -> bool:
    return code in iso_639_codes()


def check_language_codes(codes: Iterable[str]) -> list[str]:
    """The codes that are not ISO 639, in the order given."""
    return [code for code in codes if not is_iso_639(code)]


def language_name(code: str) -> str:
    """English name of a code for the card's tables, or the code itself when unknown."""
    import pycountry

    found = None
    if len(code) == 2:
        found = pycountry.languages.get(alpha_2=code)
    elif len(code) == 3:
        found = pycountry.languages.get(alpha_3=code) or pycountry.languages.get(bibliographic=code)
    return found.name if found is not None else code
