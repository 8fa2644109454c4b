"""Extract article records from raw pages: Maghress aggregator dumps, HTML pages, WARC crawls.

    >>> from toolkit.extract import extract
    >>> report = extract(["datasets/maghress-sample/pages"], "build/sample.jsonl", jobs=1)
    >>> report.pages == report.records + report.duplicate_count + report.rejected
    True
    >>> report.exit_code
    0

One page at a time, without files:

    >>> from toolkit.extract import build_record, parse_maghress
    >>> page = parse_maghress("Le Maroc lance sa campagne de vaccination\\n"
    ...                       "Publié dans Le360 le 9 - 11 - 2020\\n"
    ...                       "La campagne débutera par le personnel de santé et les personnes âgées.")
    >>> record = build_record(page).record
    >>> record["published_date"], record["language"]
    ('2020-11-09', 'fr')

Modules: `maghress` (dumps, with the table of editions), `html` (trafilatura), `warc` (warcio),
`decode` (bytes to text), `normalize` (NFC, spaces, paragraphs), `language` (lingua), `ids` (the id
rule and canonical URLs), `outlet` (site name and address of HTML pages), `records` (page to schema
record), `runner` (files, workers, dedup, order).
"""

from __future__ import annotations

from toolkit.extract.errors import PageRejected
from toolkit.extract.html import parse_html
from toolkit.extract.ids import canonical_url, identity_key, record_id
from toolkit.extract.language import DEFAULT_LANGUAGES, LanguageDetector, detect_language
from toolkit.extract.maghress import EDITIONS, Edition, MaghressParser, parse_maghress
from toolkit.extract.records import Extracted, Page, build_record
from toolkit.extract.report import Duplicate, ExtractReport, Reject
from toolkit.extract.runner import FORMATS, default_jobs, discover, extract

__all__ = [
    "DEFAULT_LANGUAGES", "EDITIONS", "FORMATS", "Duplicate", "Edition", "ExtractReport", "Extracted",
    "LanguageDetector", "MaghressParser", "Page", "PageRejected", "Reject", "build_record", "canonical_url",
    "default_jobs", "detect_language", "discover", "extract", "identity_key", "parse_html", "parse_maghress",
    "record_id",
]
