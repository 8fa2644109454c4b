"""What serve keeps per address and version so that pages stay fast under 8 clients (issue 19): a
repeated page opens no table and draws no template, and a commit still shows at the next request."""

from __future__ import annotations

import shutil

from starlette.testclient import TestClient

from tests.serve.conftest import article_id, filler, write_records
from toolkit.serve import create_app

LOCAL = "http://127.0.0.1"


def _count_calls(monkeypatch, owner, name):
    calls = []
    real = getattr(owner, name)

    def spy(*args, **kwargs):
        calls.append(args[1:])
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def test_a_repeated_page_opens_no_table_and_draws_no_template(news_archive, monkeypatch):
    from jinja2 import Template

    from toolkit.archive.tables import Archive

    client = TestClient(create_app(news_archive), base_url=LOCAL)
    paths = ["/?q=Bourita&by=week", "/archive", f"/article/{article_id('fr0')}"]
    first = {path: client.get(path) for path in paths}
    assert all(r.status_code == 200 for r in first.values())
    opened = _count_calls(monkeypatch, Archive, "table")
    drawn = _count_calls(monkeypatch, Template, "render")
    for path in paths:
        again = client.get(path)
        assert again.status_code == 200 and again.text == first[path].text
    assert opened == [] and drawn == []
    other = client.get("/?q=Bourita&by=month")  # another address is drawn
    assert other.status_code == 200 and len(drawn) == 1


def test_a_commit_shows_at_the_next_request(news_archive, tmp_path):
    """The version a page shows is learnt from the log's listing at each request: once a batch is
    committed, the same address shows the new version, not a kept page."""
    from toolkit.archive import append

    root = tmp_path / "archive"
    shutil.copytree(news_archive, root, ignore=shutil.ignore_patterns("search-index*", ".search-index*"))
    client = TestClient(create_app(root), base_url=LOCAL)
    before = client.get("/index.json", params={"q": "Bourita"}).json()
    page = client.get("/", params={"q": "Bourita"}).text
    batch = write_records(tmp_path / "more.jsonl", [
        {"id": article_id(f"kept{i}"), "source": "Le Matin", "language": "fr", "published_date": "2024-03-05",
         "title": f"Bourita encore {i}", "text": "Bourita à Rabat. " + filler(300 + i)} for i in range(3)])
    version = append([batch], archive=root).version
    after = client.get("/index.json", params={"q": "Bourita"}).json()
    assert after["version"] == version == before["version"] + 1
    assert after["summary"][0]["matches"] == before["summary"][0]["matches"] + 3
    assert client.get("/", params={"q": "Bourita"}).text != page
    assert client.get("/index.json", params={"q": "Bourita", "as_of": str(before["version"])}).json()["summary"] \
        == before["summary"]
