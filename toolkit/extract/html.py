"""HTML pages to `Page`s through trafilatura: main text, title, date, authors; address and outlet.

- `url`: the article's address (`toolkit.extract.ids.choose_url`): the address the page declares
  (canonical link, og:url, JSON-LD) when it is on the site the page was fetched from, else the
  fetched address (the WARC target URI, a saved page's "saved from" comment, a mirror's folders).
  See `toolkit.extract.outlet` for where each is read.
- `source`: the site name the page declares, cleaned (`toolkit.extract.outlet.site_name`); when it
  declares none, `extract --source`, else the host name of the url without "www.".
- `published_date`: trafilatura's date extraction (htmldate: metadata first, then the URL and the
  text). A page where no date is found is rejected: the schema requires one and a guess is worse.
- `title`: trafilatura's, except where it took a page's lone <h1> that is a label, not the headline
  (the site's logo, a section name; see `_headline`): then the headline part of the <title>. On
  Mozilla Readability's test pages that makes 0.827 of titles exact against trafilatura's 0.646.
- The body loses a first paragraph that only repeats the title (trafilatura keeps the <h1>).
- Tables are kept (`INCLUDE_TABLES`): standings, election results and market figures are the article
  on some pages. A row becomes one line of the body, cells separated by " | ".
- trafilatura runs in its default balance, not `favor_precision` (`FAVOUR_PRECISION`). On the
  article-extraction benchmark (181 pages) precision mode scores body F1 0.965 against 0.962 (and
  0.958 for trafilatura run directly), a difference within the noise of 181 pages; but on htmldate's
  200 news pages of 2020 it finds no article text at all on 2 of them (a forum thread, a news page),
  which lose their record: date accuracy 0.875 against trafilatura's 0.885. The default balance
  loses no page and is at least as good as trafilatura on every measure. Measured with
  `bench/bench_extract.py --benchmark PATH` (see its docstring).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from urllib.parse import urlsplit

from toolkit.extract.decode import declared_html_charset, decode
from toolkit.extract.errors import PageRejected
from toolkit.extract.ids import canonical_url, choose_url
from toolkit.extract.normalize import clean_inline
from toolkit.extract.outlet import (
    declared_host,
    declared_urls,
    meta_values,
    mirror_url,
    names_site,
    saved_from_url,
    site_name,
    title_headline,
    title_text,
)
from toolkit.extract.records import Page, iso_date

#: Tables as text (one row a line) rather than dropped; see bench/bench_extract.py --benchmark.
INCLUDE_TABLES = True
#: trafilatura's precision mode: off, it loses whole pages (see the module docstring).
FAVOUR_PRECISION = False
#: A lone <h1> of at most this many words that is not in the <title> may be a label, not the headline.
MAX_LABEL_WORDS = 4
_LONG_WORD = re.compile(r"\w{4,}")
_TABLE_RULE = re.compile(r"^\s*\|(?:\s*:?-+:?\s*\|)+\s*$")  # the |---|---| line under a header row

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
    repairs: dict[str, int] = {}
    if isinstance(data, bytes):
        decoded = decode(data, charset or declared_html_charset(data))
        data, repairs = decoded.text, decoded.repairs
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
            tree, url=page_url, with_metadata=True, include_comments=False, include_tables=INCLUDE_TABLES,
            include_images=False, include_links=False, deduplicate=False, favor_precision=FAVOUR_PRECISION,
        )
    except (ValueError, TypeError) as exc:
        raise PageRejected(f"not parseable as HTML ({exc})") from None
    if doc is None:
        raise PageRejected("no article text found in the HTML (empty page, or nothing but navigation)")
    title = _headline(tree, doc.title or "", page_url, source)
    lines = [_table_row(line) for line in (doc.text or "").splitlines() if not _TABLE_RULE.match(line)]
    if lines and clean_inline(lines[0]) == clean_inline(title):
        lines = lines[1:]
    published = _checked_date(doc.date)
    source = site_name(tree, page_url, title) or clean_inline(source or "") or _host(page_url) or declared_host(tree)
    authors = doc.author.split(";") if doc.author else []
    tags = [*(doc.categories or []), *(doc.tags or [])]
    return Page(
        title=title, source=source, published_date=published, paragraphs=lines, url=page_url,
        authors=authors, tags=tags, description=doc.description, image_url=doc.image, repairs=repairs,
    )


def _headline(tree, title: str, url: str | None, given: str | None) -> str:
    """trafilatura's title, unless it took a lone <h1> that is a label rather than the headline.

    Without og:title, twitter:title or a JSON-LD headline, trafilatura takes the page's only <h1>
    whatever it says; on some sites that is the section ("Allergies Health Center" above WebMD's
    "Babies Who Eat Peanuts Early May Avoid Allergy") or the site's logo ("L-Mag", "엔터 미디어").
    Then the <title> element's headline part is taken instead: when the <h1> names the site or links
    to its home page (a logo: every one seen on the benchmarks did); or when it is short
    (`MAX_LABEL_WORDS`), appears nowhere in the <title>, shares no word of four letters or more
    with it, and the <title>'s headline is longer. A page that gives its headline keeps it.
    """
    h1s = list(tree.iter("h1"))
    if len(h1s) != 1 or not title:
        return title
    label = clean_inline(h1s[0].text_content())
    if label != clean_inline(title) or len(label.split()) > MAX_LABEL_WORDS:
        return title
    metas = meta_values(tree)
    if metas.get("og:title") or metas.get("twitter:title") or _json_ld_headline(tree):
        return title  # trafilatura's title agrees with the page's own
    # the name the page declares (not from the <title>, which is in question), else --source
    source = site_name(tree, url, None) or clean_inline(given or "") or None
    candidate = title_headline(tree, url, source)
    if not candidate or clean_inline(candidate) == label:
        return title
    if names_site(label, url, source) or _links_home(h1s[0]):
        return clean_inline(candidate)  # the site's logo
    whole = clean_inline(title_text(tree) or "")
    folded_label, folded_whole = label.casefold(), whole.casefold()
    if folded_label in folded_whole or set(_LONG_WORD.findall(folded_label)) & set(_LONG_WORD.findall(folded_whole)):
        return title
    if len(candidate.split()) < len(label.split()) or len(candidate) <= len(label):
        return title
    return clean_inline(candidate)


def _links_home(element) -> bool:
    """Whether the element is in or holds a link to a site's home page ("/", "https://host/")."""
    links = [a for a in element.iterancestors("a")] + list(element.iter("a"))
    for link in links:
        href = (link.get("href") or "").strip()
        if href == "/" or (href.startswith(("http://", "https://", "//")) and _path(href) in ("", "/")):
            return True
    return False


def _path(href: str) -> str | None:
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    return parts.path if not parts.query else None


def _json_ld_headline(tree) -> bool:
    """Whether the page's JSON-LD gives a headline (which trafilatura prefers to any <h1>)."""
    for element in tree.iter("script"):
        if (element.get("type") or "").strip().lower() == "application/ld+json" and element.text \
                and '"headline"' in element.text:
            return True
    return False


def _table_row(line: str) -> str:
    """A table row as trafilatura writes it ("| a | b |") without the outer bars; other lines as they are."""
    stripped = line.strip()
    if len(stripped) > 1 and stripped.startswith("|") and stripped.endswith("|"):
        return stripped[1:-1].strip()
    return line


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
