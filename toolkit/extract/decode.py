"""Bytes to text: UTF-8 first, then a declared or detected legacy encoding, else a clear reject.

Scraped pages are mostly UTF-8, but older French and Arabic sites still serve cp1252 / cp1256.
Guessing among every codec charset-normalizer knows is slow and wrong on short texts (cp1252 French
comes out as cp1250), so detection is limited to the encodings such pages actually use.

Real crawls are not clean, and two kinds of damage are repaired rather than rejected:
- A UTF-8 page with a few stray bytes (a cp1252 quote pasted into a template, a cut multibyte
  character) stays UTF-8: the bad bytes become U+FFFD and are counted. Decoding the whole page as a
  legacy encoding instead would turn every accented letter into mojibake (`schÃ¶n`). A legacy
  encoding is chosen only when the bytes really are one: when valid UTF-8 multibyte sequences do not
  outnumber the invalid bytes (legacy text almost never forms valid UTF-8 sequences by chance).
- NUL bytes in the markup are dropped, as browsers do, and counted. A file is binary (rejected)
  only when NULs or control bytes make up a real share of it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from toolkit.extract.errors import PageRejected
from toolkit.extract.normalize import nfc

#: Legacy encodings tried when the bytes are not UTF-8 and nothing is declared.
LEGACY_ENCODINGS = ("cp1252", "cp1256", "iso8859_6", "iso8859_15", "utf_16", "utf_16_le", "utf_16_be", "utf_32")
#: More NULs than 1 byte in this many and the file is UTF-16/32 or binary, not text with stray NULs.
NUL_SHARE = 8
#: More control characters (other than tab, newlines, form feed, escape) than 1 in this many: binary.
CONTROL_SHARE = 100

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
#: One well-formed UTF-8 multibyte sequence (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class Decoded:
    """The text of a page, the encoding it was read in, and what was repaired on the way."""

    text: str
    encoding: str
    replaced: int = 0  # invalid UTF-8 sequences replaced by U+FFFD
    nuls: int = 0  # NUL bytes dropped from the markup

    @property
    def repairs(self) -> dict[str, int]:
        """Non-zero repair counts by kind, as the extract summary counts them."""
        found = {"invalid UTF-8 bytes replaced": self.replaced, "NUL bytes dropped": self.nuls}
        return {kind: n for kind, n in found.items() if n}


def declared_html_charset(data: bytes) -> str | None:
    """The charset a page declares in its first 4 KB (meta tag or XML declaration), if any."""
    head = data[:4096]
    match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    return match.group(1).decode("ascii") if match else None


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """The text of `data` (see `decode`); for callers that do not report repairs."""
    return decode(data, declared).text


def decode(data: bytes, declared: str | None = None) -> Decoded:
    """Decode, NFC-normalize and check for binary content; raise PageRejected if no encoding fits.

    Order: a byte-order mark; UTF-8 (whole, or overwhelmingly with a few bad bytes replaced); the
    `declared` charset (HTTP header or meta tag); the legacy encodings above, as charset-normalizer
    ranks them. Stray NULs are dropped; many NULs or control bytes make the file binary.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(_checked(data.decode(encoding)), encoding)
            except UnicodeDecodeError as exc:
                raise PageRejected(
                    f"undecodable bytes: starts with a {encoding} byte-order mark but byte {exc.start} is "
                    f"not {encoding}; re-save the file as UTF-8"
                ) from None
    nuls = data.count(0)
    if nuls * NUL_SHARE > len(data):  # UTF-16/32 without a byte-order mark, or binary
        return Decoded(_legacy(data, f"NUL byte at offset {data.index(0)}", declared), "legacy")
    if nuls:
        data = data.replace(b"\x00", b"")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8"
    else:
        return Decoded(_checked(text), "utf-8", nuls=nuls)
    text = data.decode("utf-8", "replace")
    replaced = text.count(_REPLACEMENT) - data.count(_REPLACEMENT.encode("utf-8"))
    if len(_UTF8_SEQUENCE.findall(data)) > replaced:  # UTF-8 with a few bad bytes, not a legacy page
        return Decoded(_checked(text), "utf-8", replaced=replaced, nuls=nuls)
    return Decoded(_legacy(data, problem, declared), "legacy", nuls=nuls)


def _legacy(data: bytes, problem: str, declared: str | None) -> str:
    """The declared charset if it fits, else the legacy encoding charset-normalizer ranks first."""
    if declared and _codec(declared) not in (None, "utf-8"):
        try:
            return _checked(data.decode(declared))
        except (UnicodeDecodeError, PageRejected):
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS)).best()
    if best is not None and best.encoding is not None:
        try:
            return _checked(str(best))
        except PageRejected:
            pass
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
    """NFC text, or PageRejected when NULs or control characters say the bytes were not text."""
    nul = text.find("\x00")
    if nul >= 0:
        raise PageRejected(f"undecodable bytes: NUL character at offset {nul}; this is not a text page")
    controls = len(_CONTROL.findall(text))
    if controls and controls * CONTROL_SHARE > len(text):
        raise PageRejected(f"undecodable bytes: {controls} control characters in {len(text)}; "
                           "this is not a text page")
    return nfc(text)
