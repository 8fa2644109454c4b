"""Record ids and canonical URLs: the same article gets the same id on every run and machine.

The rule (also in the README):

    key = url                                        when the record has a url
    key = source + "\\n" + published_date + "\\n" + title   otherwise
    id  = sha256(key.encode("utf-8")).hexdigest()[:32]

`url`, `source`, `published_date` and `title` are the record's own values, already normalized
(NFC, whitespace collapsed; the url canonicalized by `canonical_url`), so the id can be recomputed
from the record alone. 32 hex characters are 128 bits: collisions are not a practical concern.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from urllib.parse import quote, urlsplit, urlunsplit

ID_HEX_CHARS = 32

# Characters RFC 3986 allows unescaped anywhere after the authority, plus "%" for existing escapes.
_URL_SAFE = "!$&'()*+,;=:@/?~%-._"
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def record_id(url: str | None, source: str, published_date: str, title: str) -> str:
    """The first 32 hex characters of the SHA-256 of the url, else of source, date and title."""
    key = url if url else f"{source}\n{published_date}\n{title}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:ID_HEX_CHARS]


def canonical_url(url: str | None) -> str | None:
    """An absolute http(s) URI that passes the schema's `uri` format, or None when there is none.

    Scheme and host are lower-cased (they are case-insensitive), the #fragment is dropped (it names
    a place in the page, not another page), a non-ASCII host is IDNA-encoded and every other
    character RFC 3986 does not allow (non-ASCII letters, spaces, a stray "%") is percent-encoded
    as UTF-8. Nothing else is rewritten: query strings and trailing slashes stay as published.
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname  # lower-cased by urlsplit
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    if parts.username is not None or parts.password is not None:
        return None  # credentials in a URL are not an article's address
    try:
        port = parts.port
    except ValueError:
        return None
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = _escape(parts.path) or "/"
    query = _escape(parts.query)
    result = urlunsplit((scheme, netloc, path, query, ""))
    return result if conforms(result, "uri") else None


def _escape(component: str) -> str:
    return quote(_BAD_PERCENT.sub("%25", component), safe=_URL_SAFE)


@lru_cache(maxsize=1)
def _format_checker():
    from jsonschema import Draft202012Validator

    return Draft202012Validator.FORMAT_CHECKER


def conforms(value: str, fmt: str) -> bool:
    """Check with the same format checker `validate` uses, so a value we keep is one it accepts."""
    return _format_checker().conforms(value, fmt)
