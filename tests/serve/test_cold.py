"""A new explore address under 8 clients (issue 19's default bench missed p95 < 500 ms on new
addresses): its panels are computed at once, and several new addresses are computed at once. Each
test makes one computation wait, with a deadline, for the other to have started: computed one after
the other, the wait runs out and the test fails."""

from __future__ import annotations

import threading

from starlette.testclient import TestClient

from toolkit.serve import create_app

LOCAL = "http://127.0.0.1"
DEADLINE = 20  # seconds: far more than either side needs on a loaded machine


def test_a_new_page_reads_its_articles_while_it_counts(news_archive, monkeypatch):
    """The sample and top terms are read while attention is computed (and the chart drawn after it),
    not after: attention waits until the articles' branch has started."""
    import toolkit.explore as explore

    started, met = threading.Event(), []
    real_sample, real_attention = explore.sample_articles, explore.attention

    def sample(*args, **kwargs):
        started.set()
        return real_sample(*args, **kwargs)

    def attention(*args, **kwargs):
        met.append(started.wait(DEADLINE))
        return real_attention(*args, **kwargs)

    monkeypatch.setattr(explore, "sample_articles", sample)
    monkeypatch.setattr(explore, "attention", attention)
    client = TestClient(create_app(news_archive), base_url=LOCAL)
    page = client.get("/index.json", params={"q": "Bourita", "by": "month"})
    assert page.status_code == 200 and met == [True]
    alone = client.get("/attention.json", params={"q": "Bourita", "by": "month"})  # the same numbers as a panel
    assert page.json()["attention"] and alone.status_code == 200
    assert page.json()["samples"][0]["articles"] and page.json()["terms"]


def test_an_error_in_the_articles_branch_is_the_page_s_error(news_archive, monkeypatch):
    """A failure while reading the articles is not lost because the counts succeeded."""
    import toolkit.explore as explore
    from toolkit.core.errors import NewsarchiveError

    def failing(*args, **kwargs):
        raise NewsarchiveError("the index could not rank (test)")

    monkeypatch.setattr(explore, "top_terms", failing)
    client = TestClient(create_app(news_archive), base_url=LOCAL)
    page = client.get("/index.json", params={"q": "Rabat"})
    assert page.status_code == 400 and "could not rank (test)" in page.json()["error"]


def test_two_new_addresses_are_computed_at_once(news_archive, monkeypatch):
    """Two clients opening two different new addresses: the second is computed while the first is
    (the first waits, with a deadline, for the second to start)."""
    import toolkit.serve.app as app_module

    real = app_module.explore_data
    first_in, second_started, met = threading.Event(), threading.Event(), []

    def explore_data(archive, version, params, *args, **kwargs):
        if params["queries"] == ["Bourita"]:
            first_in.set()
            met.append(second_started.wait(DEADLINE))
        else:
            second_started.set()
        return real(archive, version, params, *args, **kwargs)

    monkeypatch.setattr(app_module, "explore_data", explore_data)
    client = TestClient(create_app(news_archive), base_url=LOCAL)
    answers = {}

    def fetch(query):
        answers[query] = client.get("/index.json", params={"q": query, "by": "week"}).status_code

    first = threading.Thread(target=fetch, args=("Bourita",))
    first.start()
    assert first_in.wait(DEADLINE)  # the first is computing when the second asks
    second = threading.Thread(target=fetch, args=("Rabat",))
    second.start()
    first.join(60)
    second.join(60)
    assert answers == {"Bourita": 200, "Rabat": 200} and met == [True]
