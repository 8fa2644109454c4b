"""What an extract run did: every page is a record, a duplicate or a reject, and the counts add up."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from toolkit.core.errors import EXIT_FINDINGS, EXIT_OK
from toolkit.core.jsonl import display_name
from toolkit.extract.language import UNDETERMINED


@dataclass(frozen=True)
class Reject:
    """A page that could not become a record; one line of the rejects file."""

    input: str
    record: int | None  # byte offset of the record inside a WARC file; None for a one-page file
    reason: str

    def as_dict(self) -> dict[str, Any]:
        # a file name that is not UTF-8 is written with \xNN escapes: JSON holds only valid Unicode
        return {"input": display_name(self.input), "record": self.record, "reason": self.reason}

    @property
    def where(self) -> str:
        return self.input if self.record is None else f"{self.input}@{self.record}"


@dataclass(frozen=True)
class Duplicate:
    """A page whose record was already written in this run (same id, or same normalized text)."""

    input: str
    record: int | None
    kept_input: str
    kept_record: int | None
    why: str  # "same id" or "same text"

    @property
    def where(self) -> str:
        return self.input if self.record is None else f"{self.input}@{self.record}"

    @property
    def kept_where(self) -> str:
        return self.kept_input if self.kept_record is None else f"{self.kept_input}@{self.kept_record}"


@dataclass
class ExtractReport:
    """Counts and details of one run; `pages == records + len(duplicates) + len(rejects)`."""

    output: str
    rejects_path: str | None = None
    files: int = 0
    pages: int = 0
    records: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # WARC records that are not HTML responses, by kind
    ignored: list[str] = field(default_factory=list)  # files in input directories with other extensions
    formats: Counter = field(default_factory=Counter)  # pages by format
    languages: Counter = field(default_factory=Counter)  # records by language ("und": not decided)
    repairs: Counter = field(default_factory=Counter)  # bytes repaired while decoding, by kind
    repaired_pages: Counter = field(default_factory=Counter)  # records whose page needed each repair
    warnings: list[str] = field(default_factory=list)  # what warcio warned about, "input@offset: message"
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    @property
    def duplicate_count(self) -> int:
        return len(self.duplicates)

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    @property
    def exit_code(self) -> int:
        """0 when every page was extracted (duplicates included), 1 when some were rejected."""
        return EXIT_OK if not self.rejects else EXIT_FINDINGS

    def balanced(self) -> bool:
        return self.pages == self.records + self.duplicate_count + self.rejected

    def summary(self, max_listed: int = 20) -> str:
        """The text the CLI prints: counts first, then what needs a look."""
        langs = ", ".join(f"{k} {v}" for k, v in self.languages.most_common())
        fmts = ", ".join(f"{k} {v}" for k, v in sorted(self.formats.items()))
        lines = [
            f"extract: {_count(self.pages, 'page')} ({fmts or 'none'}) from {_count(self.files, 'file')} "
            f"in {self.seconds:.1f} s -> {self.output}",
            f"  records     {self.records:>7}" + (f"  ({langs})" if langs else ""),
            f"  duplicates  {self.duplicate_count:>7}" + ("  (written once)" if self.duplicates else ""),
            f"  rejected    {self.rejected:>7}" + (f"  -> {self.rejects_path}" if self.rejects_path else ""),
        ]
        undetermined = self.languages.get(UNDETERMINED, 0)
        if undetermined:
            lines.append(f"  undetermined {undetermined:>6}  records labelled {UNDETERMINED}: their language is not "
                         "among --languages, or the detector is not sure")
        if self.repairs:
            kinds = ", ".join(f"{kind} {n} ({_count(self.repaired_pages[kind], 'page')})"
                              for kind, n in sorted(self.repairs.items()))
            lines.append(f"  repaired    {sum(self.repaired_pages.values()):>7}  decoding: {kinds}")
        if self.warnings:
            lines.append(f"  warnings    {len(self.warnings):>7}  from the WARC reader, such as {self.warnings[0]}")
        if self.skipped:
            kinds = ", ".join(f"{k} {v}" for k, v in self.skipped.most_common())
            lines.append(f"  skipped     {self.skipped_count:>7}  WARC records that are not HTML pages ({kinds})")
        if self.ignored:
            shown = ", ".join(self.ignored[:5]) + (", …" if len(self.ignored) > 5 else "")
            lines.append(f"  ignored     {len(self.ignored):>7}  files in input folders that are not pages "
                         f"(.txt, .html, .htm, .html.gz, .warc, .warc.gz, .arc, .arc.gz, .wacz): {shown}")
        for title, items, render in (
            ("duplicates", self.duplicates, lambda d: f"  {d.where}: {d.why} as {d.kept_where}"),
            ("rejects", self.rejects if not self.rejects_path else [], lambda r: f"  {r.where}: {r.reason}"),
        ):
            if items:
                lines.append(f"{title}:")
                lines.extend(render(item) for item in items[:max_listed])
                if len(items) > max_listed:
                    more = f"  … and {len(items) - max_listed} more"
                    lines.append(more + ("; pass --rejects FILE to keep them all" if title == "rejects" else ""))
        return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
