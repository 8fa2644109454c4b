"""`publish`: one archive version in, one immutable, Hub-ready snapshot folder out (and optionally pushed).

The folder is built beside its final place and renamed into it at the end, so a snapshot folder is
always complete: a crash leaves a hidden `.NAME.partial-PID` folder, never a half snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from toolkit import __version__
from toolkit.core.errors import NewsarchiveError, environment_error, note
from toolkit.core.executor import BACKENDS, chosen_backend, executor
from toolkit.core.outputs import install_folder
from toolkit.core.schema import load_schema
from toolkit.publish.card import CARD_FILE, CardInputs, default_citation, render_card
from toolkit.publish.chart import CHART_FILE, draw_articles_per_month
from toolkit.publish.checksums import SUMS_FILE, write_sums
from toolkit.publish.croissant import CROISSANT_FILE, build_croissant, write_croissant
from toolkit.publish.languages import is_iso_639
from toolkit.publish.push import PushPlan, PushResult, check_repo_id, plan_push, push_snapshot, require_token
from toolkit.publish.recipe import load_recipe
from toolkit.publish.shards import ShardOptions, ShardSet, snapshot_schema, write_shards
from toolkit.publish.source import open_source
from toolkit.publish.stats import Changelog, Stats, compute_changelog, compute_stats

#: Tags the Hub and git both accept, kept simple: v1.2.0, 2024-06, release_3 ...
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Snapshot:
    """A published snapshot folder and what went into it."""

    path: Path
    tag: str
    archive_version: int
    shards: ShardSet
    stats: Stats
    changelog: Changelog | None
    push_plan: PushPlan | None = None
    pushed: PushResult | None = None

    @property
    def card(self) -> Path:
        return self.path / CARD_FILE

    @property
    def num_examples(self) -> int:
        return self.shards.num_examples


#: `publish --dedup`: none keeps every article; near keeps one per near-duplicate cluster.
DEDUP_MODES = ("none", "near")


def check_tag(tag: str) -> str:
    if not _TAG.match(tag) or ".." in tag or tag.endswith((".", ".lock")):
        raise NewsarchiveError(
            f"--version {tag!r}: not a usable tag; use letters, digits, '.', '_' or '-' (e.g. v1.0.0)"
        )
    return tag


def version_key(tag: str) -> tuple[int, ...]:
    """Numbers in a tag, for ordering snapshots: v1.10.0 comes after v1.9.2."""
    return tuple(int(n) for n in re.findall(r"\d+", tag))


def is_snapshot(folder: Path) -> bool:
    return (folder / SUMS_FILE).is_file() and (folder / CROISSANT_FILE).is_file()


def snapshot_tag(folder: Path) -> str:
    """The tag a snapshot folder was published as (croissant.json keeps it), else the folder's name."""
    try:
        document = json.loads((folder / CROISSANT_FILE).read_text(encoding="utf-8"))
        tag = document.get("identifier")
        if isinstance(tag, str) and tag:
            return tag
    except (OSError, ValueError, AttributeError):
        pass
    return folder.name


def _siblings(output: Path) -> list[tuple[Path, str]]:
    parent = output.parent
    if not parent.is_dir():
        return []
    return sorted((p, snapshot_tag(p)) for p in parent.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.resolve() != output.resolve() and is_snapshot(p))


def previous_snapshot(output: Path, tag: str) -> tuple[Path, str] | None:
    """The sibling snapshot with the highest version below `tag`, for the changelog."""
    key = version_key(tag)
    earlier = [(version_key(t), t, p) for p, t in _siblings(output) if version_key(t) < key]
    if not earlier:
        return None
    _, found_tag, found_path = max(earlier)
    return found_path, found_tag


def _check_output(output: Path, tag: str, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise NewsarchiveError(f"--output {output}: exists and is not a folder; choose a new folder")
    if output.is_dir() and any(output.iterdir()):
        if not is_snapshot(output):
            raise NewsarchiveError(
                f"--output {output}: exists, is not empty and is not a snapshot; choose a new or empty folder"
            )
        held = snapshot_tag(output)
        if not force:
            if held == tag:
                raise NewsarchiveError(
                    f"--output {output}: already holds snapshot {tag}; snapshots are immutable "
                    "(pass --force to rebuild it)"
                )
            raise NewsarchiveError(
                f"--output {output}: holds snapshot {held}, not {tag}; publish to a new folder "
                f"(e.g. {output.parent / tag}) or pass --force to replace it"
            )
    if not force:
        for sibling, held in _siblings(output):
            if held == tag:
                raise NewsarchiveError(
                    f"--version {tag}: {sibling} already holds that tag; pick a new --version "
                    "(or pass --force to publish it twice)"
                )


def _last_append(batches) -> dt.date | None:
    if batches.num_rows == 0 or "appended_at" not in batches.column_names:
        return None
    import pyarrow.compute as pc

    latest = pc.max(batches["appended_at"]).as_py()
    return latest.date() if isinstance(latest, dt.datetime) else None


def _install(build: Path, output: Path) -> None:
    """Swap the finished build into place; an old folder (with --force) is removed only afterwards."""
    install_folder(build, output)


def _write_shards(source, schema, folder: Path, options: ShardOptions | None, exclude=None) -> ShardSet:
    """The shards, or one line naming why they cannot be written: the archive cannot be read (a
    data file missing or damaged: `verify` names it) or the output cannot be written."""
    import duckdb
    import pyarrow as pa

    try:
        return write_shards(source.articles, schema, folder, options, exclude)
    except (duckdb.Error, OSError, pa.ArrowException) as exc:
        refused = environment_error(exc)
        if refused is not None:
            raise refused from None
        text = " ".join(str(exc).split())
        text = text[:300] + "..." if len(text) > 300 else text
        raise NewsarchiveError(f"archive {source.root}: cannot read version {source.version} ({text}); run "
                               f"`newsarchive verify --archive {source.root}` to name the damaged files") from None


def publish(archive: str | None, version_tag: str, output: str | Path, *, as_of: int | None = None,
            dataset: str | Path | None = None, repo_id: str | None = None, push: bool = False,
            dry_run: bool = False, force: bool = False, options: ShardOptions | None = None,
            dedup: str = "none", backend: str | None = None) -> Snapshot:
    """Publish archive version `as_of` (default: current) as snapshot `version_tag` in folder `output`.

    `dedup="near"` leaves out near-duplicate copies (every member of a cluster but its representative:
    docs/near-duplicates.md); the card states the choice, the parameters and the rows left out.

    `output` is the snapshot folder itself (e.g. snapshots/v1.0.0). With `repo_id` and `push`, the
    folder is then committed to the Hub and tagged; with `dry_run`, the push is only planned.

    `backend` (the executor) is accepted and checked, but publish has no tasks to hand out: a snapshot
    is one stream of shards in a global order (DuckDB reads the archive version on this machine's
    cores), so with "ray" it says so and runs here, and the bytes are the same.
    """
    if chosen_backend(backend) not in BACKENDS:
        executor(1, backend)  # the one line for an unknown backend
    if chosen_backend(backend) != "local":
        note(f"publish runs on this machine: a snapshot is one ordered stream of shards, with no tasks for "
             f"--executor {chosen_backend(backend)} to hand out")
    tag = check_tag(version_tag)
    if dedup not in DEDUP_MODES:
        raise NewsarchiveError(f"--dedup {dedup!r}: use one of {', '.join(DEDUP_MODES)}")
    if push and dry_run:
        raise NewsarchiveError("--push and --dry-run exclude each other; pick one")
    if (push or dry_run) and not repo_id:
        raise NewsarchiveError("--push and --dry-run need --repo-id ORG/NAME")
    if repo_id:
        check_repo_id(repo_id)
    if push:
        require_token()
    output = Path(output)
    _check_output(output, tag, force)
    from toolkit.core.location import resolve_root
    from toolkit.core.outputs import refuse_inside_archive

    refuse_inside_archive(output, resolve_root(archive), "--output")  # shards in a table folder would corrupt it
    source = open_source(archive, as_of)
    recipe = load_recipe(dataset)
    schema = load_schema()
    target = snapshot_schema(schema)

    output.parent.mkdir(parents=True, exist_ok=True)
    build = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir()
    exclude, near = None, {"mode": "none"}
    if dedup == "near":
        from toolkit.archive.near_duplicates import non_representatives

        exclude, described = non_representatives(source)
        near = {"mode": "near", **described}
    try:
        shards = _write_shards(source, schema, build / "data", options, exclude)
        stats = compute_stats(build)
        previous = previous_snapshot(output, tag)
        changelog = compute_changelog(build, *previous) if previous else None
        observed = [code for code, _ in stats.languages]
        valid = tuple(sorted(code for code in observed if is_iso_639(code))) or tuple(sorted(recipe.languages))
        invalid = tuple(code for code in observed if not is_iso_639(code))
        last_append = _last_append(source.batches)
        date_published = last_append.isoformat() if last_append else None
        citation = recipe.citation or default_citation(recipe, tag, repo_id,
                                                       str(last_append.year) if last_append else None)
        url = f"https://huggingface.co/datasets/{repo_id}" if repo_id else recipe.homepage
        draw_articles_per_month(stats.months, build / CHART_FILE, f"Articles per month, snapshot {tag}")
        document = build_croissant(
            name=recipe.name, description=recipe.description, license=recipe.license, url=url, tag=tag,
            citation=citation, languages=list(valid), keywords=list(recipe.tags), schema=schema, shards=shards,
            snapshot=build, date_published=date_published)
        write_croissant(document, build)
        card = render_card(CardInputs(
            recipe=recipe, schema=schema, target=target, tag=tag, repo_id=repo_id, shards=shards, stats=stats,
            changelog=changelog, archive_version=source.version, batches=source.batches, tool_version=__version__,
            languages=valid, invalid_languages=invalid, citation=citation, date_published=date_published,
            dedup=near))
        (build / CARD_FILE).write_text(card, encoding="utf-8", newline="\n")
        write_sums(build)
        _install(build, output)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    snapshot = Snapshot(output, tag, source.version, shards, stats, changelog)
    if not (push or dry_run):
        return snapshot
    assert repo_id is not None
    plan = plan_push(output, repo_id, tag, source.version)
    if dry_run:
        return replace(snapshot, push_plan=plan)
    return replace(snapshot, push_plan=plan, pushed=push_snapshot(plan))
