"""`newsarchive append` and `toolkit.archive.append`: counts, dedup, types, no-ops, exit codes."""

from __future__ import annotations

import datetime as dt
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tests.archive.conftest import generate, write_jsonl
from toolkit.archive import append, open_archive, verify
from toolkit.core.errors import NewsarchiveError
from toolkit.core.schema import default_schema_path

UTC = dt.timezone.utc


def rows(root) -> list[dict]:
    return open_archive(root).articles().to_table().sort_by("id").to_pylist()


def test_append_counts_types_and_ledger(tmp_path, record):
    batch = write_jsonl(tmp_path / "b.jsonl", [
        record(1, published_date="2021-06-28", crawled_at="2021-06-28T10:00:00Z", authors=["A"], tags=["t"]),
        record(2, published_date="2019-01-14"),
        '{"id": "not hex", "source": "x"}',
        "not json",
        record(1, title="repeat of 1, later: dropped"),
    ])
    result = append([batch], archive=tmp_path / "a")
    assert result.as_dict() == {"version": 1, "batch": result.batch, "input": 5, "appended": 2,
                                "duplicates": 1, "quarantined": 2, "near_duplicates": 0}
    archive = open_archive(tmp_path / "a")
    table = archive.articles().to_table()
    assert table.schema.field("published_date").type == pa.date32()
    assert table.schema.field("crawled_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("year").type == pa.int32()
    got = {r["id"]: r for r in table.to_pylist()}
    first = got[record(1)["id"]]
    assert first["title"] == "Titre 1"  # the first occurrence wins
    assert (first["year"], first["month"], first["published_date"]) == (2021, 6, dt.date(2021, 6, 28))
    assert first["crawled_at"] == dt.datetime(2021, 6, 28, 10, tzinfo=UTC)
    assert (got[record(2)["id"]]["year"], got[record(2)["id"]]["month"]) == (2019, 1)

    ledger = archive.batches().to_pylist()
    assert len(ledger) == 1 and ledger[0]["batch"] == result.batch and ledger[0]["version"] == 1
    assert ledger[0]["files"][0]["name"] == str(batch) and len(ledger[0]["files"][0]["sha256"]) == 64
    counts = [ledger[0][k] for k in ("input", "appended", "duplicates", "quarantined")]
    assert counts == [5, 2, 1, 2]
    quarantine = archive.quarantine().sort_by("line").to_pylist()
    assert [q["line"] for q in quarantine] == [3, 4]
    assert quarantine[1]["raw"] == "not json" and json.loads(quarantine[1]["errors"])[0]["keyword"] == "json"
    assert all(q["batch"] == result.batch and q["file"] == str(batch) for q in quarantine)
    assert verify(tmp_path / "a").ok


def test_ids_already_archived_are_duplicates_and_reappend_is_a_noop(tmp_path, record):
    first = write_jsonl(tmp_path / "1.jsonl", [record(i) for i in range(5)])
    second = write_jsonl(tmp_path / "2.jsonl", [record(i, title="newer copy") for i in range(3, 8)])
    assert append([first], archive=tmp_path / "a").appended == 5
    result = append([second], archive=tmp_path / "a")
    assert (result.version, result.appended, result.duplicates) == (2, 3, 2)
    titles = {r["id"]: r["title"] for r in rows(tmp_path / "a")}
    assert len(titles) == 8 and titles[record(3)["id"]] == "Titre 3"  # archived rows are never replaced

    again = append([first, second], archive=tmp_path / "a")
    assert again.noop and again.version == 2 and again.as_dict()["batch"] is None
    assert [s.name for s in again.skipped] == [str(first), str(second)]
    assert open_archive(tmp_path / "a").version == 2 and len(open_archive(tmp_path / "a").batches()) == 2


@pytest.mark.parametrize("hash_delay", [0.0, 0.5])
def test_an_archived_input_found_while_validating_is_skipped(tmp_path, record, monkeypatch, hash_delay):
    """Inputs are hashed beside validation: when the hashes come late, the pass over an input that
    turns out to be archived is abandoned (nothing of it kept) and the rest is appended."""
    import importlib
    import time

    append_module = importlib.import_module("toolkit.archive.append")
    old = write_jsonl(tmp_path / "old.jsonl", [record(i) for i in range(4)] + ["old junk"])
    new = write_jsonl(tmp_path / "new.jsonl", [record(i) for i in range(2, 7)] + ["new junk"])
    assert append([old], archive=tmp_path / "a").appended == 4
    real = append_module._hash_inputs
    monkeypatch.setattr(append_module, "_hash_inputs", lambda inputs: (time.sleep(hash_delay), real(inputs))[1])
    result = append([old, new], archive=tmp_path / "a")
    assert [(s.name, s.batch is not None) for s in result.skipped] == [(str(old), True)]
    assert (result.version, result.input, result.appended, result.duplicates, result.quarantined) == (2, 6, 3, 2, 1)
    archive = open_archive(tmp_path / "a")
    assert sorted(archive.quarantine().column("raw").to_pylist()) == ["new junk", "old junk"]
    assert [f[0]["name"] for f in archive.batches().column("files").to_pylist()] == [str(old), str(new)]
    assert len(rows(tmp_path / "a")) == 7
    report = verify(tmp_path / "a")
    assert report.ok, report.faults
    on_disk = [n for folder, _, names in os.walk(tmp_path / "a" / "articles") if "_delta_log" not in folder
               for n in names if n.endswith(".parquet")]
    assert len(on_disk) == len(archive.dataset("articles").files)  # the abandoned pass left no file behind


def test_rfc3339_timestamps_convert_exactly(tmp_path, record):
    values = {
        "2021-06-28T10:00:00Z": dt.datetime(2021, 6, 28, 10, tzinfo=UTC),
        "2021-06-28t10:00:00z": dt.datetime(2021, 6, 28, 10, tzinfo=UTC),
        "2021-06-28T10:00:00+01:00": dt.datetime(2021, 6, 28, 9, tzinfo=UTC),
        "2021-06-28T23:30:00-05:30": dt.datetime(2021, 6, 29, 5, tzinfo=UTC),
        "2021-06-28T10:00:00.5Z": dt.datetime(2021, 6, 28, 10, 0, 0, 500000, tzinfo=UTC),
        "2021-06-28T10:00:00.123456789+00:00": dt.datetime(2021, 6, 28, 10, 0, 0, 123456, tzinfo=UTC),
        "2020-02-29T00:00:00.000001-00:00": dt.datetime(2020, 2, 29, 0, 0, 0, 1, tzinfo=UTC),
    }
    batch = write_jsonl(tmp_path / "t.jsonl", [record(i, crawled_at=v) for i, v in enumerate(values)])
    assert append([batch], archive=tmp_path / "a").appended == len(values)
    got = {r["id"]: r["crawled_at"] for r in rows(tmp_path / "a")}
    assert [got[record(i)["id"]] for i in range(len(values))] == list(values.values())


def test_files_are_sorted_zstd_and_partitioned_by_year_month(tmp_path, record):
    recs = [record(i, source=src, published_date=day) for i, (src, day) in enumerate(
        [("Le360", "2021-06-02"), ("Barlamane", "2021-06-30"), ("Le360", "2021-06-01"), ("Barlamane", "2021-06-30"),
         ("Médias24", "2020-01-05")])]
    append([write_jsonl(tmp_path / "b.jsonl", recs)], archive=tmp_path / "a")
    table = DeltaTable(str(tmp_path / "a" / "articles"))
    assert table.metadata().partition_columns == ["year", "month"]
    files = [str(tmp_path / "a" / "articles" / p) for p in pa.table(table.get_add_actions()).column("path").to_pylist()]
    assert sorted(os.path.relpath(os.path.dirname(f), tmp_path / "a" / "articles") for f in files) == [
        "year=2020/month=1", "year=2021/month=6"]
    for f in files:
        meta = pq.ParquetFile(f).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"
        data = pq.read_table(f)
        keys = list(zip(*(data[k].to_pylist() for k in ("source", "published_date", "id")), strict=True))
        assert keys == sorted(keys)


def test_spilled_batches_give_the_same_archive(tmp_path, shared_dir, monkeypatch):
    from toolkit.archive.spool import PartitionSpool

    spills = []
    real_spill = PartitionSpool._spill
    monkeypatch.setattr(PartitionSpool, "_spill", lambda self: (spills.append(1), real_spill(self))[1])
    batch = [generate(tmp_path / f"g{i}.jsonl", 200, start=i * 200, seed=i, invalid_rate=0.05) for i in range(3)]
    batch.append(write_jsonl(tmp_path / "again.jsonl", batch[0].read_text().splitlines()[:50]))  # duplicates
    small = append(batch, archive=tmp_path / "spilled", memory_budget=256 << 10, jobs=1)  # spills in this process
    assert len(spills) >= 3, "the small budget should have spilled rows to disk, run after run"
    spills.clear()
    large = append(batch, archive=tmp_path / "memory")
    assert not spills
    assert small.as_dict() | {"batch": None} == large.as_dict() | {"batch": None}
    assert small.input == 650 == small.appended + small.duplicates + small.quarantined
    assert small.quarantined > 0 and small.duplicates >= 45
    assert rows(tmp_path / "spilled") == rows(tmp_path / "memory")
    assert verify(tmp_path / "spilled").ok


def test_every_line_invalid_appends_nothing_but_quarantines_all(tmp_path):
    batch = write_jsonl(tmp_path / "bad.jsonl", ["{}", "[1]", "nope"])
    result = append([batch], archive=tmp_path / "a")
    assert (result.input, result.appended, result.quarantined, result.exit_code) == (3, 0, 3, 1)
    archive = open_archive(tmp_path / "a")
    assert archive.articles().count_rows() == 0 and archive.quarantine().num_rows == 3
    assert archive.batches().num_rows == 1  # recorded, so appending it again is a no-op
    assert append([batch], archive=tmp_path / "a").noop


def test_hostile_values_stay_inside_the_archive(tmp_path, record):
    hostile = ["../../escape", "a/b/../../c", 'quo"te\'s', "new\nline", "%2F..%2F", "=eq=", "..", "C:\\x"]
    recs = [record(i, source=s, title=s, authors=[s], url="https://x.test/../" + str(i)) for i, s in enumerate(hostile)]
    batch = write_jsonl(tmp_path / "h.jsonl", recs)
    for root, partition_by in ((tmp_path / "default", None), (tmp_path / "by-source", ("source", "year"))):
        result = append([batch], archive=root, partition_by=partition_by)
        assert result.appended == len(hostile)
        got = {r["id"]: r for r in rows(root)}
        assert [got[record(i)["id"]]["source"] for i in range(len(hostile))] == hostile
        assert [got[record(i)["id"]]["authors"] for i in range(len(hostile))] == [[s] for s in hostile]
        roots = (os.path.realpath(tmp_path / "default"), os.path.realpath(tmp_path / "by-source"))
        for dirpath, _, names in os.walk(tmp_path):  # no file landed outside an archive
            assert all(os.path.realpath(dirpath).startswith(roots) for n in names if n.endswith(".parquet"))
        articles = os.path.join(os.path.realpath(root), "articles")
        folders = {os.path.relpath(d, articles) for d, _, names in os.walk(articles)
                   if any(n.endswith(".parquet") for n in names)}
        assert all("\n" not in f and '"' not in f for f in folders)
        if partition_by:
            assert DeltaTable(str(root / "articles")).metadata().partition_columns == ["source", "year"]
            assert len(folders) == len(hostile)
            assert all(f.startswith("source=") and f.count("/") == 1 for f in folders), folders
        assert verify(root).ok


def test_partitioning_is_fixed_at_creation(tmp_path, record):
    batch = write_jsonl(tmp_path / "b.jsonl", [record(1)])
    append([batch], archive=tmp_path / "a")
    with pytest.raises(NewsarchiveError, match="partitioned by"):
        append([write_jsonl(tmp_path / "c.jsonl", [record(2)])], archive=tmp_path / "a", partition_by=["language"])
    with pytest.raises(NewsarchiveError, match="authors"):
        append([batch], archive=tmp_path / "b", partition_by=["authors"])


# --- the CLI ------------------------------------------------------------------------------------------
def test_cli_json_output_exit_codes_and_noop(tmp_path, record, main):
    good = write_jsonl(tmp_path / "good.jsonl", [record(1), record(2), "oops"])
    res = main("append", str(good), "--archive", str(tmp_path / "a"), "--format", "json", "--jobs", "1")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert list(out) == ["version", "batch", "input", "appended", "duplicates", "quarantined", "near_duplicates"]
    assert (out["version"], out["input"], out["appended"], out["duplicates"], out["quarantined"]) == (1, 3, 2, 0, 1)

    res = main("append", str(good), "--archive", str(tmp_path / "a"))
    assert res.code == 0 and "nothing to append" in res.out and "already archived in batch" in res.err

    bad = write_jsonl(tmp_path / "bad.jsonl", ["{}", "nope"])
    res = main("append", str(bad), "--archive", str(tmp_path / "a"), "--format", "json")
    assert res.code == 1 and json.loads(res.out)["appended"] == 0

    piped = json.dumps(record(3)).encode() + b"\n"
    res = main("append", "-", "--archive", str(tmp_path / "a"), "--format", "json", stdin=piped)
    assert res.code == 0 and json.loads(res.out)["appended"] == 1, res.err
    assert open_archive(tmp_path / "a").batches().column("files").to_pylist()[-1][0]["name"] == "<stdin>"


@pytest.mark.parametrize("args, env, message", [
    (["missing.jsonl"], {}, "missing.jsonl: no such file or directory"),
    (["good.jsonl", "--archive", "gs://bucket/x"], {}, "unsupported archive location"),
    (["good.jsonl", "--archive", "s3://"], {}, "no bucket"),
    (["good.jsonl", "--archive", "s3://b/p"], {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"}, "refuses unsafe renames"),
    (["good.jsonl", "--schema", "missing.json"], {}, "no such file"),
])
def test_cli_errors_are_one_line_exit_2(tmp_path, record, main, monkeypatch, args, env, message):
    write_jsonl(tmp_path / "good.jsonl", [record(1)])
    monkeypatch.chdir(tmp_path)
    res = main("append", *args, env=env)
    assert res.code == 2, res
    assert message in res.err and res.err.count("\n") == 1 and "Traceback" not in res.err


def test_cli_schema_that_does_not_match_the_archive(tmp_path, record, main):
    batch = write_jsonl(tmp_path / "b.jsonl", [record(1)])
    assert main("append", str(batch), "--archive", str(tmp_path / "a")).code == 0
    doc = json.loads(default_schema_path().read_text())
    doc["properties"]["extra"] = {"type": "string"}
    (tmp_path / "other.json").write_text(json.dumps(doc))
    res = main("append", str(batch), "--archive", str(tmp_path / "a"), "--schema", str(tmp_path / "other.json"))
    assert res.code == 2 and "columns differ" in res.err, res


def test_archive_that_is_a_file(tmp_path, record, cli_env):
    """In a real process: nothing but one line on stderr, whatever delta-rs thinks of the path."""
    (tmp_path / "afile").write_text("x")
    batch = write_jsonl(tmp_path / "b.jsonl", [record(1)])
    res = cli_env("append", str(batch), "--archive", str(tmp_path / "afile"))
    assert res.code == 2 and res.err.startswith("newsarchive: error:") and "Traceback" not in res.err, res


def test_reading_the_archive_at_an_old_version(tmp_path, record):
    append([write_jsonl(tmp_path / "1.jsonl", [record(1)])], archive=tmp_path / "a")
    append([write_jsonl(tmp_path / "2.jsonl", [record(2)])], archive=tmp_path / "a")
    archive = open_archive(tmp_path / "a")
    assert archive.version == 2
    assert archive.articles(version=1).to_table().column("id").to_pylist() == [record(1)["id"]]
    assert archive.articles().count_rows() == 2
    with pytest.raises(NewsarchiveError, match="no archive here"):
        open_archive(tmp_path / "nowhere")


def test_progress_on_a_terminal_covers_the_write_phase(tmp_path, record, cli_env):
    """On a terminal, the append shows its phases (here: the file writing, after validation); on a
    pipe it prints nothing but its result."""
    import pty
    import subprocess
    import sys

    from tests.archive.conftest import clean_env

    batch = write_jsonl(tmp_path / "b.jsonl", [record(i) for i in range(50)])
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "toolkit", "append", str(batch), "--archive", str(tmp_path / "a")],
                            stdout=subprocess.PIPE, stderr=slave, env=clean_env(TERM="xterm-256color", COLUMNS="120"))
    os.close(slave)
    shown = b""
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        shown += data
    assert proc.wait(timeout=120) == 0
    os.close(master)
    assert b"writing 50 rows as sorted Parquet files" in shown
    assert b"appended batch" in proc.stdout.read()
    piped = cli_env("append", str(batch), "--archive", str(tmp_path / "b"))
    assert piped.code == 0 and piped.err == ""
