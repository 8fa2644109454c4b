"""Record ids and canonical URLs: one article gets one id, however and wherever its page was fetched.

The id rule, version 2 (`ID_RULE_VERSION`; also in the README and docs/identity.md):

    key = identity_key(url)                                 when the record has a url
    key = source + "\\n" + published_date + "\\n" + title   otherwise (e.g. Maghress dumps)
    id  = sha256(key.encode("utf-8")).hexdigest()[:32]

`identity_key` folds away what does not change the article: the scheme (http = https), a leading
"www.", default ports, the #fragment, tracking parameters (`TRACKING_PARAMETERS`,
`TRACKING_PREFIXES`), the order of the other query parameters, AMP variants (a trailing "/amp" or
"/amp/", "?amp", "?amp=1", "outputType=amp"), a trailing slash and the case of percent-escapes. It
is written as an https URL: "https://" + host + path [+ "?" + sorted query]. The host, port and path
go through courlan's `normalize_url` (lower case, default ports, "//" and leading "/.." in the path,
IDNA); the query through the standard library's `parse_qsl`, keeping parameters without a value
("?12345" names an article on some sites), since courlan's own query cleaning drops those and strips
by a broad pattern (`cid`, `ref…`, `ga…`, `aff…`, `source…`) that would give two articles one id.

Which address a record gets (`choose_url`): the page's declared address (canonical link, og:url,
JSON-LD url) wins over the address it was fetched from (WARC-Target-URI, a saved page's "saved from"
comment, a mirror's folder) when both are on the same site (registered domain, from the public
suffix list the `tld` package ships: read from disk, never fetched); a declared address on another
site, or the bare home page of the site, is not the article's address and is left out.

`url`, `source`, `published_date` and `title` are the record's own values, already normalized, so
the id can be recomputed from the record alone. 32 hex characters are 128 bits: collisions are not
a practical concern. Version 1 (before issue 13) hashed the canonicalized URL itself; see
docs/identity.md for what that means for an archive made then.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

ID_HEX_CHARS = 32
ID_RULE_VERSION = 2

#: Query parameters that only say how a reader arrived (ad clicks, newsletters, analytics).
TRACKING_PARAMETERS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "twclid", "ttclid", "yclid", "ysclid",
    "igshid", "igsh", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "_openstat", "mkt_tok", "li_fat_id",
    "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "rb_clickid", "s_cid", "xtor", "at_medium",
    "at_campaign", "ref_src", "ref_url", "cmpid", "ito", "ns_campaign", "ns_mchannel", "ns_source",
    "ns_linkname", "ns_fee", "spm", "share", "fb_action_ids", "fb_action_types", "fb_ref", "fb_source",
})
#: Prefixes of families of such parameters (utm_source, utm_medium, pk_campaign, ...).
TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "piwik_", "matomo_", "hsa_", "itm_", "ga_")
_AMP_FLAG_VALUES = frozenset({"", "1", "true", "yes"})

# Characters RFC 3986 allows unescaped anywhere after the authority, plus "%" for existing escapes.
_URL_SAFE = "!$&'()*+,;=:@/?~%-._"
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_AMP_PATH = re.compile(r"/amp/?$", re.IGNORECASE)


def record_id(url: str | None, source: str, published_date: str, title: str) -> str:
    """The first 32 hex characters of the SHA-256 of the url's identity key, else of source, date and title."""
    key = identity_key(url) if url else None
    if key is None:
        key = f"{source}\n{published_date}\n{title}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:ID_HEX_CHARS]


def rekey(record: dict) -> dict:
    """The record with its id recomputed by the current rule (docs/identity.md: bringing an archive made
    with version 1 to version 2). Everything else is left as it is."""
    fresh = record_id(record.get("url"), record["source"], str(record["published_date"]), record["title"])
    return {**record, "id": fresh}


def is_tracking_parameter(name: str) -> bool:
    """True for a query parameter that does not change the page (see `TRACKING_PARAMETERS`)."""
    lowered = name.lower()
    return lowered in TRACKING_PARAMETERS or lowered.startswith(TRACKING_PREFIXES)


def _is_amp_parameter(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered == "amp":
        return value.lower() in _AMP_FLAG_VALUES
    return lowered == "outputtype" and value.lower() == "amp"


@lru_cache(maxsize=4096)
def identity_key(url: str | None) -> str | None:
    """The URL with everything that does not change the article folded away (module docstring), or None."""
    from courlan import normalize_url

    url = canonical_url(url)
    if url is None:
        return None
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not is_tracking_parameter(k) and not _is_amp_parameter(k, v)]
    try:  # host, port and path: courlan; the query is ours (see the module docstring)
        folded = urlsplit(normalize_url(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), strict=True))
    except ValueError:
        return None
    host = folded.netloc
    if host.startswith("www."):
        host = host[4:]
    path = _ESCAPE.sub(lambda m: m.group(0).upper(), folded.path)
    path = _AMP_PATH.sub("/", path).rstrip("/")
    query = "&".join(quote(k, safe="") + (f"={quote(v, safe='')}" if v else "") for k, v in sorted(pairs))
    return f"https://{host}{path}" + (f"?{query}" if query else "")


def clean_address(url: str | None) -> str | None:
    """The address a record keeps: `canonical_url`, tracking parameters removed, the rest as published."""
    url = canonical_url(url)
    if url is None:
        return None
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [piece for piece in parts.query.split("&") if not is_tracking_parameter(piece.split("=", 1)[0])]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), ""))


@lru_cache(maxsize=4096)
def registered_domain(url_or_host: str | None) -> str | None:
    """The registered domain (public suffix + one label) of a URL or host, or None (IP, localhost, unknown).

    The public suffix list is the snapshot the `tld` package ships; nothing is fetched.
    """
    if not url_or_host:
        return None
    host = urlsplit(url_or_host).hostname if "//" in url_or_host else url_or_host.lower()
    if not host:
        return None
    from tld import get_fld

    try:
        return get_fld(host, fix_protocol=True, fail_silently=True)
    except Exception:  # noqa: BLE001 - tld raises its own errors on odd hosts: then the host is no site
        return None


def same_site(a: str | None, b: str | None) -> bool:
    """Both URLs are on one site: the same registered domain, or the same host when there is none."""
    if not a or not b:
        return False
    domain_a, domain_b = registered_domain(a), registered_domain(b)
    if domain_a is not None or domain_b is not None:
        return domain_a == domain_b
    host_a, host_b = urlsplit(a).hostname, urlsplit(b).hostname
    return host_a is not None and host_a == host_b


def choose_url(declared: str | None, fetched: str | None) -> str | None:
    """The article's address: the declared one (canonical, og:url) when on the fetched one's site, else
    the fetched one; without a fetched address, the declared one. A declared address that is the bare
    home page while the fetched one is not names the site, not the article, and is left out."""
    declared, fetched = canonical_url(declared), canonical_url(fetched)
    if declared is None:
        return fetched
    if fetched is None:
        return declared
    if not same_site(declared, fetched):
        return fetched
    if _is_home(declared) and not _is_home(fetched):
        return fetched
    return declared


def _is_home(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query


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
