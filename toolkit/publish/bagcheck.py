"""`newsarchive verify BAG_DIR`: the bag as bagit sees it, then the snapshot inside as `verify` sees it.

bagit checks the structure, Payload-Oxum, that the payload holds exactly the files the manifests list,
and every payload and tag file against every manifest; each fault it reports is turned into one line
naming the file. A Payload-Oxum mismatch stops bagit before it names anything, so the bag is then
checked again without it, to say which file was added, removed or changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.core.errors import NewsarchiveError
from toolkit.publish.bagging import BAGIT_FILE, DATACITE_FILE, is_bag, quiet_bagit
from toolkit.publish.verify import SnapshotCheck, verify_snapshot

DATACITE_NS = "http://datacite.org/schema/kernel-4"


@dataclass
class BagCheck:
    """What `newsarchive verify BAG_DIR` reports; `ok` is False as soon as one problem is found."""

    path: Path
    problems: list[str] = field(default_factory=list)
    version: str = "?"
    algorithms: list[str] = field(default_factory=list)
    payload_files: int = 0
    snapshot: SnapshotCheck | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.ok:
            return f"{self.path}: {len(self.problems)} problem(s)"
        manifests = " and ".join(f"manifest-{a}.txt" for a in self.algorithms)
        inner = self.snapshot.summary().split(": ", 1)[-1] if self.snapshot else "snapshot not checked"
        return (f"{self.path}: bag OK (BagIt {self.version}, {self.payload_files} payload files match {manifests}, "
                f"Payload-Oxum and tag manifests agree); data/: {inner}")


def _detail(detail: object) -> str:
    import bagit

    path = getattr(detail, "path", "?")
    if isinstance(detail, bagit.ChecksumMismatch):
        kind = "tagmanifest" if not str(path).startswith("data" + os.sep) else "manifest"
        return f"{path}: {detail.algorithm} does not match {kind}-{detail.algorithm}.txt (the file changed or is " \
               "corrupt)"
    if isinstance(detail, bagit.FileMissing):
        return f"{path}: listed in the manifests but missing"
    if isinstance(detail, bagit.UnexpectedFile):
        return f"{path}: not listed in the manifests (a file was added after bagging)"
    return str(detail)


def _tag_text_problems(folder: Path) -> list[str]:
    """The bag's own text files (bagit.txt, bag-info.txt, the manifests) that are not UTF-8: bagit
    would stop on them with a bare UnicodeDecodeError that names no file."""
    problems = []
    for path in sorted(folder.glob("*.txt")):
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{path.name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                            f"{exc.start}); the file is damaged: restore the bag from another copy")
        except OSError as exc:
            problems.append(f"{path.name}: cannot be read ({exc.strerror})")
    return problems


def _structure(message: str) -> str:
    return f"bag-info.txt: {message}" if "Payload-Oxum" in message else f"bag: {message}"


def _bag_problems(folder: Path, check: BagCheck) -> None:
    import bagit

    check.problems.extend(_tag_text_problems(folder))
    if check.problems:
        return
    try:
        bag = bagit.Bag(str(folder))
    except bagit.BagError as exc:
        check.problems.append(f"{BAGIT_FILE}: not a readable bag ({exc})")
        return
    check.version = bag.tags.get("BagIt-Version", "?")
    check.algorithms = sorted(a for a in bag.algorithms if (folder / f"manifest-{a}.txt").is_file())
    check.payload_files = len(bag.payload_entries())
    try:
        bag.validate(processes=1, fast=True)  # structure, bagit.txt, Payload-Oxum
    except bagit.BagValidationError as exc:
        if exc.details:
            check.problems.extend(sorted(_detail(d) for d in exc.details))
        else:
            check.problems.append(_structure(exc.message))
        if not (folder / "data").is_dir() or not list(bag.manifest_files()):
            return
    except (bagit.BagError, ValueError) as exc:  # a malformed Payload-Oxum is a ValueError in bagit 1.9
        check.problems.append(f"bag-info.txt: Payload-Oxum or another tag is malformed ({exc})")
        return
    bag.info.pop("Payload-Oxum", None)  # checked above; without it bagit goes on to name the files
    try:
        bag.validate(processes=1)
    except bagit.BagValidationError as exc:  # bagit's order of details varies: sorted
        check.problems.extend(sorted(_detail(d) for d in exc.details) or [_structure(exc.message)])
    except bagit.BagError as exc:
        check.problems.append(_structure(str(exc)))
    if not any(True for _ in bag.tagmanifest_files()):
        return
    listed = {Path(p).as_posix() for p in bag.entries if not p.startswith("data" + os.sep)}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and not name.startswith(("data/", "tagmanifest-")) and name not in listed:
            check.problems.append(f"{name}: not listed in the tag manifests (a tag file was added after bagging)")


def _datacite_problems(folder: Path, check: BagCheck) -> None:
    from lxml import etree

    path = folder / DATACITE_FILE
    if not path.is_file():
        check.problems.append(f"{DATACITE_FILE}: missing (the bag's DataCite record)")
        return
    try:
        root = etree.parse(str(path)).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        check.problems.append(f"{DATACITE_FILE}: not well-formed XML ({exc})")
        return
    if root.tag != f"{{{DATACITE_NS}}}resource":
        check.problems.append(f"{DATACITE_FILE}: not a DataCite kernel-4 record (root element {root.tag})")


def verify_bag(path: str | Path) -> BagCheck:
    """Verify a bag `deposit` wrote; raises NewsarchiveError only when it is not a bag at all."""
    folder = Path(path)
    if not is_bag(folder):
        raise NewsarchiveError(f"{folder}: not a bag (no {BAGIT_FILE}); pass the folder `newsarchive deposit` wrote")
    check = BagCheck(folder)
    with quiet_bagit():
        _bag_problems(folder, check)
    if check.problems:  # a file that does not match its manifest is not worth loading
        return check
    _datacite_problems(folder, check)
    if check.problems:
        return check
    try:
        inner = verify_snapshot(folder / "data")
    except NewsarchiveError as exc:
        check.problems.append(f"data/: {exc}")
        return check
    check.snapshot = inner
    check.problems.extend(f"data/{p}" for p in inner.problems)
    return check
