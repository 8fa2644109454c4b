"""The README's and docs/validate.md's promises: the schema table comes from the schema, their examples run."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from toolkit.core.schema import load_schema

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
VALIDATE_DOC = (ROOT / "docs" / "validate.md").read_text(encoding="utf-8")


def section(name: str) -> str:
    """A `<!-- section:NAME -->` of docs/NAME.md, where the README's reference sections moved."""
    text = (ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- section:{name} -->(.*?)<!-- /section:{name} -->", text, re.S)
    assert match, f"docs/{name}.md has no {name} section"
    return match.group(1)


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_quick_start_is_exactly_make_demo_and_make_test():
    quick = re.search(r"## Quick start\n(.*?)\n## ", README, re.S).group(1)
    commands = re.findall(r"^(make \w+)", re.search(r"```sh\n(.*?)```", quick, re.S).group(1), re.M)
    assert commands == ["make demo", "make test"]


def test_schema_table_is_generated_from_the_schema_file():
    table = re.search(r"<!-- schema-table -->\n(.*?)<!-- /schema-table -->", VALIDATE_DOC, re.S).group(1)
    assert table == load_schema().markdown_table()


@pytest.mark.parametrize("name", ["validate"])
def test_python_examples_run(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    blocks = python_blocks(section(name))
    assert blocks
    for block in blocks:
        exec(compile(block, f"docs/{name}.md", "exec"), {"__name__": "__readme__"})
    assert os.getcwd() == str(ROOT)


def test_docstring_examples_run(monkeypatch):
    """Every `>>>` example in the package runs (those marked +SKIP need a built archive)."""
    import doctest
    import importlib
    import pkgutil

    import toolkit

    monkeypatch.chdir(ROOT)
    tried_total = 0
    for module_info in pkgutil.walk_packages(toolkit.__path__, "toolkit."):
        module = importlib.import_module(module_info.name)
        failures, tried = doctest.testmod(module, verbose=False, report=True)
        assert failures == 0, module_info.name
        tried_total += tried
    assert tried_total > 5


def test_validate_json_example_has_the_keys_the_command_writes(cli):
    import json as _json

    example = re.search(r"`--format json` writes one object.*?```json\n(.*?)```", VALIDATE_DOC, re.S).group(1)
    documented = _json.loads(example.replace('"..."', '{}'))
    res = cli("validate", "--format", "json", "--quiet", str(ROOT / "datasets/examples/mixed-batch.jsonl"))
    actual = _json.loads(res.out)
    assert list(documented) == list(actual)
    assert list(documented["files"][0]) == list(actual["files"][0])
    assert documented["errors"][0] == {**actual["errors"][0], "file": "datasets/examples/mixed-batch.jsonl"}


def test_the_readme_states_the_id_rule_with_its_version():
    """Issue 13: the id rule is written in the README with its version number (in full in docs/identity.md)."""
    from toolkit.extract.ids import ID_RULE_VERSION

    assert f"**The `id` rule, version {ID_RULE_VERSION}** (`toolkit.extract.ids.ID_RULE_VERSION`)" in README
    assert "(docs/identity.md)" in README
    identity = (ROOT / "docs" / "identity.md").read_text(encoding="utf-8")
    assert f"## The id rule, version {ID_RULE_VERSION}\n" in identity
