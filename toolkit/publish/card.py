"""README.md: YAML front matter the Hub and `datasets` read, then the dataset card people read.

The front matter is produced by the libraries that read it back (huggingface_hub's DatasetCardData,
datasets' MetadataConfigs and DatasetInfosDict), so its shape is theirs, not a hand-written copy. The
features and the schema table both come from the JSON Schema. Nothing here depends on the clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from toolkit.core.schema import Schema
from toolkit.publish.chart import CHART_FILE
from toolkit.publish.languages import language_name
from toolkit.publish.recipe import Recipe
from toolkit.publish.shards import PARTITION_COLUMNS, SPLIT, ShardSet
from toolkit.publish.stats import Changelog, Stats

CARD_FILE = "README.md"
MAX_SOURCES = 50
MAX_BATCHES = 200

_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
                    (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"),
                    (1_000_000_000_000, "100B<n<1T"))


def size_category(rows: int) -> str:
    """The Hub's size_categories bucket for a number of examples."""
    for limit, label in _SIZE_CATEGORIES:
        if rows < limit:
            return label
    return "n>1T"


@dataclass(frozen=True)
class CardInputs:
    recipe: Recipe
    schema: Schema
    target: pa.Schema  # the published Arrow schema (storage schema plus year, month)
    tag: str
    repo_id: str | None
    shards: ShardSet
    stats: Stats
    changelog: Changelog | None
    archive_version: int
    batches: pa.Table
    tool_version: str
    languages: tuple[str, ...]  # valid ISO 639 codes, for the front matter
    invalid_languages: tuple[str, ...]
    citation: str
    date_published: str | None
    dedup: dict[str, Any] = dataclasses.field(default_factory=lambda: {"mode": "none"})  # publish --dedup, described


def front_matter(inputs: CardInputs) -> str:
    """The YAML block, built by huggingface_hub and datasets so that both read it back unchanged."""
    from datasets import DatasetInfo, Features, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    recipe = inputs.recipe
    tags = list(dict.fromkeys([*recipe.tags, "news", "newsarchive"]))
    card = DatasetCardData(
        pretty_name=recipe.pretty_name,
        license=recipe.license,
        language=list(inputs.languages) or None,
        multilinguality="multilingual" if len(inputs.languages) > 1 else "monolingual",
        size_categories=[size_category(inputs.shards.num_examples)],
        task_categories=list(recipe.task_categories) or None,
        tags=tags,
    )
    MetadataConfigs({"default": {"data_files": [
        {"split": SPLIT, "path": [f.path for f in inputs.shards.files]}]}}).to_dataset_card_data(card)
    splits = SplitDict()
    splits.add(SplitInfo(name=SPLIT, num_bytes=inputs.shards.num_bytes, num_examples=inputs.shards.num_examples))
    info = DatasetInfo(features=Features.from_arrow_schema(inputs.target), splits=splits,
                       download_size=inputs.shards.download_size, dataset_size=inputs.shards.num_bytes)
    DatasetInfosDict({"default": info}).to_dataset_card_data(card)
    return card.to_yaml(line_break="\n")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ").strip()


def _table(header: list[str], rows: list[list[Any]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _plain(text: str) -> str:
    """Recipe prose is plain text: keep `<outlet>` visible instead of letting the Hub eat it as HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "0.0%"


def _type_label(name: str, inputs: CardInputs) -> str:
    from datasets import Features

    feature = Features.from_arrow_schema(pa.schema([inputs.target.field(name)]))[name]
    dtype = getattr(feature, "dtype", None)
    if dtype is None:
        inner = getattr(getattr(feature, "feature", None), "dtype", "?")
        dtype = f"list<{inner}>"
    return dtype


def schema_table(inputs: CardInputs) -> str:
    """One row per field, straight from the JSON Schema (and the derived year and month)."""
    rows = []
    for field in inputs.schema.fields:
        json_type = field.json_type + (f" ({field.format})" if field.format else "")
        rows.append([f"`{field.name}`", f"`{_type_label(field.name, inputs)}`", json_type,
                     "yes" if field.required else "no", field.description])
    known = {f.name for f in inputs.schema.fields}
    for name in PARTITION_COLUMNS:
        if name not in known:
            rows.append([f"`{name}`", f"`{_type_label(name, inputs)}`", "integer", "yes",
                         f"Publication {name}, derived from `published_date`."])
    return _table(["field", "feature", "JSON Schema type", "required", "description"], rows)


def _statistics(inputs: CardInputs) -> str:
    stats = inputs.stats
    total = stats.rows
    parts = []
    lang_rows = [[language_name(code), f"`{code}`", f"{n:,}", _share(n, total)] for code, n in stats.languages]
    parts.append("### Articles per language\n\n" + _table(["language", "code", "articles", "share"], lang_rows,
                                                            ["---", "---", "---:", "---:"]))
    homepages = dict(inputs.recipe.source_homepages)
    shown = list(stats.sources[:MAX_SOURCES])
    source_rows = [[name, f"{n:,}", _share(n, total), homepages.get(name, "")] for name, n in shown]
    rest = stats.sources[MAX_SOURCES:]
    if rest:
        others = sum(n for _, n in rest)
        source_rows.append([f"({len(rest)} other sources)", f"{others:,}", _share(others, total), ""])
    parts.append(f"### Articles per source ({len(stats.sources)} sources)\n\n"
                 + _table(["source", "articles", "share", "homepage"], source_rows, ["---", "---:", "---:", "---"]))
    year_rows = [[str(year), f"{n:,}", _share(n, total)] for year, n in stats.years]
    parts.append("### Articles per year\n\n" + _table(["year", "articles", "share"], year_rows,
                                                        ["---", "---:", "---:"]))
    parts.append(f"### Articles per month\n\n![Articles per month]({CHART_FILE})")
    return "\n\n".join(parts)


def _how_to_load(inputs: CardInputs) -> str:
    hub = ""
    if inputs.repo_id:
        hub = (
            "From the Hugging Face Hub, pinned to this snapshot's tag:\n\n"
            "```python\n"
            "from datasets import load_dataset\n\n"
            f'articles = load_dataset("{inputs.repo_id}", revision="{inputs.tag}", split="{SPLIT}")\n'
            "```\n\n"
            "With DuckDB, straight from the Parquet files:\n\n"
            "```sql\n"
            f"SELECT language, count(*) FROM 'hf://datasets/{inputs.repo_id}@{inputs.tag}/data/*.parquet' "
            "GROUP BY language;\n"
            "```\n\n"
        )
    return (
        hub
        + "From a local copy of this folder (works offline):\n\n"
        "```python\n"
        "from datasets import load_dataset\n\n"
        f'articles = load_dataset("path/to/this/folder", split="{SPLIT}")\n'
        "```\n\n"
        "With Croissant (`croissant.json`):\n\n"
        "```python\n"
        "import mlcroissant as mlc\n\n"
        'records = mlc.Dataset(jsonld="path/to/this/folder/croissant.json").records("articles")\n'
        "```\n\n"
        "Check the files first with `sha256sum -c SHA256SUMS` (or `newsarchive verify path/to/this/folder`)."
    )


def _provenance(inputs: CardInputs) -> str:
    batches = inputs.batches
    lines = [
        f"- Archive: the `articles/` Delta table at version **{inputs.archive_version}**.",
        f"- Tool: newsarchive {inputs.tool_version}; record contract `{inputs.schema.id}`.",
        f"- Files: {len(inputs.shards.files)} Parquet shard(s), {inputs.shards.download_size:,} bytes, zstd, "
        "rows ordered by (`published_date`, `id`); `croissant.json` (Croissant 1.1); `SHA256SUMS` for every file.",
    ]
    if inputs.date_published:
        lines.append(f"- Data as of: {inputs.date_published} (the last batch appended to this version).")
    if batches.num_rows == 0 or "batch" not in batches.column_names:
        lines.append("- Batches: the archive has no batches ledger for this version.")
        return "\n".join(lines)
    lines.append(f"- Batches: {batches.num_rows} appended up to this version.")
    rows = []
    for row in batches.slice(0, MAX_BATCHES).to_pylist():
        files = row.get("files") or []
        # Only the file's own name: the ledger keeps the path as given, which may name private folders.
        names = ", ".join(f"{_base_name(f.get('name'))} (sha256 {str(f.get('sha256'))[:12]}…)" for f in files)
        when = row.get("appended_at")
        rows.append([row.get("batch"), row.get("version"), row.get("appended"), row.get("duplicates"),
                     row.get("quarantined"), names, when.date().isoformat() if isinstance(when, dt.datetime) else when,
                     row.get("tool_version")])
    table = _table(["batch", "version", "appended", "duplicates", "quarantined", "input files", "appended at", "tool"],
                   rows)
    if batches.num_rows > MAX_BATCHES:
        table += f"\n\n…and {batches.num_rows - MAX_BATCHES} more batches (the archive's ledger has them all)."
    return "\n".join(lines) + "\n\n" + table


def _changelog(inputs: CardInputs) -> str:
    change = inputs.changelog
    if change is None:
        return "First snapshot: there is no earlier snapshot beside this one to compare with."
    text = (f"Against **{change.previous_tag}**: {change.added:,} articles added, "
            f"{change.removed:,} removed (compared by `id`).")
    for label, count, ids in (("Added", change.added, change.added_ids), ("Removed", change.removed,
                                                                          change.removed_ids)):
        if ids:
            more = f" …and {count - len(ids):,} more" if count > len(ids) else ""
            text += f"\n\n{label}: " + ", ".join(f"`{i}`" for i in ids) + more
    return text


def default_citation(recipe: Recipe, tag: str, repo_id: str | None, year: str | None) -> str:
    """A BibTeX entry for the snapshot when the recipe brings none."""
    key = "".join(c if c.isalnum() else "_" for c in f"{recipe.name}_{tag}")
    url = f"https://huggingface.co/datasets/{repo_id}" if repo_id else recipe.homepage
    fields = [f"  title = {{{recipe.pretty_name}}}", f"  version = {{{tag}}}",
              "  note = {Published with newsarchive}"]
    if year:
        fields.append(f"  year = {{{year}}}")
    if url:
        fields.append(f"  url = {{{url}}}")
    return "@misc{" + key + ",\n" + ",\n".join(fields) + "\n}"


def _near_duplicates(dedup: dict[str, Any]) -> str:
    """The card's statement of `publish --dedup`: the choice, the parameters, the rows left out."""
    if dedup.get("mode") != "near":
        return ("- **Near-duplicates:** kept (`--dedup none`): syndicated copies of an article are all in the "
                "snapshot; the archive's `near_duplicates` view groups them.")
    p = dedup["parameters"]
    return (f"- **Near-duplicates:** removed (`--dedup near`): {dedup['dropped']:,} rows dropped, one article "
            f"kept per cluster ({dedup['clusters']:,} clusters), the earliest published (ties: smallest id). "
            f"Clusters: MinHash of word {p['shingle']}-grams, {p['permutations']} permutations, LSH "
            f"{p['bands']} bands x {p['rows']} rows, estimated Jaccard >= {p['threshold']}.")


def render_card(inputs: CardInputs) -> str:
    """The whole README.md: front matter, then the card."""
    recipe = inputs.recipe
    stats = inputs.stats
    span = f"{stats.first_date} to {stats.last_date}" if stats.first_date else "none"
    languages = ", ".join(f"{language_name(code)} (`{code}`)" for code, _ in stats.languages) or "none"
    summary = [f"- **Snapshot:** `{inputs.tag}`", f"- **Articles:** {stats.rows:,}",
               f"- **Publication dates:** {span}", f"- **Languages:** {languages}",
               f"- **License:** `{recipe.license}`"]
    if recipe.homepage:
        summary.append(f"- **Homepage:** {recipe.homepage}")
    summary.append(_near_duplicates(inputs.dedup))
    if inputs.invalid_languages:
        summary.append("- **Note:** language values that are not ISO 639 codes ("
                       + ", ".join(f"`{c}`" for c in inputs.invalid_languages)
                       + ") are counted below but left out of the card's metadata.")
    sections = [
        f"# {recipe.pretty_name}",
        _plain(recipe.description),
        "\n".join(summary),
        "## How to load\n\n" + _how_to_load(inputs),
        "## Schema\n\nOne row per article, with these fields (from `schema/article.schema.json`):\n\n"
        + schema_table(inputs),
        "## Statistics\n\n" + _statistics(inputs),
        "## Provenance\n\n" + _provenance(inputs),
        "## Changelog\n\n" + _changelog(inputs),
        "## Citation\n\n```bibtex\n" + inputs.citation + "\n```",
        f"## License\n\n`{recipe.license}`." + (f" {recipe.license_note}" if recipe.license_note else "")
        + "\n\nArticles remain the work of their outlets: check each source's terms before redistributing "
        "the text.",
    ]
    return "---\n" + front_matter(inputs) + "\n---\n\n" + "\n\n".join(sections) + "\n"


def _base_name(path: object) -> str:
    text = str(path or "")
    return text.replace("\\", "/").rsplit("/", 1)[-1] or text
