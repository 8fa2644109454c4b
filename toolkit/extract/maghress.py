"""Maghress aggregator page dumps (plain text) to `Page`s.

A dump holds, in order: a ticker of other headlines (one line, separated by runs of non-breaking
spaces), the image-report notice, the title, the publication line ("Publié dans Barlamane le
28 - 06 - 2021", or in the Arabic edition "نشر في هسبريس يوم 05 - 11 - 2019"), the body (one
paragraph per line) and a footer ("Cliquez ici pour lire l'article depuis sa source.").

Rules:
- The first line that is a whole publication line is the one; a later one is body text.
- The title is the nearest non-empty line above it, unless that line is the ticker or the notice.
- The body runs from the publication line to the first footer line (or the end).
- Ticker, notice and footer may each be missing. Line endings may be LF, CRLF or CR; any Unicode
  space may stand where the layout has a space; days and months may have one digit.

Every phrase an edition uses is in `EDITIONS`: another edition is one more entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from toolkit.extract.errors import PageRejected
from toolkit.extract.normalize import strip_invisible
from toolkit.extract.records import Page, iso_date

AGGREGATOR = "maghress"

_S = r"[^\S\n]"  # one space of any kind, never a line break
_DATE = rf"(?P<day>\d{{1,2}}){_S}*[-/.‐–—]{_S}*(?P<month>\d{{1,2}}){_S}*[-/.‐–—]{_S}*(?P<year>\d{{4}})"


@dataclass(frozen=True)
class Edition:
    """The phrases of one language edition of Maghress, as regular expressions over one line.

    `example` is shown in reject messages. `published` must define the groups `source`, `day`,
    `month` and `year`. Write spaces as `\\s` outside character classes: they become "any Unicode
    space but a line break". `notice` lines are the image-report notice, `footer` the link back to
    the source; both may be missing from a page. Patterns are case-insensitive.
    """

    name: str
    example: str  # the publication line as people read it, for reject messages
    published: str
    notice: tuple[str, ...]
    footer: tuple[str, ...]


EDITIONS: tuple[Edition, ...] = (
    Edition(
        name="fr",
        example="Publié dans <outlet> le DD - MM - YYYY",
        published=r"Publi[ée]\s+dans\s+(?P<source>.+?)\s+le\s+" + _DATE,
        notice=(r"Merci\s+d['’]avoir\s+signal[ée]\s*!.*",
                r"Cette\s+image\s+sera\s+automatiquement\s+bloqu[ée]e.*"),
        footer=(r"Cliquez\s+ici\s+pour\s+lire\s+l['’]article\s+depuis\s+sa\s+source\s*\.?",),
    ),
    Edition(
        name="ar",
        example="نشر في <outlet> يوم DD - MM - YYYY",
        published=r"نشر\s+في\s+(?P<source>.+?)\s+يوم\s+" + _DATE,
        notice=(r"شكرا\S?\s+على\s+(?:الإبلاغ|التبليغ)\s*!?.*",
                r"سيتم\s+حجب\s+هذه\s+الصورة.*"),
        footer=(r"(?:انقر|اضغط)\s+هنا\s+لقراءة\s+الخبر\s+من\s+مصدره\s*\.?",),
    ),
)


def _line_pattern(body: str) -> str:
    """A whole line: the edition's phrase, its spaces any Unicode spaces, padded by spaces."""
    phrase = body.replace(r"\s", _S)
    return f"{_S}*(?:{phrase}){_S}*"


#: The ticker separates headlines with runs of non-breaking spaces.
_TICKER = re.compile(r"[\u00a0\u202f\u2007](?:[^\S\n]*[\u00a0\u202f\u2007]){2,}")


class MaghressParser:
    """The rules above, compiled for a set of editions (by default `EDITIONS`)."""

    def __init__(self, editions: tuple[Edition, ...] = EDITIONS) -> None:
        self.editions = editions
        self._published = [re.compile(_line_pattern(e.published), re.IGNORECASE) for e in editions]
        self._notice = re.compile("|".join(_line_pattern(p) for e in editions for p in e.notice), re.IGNORECASE)
        self._footer = re.compile("|".join(_line_pattern(p) for e in editions for p in e.footer), re.IGNORECASE)
        firsts = [e.published[0] for e in editions]
        # First letters of the publication lines, to skip most lines without running the patterns;
        # None when an edition's pattern starts with a construct rather than a letter.
        self._leads = (frozenset(ch for f in firsts for ch in (f.lower(), f.upper()))
                       if all(f.isalpha() for f in firsts) else None)
        self._examples = " or ".join(f"'{e.example}'" for e in editions)

    def parse(self, text: str) -> Page:
        """Parse one decoded dump into a `Page` (not yet normalized); raise PageRejected with the reason."""
        lines = strip_invisible(text).splitlines()
        leads = self._leads
        for index, line in enumerate(lines):
            stripped = line.lstrip()
            if not stripped or (leads is not None and stripped[0] not in leads):
                continue
            for pattern in self._published:
                match = pattern.fullmatch(line)
                if match is not None:
                    return self._page(lines, index, match)
        raise PageRejected(
            f"no publication line: no line like {self._examples}; is this a Maghress page dump? "
            "(pass --format if it is another kind of page)"
        )

    def _page(self, lines: list[str], index: int, match: re.Match) -> Page:
        lineno = index + 1
        day, month, year = (int(match.group(g)) for g in ("day", "month", "year"))
        try:
            published = iso_date(year, month, day)
        except ValueError as exc:
            raise PageRejected(
                f"line {lineno}: impossible date {match.group('day')} - {match.group('month')} - "
                f"{match.group('year')} in the publication line ({exc}); fix the date (DD - MM - YYYY)"
            ) from None
        title = None
        for above in reversed(lines[:index]):
            if above.strip():
                if not (_TICKER.search(above) or self._notice.fullmatch(above)):
                    title = above
                break
        if title is None:
            raise PageRejected(
                f"empty title: no headline on the line above the publication line (line {lineno})"
            )
        body = []
        for below in lines[index + 1:]:
            if self._footer.fullmatch(below):
                break
            if below.strip():
                body.append(below)
        if not body:
            raise PageRejected(f"empty body: no article text after the publication line (line {lineno})")
        return Page(title=title, source=match.group("source"), published_date=published, paragraphs=body,
                    aggregator=AGGREGATOR)


_DEFAULT = MaghressParser()


def parse_maghress(text: str) -> Page:
    """Parse one decoded dump with the default editions (see `MaghressParser.parse`)."""
    return _DEFAULT.parse(text)
