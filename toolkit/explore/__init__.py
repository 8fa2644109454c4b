"""Exploring an archive: how much attention a query got over time, which outlets covered it, a sample
of the articles and the words around them, the archive as a whole, one article in full.

    >>> from toolkit.explore import Scope, attention
    >>> attention(Scope("archive"), ["Bourita", '"Lions de l\\'Atlas"'], by="month")   # doctest: +SKIP

Every number of `newsarchive attention`, `newsarchive outlets` and the web page (toolkit.serve) comes
from here; the web layer holds no query logic. Modules: `query` (the query language:
docs/query-language.md), `scope` (archive, version, filters), `counts` (summary, attention, outlets:
tantivy aggregations over the search index), `articles` (sample, top terms), `archive` (overview,
article detail;
`_locate`: where each article is, kept per process for the article page), `output` (write_table: the
same bytes for the command and the page's downloads),
`_clusters` (near-duplicate clusters, when the archive has them).
"""

from toolkit.explore.archive import archive_overview, article_detail, prepare_articles
from toolkit.explore.articles import sample_articles, top_terms
from toolkit.explore.counts import attention, outlets, summary
from toolkit.explore.output import FORMATS, write_table
from toolkit.explore.query import Query, QueryError, parse_query
from toolkit.explore.scope import Scope

__all__ = [
    "FORMATS", "Query", "QueryError", "Scope", "archive_overview", "article_detail", "attention", "outlets",
    "parse_query", "prepare_articles", "sample_articles", "summary", "top_terms", "write_table",
]
