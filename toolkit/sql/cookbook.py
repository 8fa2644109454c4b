"""The cookbook: ten questions researchers ask of a news archive, each answered by one SQL query.

The cookbook of docs/sql.md is generated from `RECIPES` (`markdown()`), and a test runs every SQL block of
docs/sql.md against the sample archive, so the two cannot drift apart. Each query runs on the views
of `toolkit.sql.views`, in `newsarchive sql`, in the catalog file, or in any DuckDB.

    >>> from toolkit.sql.cookbook import recipe
    >>> print(recipe("outlets-that-stopped").sql)    # doctest: +ELLIPSIS
    SELECT source, ...
"""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass
from typing import IO


@dataclass(frozen=True)
class Recipe:
    name: str
    question: str
    sql: str
    note: str = ""


RECIPES: tuple[Recipe, ...] = (
    Recipe(
        "articles-per-outlet-per-month",
        "How many articles did each outlet publish, month by month?",
        """\
SELECT source, year, month, count(*) AS articles
FROM articles
GROUP BY ALL
ORDER BY source, year, month;""",
        "`articles_per_month` holds the same counts split by language too.",
    ),
    Recipe(
        "keyword-over-time",
        "How often does a keyword come up over time?",
        """\
SELECT k.keyword, a.year, a.month, count(*) AS articles
FROM articles AS a
JOIN (VALUES ('vaccin', '(?i)vaccin|تلقيح|لقاح'),
             ('CAN', '\\bCAN\\b|كأس أمم إفريقيا')) AS k(keyword, pattern)
  ON regexp_matches(a.title || ' ' || a.text, k.pattern)
GROUP BY ALL
ORDER BY k.keyword, a.year, a.month;""",
        "One row per keyword and month; each pattern is a regular expression (RE2) covering both languages.",
    ),
    Recipe(
        "same-day-french-arabic",
        "Which days have the news in both French and Arabic: candidate pairs of the same story?",
        """\
SELECT fr.published_date, fr.source AS french_source, fr.title AS french_title,
       ar.source AS arabic_source, ar.title AS arabic_title
FROM articles AS fr
JOIN articles AS ar
  ON ar.published_date = fr.published_date AND fr.language = 'fr' AND ar.language = 'ar'
ORDER BY fr.published_date, fr.source, ar.source;""",
        "Same day and both languages is a candidate, not a proof: read the titles side by side "
        "(in the sample, 7 of the 8 pairs are the same story).",
    ),
    Recipe(
        "outlets-that-stopped",
        "Which outlets stopped publishing (nothing in the last 12 months of the archive)?",
        """\
SELECT source, first_date, last_date, articles, days_silent
FROM sources
WHERE last_date < (SELECT max(published_date) FROM articles) - INTERVAL 12 MONTH
ORDER BY last_date;""",
        "`sources` has one row per outlet with its first and last dates; change the interval to taste.",
    ),
    Recipe(
        "language-share-per-year",
        "What share of each year's articles is in each language?",
        """\
SELECT year, language, count(*) AS articles,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY year), 1) AS percent
FROM articles
GROUP BY year, language
ORDER BY year, language;""",
    ),
    Recipe(
        "coverage-gaps",
        "Which months have no article at all (gaps in the collection)?",
        """\
WITH span AS (
  SELECT date_trunc('month', min(published_date)) AS first_month,
         date_trunc('month', max(published_date)) AS last_month
  FROM articles
)
SELECT strftime(m.month_start, '%Y-%m') AS missing_month
FROM span, range(span.first_month, span.last_month + INTERVAL 1 MONTH, INTERVAL 1 MONTH) AS m(month_start)
WHERE NOT EXISTS (
  SELECT 1 FROM articles_per_month AS p WHERE p.month_start = m.month_start
)
ORDER BY 1;""",
        "Check these before reading a dip in a time series as a change in the news.",
    ),
    Recipe(
        "who-covers-a-person",
        "Which outlets mention a person, how often, and when first and last?",
        """\
SELECT source, language, count(*) AS articles,
       min(published_date) AS first_mention, max(published_date) AS last_mention
FROM articles
WHERE regexp_matches(title || ' ' || text, 'Bourita|بوريطة')
GROUP BY ALL
ORDER BY articles DESC, source;""",
        "Write the name in every script the archive uses; for ranked matches use `newsarchive search`.",
    ),
    Recipe(
        "article-length-per-outlet",
        "How long are each outlet's articles (in words)?",
        """\
SELECT source, language, count(*) AS articles,
       round(avg(words)) AS avg_words, median(words) AS median_words, max(words) AS max_words
FROM (SELECT source, language, len(regexp_split_to_array(trim(text), '\\s+')) AS words FROM articles)
GROUP BY ALL
ORDER BY avg_words DESC;""",
    ),
    Recipe(
        "top-title-words",
        "Which words recur most in the headlines of each language?",
        """\
WITH words AS (
  SELECT language, lower(unnest(regexp_split_to_array(title, '[^\\p{L}\\p{N}]+'))) AS word
  FROM articles
)
SELECT language, word, count(*) AS headlines
FROM words
WHERE length(word) >= 4
GROUP BY language, word
QUALIFY row_number() OVER (PARTITION BY language ORDER BY count(*) DESC, word) <= 5
ORDER BY language, headlines DESC, word;""",
        "Words of four letters or more, as a rough stop list; the five most frequent per language.",
    ),
    Recipe(
        "batch-provenance",
        "Where did the data come from: which files, in which batch, with what result?",
        """\
SELECT b.batch, b.version, b.appended_at, f.name AS file, f.sha256, f.bytes,
       b.input, b.appended, b.duplicates, b.quarantined, b.tool_version
FROM batches AS b, unnest(b.files) AS u(f)
ORDER BY b.version, f.name;""",
        "`quarantine` holds every rejected line of a batch, with its errors as JSON.",
    ),
)


def recipe(name: str) -> Recipe:
    """The recipe called `name` (KeyError if there is none)."""
    for item in RECIPES:
        if item.name == name:
            return item
    raise KeyError(name)


def markdown() -> str:
    """The cookbook of docs/sql.md: numbered questions, each with its SQL in a ```sql block."""
    parts = []
    for number, item in enumerate(RECIPES, 1):
        parts.append(f"{number}. **{item.question}**\n\n   ```sql\n{_indent(item.sql)}\n   ```\n")
        if item.note:
            parts.append(textwrap.fill(item.note, 100, initial_indent="   ", subsequent_indent="   ") + "\n")
        parts.append("\n")
    return "".join(parts).rstrip("\n") + "\n"


def _indent(text: str) -> str:
    return "\n".join(("   " + line) if line else "" for line in text.splitlines())


#: The two questions `make demo` answers after building the catalog.
DEMO = ("outlets-that-stopped", "same-day-french-arabic")


def demo(archive: str | os.PathLike | None = None, out: IO[str] | None = None) -> None:
    """The SQL stage of the demo: write the catalog, then answer two cookbook questions as tables."""
    from toolkit.sql.catalog import build_catalog
    from toolkit.sql.queries import write_query

    stream = out or sys.stdout
    print(build_catalog(archive).summary(), file=stream)
    for name in DEMO:
        item = recipe(name)
        print(f"\n{item.question}", file=stream)
        stream.flush()
        write_query(item.sql, archive, stream=stream)
