"""The web app over HTTP (Starlette's TestClient, the real archive, explore and DuckDB): routes and
their JSON twins, the request rules (methods, token, Host, CSP), hostile contents, /sql, versions."""

from __future__ import annotations

import hmac
import io
import re
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.csv as pcsv
import pytest
from starlette.testclient import TestClient

from tests.conftest import run_in_process
from tests.serve.conftest import (
    BIG_TITLE_CHARS,
    HOSTILE_SOURCE,
    HOSTILE_TITLE,
    article_id,
    filler,
    news_records,
    write_records,
)
from toolkit.serve import CSP, create_app

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def client(news_archive) -> TestClient:
    return TestClient(create_app(news_archive), base_url=LOCAL)


class Tags(HTMLParser):
    """Every start tag with its attributes, to check what the browser would build."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


class Overrides(HTMLParser):
    """Text holding a right-to-left override whose enclosing elements carry no `dir` (not isolated)."""

    VOID = {"br", "img", "input", "meta", "link", "hr", "wbr", "source", "col", "area", "base", "embed"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.unisolated: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append((tag, any(k == "dir" for k, _ in attrs)))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data):
        if "\u202e" in data and not any(has_dir for _, has_dir in self.stack):
            self.unisolated.append(data[:80])


def tags(html: str) -> list[tuple[str, dict]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


# --- pages and their JSON ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/?q=Bourita", "/archive", "/sql?sql=SELECT+42+AS+x",
                                  f"/article/{article_id('fr0')}"])
def test_every_page_has_its_json_twin(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.text[:300]
    assert page.headers["content-type"].startswith("text/html")
    base, _, query = path.partition("?")
    twin = client.get(("/index" if base == "/" else base) + ".json" + (f"?{query}" if query else ""))
    assert twin.status_code == 200 and twin.headers["content-type"] == "application/json"
    by_accept = client.get(path, headers={"accept": "application/json"}).json()
    data = twin.json()
    for body in (by_accept, data):
        (body.get("result") or {}).pop("seconds", None)  # the query's own timing differs between runs
    assert by_accept == data
    assert data["version"] == 1 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["version_date"])
    assert f"version <strong>1</strong> of {data['version_date']}" in page.text  # version and date visible


def test_explore_shows_the_api_numbers_with_separators(client, news_archive):
    from toolkit.explore import Scope, summary

    data = client.get("/index.json", params=[("q", "Bourita"), ("q", "Rabat"), ("by", "week")]).json()
    expected = summary(Scope(news_archive).resolved(), ["Bourita", "Rabat"]).to_pylist()
    assert [(r["query"], r["matches"], r["articles"]) for r in data["summary"]] == \
        [(r["query"], r["matches"], r["articles"]) for r in expected]
    assert {r["bucket"] for r in data["attention"]} == {"2024-03-04", "2024-03-11", "2024-03-18"}
    assert data["samples"][0]["articles"] and data["outlets"] and data["terms"]


def test_thousands_separators_and_iso_dates():
    import datetime as dt

    from toolkit.serve.app import _iso, _num, _pct
    assert (_num(1234567), _pct(0.12345), _iso(dt.date(2024, 3, 4))) == ("1,234,567", "12.35 %", "2024-03-04")


def test_a_malformed_query_comes_back_under_the_box(client):
    page = client.get("/", params={"q": 'Bourita AND ("Rabat'})
    assert page.status_code == 400
    assert 'id="error"' in page.text and "never closed" in page.text and "Traceback" not in page.text
    assert 'value="Bourita AND (&#34;Rabat"' in page.text  # the box keeps what was typed
    data = client.get("/index.json", params={"q": 'Bourita AND ("Rabat'})
    assert data.status_code == 400 and "never closed" in data.json()["error"]
    assert client.get("/", params={"q": "x", "since": "2024-13-01"}).status_code == 400
    assert client.get("/", params={"q": "x", "by": "year"}).status_code == 400


def test_panel_downloads_are_explore_write_table(client, news_archive):
    from toolkit.explore import Scope, attention, write_table

    got = client.get("/attention.csv", params={"q": "Bourita", "by": "week"})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    out = io.BytesIO()
    write_table(attention(Scope(news_archive).resolved(), ["Bourita"], by="week"), "csv", out)
    assert got.content == out.getvalue()
    for panel in ("summary", "outlets", "terms", "samples"):
        assert pcsv.read_csv(io.BytesIO(client.get(f"/{panel}.csv", params={"q": "Bourita"}).content)).num_rows
    svg = client.get("/chart.svg", params={"q": "Bourita"})
    assert svg.headers["content-type"] == "image/svg+xml" and svg.text.startswith("<svg")
    png = client.get("/chart.png", params={"q": "Bourita"})
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_article_page(client):
    page = client.get(f"/article/{article_id('ar0')}")
    assert page.status_code == 200
    assert re.search(r'<h1 dir="rtl"[^>]*>بوريطة', page.text) and 'class="text" dir="rtl"' in page.text
    data = client.get(f"/article/{article_id('fr0')}.json").json()["article"]
    assert data["provenance"]["version_added"] == 1 and data["versions"] == [1]
    assert '<a href="https://example.org/fr/0" rel="noopener noreferrer nofollow"' in \
        client.get(f"/article/{article_id('fr0')}").text
    assert client.get("/article/0123456789abcdef0123").status_code == 404


# --- request rules ----------------------------------------------------------------------------------

def test_only_get_and_head(client):
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        response = client.request(method, "/sql?sql=SELECT+1")
        assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD", method
    head = client.head("/archive")
    assert head.status_code == 200 and head.content == b""


def test_csp_on_every_response(client):
    for path in ("/", "/archive", "/nowhere", "/static/style.css", "/chart.svg?q=Bourita"):
        response = client.get(path)
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-content-type-options"] == "nosniff"
    assert client.post("/").headers["content-security-policy"] == CSP
    assert "script-src 'none'" in CSP and "default-src 'self'" in CSP


def test_a_foreign_host_is_refused_without_a_token(client):
    """DNS rebinding: a page elsewhere naming our port under its own host name gets nothing."""
    assert client.get("/archive", headers={"host": "evil.example:8001"}).status_code == 421
    assert client.get("/archive", headers={"host": "localhost:8001"}).status_code == 200


def test_token(news_archive, monkeypatch):
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    app = create_app(news_archive, token="s3cret; x=1 é")
    anonymous = TestClient(app, base_url="http://192.0.2.1:8001", follow_redirects=False)
    refused = anonymous.get("/archive")
    assert refused.status_code == 401 and "token" in refused.text and refused.text.count("\n") == 1
    assert anonymous.get("/archive?token=wrong").status_code == 401
    assert anonymous.get("/archive", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert anonymous.get("/archive", headers={"x-newsarchive-token": "s3cret; x=1 é".encode()}).status_code == 200
    assert compared  # the comparison is hmac.compare_digest's (constant time)
    browser = TestClient(app, base_url="http://192.0.2.1:8001", follow_redirects=False)
    welcome = browser.get("/sql", params={"sql": "SELECT 1", "token": "s3cret; x=1 é"})
    assert welcome.status_code == 303 and welcome.headers["location"] == "/sql?sql=SELECT+1"
    assert "HttpOnly" in welcome.headers["set-cookie"] and "SameSite=Strict" in welcome.headers["set-cookie"]
    assert browser.get("/sql?sql=SELECT+1").status_code == 200  # the cookie carries it now


# --- hostile contents -------------------------------------------------------------------------------

def test_hostile_contents_are_inert(hostile_archive):
    client = TestClient(create_app(hostile_archive), base_url=LOCAL)
    pages = {
        "explore": client.get("/", params=[("q", "evil"), ("q", "Bourita"), ("split", "source")]),
        "article": client.get(f"/article/{article_id('hostile1')}"),
        "big": client.get(f"/article/{article_id('hostile2')}"),
        "archive": client.get("/archive"),
        "sql": client.get("/sql", params={"sql": "SELECT title, source, url FROM articles"}),
    }
    for name, page in pages.items():
        assert page.status_code == 200, name
        for tag, attrs in tags(page.text):
            assert tag not in ("script", "img", "iframe", "object", "embed"), (name, tag, attrs)
            assert not any(k.startswith("on") for k in attrs), (name, tag, attrs)
            for key in ("href", "src", "action", "xlink:href"):
                assert not (attrs.get(key) or "").strip().lower().startswith("javascript:"), (name, tag, attrs)
        assert "&lt;script&gt;" in page.text or name in ("archive", "big"), name
    assert HOSTILE_TITLE not in pages["explore"].text and HOSTILE_SOURCE not in pages["archive"].text
    article = pages["article"].text
    assert "javascript:alert(7)" in article and 'href="javascript' not in article  # shown, not a link
    for name, page in pages.items():  # a right-to-left override only inside an element that isolates it (dir=)
        overrides = Overrides()
        overrides.feed(page.text)
        assert overrides.unisolated == [], (name, overrides.unisolated[:3])
    assert len(pages["explore"].content) < BIG_TITLE_CHARS / 4  # the 1 MB title is cut in lists
    assert "{{ 7*7 }}" in pages["article"].text or "{{ 7*7 }}" in article


# --- /sql -------------------------------------------------------------------------------------------

def test_sql_pages_and_cookbook(client):
    from toolkit.sql.cookbook import RECIPES

    page = client.get("/sql")
    assert page.status_code == 200
    import html as htmllib

    links = {htmllib.unescape(a["href"]) for tag, a in tags(page.text) if tag == "a"}
    assert all(r.question in htmllib.unescape(page.text) for r in RECIPES)
    assert all(any(link.startswith("/sql?sql=") and urllib.parse.parse_qs(link[5:])["sql"] == [r.sql]
                   for link in links) for r in RECIPES)  # each recipe one click away
    recipe = client.get("/sql.json", params={"sql": RECIPES[0].sql})
    assert recipe.status_code == 200 and recipe.json()["result"]["rows"]
    first = client.get("/sql.json", params={"sql": "SELECT i FROM range(250) t(i) ORDER BY i"}).json()
    assert [r["i"] for r in first["result"]["rows"]] == list(range(100)) and first["result"]["more"]
    last = client.get("/sql.json", params={"sql": "SELECT i FROM range(250) t(i) ORDER BY i", "offset": "200"})
    assert [r["i"] for r in last.json()["result"]["rows"]] == list(range(200, 250))
    assert not last.json()["result"]["more"]
    html = client.get("/sql", params={"sql": "SELECT i FROM range(250) t(i) ORDER BY i"}).text
    assert 'rel="next"' in html and "offset=100" in html


def test_sql_keeps_the_commands_guards(client, tmp_path):
    target = tmp_path / "x.csv"
    for sql in (f"COPY (SELECT 1) TO '{target}'", "SELECT * FROM read_text('/etc/passwd')",
                "ATTACH '/tmp/x.db'", "SET enable_external_access = true"):
        page = client.get("/sql.json", params={"sql": sql})
        assert page.status_code == 400 and page.json()["error"].startswith("query"), sql
    assert not target.exists()


def test_sql_download_equals_the_command(client, news_archive, capsys, monkeypatch):
    sql = "SELECT id, title, source, published_date FROM articles ORDER BY id"
    csv = client.get("/sql.csv", params={"sql": sql})
    assert csv.status_code == 200 and "attachment" in csv.headers["content-disposition"]
    command = run_in_process(capsys, monkeypatch, ["sql", "--archive", str(news_archive), "--format", "csv", sql])
    assert command.code == 0 and csv.text == command.out
    parquet = client.get("/sql.parquet", params={"sql": sql})
    import pyarrow.parquet as pq
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == len(news_records())


def test_sql_is_cancelled_after_the_timeout(news_archive):
    client = TestClient(create_app(news_archive, sql_timeout=0.2), base_url=LOCAL)
    slow = "SELECT count(*) FROM range(2000000000) a(i) WHERE i % 7 = 3"  # seconds: it ends, even uncancelled
    page = client.get("/sql", params={"sql": slow})
    assert page.status_code == 400 and "longer than 0.2 s and was cancelled" in page.text
    download = client.get("/sql.csv", params={"sql": slow})
    assert download.status_code == 400 and "cancelled" in download.text
    assert client.get("/sql.json", params={"sql": "SELECT 1 AS one"}).json()["result"]["rows"] == [{"one": 1}]


# --- versions ---------------------------------------------------------------------------------------

def test_one_version_per_page_while_a_batch_is_appended(news_archive, tmp_path, monkeypatch):
    """The append lands while the page is being made: the page still shows one version (its
    numbers are version 1's), the writer is not blocked, and a reload shows version 2."""
    import shutil

    import toolkit.serve.app as app_module
    from toolkit.archive import append

    root = tmp_path / "archive"
    shutil.copytree(news_archive, root, ignore=shutil.ignore_patterns("search-index*", ".search-index*"))
    batch = write_records(tmp_path / "more.jsonl", [
        {"id": article_id(f"more{i}"), "source": "Le Matin", "language": "fr", "published_date": "2024-03-05",
         "title": f"Bourita encore {i}", "text": "Bourita à Rabat. " + filler(200 + i)} for i in range(5)])
    client = TestClient(create_app(root), base_url=LOCAL)
    before = client.get("/index.json", params={"q": "Bourita"}).json()
    real = app_module.explore_data
    appended = []

    def append_midway(*args, **kwargs):
        if not appended:
            appended.append(append([batch], archive=root).version)
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "explore_data", append_midway)
    during = client.get("/index.json", params={"q": "Bourita", "by": "week"})  # (not an answer kept from before)
    assert appended == [2]
    assert during.status_code == 200 and during.json()["version"] == 1
    assert during.json()["summary"] == before["summary"]
    after = client.get("/index.json", params={"q": "Bourita"}).json()
    assert after["version"] == 2
    assert after["summary"][0]["matches"] == before["summary"][0]["matches"] + 5
    pinned = client.get("/index.json", params={"q": "Bourita", "as_of": "1"}).json()
    assert pinned["version"] == 1 and pinned["summary"] == before["summary"]


def test_no_route_writes_into_the_archive_tables(news_archive, client):
    def tables() -> dict[str, float]:
        return {str(p): p.stat().st_mtime for name in ("articles", "batches", "quarantine")
                for p in Path(news_archive, name).rglob("*")}

    before = tables()
    for path in ("/?q=Bourita", "/archive", "/sql?sql=SELECT+1", f"/article/{article_id('fr1')}",
                 "/attention.csv?q=Rabat", "/sql.csv?sql=FROM+articles", "/chart.png?q=Rabat"):
        assert client.get(path).status_code == 200, path
    assert tables() == before


def test_a_20_mb_article_renders_its_first_part(tmp_path):
    from tests.serve.conftest import write_records
    from toolkit.archive import append

    text = ("Bourita " + "mot " * 1_000 + "\n\n") * 5_000  # 20 MB
    root = tmp_path / "archive"
    append([write_records(tmp_path / "big.jsonl", [
        {"id": article_id("big"), "source": "Big", "language": "fr", "published_date": "2024-03-04",
         "title": "Un très long article", "text": text}])], archive=root)
    client = TestClient(create_app(root), base_url=LOCAL)
    page = client.get(f"/article/{article_id('big')}")
    assert page.status_code == 200 and len(page.content) < 1_000_000
    assert "Show all" in page.text and f"of {len(text):,} characters" in page.text
    whole = client.get(f"/article/{article_id('big')}", params={"all": "1"})
    assert whole.status_code == 200 and len(whole.content) > len(text) and "Show all" not in whole.text


def test_too_many_buckets_for_a_chart_or_a_page(client, monkeypatch):
    """Days over years, split by outlet, are tens of thousands of points: no chart (seconds to draw,
    megabytes of SVG), the first rows in the page, all of them in the CSV."""
    import toolkit.serve.app as app_module
    from toolkit.serve import charts

    params = {"q": "Rabat", "by": "day", "split": "source"}
    everything = client.get("/index.json", params=params).json()["attention"]
    monkeypatch.setattr(charts, "MAX_BUCKETS", len(everything) - 1)
    monkeypatch.setattr(app_module, "TABLE_ROWS", 3)
    page = client.get("/", params=params).text
    assert "<svg" not in page and "points are too many for a chart" in page
    table = page[page.index('id="attention"'):page.index('id="outlets"')]
    assert table.count("<tr>") == 1 + 3 and f"The first 3 rows of {len(everything)}" in table
    assert client.get("/attention.csv", params=params).text.count("\n") == 1 + len(everything)
    assert client.get("/chart.svg", params=params).status_code == 400


def test_a_download_without_a_query_is_one_line(client):
    for path in ("/attention.csv", "/chart.svg", "/terms.parquet"):
        response = client.get(path)
        assert response.status_code == 400 and response.text.count("\n") == 1 and "no query" in response.text


def test_an_archive_on_a_read_only_file_system_is_served(news_archive, mounted, tmp_path, monkeypatch):
    """An archive mounted read-only (a shared copy, a snapshot disk): every page answers, the search
    index goes to the user's cache, and nothing is written under the archive."""
    import shutil
    import subprocess

    point = mounted("size=64m")
    root = point / "archive"
    shutil.copytree(news_archive, root, ignore=shutil.ignore_patterns("search-index*", ".search-index*"))
    assert subprocess.run(["mount", "-o", "remount,ro", str(point)], capture_output=True).returncode == 0
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    client = TestClient(create_app(root), base_url=LOCAL)
    for path in ("/?q=Bourita", "/archive", f"/article/{article_id('fr0')}", "/sql?sql=SELECT+count(*)+FROM+articles"):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
    assert client.get("/index.json", params={"q": "Bourita"}).json()["summary"][0]["matches"] > 0
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert any((tmp_path / "cache" / "newsarchive" / "search").iterdir())
