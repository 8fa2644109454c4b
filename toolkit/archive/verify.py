"""`verify`: prove the archive is whole, or name what is wrong with it.

Checks, each reported as a line:
- every file the current version of each table references exists, has the size the log records,
  and reads back (unless `quick`: then only sizes and Parquet footers are looked at);
- fixity (not with `quick`): every such file is re-hashed, streamed, and its SHA-256 compared with
  the one recorded in the commit that added it; each mismatch is named by path. Files with no
  recorded hash (written before newsarchive recorded them) are reported apart, as unverifiable
  rather than corrupt, and their row groups are decoded instead;
- row counts agree with the log: each file's rows match its add action, the articles hold exactly
  the rows the ledger says were appended, and the quarantine the lines it says were rejected;
- the ledger is consistent: input == appended + duplicates + quarantined for every batch, batch ids
  and input files (SHA-256) appear once, and each batch's version is the articles commit that
  carries it; every batch commit in the articles log has its ledger row (else an append was
  interrupted, and the next append or compact completes it);
- the log's statistics bound every column that has values (else deltalake's filtered reads miss
  rows; `compact` rewrites such files);
- no article id is stored twice;
- every article has its near-duplicate bands in `minhash/` (docs/near-duplicates.md); those that do
  not are named (an append interrupted before its minhash commit, completed by the next append, or
  articles archived before near-duplicate detection, indexed by `compact`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toolkit.archive.layout import ARTICLES, BATCHES, CLUSTERS, ID_FIELD, META_KEY, MINHASH, QUARANTINE
from toolkit.archive.ledger import BatchRecord, committed_batches
from toolkit.archive.maintenance import misread_stats
from toolkit.archive.tables import Archive, DamagedLog, file_actions, open_archive

READ_BATCH_ROWS = 8192
HASH_CHUNK = 4 << 20  # bytes read at a time while re-hashing a file (memory stays constant)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class VerifyReport:
    """The outcome of `verify`: every check in order; `ok` when none found a fault."""

    root: str
    version: int | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def faults(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def as_dict(self) -> dict[str, Any]:
        return {"archive": self.root, "version": self.version, "ok": self.ok,
                "checks": [c.as_dict() for c in self.checks]}


def verify(archive: str | os.PathLike | Archive | None = None, *, quick: bool = False) -> VerifyReport:
    """Run every check on the archive's current version; faults are reported, not raised."""
    target = archive if isinstance(archive, Archive) else open_archive(archive)
    report = VerifyReport(root=target.root)
    try:
        report.version = target.version
        rows = {name: _check_files(target, name, report, quick) for name in (ARTICLES, QUARANTINE, BATCHES)}
        for name in (MINHASH, CLUSTERS):  # archives written before near-duplicate detection lack them
            if target.has(name):
                rows[name] = _check_files(target, name, report, quick)
        ledger = target.batches() if rows[BATCHES] is not None or not target.has(BATCHES) else None
    except DamagedLog as exc:  # a fault to name, not a run that could not happen
        report.add("transaction log", False, str(exc))
        return report
    if ledger is None:  # a damaged ledger cannot vouch for anything
        report.add("ledger", False, "not checked: the ledger's files are damaged (see `batches files` and "
                   "`batches fixity`)")
    else:
        pending = _check_ledger(target, ledger, report)
        _check_counts(target, ledger, rows, report, pending)
    _check_statistics(target, report)
    if rows[ARTICLES] is not None:  # scanning needs every file readable
        _check_unique_ids(target, report)
        if rows.get(MINHASH, 0) is not None:
            _check_bands(target, report)
    return report


def _check_files(archive: Archive, name: str, report: VerifyReport, quick: bool) -> int | None:
    """Every referenced file: present, of the logged size, readable, with the logged row count."""
    if not archive.has(name):
        report.add(f"{name} files", False, f"{name}/ is missing: this is not an archive `newsarchive append` wrote")
        return None
    table = archive.table(name)
    actions = file_actions(table)
    paths = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    logged = actions.column("num_records").to_pylist() if "num_records" in actions.column_names else [None] * len(paths)
    fs = archive.storage.filesystem
    recorded = {} if quick else recorded_hashes(archive, name)
    altered: list[str] = []  # files whose bytes differ from their recorded SHA-256
    unhashed: list[str] = []  # files with no recorded SHA-256

    def check(i: int) -> str | None:
        full = archive.storage.fs_path(name, *paths[i].split("/"))
        expected = recorded.get(paths[i])
        try:
            info = fs.get_file_info(full)
            if info.type.name == "NotFound":
                return f"{name}/{paths[i]}: missing"
            if info.size != sizes[i]:
                return f"{name}/{paths[i]}: {info.size} bytes, the log says {sizes[i]}"
            if expected is not None and file_sha256(fs, full) != expected:
                altered.append(f"{name}/{paths[i]}")
                return None
            with fs.open_input_file(full) as f:
                parquet = pq.ParquetFile(f)
                count = parquet.metadata.num_rows
                if not quick and expected is None:  # no hash to prove the bytes: decode every row group
                    unhashed.append(f"{name}/{paths[i]}")
                    count = sum(b.num_rows for b in parquet.iter_batches(batch_size=READ_BATCH_ROWS))
        except (OSError, pa.ArrowException) as exc:
            return f"{name}/{paths[i]}: unreadable ({' '.join(str(exc).split())[:200]})"
        if logged[i] is not None and count != logged[i]:
            return f"{name}/{paths[i]}: {count} rows, the log says {logged[i]}"
        return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [p for p in pool.map(check, range(len(paths))) if p]
    if quick:
        report.add(f"{name} fixity", True, "not checked: --quick looks at sizes and footers only; run verify "
                   "without --quick to re-hash every file")
    elif altered:
        report.add(f"{name} fixity", False, f"{len(altered)} of {len(paths)} files differ from the SHA-256 recorded "
                   f"when they were committed (altered or corrupted since): {', '.join(sorted(altered))}")
    else:
        hashed = len(paths) - len(unhashed) - len(problems)
        detail = f"{hashed} files match the SHA-256 recorded when they were committed"
        if unhashed:
            detail += (f"; {len(unhashed)} files have no recorded SHA-256 (written before newsarchive recorded "
                       f"them), so fixity cannot be proven for them, only that they decode: "
                       f"{', '.join(sorted(unhashed)[:3])}" + (" …" if len(unhashed) > 3 else ""))
        report.add(f"{name} fixity", True, detail)
    how = "footers read" if quick else "re-hashed, or decoded when no hash is recorded"
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        report.add(f"{name} files", False, "; ".join(problems[:3]) + more)
        return None
    if altered:
        return None
    total = sum(v for v in logged if v is not None)
    report.add(f"{name} files", True, f"{len(paths)} files of version {table.version()} present and readable "
               f"({how}), {total} rows as logged")
    return total


def recorded_hashes(archive: Archive, name: str) -> dict[str, str]:
    """The SHA-256 of every file a table's commits added, by path (relative to the table, unescaped).

    Each commit that adds files records their hashes in its own metadata (under `newsarchive`):
    a batch's articles commit in `data_files`, its quarantine commit in `quarantine_file`, its ledger
    commit in `ledger_file`, a compaction in `data_files`. Commit files are never cleaned up
    (`delta.enableExpiredLogCleanup=false`), so the hashes stay as long as the files they describe.
    """
    own = {QUARANTINE: "quarantine_file", BATCHES: "ledger_file"}.get(name)
    hashes: dict[str, str] = {}
    for info in reversed(archive.commits(name)):  # oldest first
        meta = info.get(META_KEY)
        if not isinstance(meta, dict):
            continue
        if own is None or meta.get("operation") == "compact":  # articles, minhash, clusters
            hashes.update({p: h for p, h in (meta.get("data_files") or {}).items() if isinstance(h, str)})
        elif own is not None and isinstance(meta.get(own), dict) and isinstance(meta[own].get("sha256"), str):
            hashes[meta[own]["path"]] = meta[own]["sha256"]
    return hashes


def file_sha256(fs: pa.fs.FileSystem, path: str) -> str:
    """The SHA-256 of a file's bytes, read as a stream (constant memory whatever its size)."""
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_ledger(archive: Archive, ledger: pa.Table, report: VerifyReport) -> list[BatchRecord]:
    """Counts add up per batch, batches and input files appear once, and ledger and log agree.
    Returns the batches committed but not yet ledgered (an interrupted append), reported here once."""
    problems: list[str] = []
    batches = ledger.column("batch").to_pylist()  # one per batch: small
    if ledger.num_rows:
        total = pc.add(pc.add(ledger.column("appended"), ledger.column("duplicates")), ledger.column("quarantined"))
        bad = pc.filter(ledger.column("batch"), pc.not_equal(total, ledger.column("input"))).to_pylist()
        problems += [f"batch {b}: input != appended + duplicates + quarantined" for b in bad]
        problems += [f"batch {b} appears {n} times" for b, n in Counter(batches).items() if n > 1]
        shas = pc.struct_field(pc.list_flatten(ledger.column("files")), "sha256").to_pylist()
        problems += [f"input file {s[:12]}… is archived {n} times" for s, n in Counter(shas).items() if n > 1]
    commits = {r.batch: r for r in committed_batches(archive)}
    recorded = dict(zip(batches, ledger.column("version").to_pylist(), strict=True))
    for batch, version in recorded.items():
        commit = commits.get(batch)
        if commit is None:
            problems.append(f"batch {batch}: no articles commit carries it (ledger says version {version})")
        elif commit.version != version:
            problems.append(f"batch {batch}: committed at version {commit.version}, the ledger says {version}")
    pending = [commits[b] for b in commits if b not in recorded]
    problems += [f"batch {r.batch} (articles version {r.version}) is missing from the ledger: an append was "
                 "interrupted; run `newsarchive append` again or `newsarchive compact` to complete it"
                 for r in pending]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        report.add("ledger", False, "; ".join(problems[:3]) + more)
    else:
        report.add("ledger", True, f"{ledger.num_rows} batches, each recorded once and matching its articles commit")
    return pending


def _check_counts(archive: Archive, ledger: pa.Table, rows: dict[str, int | None], report: VerifyReport,
                  pending: list[BatchRecord]) -> None:
    """The articles hold what the ledger says was appended; the quarantine, per batch, what it rejected.
    Batches committed but not yet ledgered (already reported) count with what their commit says."""
    appended = int(pc.sum(ledger.column("appended")).as_py() or 0)
    unledgered = sum(r.appended for r in pending)
    if rows[ARTICLES] is not None:
        also = f" (and {unledgered} by batches not yet ledgered)" if pending else ""
        report.add("articles rows", rows[ARTICLES] == appended + unledgered,
                   f"{rows[ARTICLES]} rows in articles/, the ledger's batches appended {appended}{also}")
    if rows[QUARANTINE] is None:
        return
    counted = archive.dataset(QUARANTINE).to_table(columns=["batch"]).group_by("batch").aggregate([("batch", "count")])
    found = dict(zip(counted.column("batch").to_pylist(), counted.column("batch_count").to_pylist(), strict=True))
    said = dict(zip(ledger.column("batch").to_pylist(), ledger.column("quarantined").to_pylist(), strict=True))
    for r in pending:  # its quarantine commit may not be made yet: none of its lines, or all
        said[r.batch] = r.quarantined if found.get(r.batch, 0) else 0
    wrong = [f"batch {b}: {found.get(b, 0)} quarantined lines, the ledger says {said.get(b, 0)}"
             for b in sorted(set(found) | set(said)) if found.get(b, 0) != said.get(b, 0)]
    report.add("quarantine rows", not wrong,
               "; ".join(wrong[:3]) if wrong else f"{rows[QUARANTINE]} quarantined lines, as the ledger says")


def _check_statistics(archive: Archive, report: VerifyReport) -> None:
    """No file's log statistics make a Delta reader skip it wrongly (archives written before newsarchive
    bounded every column: deltalake's filtered reads returned no row for titles that exist)."""
    misread = {name: len(misread_stats(table, file_actions(table)))
               for name in (ARTICLES, QUARANTINE, BATCHES) if archive.has(name)
               for table in [archive.table(name)]}
    if any(misread.values()):
        counts = ", ".join(f"{n} in {name}/" for name, n in misread.items() if n)
        report.add("statistics", False, f"files with a null count but no min/max for a column holding values "
                   f"({counts}): deltalake's filtered reads skip them and miss rows; run `newsarchive compact` to "
                   "rewrite them")
    else:
        report.add("statistics", True, "every file's log statistics bound its columns, as every Delta reader expects")


def _check_unique_ids(archive: Archive, report: VerifyReport) -> None:
    """No id twice in the current version: counted by DuckDB over the id column, in bulk."""
    con = duckdb.connect()
    try:
        con.register("ids", archive.articles().scanner(columns=[ID_FIELD]))
        repeated = con.execute(
            f"SELECT {ID_FIELD}, count(*) AS n FROM ids GROUP BY {ID_FIELD} HAVING n > 1 ORDER BY n DESC LIMIT 3"
        ).fetchall()
    except duckdb.Error as exc:
        report.add("unique ids", False, f"cannot scan the id column ({' '.join(str(exc).split())[:200]})")
        return
    finally:
        con.close()
    if repeated:
        report.add("unique ids", False, "; ".join(f"id {i} stored {n} times" for i, n in repeated))
    else:
        report.add("unique ids", True, "every article id is stored once")


def _check_bands(archive: Archive, report: VerifyReport) -> None:
    """Every article has all its LSH bands in minhash/: an anti-join of the id columns, in DuckDB."""
    from toolkit.archive.near_duplicates import PARAMETERS

    con = duckdb.connect(config={"memory_limit": "512MB"})
    try:
        con.register("ids", archive.articles().scanner(columns=[ID_FIELD]))
        if archive.has(MINHASH):
            con.register("bands", archive.dataset(MINHASH).scanner(columns=["id"]))
        else:
            con.register("bands", pa.table({"id": pa.array([], pa.string())}))
        missing = con.execute(
            f"WITH whole AS (SELECT id FROM bands GROUP BY id HAVING count(*) = {PARAMETERS.bands}) "
            f"SELECT count(*) OVER () AS n, i.{ID_FIELD} FROM ids i ANTI JOIN whole w ON i.{ID_FIELD} = w.id "
            f"ORDER BY i.{ID_FIELD} LIMIT 3").fetchall()
    except duckdb.Error as exc:
        report.add("near-duplicate bands", False, f"cannot scan minhash/ ({' '.join(str(exc).split())[:200]})")
        return
    finally:
        con.close()
    if missing:
        report.add("near-duplicate bands", False,
                   f"{missing[0][0]} articles have no near-duplicate bands in minhash/ (e.g. "
                   f"{', '.join(row[1] for row in missing)}): an append was interrupted before its minhash commit "
                   "or they were archived before near-duplicate detection; run `newsarchive append` again or "
                   "`newsarchive compact` to index them")
    else:
        report.add("near-duplicate bands", True, "every article has its near-duplicate bands")


def render_text(report: VerifyReport) -> str:
    lines = [f"{'ok   ' if c.ok else 'FAULT'}  {c.name}: {c.detail}" for c in report.checks]
    verdict = "archive verified" if report.ok else f"{len(report.faults)} fault(s) found"
    lines.append(f"{verdict}: {report.root} at version {report.version}" if report.version is not None
                 else f"{verdict}: {report.root} (its version cannot be read)")
    return "\n".join(lines)


def render_json(report: VerifyReport) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
