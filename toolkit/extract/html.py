"""HTML pages to `Page`s through trafilatura: main text, title, date, authors; address and outlet.

- `url`: the article's address (`toolkit.extract.ids.choose_url`): the address the page declares
  (canonical link, og:url, JSON-LD) when it is on the site the page was fetched from, else the
  fetched address (the WARC target URI, a saved page's "saved from" comment, a mirror's folders).
  See `toolkit.extract.outlet` for where each is read.
- `source`: the site name the page declares, cleaned (`toolkit.extract.outlet.site_name`); when it
  declares none, `extract --source`, else the host name of the url without "www.".
- `published_date`: trafilatura's date extraction (htmldate: metadata first, then the URL and the
  text). A page where no date is found is rejected: the schema requires one and a guess is worse.
- The body loses a first paragraph that only repeats the title (trafilatura keeps the <h1>).
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlsplit

from toolkit.extract.decode import declared_html_charset, decode_bytes
from toolkit.extract.errors import PageRejected
from toolkit.extract.ids import canonical_url, choose_url
from toolkit.extract.normalize import clean_inline
from toolkit.extract.outlet import declared_host, declared_urls, mirror_url, saved_from_url, site_name
from toolkit.extract.records import Page, iso_date

_quiet = False


def _silence_libraries() -> None:
    """trafilatura and htmldate log every odd page at WARNING; extract reports rejects itself."""
    global _quiet
    if not _quiet:
        for name in ("trafilatura", "htmldate", "courlan", "justext"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        _quiet = True


def parse_html(data: bytes | str, url: str | None = None, charset: str | None = None, *,
               path: str | None = None, source: str | None = None) -> Page:
    """Parse one HTML page.

    `url` is where it was fetched from (a WARC target URI), `charset` the HTTP header's, if known;
    `path` the file it was read from (a mirror's folders name its address); `source` the outlet to
    name when the page names none (`extract --source`).
    """
    from trafilatura import bare_extraction
    from trafilatura.utils import load_html

    _silence_libraries()
    if isinstance(data, bytes):
        data = decode_bytes(data, charset or declared_html_charset(data))
    try:
        tree = load_html(data)
    except (ValueError, TypeError) as exc:  # lxml on a page it cannot make a tree of
        raise PageRejected(f"not parseable as HTML ({exc})") from None
    if tree is None:
        raise PageRejected("no article text found in the HTML (empty page, or nothing but navigation)")
    fetched = canonical_url(url) or saved_from_url(data) or mirror_url(path)
    # the first declared address that wins over the fetched one (a canonical link to a partner site
    # does not hide an og:url on the fetched site), else the fetched one
    page_url = next((u for u in declared_urls(tree, fetched) if choose_url(u, fetched) == u), None) or fetched
    try:
        doc = bare_extraction(  # copies the tree: it is read again below
            tree, url=page_url, with_metadata=True, include_comments=False, include_tables=False,
            include_images=False, include_links=False, deduplicate=False,
        )
    except (ValueError, TypeError) as exc:
        raise PageRejected(f"not parseable as HTML ({exc})") from None
    if doc is None:
        raise PageRejected("no article text found in the HTML (empty page, or nothing but navigation)")
    title = doc.title or ""
    lines = (doc.text or "").splitlines()
    if lines and clean_inline(lines[0]) == clean_inline(title):
        lines = lines[1:]
    published = _checked_date(doc.date)
    source = site_name(tree, page_url, title) or clean_inline(source or "") or _host(page_url) or declared_host(tree)
    authors = doc.author.split(";") if doc.author else []
    tags = [*(doc.categories or []), *(doc.tags or [])]
    return Page(
        title=title, source=source, published_date=published, paragraphs=lines, url=page_url,
        authors=authors, tags=tags, description=doc.description, image_url=doc.image,
    )


def _checked_date(value: str | None) -> str | None:
    """htmldate's answer, kept only if it is a real calendar date in the schema's form."""
    if not value:
        return None
    try:
        parsed = dt.date.fromisoformat(value[:10])
        return iso_date(parsed.year, parsed.month, parsed.day)
    except ValueError:
        return None


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host[4:] if host.startswith("www.") else host
