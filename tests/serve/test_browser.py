"""The pages in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright, against
a real `newsarchive serve` subprocess over a small archive built here (French, Arabic, hostile).

One browser and one server for the module. Without Chromium the module is skipped with how to
install it, except under CI=true (.ci/run installs it), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import article_id

CHROMIUM = os.environ.get("NEWSARCHIVE_CHROMIUM", "/usr/bin/chromium")
HOW = f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) to run the browser tests"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[test]' to run the browser tests"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return HOW
    return None


if _missing():
    if os.environ.get("CI"):  # CI runs every check; .ci/run installs chromium
        pytest.fail(f"{_missing()} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(_missing(), allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from tests.serve.conftest import Server  # noqa: E402

SLOW_SQL = "SELECT count(*) FROM range(100000000000) a(i) WHERE i % 7 = 3"


@pytest.fixture(scope="module")
def server(hostile_archive):
    serving = Server("--archive", str(hostile_archive), "--sql-timeout", "1")
    httpx.get(f"{serving.url}/?q=warm", timeout=120)  # the first page builds the search index
    yield serving
    code, _, err = serving.stop()
    assert code == 130, err


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.dialogs = []
    tab.errors = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()


def shot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_type_a_query_and_see_counts(page, server, tmp_path):
    page.goto(server.url + "/")
    box = page.get_by_label("Query", exact=True)
    box.fill("Rabat")
    box.press("Enter")
    page.wait_for_url("**/?q=Rabat*")
    expected = httpx.get(f"{server.url}/index.json", params={"q": "Rabat"}).json()["summary"][0]
    expect(page.locator("#summary td.matches")).to_have_text(f"{expected['matches']:,}")
    expect(page.locator("#summary td.articles")).to_have_text(f"{expected['articles']:,}")
    assert expected["matches"] == 18
    shot(page, tmp_path, "explore")


def test_the_charts_marks_are_the_buckets(page, server, tmp_path):
    for params in ("q=Bourita&by=week", "q=Bourita&q=Rabat&by=day", "q=Rabat&by=week&split=language"):
        page.goto(f"{server.url}/?{params}")
        buckets = httpx.get(f"{server.url}/index.json?{params}").json()["attention"]
        marks = page.locator("#chart g.mark-symbol.role-mark path")
        assert marks.count() == len(buckets) > 0, params
    shot(page, tmp_path, "chart")


def test_open_an_article_and_follow_its_cluster(page, server, tmp_path):
    from toolkit.sql import VIEWS

    if "near_duplicates" not in VIEWS:
        pytest.skip("this archive has no near-duplicate clusters yet (the clusters stage is not merged)")
    page.goto(f"{server.url}/?q=Casablanca&copies=all")
    page.locator("#samples a.title", has_text="Le port de Casablanca bat son record").click()
    page.wait_for_url(f"**/article/{article_id('wire0')}*")
    copy = page.locator("#cluster a", has_text="Casablanca : record historique au port")
    expect(copy).to_have_count(1)
    copy.click()
    page.wait_for_url(f"**/article/{article_id('wire1')}*")
    expect(page.locator("#cluster a", has_text="Le port de Casablanca bat son record")).to_have_count(1)
    shot(page, tmp_path, "cluster")


def test_open_an_article(page, server, tmp_path):
    page.goto(f"{server.url}/?q=Bourita&language=fr")
    first = page.locator("#samples ol.samples a.title").first
    title = first.inner_text()
    first.click()
    page.wait_for_url("**/article/*")
    assert page.locator("h1").inner_text().startswith(title.rstrip("…"))
    expect(page.locator("#cluster h2")).to_contain_text("Near-duplicates")
    links = page.locator("#cluster a")
    for i in range(links.count()):  # every member of the cluster opens (clusters come from the catalog)
        href = links.nth(i).get_attribute("href")
        assert httpx.get(server.url + href).status_code == 200
    shot(page, tmp_path, "article")


def test_downloaded_csv_equals_the_command(page, server, hostile_archive, tmp_path):
    page.goto(f"{server.url}/?q=Bourita&by=week&split=source")
    with page.expect_download() as info:
        page.locator("#attention a", has_text="CSV").click()
    downloaded = Path(info.value.path()).read_bytes()
    command = subprocess.run([sys.executable, "-m", "toolkit", "attention", "Bourita", "--archive",
                              str(hostile_archive), "--by", "week", "--split", "source", "--format", "csv"],
                             capture_output=True, check=True)
    assert downloaded == command.stdout and downloaded.count(b"\n") > 3


def test_sql_runs_and_hits_the_timeout(page, server, tmp_path):
    page.goto(server.url + "/sql")
    sql = "SELECT source, count(*) AS n FROM articles GROUP BY ALL ORDER BY n DESC, source"
    page.get_by_label("One read-only query", exact=False).fill(sql)
    page.get_by_role("button", name="Run").click()
    rows = httpx.get(f"{server.url}/sql.json", params={"sql": sql}).json()["result"]["rows"]
    expect(page.locator("#result table tbody tr")).to_have_count(len(rows))
    expect(page.locator("#result table tbody tr").first).to_have_text(f"{rows[0]['source']}{rows[0]['n']}")
    shot(page, tmp_path, "sql")
    page.get_by_label("One read-only query", exact=False).fill(SLOW_SQL)
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#error")).to_contain_text("longer than 1 s and was cancelled")
    page.locator("#cookbook a").first.click()
    expect(page.locator("#result table tbody tr").first).to_be_visible()


def test_hostile_archive_runs_nothing(page, server, tmp_path):
    urls = ["/?q=evil&q=Bourita&split=source", f"/article/{article_id('hostile1')}",
            f"/article/{article_id('hostile2')}", "/archive", "/sql?sql=SELECT+title,+source,+url+FROM+articles"]
    for url in urls:
        page.goto(server.url + url)
        assert page.evaluate("window.__pwned") is None, url
        assert page.evaluate("document.querySelectorAll('script, img, iframe, object, embed').length") == 0, url
        assert page.evaluate("[...document.querySelectorAll('*')].filter(e => [...e.attributes]"
                             ".some(a => a.name.startsWith('on'))).length") == 0, url
        assert page.evaluate("[...document.querySelectorAll('a')].filter(a => a.protocol === 'javascript:')"
                             ".length") == 0, url
    assert page.dialogs == [] and page.errors == []
    page.goto(f"{server.url}/article/{article_id('hostile1')}")
    expect(page.locator("dd.url a")).to_have_count(0)  # javascript: is shown as text, not a link
    expect(page.locator("dd.url")).to_contain_text("javascript:alert(7)")
    shot(page, tmp_path, "hostile")


def test_arabic_article_right_to_left(page, server, tmp_path):
    page.goto(f"{server.url}/article/{article_id('ar0')}")
    assert page.evaluate("getComputedStyle(document.querySelector('#text')).direction") == "rtl"
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).direction") == "rtl"
    shot(page, tmp_path, "arabic")


def test_phone_width_without_horizontal_scroll(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        for name, url in {"explore": "/?q=Bourita&q=Rabat&split=source", "archive": "/archive",
                          "article": f"/article/{article_id('hostile2')}",
                          "sql": "/sql?sql=SELECT+*+FROM+articles"}.items():
            page.goto(server.url + url)
            width, client = page.evaluate("[document.documentElement.scrollWidth, "
                                          "document.documentElement.clientWidth]")
            assert width <= client, (name, width, client)
            shot(page, tmp_path, f"phone-{name}")
    finally:
        context.close()


def test_every_control_has_a_label(page, server):
    for url in ("/?q=Bourita", "/sql"):
        page.goto(server.url + url)
        unlabeled = page.evaluate("[...document.querySelectorAll('input, select, textarea')]"
                                  ".filter(e => e.labels.length === 0).map(e => e.name)")
        assert unlabeled == [], url
