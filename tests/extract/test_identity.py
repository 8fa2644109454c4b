"""Id rule 2: one article, one id, however its page was fetched (issue 13, section 1)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from io import BytesIO

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.extract.conftest import run_extract
from toolkit.extract.ids import (
    ID_RULE_VERSION,
    choose_url,
    clean_address,
    identity_key,
    record_id,
    registered_domain,
    same_site,
)

A = "https://www.ledesk.ma/actualites/le-maroc-lance-sa-campagne/"

SAME = [  # each pair must get one id
    ("http://www.ledesk.ma/actualites/x", "https://www.ledesk.ma/actualites/x"),  # scheme
    ("https://www.ledesk.ma/actualites/x", "https://ledesk.ma/actualites/x"),  # www.
    ("https://ledesk.ma:443/actualites/x", "https://ledesk.ma/actualites/x"),  # default port
    ("http://ledesk.ma:80/actualites/x", "https://ledesk.ma/actualites/x"),
    ("https://ledesk.ma/actualites/x#comments", "https://ledesk.ma/actualites/x"),  # fragment
    ("https://ledesk.ma/x?utm_source=twitter&utm_medium=social&utm_campaign=a", "https://ledesk.ma/x"),
    ("https://ledesk.ma/x?fbclid=IwAR0abc", "https://ledesk.ma/x"),
    ("https://ledesk.ma/x?gclid=Cj0KCQ", "https://ledesk.ma/x"),
    ("https://ledesk.ma/x?dclid=1&msclkid=2", "https://ledesk.ma/x"),
    ("https://ledesk.ma/x?mc_cid=abc&mc_eid=def", "https://ledesk.ma/x"),
    ("https://ledesk.ma/x?igshid=MzRl&_ga=2.1", "https://ledesk.ma/x"),
    ("https://lemonde.fr/article.html?xtor=RSS-3208", "https://www.lemonde.fr/article.html"),
    ("https://site.ma/news.php?id=12&utm_source=fb", "https://site.ma/news.php?id=12"),
    ("https://site.ma/news.php?b=2&a=1", "https://site.ma/news.php?a=1&b=2"),  # query order
    ("https://site.ma/x/amp", "https://site.ma/x"),  # AMP variants
    ("https://site.ma/x/amp/", "https://site.ma/x/"),
    ("https://site.ma/x?amp", "https://site.ma/x"),
    ("https://site.ma/x?amp=1", "https://site.ma/x"),
    ("https://site.ma/x?outputType=amp", "https://site.ma/x"),
    ("https://site.ma/x/", "https://site.ma/x"),  # trailing slash
    ("HTTPS://WWW.SITE.MA/x", "https://site.ma/x"),  # case of scheme and host
    ("https://site.ma/caf%c3%a9", "https://site.ma/café"),  # percent-escapes and their case
    ("https://site.ma//a//b", "https://site.ma/a/b"),  # doubled slashes
    ("https://hespress.com/مجتمع/123.html", "https://www.hespress.com/%D9%85%D8%AC%D8%AA%D9%85%D8%B9/123.html"),
    ("https://site.ma/news.php?12345", "https://site.ma/news.php?12345="),
    ("http://www.site.ma:80/x/amp/?utm_source=a&amp=1#top", "https://site.ma/x"),  # all at once
]

DIFFERENT = [  # each pair must get two ids
    ("https://ledesk.ma/actualites/x", "https://ledesk.ma/actualites/y"),  # paths
    ("https://ledesk.ma/a/x", "https://ledesk.ma/b/x"),
    ("https://site.ma/news.php?id=123", "https://site.ma/news.php?id=124"),  # meaningful parameters
    ("https://site.ma/news.php?12345", "https://site.ma/news.php?12346"),  # a bare parameter is one too
    ("https://site.ma/article.php?cid=5", "https://site.ma/article.php?cid=6"),  # courlan would strip cid
    ("https://site.ma/x?gallery=1", "https://site.ma/x?gallery=2"),  # and ga...
    ("https://site.ma/x?page=2", "https://site.ma/x"),
    ("https://ledesk.ma/x", "https://le360.ma/x"),  # sites
    ("https://news.site.ma/x", "https://sport.site.ma/x"),  # subdomains other than www.
    ("https://site.ma/x", "https://site.com/x"),
    ("https://site.ma:8080/x", "https://site.ma/x"),  # a port that is not the default
    ("https://site.ma/Article", "https://site.ma/article"),  # paths are case-sensitive
    ("https://site.ma/example", "https://site.ma/amp"),  # "amp" as the whole path is a page
    ("https://site.ma/x?amp=0&id=1", "https://site.ma/x?id=1"),  # amp=0 is not the AMP flag: kept
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_article_same_id(a, b):
    assert identity_key(a) == identity_key(b)
    assert record_id(a, "S", "2021-01-01", "T") == record_id(b, "Other", "2022-02-02", "Other title")


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_articles_different_ids(a, b):
    assert identity_key(a) != identity_key(b)
    assert record_id(a, "S", "2021-01-01", "T") != record_id(b, "S", "2021-01-01", "T")


def test_table_is_large_enough_and_the_rule_has_a_version():
    assert len(SAME) + len(DIFFERENT) >= 25 and ID_RULE_VERSION == 2


def test_the_key_is_an_https_url_and_the_id_its_hash():
    assert identity_key("http://www.ledesk.ma/x/?utm_source=a#f") == "https://ledesk.ma/x"
    assert record_id("http://www.ledesk.ma/x/", "", "", "") == hashlib.sha256(b"https://ledesk.ma/x").hexdigest()[:32]
    # records without a url keep rule 1's key: Maghress ids do not change
    key = b"Le360\n2020-11-09\nTitre"
    assert record_id(None, "Le360", "2020-11-09", "Titre") == hashlib.sha256(key).hexdigest()[:32]


@pytest.mark.parametrize(("declared", "fetched", "chosen"), [
    ("https://www.lemonde.fr/a.html", "http://lemonde.fr/a.html?utm_source=x", "https://www.lemonde.fr/a.html"),
    ("https://news.bbc.co.uk/a", "https://www.bbc.co.uk/a?x=1", "https://news.bbc.co.uk/a"),  # one site
    ("https://www.bbc.com/a", "https://www.bbc.co.uk/a", "https://www.bbc.co.uk/a"),  # two sites
    ("https://partner.example/a", "https://site.ma/a", "https://site.ma/a"),  # syndication elsewhere
    ("https://a.blogspot.com/p", "https://b.blogspot.com/p", "https://b.blogspot.com/p"),  # private suffix
    ("https://site.ma/", "https://site.ma/article-1", "https://site.ma/article-1"),  # home page: not the article
    ("https://site.ma/a", None, "https://site.ma/a"),
    (None, "https://site.ma/b", "https://site.ma/b"),
    ("not a url", "https://site.ma/b", "https://site.ma/b"),
])
def test_which_address_wins(declared, fetched, chosen):
    assert choose_url(declared, fetched) == chosen


def test_registered_domains():
    assert registered_domain("https://news.bbc.co.uk/x") == "bbc.co.uk"
    assert registered_domain("www.hespress.com") == "hespress.com"
    assert registered_domain("127.0.0.1") is None
    assert same_site("http://127.0.0.1/a", "http://127.0.0.1/b") and not same_site("http://127.0.0.1/", "http://10.0.0.1/")


def test_public_suffix_list_is_never_fetched():
    """The public suffix list comes from the installed package: a run with every socket refused works."""
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise SystemExit('network access attempted')\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\nsocket.getaddrinfo = refuse\n"
        "from toolkit.extract.ids import registered_domain, choose_url\n"
        "assert registered_domain('https://news.bbc.co.uk/a') == 'bbc.co.uk'\n"
        "assert choose_url('https://www.lemonde.fr/a', 'http://lemonde.fr/a') == 'https://www.lemonde.fr/a'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# --- one article, three ways of fetching it ---------------------------------------------------------

ARTICLE = [
    "Le Maroc a lancé jeudi sa campagne nationale de vaccination contre le Covid-19, en commençant par le "
    "personnel de santé, les forces de l'ordre et les personnes âgées de plus de 75 ans.",
    "Le ministère de la Santé a indiqué que plus de 2.800 centres de vaccination avaient été ouverts dans "
    "l'ensemble des régions du royaume, avec un objectif de 25 millions de personnes vaccinées.",
]
CANONICAL = "https://www.ledesk.ma/actualites/le-maroc-lance-sa-campagne-de-vaccination/"


def page(*, canonical: str | None, amp: bool = False) -> str:
    links = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    html_attr = ' amp lang="fr"' if amp else ' lang="fr"'
    return (f"<!DOCTYPE html><html{html_attr}><head><meta charset=\"utf-8\">"
            "<title>Le Maroc lance sa campagne de vaccination | Le Desk</title>"
            f"{links}<meta property=\"og:site_name\" content=\"Le Desk\">"
            '<meta property="article:published_time" content="2021-01-28T10:00:00+01:00"></head><body>'
            "<article><h1>Le Maroc lance sa campagne de vaccination</h1>"
            + "".join(f"<p>{p}</p>" for p in ARTICLE) + "</article></body></html>")


def test_saved_html_warc_with_trackers_and_amp_page_give_one_id(tmp_path):
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "article.html").write_text(page(canonical=CANONICAL), encoding="utf-8")

    crawl = tmp_path / "crawl"
    crawl.mkdir()
    with open(crawl / "crawl.warc.gz", "wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        # crawled through a shortlink with trackers: the page's canonical link (same site) is its address
        writer.write_record(writer.create_warc_record(
            "http://ledesk.ma/?p=4521&utm_source=twitter&fbclid=x", "response",
            payload=BytesIO(page(canonical=CANONICAL).encode()), http_headers=headers,
            warc_headers_dict={"WARC-Date": "2021-01-28T12:00:00Z"}))
        # another crawl, of a copy without canonical link: the target URI is its only address
        writer.write_record(writer.create_warc_record(
            "http://ledesk.ma/actualites/le-maroc-lance-sa-campagne-de-vaccination?utm_source=twitter&fbclid=x",
            "response", payload=BytesIO(page(canonical=None).encode()), http_headers=headers,
            warc_headers_dict={"WARC-Date": "2021-01-29T12:00:00Z"}))

    amp = tmp_path / "amp"
    amp.mkdir()  # an AMP page saved by a browser: its canonical link is missing, the comment has its address
    (amp / "amp.html").write_text(
        "<!-- saved from url=(0071)https://www.ledesk.ma/actualites/"
        "le-maroc-lance-sa-campagne-de-vaccination/amp/ -->\n"
        + page(canonical=None, amp=True), encoding="utf-8")

    ids = set()
    for folder in (saved, crawl, amp):
        run = run_extract(tmp_path / f"run-{folder.name}", inputs=[folder])
        [record] = run.records
        assert run.report.rejected == 0 and record["source"] == "Le Desk"
        assert "utm_source" not in record["url"] and "fbclid" not in record["url"]
        ids.add(record["id"])
    # the crawl's two copies were found to be one article by their id, not only by their text
    assert [d.why for d in run_extract(tmp_path / "run-again", inputs=[crawl]).report.duplicates] == ["same id"]
    assert len(ids) == 1
    assert ids == {record_id(CANONICAL, "", "", "")}


@pytest.mark.parametrize(("head", "url"), [
    # a syndicated copy: the canonical link names the partner that first published it
    ('<link rel="canonical" href="https://www.partner.example/wire/123">', "https://le360.ma/wire/le-maroc-vaccine"),
    # ... and the page's own og:url on the fetched site is its address
    ('<link rel="canonical" href="https://www.partner.example/wire/123">'
     '<meta property="og:url" content="https://le360.ma/societe/le-maroc-vaccine">',
     "https://le360.ma/societe/le-maroc-vaccine"),
    # a canonical link to the home page names the site, not the article
    ('<link rel="canonical" href="https://le360.ma/">', "https://le360.ma/wire/le-maroc-vaccine"),
    # relative canonical links are resolved against the fetched address
    ('<link rel="canonical" href="/societe/le-maroc-vaccine">', "https://le360.ma/societe/le-maroc-vaccine"),
])
def test_a_crawled_page_keeps_its_own_address(head, url):
    from toolkit.extract.html import parse_html

    html = page(canonical=None).replace("<title>", head + "<title>")
    parsed = parse_html(html.encode(), url="https://le360.ma/wire/le-maroc-vaccine?utm_source=rss")
    assert clean_address(parsed.url) == url


def test_rekey_moves_a_version_1_record_to_version_2():
    from toolkit.extract.ids import rekey

    url = "http://www.ledesk.ma/x/?utm_source=a"
    old = {"id": hashlib.sha256(url.encode()).hexdigest()[:32], "source": "Le Desk", "title": "T",
           "published_date": "2021-01-28", "url": url}
    new = rekey(old)
    assert new["id"] == record_id("https://ledesk.ma/x", "", "", "") != old["id"]
    assert {k: v for k, v in new.items() if k != "id"} == {k: v for k, v in old.items() if k != "id"}
    maghress = {"id": record_id(None, "Le360", "2020-11-09", "Titre"), "source": "Le360", "title": "Titre",
                "published_date": "2020-11-09"}
    assert rekey(maghress) == maghress
