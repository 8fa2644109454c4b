"""Every command against a corpus of bad inputs and bad environments (issue 12, sections 3 and 7).

Each case runs the real `newsarchive` in a subprocess and asserts the documented exit code, one line
of error on stderr (notes aside), never "internal error" or a traceback, and an end within seconds
(a hang fails the case instead of the suite). Bad environments are real: a read-only tmpfs and a
tiny tmpfs (ENOSPC), mounted here when the sandbox allows it (root with CAP_SYS_ADMIN), else skipped
with the reason.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zstandard

from tests.archive.conftest import _AWS_VARS, S3Server, generate

SECONDS = 30  # far above the few seconds each case takes, far below a hang: a loaded 2-core CI runner


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def err_lines(self) -> list[str]:
        """stderr without the notes (a repeated input...) and progress: what must be one line."""
        return [line for line in self.err.splitlines() if line.strip() and not line.startswith("newsarchive: note:")]


def run(*args: str | bytes, cwd: Path | None = None, env: dict[str, str] | None = None,
        stdin: bytes | None = None) -> Run:
    """The CLI in a subprocess, failing the test (not hanging it) past SECONDS."""
    started = time.monotonic()
    base = {k: v for k, v in os.environ.items() if k not in _AWS_VARS and k != "NEWSARCHIVE_ARCHIVE"}
    try:
        proc = subprocess.run([sys.executable, "-m", "toolkit", *args], input=stdin, capture_output=True,
                              cwd=cwd, env=base | (env or {}), timeout=SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"newsarchive {' '.join(map(os.fsdecode, args))} did not end within {SECONDS} s")
    return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"),
               time.monotonic() - started)


def assert_clean(res: Run, code: int, *needles: str) -> None:
    """The documented exit code; for an error, exactly one line that says what is wrong."""
    assert "internal error" not in res.err and "Traceback" not in res.err, res.err
    assert "<unknown>" not in res.err and "WARN" not in res.err, res.err  # Rust backtraces, AWS SDK logs
    assert res.code == code, (res.code, res.out, res.err)
    if code == 2:
        assert len(res.err_lines) == 1 and res.err_lines[0].startswith("newsarchive"), res.err
    for needle in needles:
        assert needle.lower() in (res.err + res.out).lower(), (needle, res.err, res.out)


# --- the corpus ---------------------------------------------------------------------------------------
@dataclass
class Corpus:
    root: Path
    batch: Path  # 300 valid records
    archive: Path  # that batch appended: version 1
    files: dict[str, Path] = field(default_factory=dict)

    def copy_archive(self, name: str) -> Path:
        target = self.root / name
        shutil.copytree(self.archive, target)
        return target


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    root = tmp_path_factory.mktemp("corpus")
    batch = generate(root / "batch.jsonl", 300)
    archive = root / "archive"
    res = run("append", str(batch), "--archive", str(archive), "--quiet")
    assert res.code == 0, res.err
    return Corpus(root, batch, archive)


def cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


# Section 3: truncated and damaged inputs are never taken as whole ---------------------------------
def test_a_zst_cut_in_half_is_refused_and_append_commits_nothing(corpus, tmp_path):
    half = tmp_path / "half.jsonl.zst"
    half.write_bytes(cut(zstandard.ZstdCompressor().compress(corpus.batch.read_bytes()), 0.5))
    assert_clean(run("validate", str(half), "--quiet"), 2, "corrupt or truncated", "half.jsonl.zst")
    archive = tmp_path / "archive"
    assert_clean(run("append", str(half), "--archive", str(archive), "--quiet"), 2, "corrupt or truncated")
    log = sorted(p.name for p in (archive / "articles" / "_delta_log").glob("*.json"))
    assert log == ["00000000000000000000.json"]  # the empty archive, no batch
    assert not list((archive / "articles").rglob("*.parquet"))


def test_a_gz_cut_in_half_is_refused(corpus, tmp_path):
    half = tmp_path / "half.jsonl.gz"
    half.write_bytes(cut(gzip.compress(corpus.batch.read_bytes()), 0.5))
    assert_clean(run("validate", str(half), "--quiet"), 2, "corrupt or truncated")


def test_every_frame_of_a_multi_frame_zst_is_read(corpus, tmp_path):
    """pzstd and zstd -T write several frames, pzstd after a skippable frame: all of them are records."""
    lines = corpus.batch.read_bytes().splitlines(keepends=True)
    compressor = zstandard.ZstdCompressor()
    skippable = b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"\0\0\0\0"
    first, rest = compressor.compress(b"".join(lines[:100])), compressor.compress(b"".join(lines[100:]))
    data = skippable + first + skippable + rest
    path = tmp_path / "frames.jsonl.zst"
    path.write_bytes(data)
    res = run("validate", str(path), "--format", "json", "--quiet")
    assert_clean(res, 0)
    assert json.loads(res.out)["records"] == 300
    path.write_bytes(data[:-3])  # the last frame cut short, after whole ones
    assert_clean(run("validate", str(path), "--quiet"), 2, "corrupt or truncated")


@pytest.mark.parametrize("name,data,kind", [
    ("b.jsonl.bz2", b"BZh91AY&SY" + bytes(40), "bzip2"),
    ("b.jsonl.xz", b"\xfd7zXZ\x00" + bytes(40), "xz"),
], ids=["bzip2", "xz"])
def test_other_compressions_are_refused_by_name(tmp_path, name, data, kind):
    path = tmp_path / name
    path.write_bytes(data)
    assert_clean(run("validate", str(path), "--quiet"), 2, kind)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", zstandard.ZstdCompressor().compress(b""),
                                     gzip.compress(b"")], ids=["empty", "blank-lines", "empty-zst", "empty-gz"])
def test_an_input_without_records_commits_no_version(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    archive = tmp_path / "archive"
    res = run("append", str(path), "--archive", str(archive), "--format", "json", "--quiet")
    assert_clean(res, 0)
    assert json.loads(res.out) == {"version": 0, "batch": None, "input": 0, "appended": 0, "duplicates": 0,
                                   "quarantined": 0, "near_duplicates": 0}
    log = sorted(p.name for p in (archive / "articles" / "_delta_log").glob("*.json"))
    assert log == ["00000000000000000000.json"]


def test_a_long_run_of_blank_lines_on_a_stream_is_read_in_linear_time(corpus):
    """100 MB of trailing newlines on standard input: joined block after block, they took minutes."""
    res = run("validate", "-", "--format", "json", "--quiet", stdin=corpus.batch.read_bytes() + b"\n" * (100 << 20))
    assert_clean(res, 0)
    assert json.loads(res.out)["records"] == 300 and res.seconds < SECONDS


def warc(tmp_path: Path, gz: bool, pages: int = 6) -> Path:
    from tests.extract.test_html import html_page
    from tests.extract.test_warc import ARTICLE_LINE, response, write_warc

    makers = []
    for i in range(pages):
        page = html_page(title=f"Article {i} : le budget de la ville", canonical=None,
                         paragraphs=[f"Numéro {i}, {ARTICLE_LINE}"], date=f"2021-02-{i + 1:02d}")
        makers.append(lambda w, i=i, page=page: response(w, f"https://www.example.org/a/{i}", page.encode()))
    path = tmp_path / ("crawl.warc.gz" if gz else "crawl.warc")
    write_warc(path, makers, gz=gz)
    return path


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_a_warc_cut_at_70_percent_keeps_the_records_before_and_rejects_the_rest(tmp_path, gz):
    path = warc(tmp_path, gz)
    path.write_bytes(cut(path.read_bytes(), 0.7))
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    res = run("extract", str(path), "-o", str(out), "--rejects", str(rejects), "--quiet", "--jobs", "1")
    assert_clean(res, 1)
    [reject] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert reject["reason"].startswith(f"damaged WARC at byte {reject['record']}")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert 0 < len(records) < 6  # the whole pages before the cut, never the cut one


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_at_every_cut_point_a_warc_yields_whole_pages_then_a_problem(tmp_path, gz):
    """Cut a crawl at every few bytes: each page yielded is byte-identical to the page in the whole
    file, and whatever is missing is reported (a problem at the offset of the first record not read),
    never an exception. warcio alone returns a page cut short as whole, or raises AttributeError."""
    from toolkit.extract.warc import WarcPage, WarcProblem, iter_warc

    path = warc(tmp_path, gz, pages=3)
    data = path.read_bytes()
    whole = {item.offset: item for item in iter_warc(path) if isinstance(item, WarcPage)}
    starts = sorted(item.offset for item in iter_warc(path)) + [len(data)]
    damaged = tmp_path / ("cut.warc.gz" if gz else "cut.warc")
    for at in range(1, len(data), 13):
        damaged.write_bytes(data[:at])
        items = list(iter_warc(damaged))
        pages = [i for i in items if isinstance(i, WarcPage)]
        assert all(whole[p.offset] == p for p in pages), at
        problems = [i for i in items if isinstance(i, WarcProblem)]
        complete = len(items) - len(problems)
        next_start = starts[complete]
        # no problem only when the file ends right after a record: in the blank lines that close it, or
        # in the gzip member's last bytes (end of the deflate stream, CRC and size), its content whole
        assert problems or at >= next_start - (16 if gz else 4), (at, items)
        if problems:
            assert problems[0].offset == (starts[complete] if complete else 0), (at, problems)


# Section 7: no internal errors, no hangs ----------------------------------------------------------
def test_a_relative_schema_path_works(corpus, tmp_path):
    shutil.copy(Path(__file__).resolve().parents[1] / "schema" / "article.schema.json", tmp_path / "s.json")
    shutil.copy(corpus.batch, tmp_path / "b.jsonl")
    assert_clean(run("validate", "--schema", "s.json", "b.jsonl", "--quiet", cwd=tmp_path), 0)
    assert_clean(run("append", "b.jsonl", "--schema", "s.json", "--archive", "a", "--quiet", cwd=tmp_path), 0)


@pytest.mark.parametrize("names", [["b.jsonl", "b.jsonl"], ["./b.jsonl", "b.jsonl"], ["d", "d"],
                                   ["d", "d/b.jsonl"], ["b.jsonl", "link.jsonl"], ["b.jsonl", "hard.jsonl"]],
                         ids=["x-x", "dot-x-x", "dir-dir", "dir-dir-file", "symlink", "hard-link"])
def test_each_input_is_read_once_with_a_note(corpus, tmp_path, names):
    (tmp_path / "d").mkdir()
    shutil.copy(corpus.batch, tmp_path / "d" / "b.jsonl")
    shutil.copy(corpus.batch, tmp_path / "b.jsonl")
    (tmp_path / "link.jsonl").symlink_to("b.jsonl")
    os.link(tmp_path / "b.jsonl", tmp_path / "hard.jsonl")
    res = run("validate", *names, "--format", "json", "--quiet", cwd=tmp_path)
    assert_clean(res, 0, "newsarchive: note:", "read once")
    assert json.loads(res.out)["records"] == 300
    res = run("append", *names, "--archive", "a", "--format", "json", "--quiet", cwd=tmp_path)
    assert_clean(res, 0, "read once")
    assert json.loads(res.out)["appended"] == 300


@pytest.mark.parametrize("names,pages", [(["p.txt", "./p.txt"], 1), (["in", "in"], 1), (["in", "in/p.txt"], 1),
                                         (["in", "in/notes.md"], 2)],
                         ids=["x-x", "dir-dir", "dir-dir-file", "dir-and-a-file-it-ignores"])
def test_extract_reads_each_page_once(tmp_path, shared_dir, names, pages):
    """A file named on the command line is read even when its folder's search leaves it aside."""
    (tmp_path / "in").mkdir()
    for folder in (tmp_path, tmp_path / "in"):
        shutil.copy(next((shared_dir / "seed").glob("*.txt")), folder / "p.txt")
    (tmp_path / "in" / "notes.md").write_text("not a page\n")
    res = run("extract", *names, "-o", "out.jsonl", "--quiet", cwd=tmp_path)
    assert_clean(res, 0 if pages == 1 else 1, *(["read once"] if pages == 1 else []))
    assert f"{pages} page" in res.out
    if "in/notes.md" in names:
        assert "ignored" not in res.out


def test_a_symlink_loop_in_an_extract_folder_is_walked_once(tmp_path, shared_dir):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    shutil.copy(next((shared_dir / "seed").glob("*.txt")), tmp_path / "in" / "sub" / "p.txt")
    (tmp_path / "in" / "sub" / "up").symlink_to("..")
    assert_clean(run("extract", "in", "-o", "out.jsonl", "--quiet", cwd=tmp_path), 0)


NOT_UTF8 = os.fsdecode(b"caf\xe9")  # Latin-1 bytes from a terminal: the argument Python gets


@pytest.mark.parametrize("args", [
    ["search", NOT_UTF8], ["search", "maroc", "--source", NOT_UTF8],
    ["sql", f"SELECT '{NOT_UTF8}'"], ["sql", "SELECT 1", "--format", "csv", "--output", f"{NOT_UTF8}.csv"],
], ids=["search-term", "search-source", "sql-query", "sql-output"])
def test_text_that_is_not_utf8_is_one_line(corpus, tmp_path, args):
    assert_clean(run(*args, "--archive", str(corpus.archive), cwd=tmp_path), 2, "not valid UTF-8")


def test_file_names_that_are_not_utf8_are_read_and_written_escaped(corpus, tmp_path):
    """A Latin-1 file name is a file like any other: reports, the ledger, the rejects file show it
    with \\xNN escapes (JSON and Delta hold only valid Unicode)."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(corpus.batch, os.path.join(os.fsencode(folder), b"caf\xe9.jsonl"))
    (Path(os.fsdecode(os.path.join(os.fsencode(folder), b"page\xe9.txt")))).write_text("not a page\n")
    res = run("validate", "in", "--format", "json", "--quiet", cwd=tmp_path)
    assert_clean(res, 0)
    assert json.loads(res.out)["files"][0]["file"] == "in/caf\\xe9.jsonl"
    res = run("append", "in", "--archive", "a", "--format", "json", "--quiet", cwd=tmp_path)
    assert_clean(res, 0)
    assert json.loads(res.out)["appended"] == 300
    res = run("extract", "in", "-o", "out.jsonl", "--rejects", "rejects.jsonl", "--quiet", cwd=tmp_path)
    assert_clean(res, 1)
    assert json.loads((tmp_path / "rejects.jsonl").read_text())["input"] == "in/page\\xe9.txt"


def test_a_query_on_stdin_that_is_not_utf8_is_one_line(corpus):
    res = run("sql", "--archive", str(corpus.archive), stdin=b"SELECT '\xe9'")
    assert_clean(res, 2, "standard input is not valid UTF-8")


def schema_file(tmp_path: Path, document: dict | str, bom: bool = False) -> Path:
    path = tmp_path / "schema.json"
    text = document if isinstance(document, str) else json.dumps(document)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


DRAFT = "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("document,needle", [
    ('{"type": "object", "properties": {"a": ' + '{"properties": {"a": ' * 400 + "{}" + "}}" * 400 + "}}",
     "nested more than 64 levels"),
    ('{"properties": {"a": ' * 3000 + "{}" + "}}" * 3000, "nested too deeply"),
    ({"$schema": DRAFT, "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}},
      "$ref": "#/$defs/a"}, "$ref loop"),
    ({"$schema": DRAFT, "properties": {"x": {"$ref": "https://example.com/x.json"}}}, "points outside the schema"),
    ({"$schema": DRAFT, "properties": {"x": {"$ref": "#/$defs/nothing"}}}, "points to no schema"),
], ids=["deep", "very-deep", "ref-loop", "remote-ref", "dangling-ref"])
def test_schemas_that_would_crash_the_validator_are_refused_at_load(corpus, tmp_path, document, needle):
    schema = schema_file(tmp_path, document)
    assert_clean(run("validate", "--schema", str(schema), str(corpus.batch), "--quiet"), 2, needle)


def test_a_schema_with_a_bom_is_read(corpus, tmp_path):
    text = (Path(__file__).resolve().parents[1] / "schema" / "article.schema.json").read_text()
    schema = schema_file(tmp_path, text, bom=True)
    assert_clean(run("validate", "--schema", str(schema), str(corpus.batch), "--quiet"), 0)


def test_a_record_too_deep_for_a_recursive_schema_is_invalid_not_a_crash(tmp_path):
    schema = schema_file(tmp_path, {"$schema": DRAFT, "type": "object", "properties": {"a": {"$ref": "#"}}})
    batch = tmp_path / "deep.jsonl"
    batch.write_text('{"a": ' * 900 + "{}" + "}" * 900 + "\n" + '{"a": {}}\n')
    res = run("validate", "--schema", str(schema), str(batch), "--format", "json", "--quiet")
    assert_clean(res, 1)
    report = json.loads(res.out)
    assert (report["valid"], report["invalid"]) == (1, 1) and report["errors"][0]["keyword"] == "depth"


def test_publish_of_an_archive_missing_a_file_names_it(corpus, tmp_path):
    archive = corpus.copy_archive("missing-file")
    next(archive.joinpath("articles").rglob("*.parquet")).unlink()
    res = run("publish", "--archive", str(archive), "--version", "v1.0.0", "--output", str(tmp_path / "snap"))
    assert_clean(res, 2, "newsarchive verify")
    assert not (tmp_path / "snap").exists() and not list(tmp_path.glob(".snap*"))


def test_compact_with_a_missing_file_stops_and_commits_nothing(corpus, tmp_path):
    archive = tmp_path / "archive"
    half = corpus.batch.read_text().splitlines(keepends=True)
    (tmp_path / "a.jsonl").write_text("".join(half[:150]))
    (tmp_path / "b.jsonl").write_text("".join(half[150:]))
    for name in ("a.jsonl", "b.jsonl"):  # two files per partition: compaction has something to merge
        assert run("append", str(tmp_path / name), "--archive", str(archive), "--quiet").code == 0
    files = sorted(archive.joinpath("articles").rglob("*.parquet"))
    by_folder = {}
    for f in files:
        by_folder.setdefault(f.parent, []).append(f)
    victim = next(group for group in by_folder.values() if len(group) > 1)[0]
    victim.unlink()
    res = run("compact", "--archive", str(archive))
    assert_clean(res, 2, "it is missing", "nothing was compacted")
    assert len(list((archive / "articles" / "_delta_log").glob("*.json"))) == 3  # no compaction commit


def test_a_truncated_delta_log_commit_is_a_named_fault(corpus):
    archive = corpus.copy_archive("truncated-log")
    commit = archive / "articles" / "_delta_log" / "00000000000000000001.json"
    commit.write_bytes(cut(commit.read_bytes(), 0.5))
    env = {"RUST_BACKTRACE": "1"}  # delta-rs then appends its stack frames to every message
    res = run("verify", "--archive", str(archive), env=env)
    assert_clean(res, 1, "FAULT", "00000000000000000001.json", "transaction log is damaged")
    for args in (["history"], ["sql", "SELECT count(*) FROM articles"], ["compact"], ["catalog"],
                 ["search", "maroc"]):
        assert_clean(run(*args, "--archive", str(archive), env=env), 2, "00000000000000000001.json")


def test_storage_errors_lose_the_rust_backtrace():
    from toolkit.archive.storage import without_backtrace

    text = ("Kernel error: Json error: Truncated record whilst reading string 0: <unknown> 1: <unknown> "
            "12: start_thread at ./nptl/pthread_create.c:442:8 13: clone3 at ./misc/../sysdeps/clone3.S:81")
    assert without_backtrace(text) == "Kernel error: Json error: Truncated record whilst reading string"
    assert without_backtrace("no version 0: see history") == "no version 0: see history"


def test_verify_dir_with_a_binary_sha256sums_is_a_fault(corpus, tmp_path):
    snap = tmp_path / "snap"
    assert run("publish", "--archive", str(corpus.archive), "--version", "v1.0.0", "--output", str(snap)).code == 0
    (snap / "SHA256SUMS").write_bytes(b"\xff\xfe\x00\x81" + bytes(range(256)))
    assert_clean(run("verify", str(snap)), 1, "SHA256SUMS: not text")


# --- bad environments: a read-only file system, a full disk -----------------------------------------
def _mount(target: Path, options: str) -> str | None:
    """Mount a tmpfs at target; why not, when the sandbox does not allow it."""
    if shutil.which("mount") is None:
        return "no mount command"
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    return None if proc.returncode == 0 else f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}"


@pytest.fixture
def mounted(tmp_path) -> Iterator[Callable[[str], Path]]:
    """mounted("ro") or mounted("size=64k"): a fresh tmpfs folder, unmounted after the test."""
    points: list[Path] = []

    def make(options: str) -> Path:
        target = tmp_path / f"mnt{len(points)}"
        target.mkdir()
        why = _mount(target, options)
        if why:
            pytest.skip(why)
        points.append(target)
        return target

    yield make
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.mark.parametrize("options,needle", [("ro", "read-only file system"), ("size=64k", "no space left")],
                         ids=["read-only", "full"])
@pytest.mark.parametrize("command", ["append", "catalog", "sql-output", "publish", "extract", "validate-output"])
def test_writes_refused_by_the_file_system_are_one_line(corpus, mounted, tmp_path, shared_dir, options, needle,
                                                        command):
    from tests.extract.conftest import dump

    where = mounted(options)
    big = generate(tmp_path / "big.jsonl", 1500, invalid_rate=0.3)  # enough to fill 64 kB, in every output
    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(150):
        text = f"Paragraphe {i} : le conseil municipal a adopté le budget de l'année, numéro {i} de la série."
        (pages / f"p{i}.txt").write_text(dump(title=f"Titre numéro {i} : le projet au Parlement", body=[text] * 4))
    args = {
        "append": ["append", str(corpus.batch), "--archive", str(where / "archive"), "--quiet"],
        "catalog": ["catalog", "--archive", str(corpus.archive), "--output", str(where / "c.duckdb")],
        "sql-output": ["sql", "--archive", str(corpus.archive), "FROM articles, range(20)", "--format", "json",
                       "--output", str(where / "rows.json")],
        "publish": ["publish", "--archive", str(corpus.archive), "--version", "v1.0.0",
                    "--output", str(where / "snap")],
        "extract": ["extract", str(pages), "-o", str(where / "out.jsonl"), "--quiet"],
        "validate-output": ["validate", str(big), "--format", "json", "--output", str(where / "report.json"),
                            "--quarantine", str(where / "q.jsonl"), "--quiet"],
    }[command]
    res = run(*args, cwd=tmp_path)
    assert_clean(res, 2, needle)
    if command == "append" and options != "ro":  # nothing committed: the archive is still empty
        log = sorted(p.name for p in (where / "archive" / "articles" / "_delta_log").glob("*.json"))
        assert log == ["00000000000000000000.json"]
        assert not list((where / "archive").rglob("*.parquet"))


def test_s3_without_credentials_is_one_line(seaweedfs: S3Server, corpus):  # noqa: F811
    env = {"AWS_ENDPOINT_URL": seaweedfs.endpoint, "AWS_REGION": "us-east-1"}
    for args in (["verify"], ["append", str(corpus.batch), "--quiet"], ["sql", "SELECT 1"]):
        res = run(*args, "--archive", seaweedfs.new_root(), env=env)
        assert res.code == 2, res.err
        assert_clean(res, 2)
