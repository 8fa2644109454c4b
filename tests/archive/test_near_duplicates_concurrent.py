"""Near-duplicate clusters with two appends at once, interleaved at exact protocol steps.

One append is a real CLI process paused at a step (`NEWSARCHIVE_TEST_FAULT=STEP:pause:PATH`: it
creates PATH there and waits for PATH.go); the other runs meanwhile in this process. Copies of one
article arriving in the two batches must end in one cluster, whatever the order of their commits.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.archive.conftest import WAIT_SECONDS, clean_env, wait_for, write_jsonl
from tests.archive.test_near_duplicates import _hex, real, reprint, view  # noqa: F401  (`real` is a fixture)
from toolkit.archive import append, verify
from toolkit.core.interrupts import FAULT_VARIABLE


def paused_append(batch: Path, root: Path, *pauses: tuple[str, Path]) -> subprocess.Popen:
    """`newsarchive append` in a process of its own, paused at each (step, marker) it gets to."""
    setting = ";".join(f"{step}:pause:{marker}" for step, marker in pauses)
    return subprocess.Popen([sys.executable, "-m", "toolkit", "append", str(batch), "--archive", str(root), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(**{FAULT_VARIABLE: setting}))


def resume(marker: Path) -> None:
    Path(f"{marker}.go").touch()


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=WAIT_SECONDS)
    assert proc.returncode == 0, err.decode()


def clusters_of(main, root) -> dict[str, tuple[str, int]]:
    return {r["id"]: (r["cluster"], r["cluster_size"]) for r in view(main, root)}


def test_a_copy_committed_while_its_original_was_being_clustered_is_linked(real, tmp_path, main):  # noqa: F811
    """B (a copy) has staged its batch; A (the original) commits its articles and clusters its batch,
    then waits before committing its index. B then commits and indexes in full: it cannot see A's
    bands. A's join did not see B's: A must notice B's bands and cluster again. (B started before
    A's articles commit, so it does not take A's batch for an interrupted one and index it itself.)"""
    root = tmp_path / "archive"
    append([write_jsonl(tmp_path / "base.jsonl", real[:10])], archive=root)
    original, copy = real[12], reprint(real[12], "c", published_date="2021-08-01")
    b_staged, a_indexed = tmp_path / "b-staged", tmp_path / "a-indexed"
    b = paused_append(write_jsonl(tmp_path / "b.jsonl", [copy]), root, ("append.staged", b_staged))
    wait_for(b_staged, b, "append B")
    a = paused_append(write_jsonl(tmp_path / "a.jsonl", [original, real[13]]), root, ("ledger.indexed", a_indexed))
    wait_for(a_indexed, a, "append A")
    resume(b_staged)
    finish(b)
    assert clusters_of(main, root) == {}  # B could not see A's article
    resume(a_indexed)
    finish(a)
    assert clusters_of(main, root) == {original["id"]: (original["id"], 2), copy["id"]: (original["id"], 2)}
    report = verify(root)
    assert report.ok, report.faults


def _text(*articles: dict) -> str:
    return "\n\n".join(a["text"] for a in articles)


def test_clusters_committed_after_they_were_read_are_not_overwritten(real, tmp_path, main):  # noqa: F811
    """A chain x ~ y ~ z (x and z share nothing). P (x) has staged its batch; Q (y, z) commits its
    bands and waits before its clusters commit; P clusters x, seeing y's and z's bands but not Q's
    clusters, and waits; Q commits its clusters {y, z}. P's clusters, found before, hold {x, y}
    only: committed as they are, z would be left in a cluster of its own. P must see that the
    clusters changed since it read them, and cluster again: one cluster {x, y, z}, x (the earliest)
    its representative."""
    root = tmp_path / "archive"
    append([write_jsonl(tmp_path / "base.jsonl", real[:3])], archive=root)  # not the articles used below
    a, b, c, d = real[3], real[4], real[5], real[6]  # x ~ y: 0.52, y ~ z: 0.40 (estimated), x ~ z: 0
    first = a["text"].split("\n\n")[0]
    last = d["text"].split("\n\n")[0]
    x = {**a, "id": _hex("x"), "text": first + "\n\n" + _text(b), "published_date": "2021-05-01"}
    y = {**b, "id": _hex("y"), "text": _text(b, c), "published_date": "2021-05-02", "source": "Y"}
    z = {**c, "id": _hex("z"), "text": _text(c) + "\n\n" + last, "published_date": "2021-05-03", "source": "Z"}
    p_staged, p_indexed, q_bands = tmp_path / "p-staged", tmp_path / "p-indexed", tmp_path / "q-bands"
    p = paused_append(write_jsonl(tmp_path / "p.jsonl", [x]), root, ("append.staged", p_staged),
                      ("ledger.indexed", p_indexed))
    wait_for(p_staged, p, "append P")
    q = paused_append(write_jsonl(tmp_path / "q.jsonl", [y, z]), root, ("ledger.minhash", q_bands))
    wait_for(q_bands, q, "append Q")
    resume(p_staged)
    wait_for(p_indexed, p, "append P")
    resume(q_bands)
    finish(q)  # Q's clusters: {y, z}, found before x was there
    assert clusters_of(main, root) == {y["id"]: (y["id"], 2), z["id"]: (y["id"], 2)}
    resume(p_indexed)
    finish(p)
    assert clusters_of(main, root) == {i: (x["id"], 3) for i in (x["id"], y["id"], z["id"])}
    report = verify(root)
    assert report.ok, report.faults
