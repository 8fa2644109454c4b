"""Bytes to text: UTF-8 first, then a declared or detected legacy encoding, else a clear reject.

Scraped pages are mostly UTF-8, but older French and Arabic sites still serve cp1252 / cp1256.
Guessing among every codec charset-normalizer knows is slow and wrong on short texts (cp1252 French
comes out as cp1250), so detection is limited to the encodings such pages actually use.
"""

from __future__ import annotations

import codecs
import re

from toolkit.extract.errors import PageRejected
from toolkit.extract.normalize import nfc

#: Legacy encodings tried when the bytes are not UTF-8 and nothing is declared.
LEGACY_ENCODINGS = ("cp1252", "cp1256", "iso8859_6", "iso8859_15", "utf_16", "utf_16_le", "utf_16_be", "utf_32")

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def declared_html_charset(data: bytes) -> str | None:
    """The charset a page declares in its first 4 KB (meta tag or XML declaration), if any."""
    head = data[:4096]
    match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    return match.group(1).decode("ascii") if match else None


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode, NFC-normalize and check for binary content; raise PageRejected if no encoding fits.

    Order: a byte-order mark; UTF-8; the `declared` charset (HTTP header or meta tag); the legacy
    encodings above, as charset-normalizer ranks them. Text with NUL characters is binary.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(encoding))
            except UnicodeDecodeError as exc:
                raise PageRejected(
                    f"undecodable bytes: starts with a {encoding} byte-order mark but byte {exc.start} is "
                    f"not {encoding}; re-save the file as UTF-8"
                ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8"
    else:
        if "\x00" not in text:
            return nfc(text)
        problem = f"NUL byte at offset {text.index(chr(0))}"  # maybe UTF-16 without a byte-order mark
    if declared and _codec(declared) not in (None, "utf-8"):
        try:
            return _checked(data.decode(declared))
        except (UnicodeDecodeError, PageRejected):
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS)).best()
    if best is not None and best.encoding is not None:
        text = str(best)
        if "\x00" not in text:
            return nfc(text)
    raise PageRejected(
        f"undecodable bytes: {problem}, and no legacy encoding fits ({', '.join(LEGACY_ENCODINGS)}); "
        "if this is a text page, re-save it as UTF-8"
    )


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _checked(text: str) -> str:
    nul = text.find("\x00")
    if nul >= 0:
        raise PageRejected(f"undecodable bytes: NUL character at offset {nul}; this is not a text page")
    return nfc(text)
