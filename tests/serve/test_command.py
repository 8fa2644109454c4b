"""`newsarchive serve` as a real subprocess: what it prints, its refusals, Ctrl-C and SIGTERM."""

from __future__ import annotations

import signal
import socket
import time

import httpx
import pytest

from tests.conftest import Result, run_in_process
from tests.serve.conftest import Server


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_until_interrupted(news_archive, signum):
    server = Server("--archive", str(news_archive))
    try:
        assert httpx.get(f"{server.url}/archive", timeout=60).status_code == 200
    finally:
        code, out, err = server.stop(signum)
    assert code == 130
    assert err.strip().splitlines() == ["newsarchive: interrupted"], err
    lines = out.splitlines()
    assert lines[0] == f"newsarchive: serving {news_archive} read-only at {server.url}/ (Ctrl-C stops)"
    assert lines[1].startswith(f"newsarchive: note: the archive is readable by anyone who reaches 127.0.0.1:"
                               f"{server.port}")


def test_a_token_is_needed_beyond_loopback(news_archive, capsys, monkeypatch):
    result = run_in_process(capsys, monkeypatch, ["serve", "--archive", str(news_archive), "--host", "0.0.0.0",
                                                  "--port", "0"], drop=("NEWSARCHIVE_SERVE_TOKEN",))
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "newsarchive: error: --host 0.0.0.0 is reachable from other machines: pass --token T (or set "
        "NEWSARCHIVE_SERVE_TOKEN) so that only those who have it can read the archive"]


def test_a_token_from_the_environment(news_archive):
    server = Server("--archive", str(news_archive), env={"NEWSARCHIVE_SERVE_TOKEN": "env-token"})
    try:
        assert httpx.get(f"{server.url}/archive", timeout=60).status_code == 401
        ok = httpx.get(f"{server.url}/archive", headers={"authorization": "Bearer env-token"}, timeout=60)
        assert ok.status_code == 200
    finally:
        code, out, _ = server.stop()
    assert code == 130 and "env-token" not in out  # the token is never printed


def test_refusals_are_one_line(news_archive, tmp_path, capsys, monkeypatch):
    def run_cli(*args: str) -> Result:
        return run_in_process(capsys, monkeypatch, list(args))

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = run_cli("serve", "--archive", str(news_archive), "--port", str(port))
    assert busy.code == 2 and busy.err.strip().splitlines() == [
        f"newsarchive: error: 127.0.0.1:{port}: the port is already in use; pass another --port "
        "(or --port 0 for a free one)"]
    missing = run_cli("serve", "--archive", str(tmp_path / "nothing"), "--port", "0")
    assert missing.code == 2 and len(missing.err.strip().splitlines()) == 1 and "no archive here" in missing.err
    version = run_cli("serve", "--archive", str(news_archive), "--as-of", "9", "--port", "0")
    assert version.code == 2 and "no version 9" in version.err and len(version.err.strip().splitlines()) == 1


def test_stopping_does_not_wait_for_a_running_query(news_archive, tmp_path):
    """A query of /sql runs for up to --sql-timeout; SIGTERM while it runs stops it, and serve exits at
    once, in one line. The test hook marks the query's start, and the signal is sent then."""
    import threading

    from tests.serve.conftest import wait_until

    started_marker = tmp_path / "query-started"
    server = Server("--archive", str(news_archive), "--sql-timeout", "300",
                    env={"NEWSARCHIVE_TEST_SQL_STARTED": str(started_marker)})
    answers = []

    def slow() -> None:
        try:
            answers.append(httpx.get(f"{server.url}/sql", timeout=300, params={
                "sql": "SELECT count(*) FROM range(100000000000) a(i) WHERE i % 7 = 3"}).status_code)
        except httpx.HTTPError as exc:
            answers.append(type(exc).__name__)

    client = threading.Thread(target=slow)
    client.start()
    wait_until(started_marker.exists, timeout=60)
    started = time.monotonic()
    code, _, err = server.stop(signal.SIGTERM)
    client.join(60)
    assert code == 130 and err.strip().splitlines() == ["newsarchive: interrupted"], err
    assert time.monotonic() - started < 30 and answers == [400]  # the page said it was interrupted


def test_an_append_while_serving(news_archive, tmp_path):
    """Real processes: serve keeps serving while `newsarchive append` commits (and does not block it);
    the next load shows the new version, and the old one stays citable with as_of."""
    import shutil

    from tests.conftest import run_cli
    from tests.serve.conftest import article_id, filler, write_records

    root = tmp_path / "archive"
    shutil.copytree(news_archive, root, ignore=shutil.ignore_patterns("search-index*", ".search-index*"))
    batch = write_records(tmp_path / "more.jsonl", [
        {"id": article_id(f"later{i}"), "source": "Le Matin", "language": "fr", "published_date": "2024-03-06",
         "title": f"Bourita, encore {i}", "text": "Bourita à Rabat. " + filler(300 + i)} for i in range(3)])
    server = Server("--archive", str(root))
    try:
        before = httpx.get(f"{server.url}/index.json", params={"q": "Bourita"}, timeout=120).json()
        appended = run_cli("append", str(batch), "--archive", str(root), "--quiet")
        assert appended.code == 0, appended.err
        after = httpx.get(f"{server.url}/index.json", params={"q": "Bourita"}, timeout=120)
        again = httpx.get(f"{server.url}/index.json", params={"q": "Bourita", "as_of": "1"}, timeout=120).json()
    finally:
        server.stop()
    assert before["version"] == 1 and after.status_code == 200 and after.json()["version"] == 2
    assert after.json()["summary"][0]["matches"] == before["summary"][0]["matches"] + 3
    assert again["version"] == 1 and again["summary"] == before["summary"]
