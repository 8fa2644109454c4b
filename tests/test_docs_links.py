"""Every relative link of the README and docs/*.md names a file (and a heading, for `#anchor`) that exists.

Reference material moved from the README into docs/; a link left pointing at the old place, or at a
heading that was renamed, would send a reader nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)\)")


def links(text: str) -> list[str]:
    """Markdown link targets outside code blocks and code spans."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation other than `-` and `_` dropped, spaces as `-`."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, flags=re.M):
        found.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return found


def broken(page: Path) -> list[str]:
    bad = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not checked (no network)
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            bad.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            bad.append(f"{target}: no such heading")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    assert not broken(page), f"{page.relative_to(ROOT)}: " + "; ".join(broken(page))


def test_the_checker_finds_a_broken_file_and_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## The catalog: one file\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md) [ok](other.md#the-catalog-one-file) [gone](docs/extract.md) "
                    "[gone](other.md#nowhere) [web](https://example.org/x) `[code](nowhere.md)`\n")
    assert broken(page) == ["docs/extract.md: no such file", "other.md#nowhere: no such heading"]


def test_every_docs_page_is_reachable_from_the_readme():
    """A page that nothing links to is a page nobody reads."""
    def targets(page: Path) -> set[Path]:
        return {(page.parent / t.partition("#")[0]).resolve() for t in links(page.read_text(encoding="utf-8"))
                if t.partition("#")[0].endswith(".md")}

    reached, todo = set(), [PAGES[0].resolve()]
    while todo:
        page = todo.pop()
        if page not in reached and page.exists():
            reached.add(page)
            todo.extend(targets(page))
    orphans = [p.relative_to(ROOT).as_posix() for p in PAGES[1:] if p.resolve() not in reached]
    assert not orphans, f"docs pages no README or docs link leads to: {orphans}"
