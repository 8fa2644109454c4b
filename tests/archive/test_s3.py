"""The same append, read and verify paths against a real S3-compatible server (SeaweedFS).

Commits use delta-rs's conditional puts (If-None-Match), never AWS_S3_ALLOW_UNSAFE_RENAME; the
concurrent test is what would lose commits if the server or the settings were unsafe.
"""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pytest

from tests.archive.conftest import go, start_cli, write_jsonl
from toolkit.archive import append, compact, history, open_archive, verify

pytestmark = pytest.mark.s3


def test_append_read_verify_on_s3(tmp_path, record, s3_archive):
    first = write_jsonl(tmp_path / "1.jsonl", [record(i, source="a/../b", published_date=f"2020-0{1 + i % 3}-01")
                                               for i in range(30)] + ["not json"])
    second = write_jsonl(tmp_path / "2.jsonl", [record(i, published_date="2020-01-02") for i in range(20, 40)])
    result = append([first], archive=s3_archive)
    assert result.as_dict() == {"version": 1, "batch": result.batch, "input": 31, "appended": 30, "duplicates": 0,
                                "quarantined": 1, "near_duplicates": 0}
    assert append([second], archive=s3_archive).as_dict()["appended"] == 10
    assert append([first], archive=s3_archive).noop

    archive = open_archive(s3_archive)
    assert archive.root == s3_archive and archive.storage_options["aws_conditional_put"] == "etag"
    assert "AWS_S3_ALLOW_UNSAFE_RENAME" not in archive.storage_options
    table = archive.articles().to_table()
    assert table.num_rows == 40 and pc.count_distinct(table["id"]).as_py() == 40
    assert set(table.filter(pc.field("month") == 2)["source"].to_pylist()) == {"a/../b"}
    assert archive.articles(version=1).count_rows() == 30
    assert archive.quarantine().column("raw").to_pylist() == ["not json"]
    assert [e.operation for e in history(s3_archive)] == ["create", "append", "append"]
    report = verify(archive)
    assert report.ok, report.faults

    done = compact(archive, 0, force=True)
    assert done.files_removed["articles"] >= 2 and done.vacuumed["articles"] >= 2
    assert open_archive(s3_archive).articles().count_rows() == 40
    assert verify(s3_archive).ok


def test_concurrent_cli_appends_on_s3(tmp_path, record, seaweedfs):
    root = seaweedfs.new_root()
    batches = [write_jsonl(tmp_path / f"b{b}.jsonl", [record(b * 100 + i, published_date="2021-05-05")
                                                      for i in range(100)]) for b in range(4)]
    procs = [start_cli("append", str(b), "--archive", root, "--format", "json", "--quiet", env=seaweedfs.env())
             for b in batches]
    go(*procs)
    outputs = [proc.communicate(timeout=180) for proc in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err.decode() for _, err in outputs]
    assert sorted(json.loads(out)["version"] for out, _ in outputs) == [1, 2, 3, 4]
    verify_run = start_cli("verify", "--archive", root, env=seaweedfs.env())
    go(verify_run)
    out, err = verify_run.communicate(timeout=120)
    assert verify_run.returncode == 0, out.decode() + err.decode()
    assert "archive verified" in out.decode() and "400 rows" in out.decode()


def test_wrong_credentials_are_one_line(tmp_path, record, seaweedfs, main):
    batch = write_jsonl(tmp_path / "b.jsonl", [record(1)])
    env = seaweedfs.env() | {"AWS_SECRET_ACCESS_KEY": "wrong"}
    res = main("append", str(batch), "--archive", seaweedfs.new_root(), env=env)
    assert res.code == 2 and res.err.count("\n") == 1 and "AWS_SECRET_ACCESS_KEY" in res.err, res
