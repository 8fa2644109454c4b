"""Text normalization shared by every input format, so equal articles give equal records.

- Unicode NFC, so "é" typed two ways compares (and hashes) equal.
- Invisible formatting characters are removed: zero-width space, word joiner, directional marks
  and embeddings (common around digits in Arabic pages), soft hyphen, byte-order mark, and C0/C1
  control characters. They are rendering hints, not text, and would defeat search and dedup.
- Whitespace inside a paragraph is collapsed to one space, whatever its kind (tab, non-breaking
  space, narrow no-break space, em space...): `str.split()` knows every Unicode space.
- Paragraphs are joined with exactly one blank line, the schema's `text` convention.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: Deleted before anything else. ZWNJ/ZWJ (U+200C/D) are kept: they change Persian and emoji text.
_INVISIBLE = (
    [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]
    + [0x00AD, 0x061C, 0x180E, 0x200B, 0x200E, 0x200F, *range(0x202A, 0x202F), 0x2060,
       *range(0x2066, 0x206A), 0xFEFF]
)
_DELETE_INVISIBLE = dict.fromkeys(_INVISIBLE)
# Keep the line structure: these are whitespace to split() but must not vanish before it.
for _keep in (0x0C, 0x0B, 0x1C, 0x1D, 0x1E, 0x1F, 0x85):
    _DELETE_INVISIBLE.pop(_keep, None)

PARAGRAPH_SEPARATOR = "\n\n"


# A regex, not str.translate: translate looks every character up in a dict, ten times slower.
_INVISIBLE_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_DELETE_INVISIBLE)) + "]+")


def strip_invisible(text: str) -> str:
    """Drop formatting and control characters that carry no text (see the module docstring)."""
    return _INVISIBLE_RE.sub("", text)


def nfc(text: str) -> str:
    """NFC, skipping the copy when the text already is (the usual case)."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def clean_inline(text: str) -> str:
    """One line of text: invisible characters dropped, NFC, runs of any whitespace become one space."""
    return " ".join(nfc(strip_invisible(text)).split())


def join_paragraphs(paragraphs: Iterable[str]) -> str:
    """Clean each paragraph, drop the empty ones, join with one blank line."""
    return PARAGRAPH_SEPARATOR.join(p for p in map(clean_inline, paragraphs) if p)
