"""`deposit`: a published snapshot as a BagIt bag with a DataCite record, for a preservation repository.

    newsarchive deposit snapshots/v1.0.0 --output deposits/v1.0.0

The bag is made by the Library of Congress's `bagit` (bagit-python), never by hand: the snapshot is
copied into a hidden folder beside BAG_DIR, `bagit.make_bag` turns it into `data/` with the manifests,
bag-info.txt and the tag manifests, `metadata/datacite.xml` is added as a tag file and `Bag.save()`
recomputes the tag manifests; the bag is validated by bagit, then renamed into place.

Two things bagit-python does not do, and what is done instead (both leave every checksum bagit's):
- it declares `BagIt-Version: 0.97` (its issue #141); the bags it writes already follow RFC 8493, so
  bagit.txt is rewritten to declare 1.0 before `Bag.save()` recomputes the tag manifests;
- it lists tag files in directory order, which depends on the file system; the lines of each
  tagmanifest are sorted, so the same snapshot gives the same bytes wherever it is bagged.
Bagging-Date is the snapshot's publication date (croissant.json's datePublished) unless
--bagging-date says otherwise, so two bags of one snapshot are byte-identical.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit import __version__
from toolkit.core.errors import NewsarchiveError, environment_error
from toolkit.core.outputs import install_folder, is_inside, temporary_name
from toolkit.publish.card import CARD_FILE
from toolkit.publish.checksums import SUMS_FILE, check_sums
from toolkit.publish.croissant import CROISSANT_FILE
from toolkit.publish.datacite_record import (
    HUB_PREFIX,
    MEDIA_TYPES,
    Person,
    RecordInputs,
    build_record,
    orcid_ok,
    record_xml,
)
from toolkit.publish.recipe import Recipe, load_recipe

BAGIT_FILE = "bagit.txt"
DATACITE_FILE = "metadata/datacite.xml"
DEFAULT_ALGORITHMS = ("sha256", "sha512")
BAGIT_DECLARATION = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class DepositMetadata:
    """What a deposit needs from the recipe beyond what the card already uses."""

    creators: tuple[Person, ...]
    contact: Person
    contact_email: str
    publisher: str
    source_organization: str


@dataclass(frozen=True)
class Deposit:
    """A bag written by `deposit`."""

    path: Path
    snapshot: Path
    tag: str
    algorithms: tuple[str, ...]
    payload_files: int
    payload_bytes: int
    bagging_date: str


def is_bag(folder: Path) -> bool:
    return (Path(folder) / BAGIT_FILE).is_file()


@contextmanager
def quiet_bagit() -> Iterator[None]:
    """bagit logs every step, and a traceback on failure, through Python's last-resort handler; the
    CLI reports one line instead, so bagit's logger is silenced while it works."""
    logger = logging.getLogger("bagit")
    saved = logger.propagate, logger.level, list(logger.handlers)
    logger.propagate = False
    logger.handlers = [logging.NullHandler()]
    try:
        yield
    finally:
        logger.propagate, logger.level, logger.handlers = saved[0], saved[1], saved[2]


# --- the recipe's deposit fields ----------------------------------------------------------------

def _missing(where: Path | None, key: str, why: str) -> NewsarchiveError:
    return NewsarchiveError(f"{where or 'dataset.toml'}: `{key}` is missing; a deposit needs it ({why}): "
                            "add it to the recipe (see docs/publish.md, Deposit)")


def _text(data: dict[str, Any], key: str, where: Path | None, label: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise NewsarchiveError(f"{where}: `{label}` must be a non-empty string; fix the recipe")
    return value.strip()


def _person(item: Any, where: Path | None, label: str) -> Person:
    if not isinstance(item, dict):
        raise NewsarchiveError(f"{where}: `{label}` must be a table (name = ..., orcid = ...); fix the recipe")
    name = _text(item, "name", where, f"{label}.name")
    if not name:
        raise _missing(where, f"{label}.name", "DataCite names every creator")
    kind = _text(item, "type", where, f"{label}.type") or "Personal"
    if kind not in ("Personal", "Organizational"):
        raise NewsarchiveError(f"{where}: `{label}.type` is {kind!r}; use Personal or Organizational")
    orcid = _text(item, "orcid", where, f"{label}.orcid")
    if orcid:
        orcid = orcid.removeprefix("https://orcid.org/")
        if not orcid_ok(orcid):
            raise NewsarchiveError(f"{where}: `{label}.orcid` {orcid!r} is not a valid ORCID iD (check digit or "
                                   "form 0000-0000-0000-0000); copy it from orcid.org, or leave it out")
    return Person(name=name, kind=kind, given_name=_text(item, "given_name", where, f"{label}.given_name"),
                  family_name=_text(item, "family_name", where, f"{label}.family_name"), orcid=orcid,
                  affiliation=_text(item, "affiliation", where, f"{label}.affiliation"))


def deposit_metadata(recipe: Recipe) -> DepositMetadata:
    """The recipe's creators, publisher and contact; a missing one is a one-line error naming it."""
    data, where = recipe.extra, recipe.path
    for key, why in (("pretty_name", "the DataCite title"), ("description", "the abstract"),
                     ("license", "the DataCite rights")):
        if not data.get(key):
            raise _missing(where, key, why)
    if recipe.license in ("unknown", "other"):
        raise NewsarchiveError(f"{where}: `license` is {recipe.license!r}; a deposit needs a licence (an SPDX id "
                               "such as CC-BY-4.0): set it in the recipe")
    creators = data.get("creators")
    if not creators:
        raise _missing(where, "creators", "DataCite requires at least one creator")
    if not isinstance(creators, list):
        raise NewsarchiveError(f"{where}: `creators` must be a list of tables ([[creators]]); fix the recipe")
    people = tuple(_person(item, where, f"creators[{i}]") for i, item in enumerate(creators))
    publisher = _text(data, "publisher", where, "publisher")
    if not publisher:
        raise _missing(where, "publisher", "DataCite requires a publisher")
    contact = data.get("contact")
    if contact is None:
        raise _missing(where, "contact.name", "bag-info.txt's Contact-Name")
    person = _person(contact, where, "contact")
    email = _text(contact, "email", where, "contact.email") if isinstance(contact, dict) else None
    if not email:
        raise _missing(where, "contact.email", "bag-info.txt's Contact-Email")
    if not _EMAIL.match(email):
        raise NewsarchiveError(f"{where}: `contact.email` {email!r} is not an e-mail address; fix the recipe")
    organization = _text(data, "source_organization", where, "source_organization") or publisher
    return DepositMetadata(creators=people, contact=person, contact_email=email, publisher=publisher,
                           source_organization=organization)


# --- facts read back from the snapshot ------------------------------------------------------------

@dataclass(frozen=True)
class SnapshotFacts:
    name: str
    tag: str
    license: str
    date_published: str | None
    repo_id: str | None
    keywords: tuple[str, ...]
    title: str
    abstract: str
    archive_version: str
    tool_version: str
    rows: int
    first_date: str | None
    last_date: str | None
    languages: tuple[tuple[str, int], ...]
    sources: int
    shards: int


def _card_parts(folder: Path) -> tuple[str, str, str, str]:
    """Title, abstract, archive version and tool version, from the card `publish` wrote."""
    import html

    path = folder / CARD_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NewsarchiveError(f"{path}: cannot read the card ({exc}); run `newsarchive verify {folder}`") from None
    body = text.split("\n---\n", 1)[1] if text.startswith("---\n") and "\n---\n" in text else text
    title = re.search(r"^# (.+)$", body, re.MULTILINE)
    abstract = re.search(r"^# .+?\n\n(.*?)\n\n- \*\*Snapshot:\*\*", body, re.MULTILINE | re.DOTALL)
    archive = re.search(r"Delta table at version \*\*(\d+)\*\*", body)
    tool = re.search(r"- Tool: newsarchive ([^;\s]+);", body)
    for found, what in ((title, "its title"), (abstract, "its description"), (archive, "the archive version"),
                        (tool, "the newsarchive version")):
        if found is None:
            raise NewsarchiveError(f"{path}: the card does not give {what}; deposit a snapshot as `newsarchive "
                                   "publish` wrote it (or publish it again)")
    assert title and abstract and archive and tool
    paragraphs = re.split(r"\n\s*\n", html.unescape(abstract.group(1).strip()))
    text = "\n\n".join(" ".join(p.split()) for p in paragraphs)  # the recipe's line wrapping is not content
    return title.group(1).strip(), text, archive.group(1), tool.group(1)


def _shard_facts(folder: Path) -> tuple[int, str | None, str | None, tuple[tuple[str, int], ...], int]:
    """Rows, earliest and latest published_date, articles per language and sources, read column by column."""
    from collections import Counter

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows, first, last = 0, None, None
    languages: Counter[str] = Counter()
    sources: set[str] = set()
    for path in sorted((folder / "data").glob("*.parquet")):
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=65_536, columns=["published_date", "language", "source"]):
            rows += batch.num_rows
            dates = pc.min_max(batch.column("published_date")).as_py()
            if dates["min"] is not None:
                first = min(first, dates["min"]) if first else dates["min"]
                last = max(last, dates["max"]) if last else dates["max"]
            for item in pc.value_counts(batch.column("language")).to_pylist():
                if item["values"]:
                    languages[item["values"]] += item["counts"]
            sources.update(v for v in pc.unique(batch.column("source")).to_pylist() if v)
    ordered = tuple(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0])))
    return (rows, first.isoformat() if first else None, last.isoformat() if last else None, ordered, len(sources))


def snapshot_facts(folder: Path) -> SnapshotFacts:
    """What the snapshot says about itself: croissant.json, the card, and the shards' own columns."""
    path = folder / CROISSANT_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NewsarchiveError(f"{path}: cannot read it ({exc}); run `newsarchive verify {folder}`") from None
    name, tag = document.get("name"), document.get("identifier")
    if not isinstance(name, str) or not isinstance(tag, str):
        raise NewsarchiveError(f"{path}: no dataset name or snapshot tag; deposit a folder `newsarchive publish` "
                               "wrote")
    url = document.get("url") if isinstance(document.get("url"), str) else ""
    repo_id = url[len(HUB_PREFIX):] if url.startswith(HUB_PREFIX) else None
    title, abstract, archive_version, tool_version = _card_parts(folder)
    import pyarrow as pa

    try:
        rows, first, last, languages, sources = _shard_facts(folder)
    except (OSError, pa.ArrowException) as exc:
        raise NewsarchiveError(f"{folder}: cannot read the shards ({exc}); run `newsarchive verify {folder}`") \
            from None
    keywords = document.get("keywords") or []
    return SnapshotFacts(
        name=name, tag=tag, license=str(document.get("license") or "unknown"),
        date_published=document.get("datePublished") if isinstance(document.get("datePublished"), str) else None,
        repo_id=repo_id, keywords=tuple(k for k in keywords if isinstance(k, str)), title=title,
        abstract=abstract, archive_version=archive_version, tool_version=tool_version, rows=rows,
        first_date=first, last_date=last, languages=languages, sources=sources,
        shards=len(list((folder / "data").glob("*.parquet"))))


# --- the bag ----------------------------------------------------------------------------------------

def parse_algorithms(text: str | Sequence[str]) -> tuple[str, ...]:
    """`sha256,sha512` as bagit's algorithm names; an unknown one is a one-line error."""
    import bagit

    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise NewsarchiveError("--algorithm: no algorithm given; use e.g. sha256,sha512")
    known = sorted(a for a in bagit.CHECKSUM_ALGOS if not a.startswith("shake"))  # shake needs a length
    for name in names:
        if name not in known:
            raise NewsarchiveError(f"--algorithm {name}: not a checksum bagit knows; use sha256, sha512 "
                                   f"(or one of {', '.join(known)})")
    return tuple(dict.fromkeys(names))


def _human_size(size: int) -> str:
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


def _check_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise NewsarchiveError(f"--bagging-date {text!r}: not a date; use YYYY-MM-DD") from None


def check_bag_output(output: Path, force: bool, snapshot: Path | None = None) -> None:
    """Never write over what is not ours: only an empty folder, or a bag with --force, is replaced."""
    if snapshot is not None and (is_inside(output, snapshot) or is_inside(snapshot, output)):
        raise NewsarchiveError(f"--output {output}: is inside the snapshot {snapshot} or holds it; write the bag "
                               "to a folder of its own")
    if output.exists() and not output.is_dir():
        raise NewsarchiveError(f"--output {output}: exists and is not a folder; choose a new folder")
    if output.is_dir() and any(output.iterdir()):
        if not is_bag(output):
            raise NewsarchiveError(f"--output {output}: exists, is not empty and is not a bag; choose a new or "
                                   "empty folder")
        if not force:
            raise NewsarchiveError(f"--output {output}: already holds a bag; pass --force to replace it")


def _check_snapshot(folder: Path) -> None:
    if not folder.is_dir():
        raise NewsarchiveError(f"{folder}: no such folder; pass a snapshot folder (one `newsarchive publish` wrote)")
    if not (folder / SUMS_FILE).is_file() or not (folder / CROISSANT_FILE).is_file():
        hint = f" (it is a bag: its snapshot is {folder / 'data'})" if is_bag(folder) else ""
        raise NewsarchiveError(f"{folder}: not a snapshot (no {SUMS_FILE} and {CROISSANT_FILE}){hint}; pass the "
                               "folder `newsarchive publish` wrote")
    problems = check_sums(folder)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise NewsarchiveError(f"{folder}: the snapshot is damaged: {problems[0]}{more}; a bag would preserve the "
                               f"damage: run `newsarchive verify {folder}` and restore it first")


def _sort_tagmanifests(build: Path, algorithms: Sequence[str]) -> None:
    """bagit lists tag files in directory order; the same lines, sorted by path, are the same bytes
    on every file system."""
    for algorithm in algorithms:
        path = build / f"tagmanifest-{algorithm}.txt"
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("".join(f"{line}\n" for line in sorted(lines, key=lambda s: s.split(" ", 1)[1])),
                        encoding="utf-8", newline="\n")


def deposit_record(folder: Path, recipe: Recipe, meta: DepositMetadata | None = None,
                   facts: SnapshotFacts | None = None, fallback_year: str | None = None) -> dict[str, Any]:
    """The DataCite record (JSON form) of a snapshot folder: what metadata/datacite.xml is written from."""
    meta = meta or deposit_metadata(recipe)
    facts = facts or snapshot_facts(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    payload_bytes = sum(p.stat().st_size for p in files)
    formats = tuple(sorted({MEDIA_TYPES.get(p.suffix.lower(), "application/octet-stream") for p in files}))
    languages = ", ".join(f"{code} ({n:,})" for code, n in facts.languages) or "none"
    technical = (f"Snapshot {facts.tag} of the newsarchive dataset {facts.name}: {facts.rows:,} articles from "
                 f"{facts.sources} sources in {facts.shards} Parquet shard(s) (zstd) under data/, with the dataset "
                 f"card (README.md), croissant.json (Croissant 1.1), SHA256SUMS and a chart. Articles per language: "
                 f"{languages}. Built from archive version {facts.archive_version} by newsarchive "
                 f"{facts.tool_version}. Load with datasets.load_dataset(\"<bag>/data\", split=\"train\").")
    return build_record(RecordInputs(
        title=facts.title, abstract=facts.abstract, creators=meta.creators, contact=meta.contact,
        publisher=meta.publisher, tag=facts.tag, name=facts.name, license=facts.license,
        license_note=recipe.license_note, subjects=tuple(dict.fromkeys([*facts.keywords, "news"])),
        created=facts.date_published[:10] if facts.date_published else None,
        publication_year=(facts.date_published or fallback_year or dt.date.today().isoformat())[:4],
        first_date=facts.first_date, last_date=facts.last_date,
        language=facts.languages[0][0] if facts.languages else None,
        languages=facts.languages, formats=formats, rows=facts.rows, payload_bytes=payload_bytes,
        payload_files=len(files), repo_id=facts.repo_id, technical_info=technical))


def deposit(snapshot: str | Path, output: str | Path, *, dataset: str | Path | None = None,
            algorithms: str | Sequence[str] = DEFAULT_ALGORITHMS, bagging_date: str | None = None,
            force: bool = False) -> Deposit:
    """Bag the snapshot folder `snapshot` into `output` (a BagIt 1.0 bag with metadata/datacite.xml)."""
    import bagit

    folder, output = Path(snapshot), Path(output)
    algos = parse_algorithms(algorithms)
    date = _check_date(bagging_date) if bagging_date else None
    _check_snapshot(folder)
    check_bag_output(output, force, folder)
    recipe = load_recipe(dataset)
    meta = deposit_metadata(recipe)
    facts = snapshot_facts(folder)
    if facts.name != recipe.name:
        raise NewsarchiveError(f"{folder}: is a snapshot of dataset {facts.name!r}, the recipe {recipe.path} is "
                               f"{recipe.name!r}; pass --dataset datasets/{facts.name}")
    if date is None:
        if not facts.date_published:
            raise NewsarchiveError(f"{folder}: the snapshot has no publication date (croissant.json datePublished);"
                                   " pass --bagging-date YYYY-MM-DD")
        date = _check_date(facts.date_published[:10])

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    payload_bytes = sum(p.stat().st_size for p in files)
    record = deposit_record(folder, recipe, meta, facts, fallback_year=date[:4])
    xml = record_xml(record)
    span = f", published {facts.first_date} to {facts.last_date}" if facts.first_date else ""
    bag_info = {
        "Source-Organization": meta.source_organization,
        "Contact-Name": meta.contact.name,
        "Contact-Email": meta.contact_email,
        "External-Description": f"{facts.title}. Snapshot {facts.tag} of the newsarchive dataset {facts.name}: "
                                f"{facts.rows:,} news articles{span}.",
        "External-Identifier": f"{facts.name} {facts.tag}",
        "Bag-Group-Identifier": facts.name,
        "Bagging-Date": date,
        "Bag-Size": _human_size(payload_bytes),
        "Bag-Software-Agent": f"newsarchive {__version__} with bagit.py v{bagit.VERSION}",
        "Newsarchive-Archive-Version": facts.archive_version,
        "Newsarchive-Version": facts.tool_version,
    }

    output.parent.mkdir(parents=True, exist_ok=True)
    build = temporary_name(output, "partial")
    shutil.rmtree(build, ignore_errors=True)
    try:
        shutil.copytree(folder, build, copy_function=shutil.copyfile)
        with quiet_bagit():
            bagit.make_bag(str(build), bag_info=dict(bag_info), processes=1, checksums=list(algos))
            (build / "metadata").mkdir()
            (build / DATACITE_FILE).write_bytes(xml)
            (build / BAGIT_FILE).write_text(BAGIT_DECLARATION, encoding="utf-8", newline="\n")
            bag = bagit.Bag(str(build))
            bag.save(processes=1)  # recomputes the tag manifests: bagit.txt and datacite.xml changed
            _sort_tagmanifests(build, algos)
            bagit.Bag(str(build)).validate(processes=1)
        install_folder(build, output)
    except bagit.BagError as exc:
        shutil.rmtree(build, ignore_errors=True)
        raise NewsarchiveError(f"--output {output}: bagit could not make a valid bag ({exc})") from None
    except OSError as exc:
        shutil.rmtree(build, ignore_errors=True)
        refused = environment_error(exc)
        if refused is not None:
            raise refused from None
        raise NewsarchiveError(f"--output {output}: cannot write the bag ({exc})") from None
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return Deposit(path=output, snapshot=folder, tag=facts.tag, algorithms=algos, payload_files=len(files),
                   payload_bytes=payload_bytes, bagging_date=date)
