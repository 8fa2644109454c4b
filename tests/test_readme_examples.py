"""A newcomer's first ten minutes: after `make demo`, every `newsarchive` command of the README and of
docs/*.md runs.

The demo is the real Makefile target, run once per session in a copy of the repository's Makefile and
datasets (with the installed `newsarchive`, so nothing is reinstalled). Then, for the README and for
each docs/*.md file (as sqlite-utils runs its docs' examples), each command line of its `sh` and
`console` blocks runs, in file order, in one bash per line from a fresh copy of the demo's output,
after the README's own `. .venv/bin/activate`, and must exit as the page says. The files the
examples name that the demo does not make (a crawl folder, a WARC, batches, a question) are created
first, as a user would have them; S3 examples run against the test SeaweedFS server (where the
`s3://bucket/news` archive they name is appended first) and `--push` against a local stand-in of the Hub.
A page shows a command that must not run here in a `text` block (`newsarchive serve`, which runs
until Ctrl-C, is left out wherever it appears)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
#: The pages whose examples run: the README, then every docs/*.md.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VENV_BIN = Path(sys.executable).parent
ACTIVATE = ". .venv/bin/activate"

#: Commands the README documents as exiting 1 (they find invalid records); every other one exits 0.
EXIT_1 = (
    "validate datasets/examples/mixed-batch.jsonl",  # "(exit 1)"
    "validate batches/ --format json --output report.json",  # batches/2024-06-28.jsonl has invalid records
    "validate batches/2024-06-28.jsonl --format github",  # the annotations shown
    "validate batches/ --format junit",  # failures="2"
    "--archive archive --strict",  # "... or errors, exit 1"
)
#: One S3 prefix per SeaweedFS server (a session), and the `news` archives made there.
_S3_PREFIX: dict[str, str] = {}
_S3_MADE: set[str] = set()
#: Commands that run until stopped (their own tests start and stop them).
NOT_RUN = ("newsarchive serve",)



def readme_commands(text: str = README) -> list[str]:
    """Every command line of the README's sh and console blocks that runs newsarchive, in order."""
    found = []
    for block in re.findall(r"```(?:sh|console)\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if re.match(r"newsarchive\b", line) or "| newsarchive " in line:
                found.append(line)
    return found


def page_commands(page: Path) -> list[str]:
    """The commands `readme_commands` finds in one page, without those that run until stopped."""
    return [c for c in readme_commands(page.read_text(encoding="utf-8")) if not c.startswith(NOT_RUN)]


def expected_exit(command: str) -> int:
    return 1 if any(marker in command for marker in EXIT_1) else 0


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory) -> Path:
    """The folder `make demo` leaves: build/, archive/ (with catalog and search index), snapshots/v1.0.0."""
    newsarchive = VENV_BIN / "newsarchive"
    if not newsarchive.is_file() or not (VENV_BIN / "activate").is_file() or shutil.which("make") is None:
        pytest.skip("needs make and newsarchive installed in a virtualenv (make test does both)")
    folder = tmp_path_factory.mktemp("demo") / "newsarchive"
    folder.mkdir()
    shutil.copy(ROOT / "Makefile", folder / "Makefile")
    shutil.copytree(ROOT / "datasets", folder / "datasets")
    # -o: the venv is already installed (make would otherwise create one in the copy)
    proc = subprocess.run(["make", "demo", "-o", ".venv/.installed-base", f"NA={newsarchive}"], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (folder / "snapshots" / "v1.0.0" / "SHA256SUMS").is_file()
    return folder


def user_files(work: Path) -> None:
    """The files the README's examples name and a user would have (the demo makes the rest)."""
    import zstandard

    from tests.extract.test_html import AR_PARAGRAPHS, html_page
    from tests.extract.test_warc import response, write_warc
    from tests.sql.conftest import article, records
    from tests.validate.conftest import good_record, jsonl

    shutil.copytree(work / "datasets" / "maghress-sample" / "pages", work / "crawl")
    (work / "page.html").write_text(html_page(), encoding="utf-8")
    ar_page = html_page(title="انطلاق حملة التلقيح", paragraphs=AR_PARAGRAPHS, lang="ar", site_name="هسبريس",
                        canonical=None)
    write_warc(work / "CC-NEWS-20210628.warc.gz",
               [lambda w: response(w, "https://www.hespress.example/societe/vaccination.html", ar_page.encode())],
               gz=True)
    sample = (work / "build" / "sample.jsonl").read_text(encoding="utf-8")
    (work / "batch.jsonl").write_text(sample, encoding="utf-8")
    (work / "batch.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(sample.encode()))
    shutil.copy(ROOT / "schema" / "article.schema.json", work / "my.schema.json")
    (work / "batches").mkdir()
    (work / "batches" / "2024-06-28.jsonl").write_bytes(  # the CI section's example batch
        jsonl(good_record(1), good_record(2, title=""), good_record(3, published_date="2021-02-30")))
    known = sample.splitlines(keepends=True)[:2]  # two articles the demo archived, one new
    records(work / "batches" / "new.jsonl", [article(1)])
    with open(work / "batches" / "new.jsonl", "a", encoding="utf-8") as f:
        f.writelines(known)
    (work / "question.sql").write_text("SELECT language, count(*) AS articles FROM articles GROUP BY language\n")
    (work / "outlets.csv").write_text("source,country\nLe360,MA\nHespress FR,MA\n")


@pytest.fixture
def services(request, monkeypatch) -> dict[str, object]:
    """The S3 server (or None when its binary is missing) and a stand-in Hub for the push example."""
    from tests.publish.fakehub import FakeHub, running_hub

    try:
        server = request.getfixturevalue("seaweedfs")
    except pytest.skip.Exception:
        server = None
    with running_hub(FakeHub()) as hub:
        yield {"s3": server, "hub": hub}


def test_the_readme_tells_how_newsarchive_gets_on_path():
    quick = README[README.index("## Quick start"):README.index("## The pipeline")]
    assert ACTIVATE in quick
    assert readme_commands(quick)  # and the quick start runs a command with it


def test_the_readme_and_the_docs_have_runnable_examples():
    """The README keeps a runnable tour; the reference pages keep the rest (and every such page is run)."""
    counts = {page.relative_to(ROOT).as_posix(): len(page_commands(page)) for page in PAGES}
    assert counts["README.md"] >= 10
    assert sum(counts.values()) > 40
    assert all(counts[name] for name in ("docs/extract.md", "docs/validate.md", "docs/archive.md", "docs/sql.md",
                                         "docs/search.md", "docs/explore.md", "docs/publish.md", "docs/ci.md"))


@pytest.mark.parametrize("page", [p for p in PAGES if page_commands(p)], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_documented_example_runs_on_the_demos_output(page, demo_output, services, tmp_path):
    commands = page_commands(page)
    work = tmp_path / "newsarchive"
    shutil.copytree(demo_output, work, symlinks=True)
    os.symlink(VENV_BIN.parent, work / ".venv")  # what `make demo` leaves in a checkout
    user_files(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NEWSARCHIVE_", "HF_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN)
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), HF_ENDPOINT=services["hub"].url,
               HF_TOKEN="hf_readmeExampleToken", HF_HUB_DISABLE_TELEMETRY="1", COLUMNS="120")
    prefix = "s3://bucket/"
    if services["s3"] is not None:
        env.update(services["s3"].env())
        prefix = _S3_PREFIX.setdefault(services["s3"].endpoint,
                                       f"s3://{services['s3'].bucket}/readme-{uuid.uuid4().hex[:8]}/")

    def run(line: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", f"set -o pipefail; {ACTIVATE} && {line}"], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)

    failures, skipped = [], []
    news = f"{prefix}news"  # the S3 archive the pages name: made once a session, by the first page using it
    if services["s3"] is not None and news not in _S3_MADE and any("s3://bucket/news" in c for c in commands):
        if not any(c.startswith("newsarchive append ") and "s3://bucket/news" in c for c in commands):
            setup = run(f"newsarchive append batches/ --archive {news} --quiet")  # the S3 archive a user has
            assert setup.returncode == 0, setup.stderr
        _S3_MADE.add(news)  # (or this page's own append makes it, first)
    for command in commands:
        if "s3://" in command and services["s3"] is None:
            skipped.append(command)
            continue
        proc = run(command.replace("s3://bucket/", prefix))
        if proc.returncode != expected_exit(command):
            failures.append(f"{command}\n  exit {proc.returncode}, expected {expected_exit(command)}: "
                            f"{proc.stderr.strip()[-600:]}")
    assert not failures, f"examples of {page.name} that do not run:\n" + "\n".join(failures)
    if skipped:
        pytest.skip(f"{len(skipped)} S3 examples not run: no SeaweedFS server")
    if any("--push" in c for c in commands):
        tagged = [r.json().get("tag") for r in services["hub"].requests if "/tag/" in r.path]
        assert tagged == ["v1.2.0"]  # the --push example reached the (stand-in) Hub


def test_the_examples_would_fail_without_activation(demo_output, tmp_path):
    """The README's activate line is what puts newsarchive on PATH: without it, command not found."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN)
    env.pop("VIRTUAL_ENV", None)
    if shutil.which("newsarchive", path=env["PATH"]):
        pytest.skip("another newsarchive is on PATH")
    proc = subprocess.run(["bash", "-c", "newsarchive history"], cwd=demo_output, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 127 and "not found" in proc.stderr


def test_verify_of_an_archive_folder_points_to_archive(demo_output, capsys, monkeypatch):
    from tests.conftest import run_in_process

    monkeypatch.chdir(demo_output)
    result = run_in_process(capsys, monkeypatch, ["verify", "archive"])
    assert result.code == 2
    assert result.err.strip() == ("newsarchive: error: archive: is an archive, not a snapshot folder; verify an "
                                  "archive with `newsarchive verify --archive archive`")


def test_validate_jobs_are_processes(capsys, monkeypatch):
    from tests.conftest import run_in_process

    result = run_in_process(capsys, monkeypatch, ["validate", "--help"])
    assert "Worker processes" in result.out and "thread" not in result.out.lower()
