"""From what a parser found on a page (`Page`) to a schema record: normalize, detect, identify.

Every format's parser fills a `Page`; only this module knows the record's shape, so the three
formats cannot drift apart. Fields are written in the schema's order, and optional fields that are
empty are left out rather than written as null (the schema does not allow null).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from toolkit.extract.errors import PageRejected
from toolkit.extract.ids import canonical_url, clean_address, conforms, record_id
from toolkit.extract.language import DEFAULT_LANGUAGES, detect_language
from toolkit.extract.normalize import clean_inline, join_paragraphs

MAX_SOURCE_CHARS = 200  # the schema's maxLength for source


@dataclass
class Page:
    """What a parser found, before normalization; `paragraphs` are raw lines of body text."""

    title: str | None
    source: str | None
    published_date: str | None  # ISO YYYY-MM-DD, already checked to be a real date
    paragraphs: Sequence[str]
    url: str | None = None
    aggregator: str | None = None
    authors: Sequence[str] = field(default_factory=tuple)
    tags: Sequence[str] = field(default_factory=tuple)
    crawled_at: str | None = None
    description: str | None = None
    image_url: str | None = None
    repairs: dict[str, int] = field(default_factory=dict)  # what decoding repaired, by kind: counted in the summary
    check_language: bool = True  # False: the source vouches for the candidates (Maghress editions), no und check


@dataclass(frozen=True)
class Extracted:
    """One finished record: the dict, and what dedup and the writer need."""

    record: dict
    line: str  # the JSON Lines line, without its newline
    text_digest: bytes  # BLAKE2b of the normalized text, for same-text dedup in flat memory

    @property
    def id(self) -> str:
        return self.record["id"]


@lru_cache(maxsize=1)
def field_order() -> tuple[str, ...]:
    """The schema's property order: records are written in it."""
    from toolkit.core.schema import load_schema

    return tuple(f.name for f in load_schema().fields)


def build_record(page: Page, languages: Sequence[str] = DEFAULT_LANGUAGES) -> Extracted:
    """Normalize a page into a record that passes the article schema, or raise PageRejected."""
    title = clean_inline(page.title or "")
    if not title:
        raise PageRejected("empty title: the page has no headline")
    text = join_paragraphs(page.paragraphs)
    if not text:
        raise PageRejected("empty body: the page has a title but no article text")
    source = clean_inline(page.source or "")
    if not source:
        raise PageRejected("no source: the page names no outlet (site name) and has no URL to take one from; "
                            "name it with extract --source NAME")
    if len(source) > MAX_SOURCE_CHARS:
        raise PageRejected(f"source name longer than {MAX_SOURCE_CHARS} characters: {source[:60]!r}…")
    if not page.published_date:
        raise PageRejected("no publication date found on the page")
    language = detect_language(title, text, languages, page.check_language)
    if language is None:
        raise PageRejected(
            f"language not detected: title and text hold no letters of the candidate languages "
            f"({', '.join(languages)})"
        )
    url = clean_address(page.url)
    values = {
        "id": record_id(url, source, page.published_date, title),
        "source": source,
        "title": title,
        "text": text,
        "published_date": page.published_date,
        "language": language,
        "url": url,
        "aggregator": clean_inline(page.aggregator) if page.aggregator else None,
        "authors": _clean_list(page.authors),
        "tags": _clean_list(page.tags),
        "crawled_at": page.crawled_at if page.crawled_at and conforms(page.crawled_at, "date-time") else None,
        "description": clean_inline(page.description) if page.description else None,
        "image_url": canonical_url(page.image_url),
    }
    order = field_order()
    unknown = set(values) - set(order)
    if unknown:  # a programming error: the schema and this module disagree
        raise RuntimeError(f"extract builds fields the schema lacks: {sorted(unknown)}")
    record = {name: values[name] for name in order if values.get(name) not in (None, "", [])}
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
    return Extracted(record, json.dumps(record, ensure_ascii=False), digest)


def _clean_list(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(v for v in map(clean_inline, items or ()) if v))


def iso_date(year: int, month: int, day: int) -> str:
    """`YYYY-MM-DD`, or ValueError for a date no calendar has (30 February, month 13, year 0)."""
    if not 1900 <= year <= 2199:
        raise ValueError(f"year {year} is outside 1900-2199")
    return dt.date(year, month, day).isoformat()
