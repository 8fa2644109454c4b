"""The dataset recipe (`datasets/NAME/dataset.toml`): the human words a snapshot's card is built from.

Only the keys the card needs are read, each with a default, so a recipe written for the extract stage
(name, pretty_name, description, license, languages, partitioning, sources) works as it is, and the
optional keys citation, homepage, tags, task_categories can be added when wanted.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.core.errors import NewsarchiveError
from toolkit.publish.languages import check_language_codes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_RECIPE = Path("datasets") / "maghress-sample"
RECIPE_FILE = "dataset.toml"


@dataclass(frozen=True)
class Recipe:
    """What the card says about the dataset that the records themselves cannot say."""

    name: str = "newsarchive"
    pretty_name: str = "News articles"
    description: str = "News articles collected, validated and archived with newsarchive."
    license: str = "unknown"
    license_note: str | None = None
    languages: tuple[str, ...] = ()
    homepage: str | None = None
    citation: str | None = None
    tags: tuple[str, ...] = ()
    task_categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    source_homepages: tuple[tuple[str, str], ...] = ()
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _strings(value: Any, key: str, where: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise NewsarchiveError(f"{where}: `{key}` must be a string or a list of strings; fix the recipe")


def _sources(value: Any) -> tuple[str, ...]:
    """Source names only: the extract stage may describe sources as strings or tables."""
    if not isinstance(value, list):
        return ()
    names = []
    for item in value:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict):
            name = item.get("name") or item.get("source") or item.get("outlet")
            if isinstance(name, str):
                names.append(name)
    return tuple(names)


def _homepages(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        return ()
    return tuple((item["name"], item["homepage"]) for item in value
                 if isinstance(item, dict) and isinstance(item.get("name"), str)
                 and isinstance(item.get("homepage"), str))


def load_recipe(dataset: str | Path | None = None) -> Recipe:
    """Read a recipe folder (or its dataset.toml); no recipe at all gives neutral defaults."""
    if dataset is None:
        candidate = DEFAULT_RECIPE / RECIPE_FILE
        if not candidate.is_file():
            return Recipe()
        path = candidate
    else:
        given = Path(dataset)
        path = given / RECIPE_FILE if given.is_dir() or given.suffix != ".toml" else given
        if not path.is_file():
            raise NewsarchiveError(
                f"{given}: no {RECIPE_FILE} there; pass --dataset datasets/NAME (a folder holding {RECIPE_FILE})"
            )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise NewsarchiveError(f"{path}: cannot read the recipe ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise NewsarchiveError(f"{path}: not valid TOML ({exc}); fix the recipe") from None
    defaults = Recipe()

    def text(key: str, default: str | None) -> str | None:
        value = data.get(key, default)
        if value is not None and not isinstance(value, str):
            raise NewsarchiveError(f"{path}: `{key}` must be a string; fix the recipe")
        return value.strip() if isinstance(value, str) else value

    languages = _strings(data.get("languages", data.get("language")), "languages", path)
    bad = check_language_codes(languages)
    if bad:
        raise NewsarchiveError(
            f"{path}: languages {', '.join(bad)} are not ISO 639 codes; use codes such as fr, ar, ary"
        )
    return Recipe(
        name=text("name", path.parent.name) or defaults.name,
        pretty_name=text("pretty_name", None) or text("name", None) or defaults.pretty_name,
        description=text("description", None) or defaults.description,
        license=(text("license", None) or defaults.license).lower(),
        license_note=text("license_note", None),
        languages=languages,
        homepage=text("homepage", None),
        citation=text("citation", None),
        tags=_strings(data.get("tags"), "tags", path),
        task_categories=_strings(data.get("task_categories"), "task_categories", path),
        sources=_sources(data.get("sources")),
        source_homepages=_homepages(data.get("sources")),
        path=path,
        extra=data,
    )
