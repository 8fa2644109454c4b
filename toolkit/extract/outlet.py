"""Where an HTML page says who published it and where it lives: the outlet's name and the page's address.

Pages put these in many places, and often in the wrong shape; trafilatura reads some of them (only
from a well-formed <head>, and it takes a `copyright` meta or a `<base href>` for them), so they are
read here, from the whole parsed tree:

- Declared address (`declared_url`): the canonical link, else og:url (or twitter:url), else the
  JSON-LD article's `url` or `mainEntityOfPage`; relative links are resolved against <base href>,
  then the fetched address.
- Fetched address, for a saved file (`saved_from_url`, `mirror_url`): the `<!-- saved from
  url=(NNNN)... -->` comment browsers write when saving a page, else the `host/path...` folders of a
  `wget --mirror` or HTTrack copy (a trailing index.html stands for the folder's address).
- Site name (`site_name`), first usable of: og:site_name, application-name, the JSON-LD publisher's
  name, the JSON-LD WebSite's name, a publisher or copyright meta, and as a last resort the part of
  the <title> beside the headline ("Headline | Le Desk"). Each is cleaned (`clean_site_name`):
  copyright notices, years and "all rights reserved" go, "Accueil | Le Desk" keeps the part that is
  not a generic page name (or that matches the host). A name that is only a host name, a slogan
  (more than `MAX_NAME_WORDS` words that do not name the host) or nothing but generic words is not
  used: the next place is tried, then `extract --source`, then the URL's host, then the host the
  page gave as its name (`declared_host`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import PurePath
from urllib.parse import urljoin

from toolkit.extract.ids import canonical_url, registered_domain
from toolkit.extract.normalize import clean_inline

MAX_NAME_WORDS = 6

_SAVED_FROM = re.compile(r"<!--\s*saved from url=\(\d+\)\s*(\S+?)\s*-->", re.IGNORECASE)
_SEPARATORS = re.compile(r"\s*\|\s*|\s+[-–—·•»:]\s+|\s*::\s*")
_TITLE_SEPARATORS = re.compile(r"\s*\|\s*|\s+[-–—·•»]\s+")
_COPYRIGHT = re.compile(
    r"copyright|©|\(c\)|&copy;|\b(?:19|20)\d\d\b(?:\s*[-–/]\s*(?:19|20)?\d\d\b)?"
    r"|(?:tous\s+)?droits\s+(?:de\s+reproduction\s+)?r[ée]serv[ée]s|all\s+rights\s+reserved"
    r"|todos\s+los\s+derechos\s+reservados|alle\s+rechte\s+vorbehalten|جميع\s+الحقوق\s+محفوظة"
    r"|(?:كل|جميع)\s+الحقوق\s+محفوظة\s+ل?|حقوق\s+النشر\s+محفوظة|حقوق\s+النشر",
    re.IGNORECASE,
)
_EDGE = " @.,;:|-–—·•»«\"'()[]/\\"
_HOST_LIKE = re.compile(r"^(?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)+/?$", re.UNICODE)
#: Names of a page rather than of an outlet, as sites put them beside their name.
GENERIC_NAMES = frozenset({
    "accueil", "page d'accueil", "home", "homepage", "home page", "startseite", "inicio", "portada",
    "الرئيسية", "الصفحة الرئيسية", "actualités", "actualité", "actualites", "news", "latest news",
    "breaking news", "info", "infos", "welcome", "bienvenue", "site officiel", "official site",
    "official website", "le site", "أخبار", "آخر الأخبار", "الأخبار", "noticias", "nachrichten",
})
_ARTICLE_TYPES = ("article", "blogposting", "report", "liveblogposting")


# --- addresses ----------------------------------------------------------------------------------

def saved_from_url(text: str) -> str | None:
    """The address in the "saved from url=(NNNN)..." comment a browser writes at the top of a saved page."""
    match = _SAVED_FROM.search(text[:8192])
    return canonical_url(match.group(1)) if match else None


def mirror_url(path: str | None) -> str | None:
    """The address a `wget --mirror`/HTTrack copy stored at `path` came from: its first folder that is a
    host name (with a public suffix) and the path below it; index.html stands for its folder."""
    if not path:
        return None
    parts = PurePath(path).parts
    for index, part in enumerate(parts[:-1]):
        host = part.lower()
        if "." not in host or not _HOST_LIKE.match(host) or registered_domain(host) is None:
            continue
        rest = list(parts[index + 1:])
        if rest[-1].lower() in ("index.html", "index.htm"):
            rest[-1] = ""
        return canonical_url(f"https://{host}/" + "/".join(rest))
    return None


def declared_url(tree, base: str | None) -> str | None:
    """The address the page declares for itself (canonical link, og:url, JSON-LD), absolute, or None."""
    return next(iter(declared_urls(tree, base)), None)


def declared_urls(tree, base: str | None) -> list[str]:
    """Every address the page declares for itself, absolute, in the order of `declared_url`."""
    href_base = next((e.get("href") for e in tree.iter("base") if e.get("href")), None)
    if href_base:
        base = urljoin(base or "", href_base.strip())
    metas = meta_values(tree)
    candidates = [e.get("href") for e in tree.iter("link") if "canonical" in (e.get("rel") or "").lower().split()]
    candidates += [metas.get("og:url"), metas.get("twitter:url")]
    for obj in _json_ld_articles(tree):
        candidates.append(obj.get("url"))
        entity = obj.get("mainEntityOfPage")
        if isinstance(entity, dict):
            entity = entity.get("@id") or entity.get("url")
        candidates.append(entity)
    og = canonical_url(metas.get("og:url"))
    found: list[str] = []
    for candidate in candidates:
        if not isinstance(candidate, str) or not candidate.strip():
            continue
        href = candidate.strip()
        if href.startswith("//"):
            href = "https:" + href
        url = canonical_url(href) or (canonical_url(urljoin(base or og or "", href)) if base or og else None)
        if url and url not in found:
            found.append(url)
    return found


# --- the outlet's name --------------------------------------------------------------------------

def meta_values(tree) -> dict[str, str]:
    """The first non-empty content of every <meta>, by its lower-cased property, name or itemprop."""
    values: dict[str, str] = {}
    for element in tree.iter("meta"):
        content = element.get("content")
        if not content or not content.strip():
            continue
        for attribute in ("property", "name", "itemprop"):
            key = (element.get(attribute) or "").strip().lower()
            if key:
                values.setdefault(key, content.strip())
    return values


def site_name(tree, url: str | None, headline: str | None) -> str | None:
    """The outlet's name from the first place that gives a usable one (module docstring), or None."""
    metas = meta_values(tree)
    candidates: list[str | None] = [metas.get("og:site_name"), metas.get("application-name")]
    publishers, websites = _json_ld_names(tree)
    candidates += publishers + websites
    candidates += [metas.get(k) for k in ("publisher", "dc.publisher", "dcterms.publisher", "copyright")]
    for candidate in candidates:
        if isinstance(candidate, str):
            name = clean_site_name(candidate, url)
            if name:
                return name
    return title_site_name(_title_text(tree), headline, url)


def declared_host(tree) -> str | None:
    """A host name the page gives as its site name ("www.Le360.ma"), lower-cased without "www.": the
    host to fall back to when the page has no address to take one from."""
    metas = meta_values(tree)
    for key in ("og:site_name", "application-name"):
        bare = clean_inline(metas.get(key) or "").lower().removeprefix("https://").removeprefix("http://")
        bare = bare.rstrip("/")
        if _HOST_LIKE.match(bare) and registered_domain(bare):
            return bare.removeprefix("www.")
    return None


def clean_site_name(raw: str, url: str | None = None) -> str | None:
    """A declared site name without copyright notices and page names, or None if none is left that is
    a name (only a host, a slogan, generic words)."""
    text = clean_inline(_COPYRIGHT.sub(" ", clean_inline(raw)))
    parts = [p.strip(_EDGE) for p in _SEPARATORS.split(text)]
    parts = [p for p in parts if p and p.casefold() not in GENERIC_NAMES and any(ch.isalnum() for ch in p)]
    if not parts:
        return None
    matching = [p for p in parts if _names_host(p, url)]
    name = clean_inline((matching or parts)[0])
    if _HOST_LIKE.match(name) and registered_domain(name.lower().removeprefix("www.").rstrip("/")):
        return None  # only a host: the caller falls back to the URL's host
    if len(name.split()) > MAX_NAME_WORDS and not matching:
        return None  # a slogan
    return name


def title_site_name(title: str | None, headline: str | None, url: str | None) -> str | None:
    """The site name in a <title> like "Headline | Le Desk" or "Le Desk - Headline", else None."""
    if not title:
        return None
    parts = [p.strip(_EDGE) for p in _TITLE_SEPARATORS.split(clean_inline(title))]
    parts = [p for p in parts if p]
    if len(parts) < 2:
        return None
    for part in parts:
        if _names_host(part, url):
            return clean_site_name(part, url)
    if not headline:
        return None
    head = _fold(headline)
    for candidate, rest in ((parts[-1], parts[:-1]), (parts[0], parts[1:])):
        joined = _fold(" ".join(rest))
        if joined and (joined.startswith(head[:30]) or head.startswith(joined[:30])):
            return clean_site_name(candidate, url)
    return None


#: Between a headline and the site name in a <title>; "_" too, as Chinese sites write "标题_频道_网站".
_HEADLINE_SEPARATORS = re.compile(r"\s*\|\s*|\s+[-–—·•»]\s+|\s*::\s*|\s*_\s*")


def names_site(text: str, url: str | None, source: str | None) -> bool:
    """The text is the outlet's name (`source`, compared loosely), spells the host's domain label, or
    is a host name: a site's logo or name, not a headline."""
    folded = _fold(text)
    if not folded:
        return False
    bare = clean_inline(text).lower().removeprefix("www.").rstrip("/")
    return (bool(source) and folded == _fold(source or "")) or _names_host(text, url) or (
        bool(_HOST_LIKE.match(bare)) and registered_domain(bare) is not None)


def title_headline(tree, url: str | None, source: str | None) -> str | None:
    """The headline in the page's <title>: its longest part that is not the site's name, its host or a
    generic page name ("Headline - Site | Section" gives "Headline"); None if no part is left."""
    text = clean_inline(_title_text(tree) or "")
    parts = [p.strip(_EDGE) for p in _HEADLINE_SEPARATORS.split(text)] if text else []
    parts = [p for p in parts if p and any(ch.isalnum() for ch in p) and p.casefold() not in GENERIC_NAMES
             and not names_site(p, url, source)]
    return max(parts, key=lambda p: (len(p.split()), len(p)), default=None)


def title_text(tree) -> str | None:
    """The text of the page's <title> element, as written (None without one)."""
    return _title_text(tree)


def _title_text(tree) -> str | None:
    for element in tree.iter("title"):
        text = element.text_content() if hasattr(element, "text_content") else element.text
        if text and text.strip():
            return text
    return None


def _fold(text: str) -> str:
    """Lower-case letters and digits only, accents dropped: for comparing names loosely."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum())


def _names_host(name: str, url: str | None) -> bool:
    """The name spells the site's domain label ("Le Desk" and ledesk.ma, "Le360" and le360.ma)."""
    domain = registered_domain(url) if url else None
    if not domain:
        return False
    label = _fold(domain.split(".")[0])
    folded = _fold(name)
    return len(label) >= 3 and len(folded) >= 3 and (folded == label or label in folded or folded in label)


def _json_ld_objects(tree) -> Iterator[dict]:
    for element in tree.iter("script"):
        if (element.get("type") or "").strip().lower() != "application/ld+json" or not element.text:
            continue
        try:
            data = json.loads(element.text, strict=False)
        except (ValueError, RecursionError):
            continue
        stack = [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])


def _types(obj: dict) -> list[str]:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return [k.lower() for k in kinds if isinstance(k, str)]


def _json_ld_articles(tree) -> Iterator[dict]:
    for obj in _json_ld_objects(tree):
        if any(k.endswith(_ARTICLE_TYPES) for k in _types(obj)):
            yield obj


def _json_ld_names(tree) -> tuple[list[str], list[str]]:
    """(names of article publishers, names of WebSite objects) in the page's JSON-LD."""
    publishers: list[str] = []
    websites: list[str] = []
    for obj in _json_ld_objects(tree):
        kinds = _types(obj)
        if any(k.endswith(_ARTICLE_TYPES) for k in kinds):
            publisher = obj.get("publisher")
            for item in publisher if isinstance(publisher, list) else [publisher]:
                name = item.get("name") if isinstance(item, dict) else item
                if isinstance(name, str):
                    publishers.append(name)
        elif "website" in kinds and isinstance(obj.get("name"), str):
            websites.append(obj["name"])
    return publishers, websites
