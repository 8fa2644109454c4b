"""What a question is asked of: an archive at one version, narrowed by language, outlet and dates."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import Literal

from toolkit.core.errors import NewsarchiveError

_CODE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class Scope:
    """The articles in scope: `archive` at version `as_of` (None: the latest), only these languages and
    sources (empty: all), published from `since` to `until` (inclusive), with near-duplicates counted
    once (`copies="one"`, one article per cluster) or every copy (`"all"`).

    Frozen and hashable, so that results can be cached per scope; `resolved()` pins the version so
    that every number of one page comes from ONE archive version.
    """

    archive: str | os.PathLike | None = None
    as_of: int | None = None
    language: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    since: dt.date | None = None
    until: dt.date | None = None
    copies: Literal["one", "all"] = "one"

    def __post_init__(self) -> None:
        for name in ("language", "source"):  # one value alone is taken as a tuple of one
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, (getattr(self, name),))
        for name in ("since", "until"):  # ISO strings (a URL's parameters) are taken too
            value = getattr(self, name)
            if isinstance(value, str):
                from toolkit.search.query import parse_date  # search's rule, loaded only when needed

                object.__setattr__(self, name, parse_date(value, f"--{name}"))
        for lang in self.language:
            if not _CODE.match(lang):
                raise NewsarchiveError(f"--language {lang!r}: not a language code; use an ISO code such as fr or ar")
        if self.since and self.until and self.since > self.until:
            raise NewsarchiveError(f"--since {self.since} is after --until {self.until}; swap them")
        if self.copies not in ("one", "all"):
            raise NewsarchiveError(f"copies={self.copies!r}: use one (a near-duplicate cluster counts once) or all")
        if self.as_of is not None and self.as_of < 0:
            raise NewsarchiveError(f"--as-of {self.as_of}: versions start at 0 (see `newsarchive history`)")
        object.__setattr__(self, "language", tuple(self.language))
        object.__setattr__(self, "source", tuple(self.source))

    @property
    def root(self) -> str:
        """The archive's root as core.location spells it (a cache key that ignores spelling)."""
        from toolkit.core.location import resolve_root

        return resolve_root(self.archive)

    def resolved(self) -> Scope:
        """This scope with `as_of` pinned to the archive's current version (checked to exist)."""
        from toolkit.archive import open_archive

        archive = open_archive(self.archive)
        version = archive.at(self.as_of).version
        return dataclasses.replace(self, archive=archive.root, as_of=version)
