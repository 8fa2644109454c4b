"""docs/extract.md (the README's former extract section) and the package docstring: their examples run."""

from __future__ import annotations

import doctest
import re

import toolkit.extract
from tests.extract.conftest import ROOT

DOC = (ROOT / "docs" / "extract.md").read_text(encoding="utf-8")


def section() -> str:
    match = re.search(r"<!-- section:extract -->(.*?)<!-- /section:extract -->", DOC, re.S)
    assert match, "docs/extract.md has no extract section"
    return match.group(1)


def test_readme_python_examples_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```python\n(.*?)```", section(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/extract.md", "exec"), {"__name__": "__readme__"})


def test_package_docstring_examples_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    failures, tried = doctest.testmod(toolkit.extract, verbose=False, report=True)
    assert tried > 0 and failures == 0
