"""SHA256SUMS in the exact format `sha256sum -c` reads: `<hex>  <path>`, one file per line, sorted."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

SUMS_FILE = "SHA256SUMS"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def snapshot_files(folder: Path) -> list[str]:
    """Every file under the snapshot except SHA256SUMS itself, as sorted POSIX paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.relative_to(folder).as_posix() != SUMS_FILE)


def write_sums(folder: Path) -> Path:
    """Write SHA256SUMS covering every other file of the snapshot."""
    lines = [f"{sha256_file(folder / name)}  {name}\n" for name in snapshot_files(folder)]
    target = folder / SUMS_FILE
    target.write_text("".join(lines), encoding="utf-8", newline="\n")
    return target


def check_sums(folder: Path) -> list[str]:
    """Problems found, each one line naming the file: mismatched, missing, unlisted or malformed."""
    sums = folder / SUMS_FILE
    if not sums.is_file():
        return [f"{sums}: missing; every snapshot carries one"]
    problems: list[str] = []
    listed: set[str] = set()
    for number, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        match = _LINE.match(line)
        if not match:
            problems.append(f"{sums}:{number}: not a `sha256  path` line")
            continue
        expected, name = match.groups()
        listed.add(name)
        path = folder / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            problems.append(f"{sums}:{number}: {name} points outside the snapshot")
        elif not path.is_file():
            problems.append(f"{name}: listed in {SUMS_FILE} but missing")
        elif sha256_file(path) != expected:
            problems.append(f"{name}: SHA-256 does not match {SUMS_FILE} (the file changed or is corrupt)")
    for name in snapshot_files(folder):
        if name not in listed:
            problems.append(f"{name}: not listed in {SUMS_FILE} (a file was added after publishing)")
    return problems
