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


def test_a_page_being_computed_is_waited_for_not_computed_twice(news_archive, monkeypatch):
    """Two clients opening the same new address at once: the second waits for the first one's
    numbers (explore_data runs once). The second request is let go only once it is seen waiting."""
    import threading

    import toolkit.serve.app as app_module

    pages = []
    real_init = app_module.Pages.__init__

    def keep(self, settings):
        real_init(self, settings)
        pages.append(self)

    monkeypatch.setattr(app_module.Pages, "__init__", keep)
    client = TestClient(create_app(news_archive), base_url=LOCAL)

    class Watched(dict):
        """The keys being computed; notes when a request finds its key already running."""

        found = threading.Event()

        def get(self, key, default=None):
            value = super().get(key, default)
            if value is not None:
                self.found.set()
            return value

    pages[0]._running = Watched()
    started, go, calls = threading.Event(), threading.Event(), []
    real = app_module.explore_data

    def slow(*args, **kwargs):
        calls.append(args)
        started.set()
        go.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "explore_data", slow)
    answers = {}

    def fetch(name):
        answers[name] = client.get("/index.json", params={"q": "Bourita", "by": "month"})

    first = threading.Thread(target=fetch, args=("first",))
    first.start()
    assert started.wait(60)
    second = threading.Thread(target=fetch, args=("second",))
    second.start()
    assert pages[0]._running.found.wait(15)  # the second request found the computation running
    go.set()
    first.join(60)
    second.join(60)
    assert len(calls) == 1
    assert answers["first"].status_code == answers["second"].status_code == 200
    assert answers["first"].json() == answers["second"].json()
