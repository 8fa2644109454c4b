"""The outlet and the address of HTML pages (issue 14, section 2): pages written for the project."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.extract.conftest import run_extract
from toolkit.extract.outlet import clean_site_name, mirror_url, saved_from_url

FR_TEXT = ("Le Maroc a lancé jeudi sa campagne nationale de vaccination contre le Covid-19, en commençant par "
           "le personnel de santé et les personnes âgées de plus de 75 ans, a annoncé le ministère.")
AR_TEXT = ("أعلنت وزارة الصحة اليوم عن انطلاق المرحلة الثانية من الحملة الوطنية للتلقيح في مختلف جهات المملكة، "
           "ودعت المواطنين المعنيين إلى التسجيل عبر الرسائل النصية القصيرة من أجل الحصول على موعد.")
EN_TEXT = ("Morocco launched its national vaccination campaign on Thursday, starting with health workers, "
           "security forces and people over 75, the health ministry said in a statement.")


def page(headline: str, text: str, head: str = "", *, lang: str = "fr", before: str = "",
         date: str = "2021-01-28") -> str:
    return (f'{before}<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">{head}'
            f'<meta property="article:published_time" content="{date}T10:00:00+01:00"></head>'
            f"<body><article><h1>{headline}</h1><p>{text}</p><p>{text}</p></article></body></html>")


def extract_one(tmp_path, name: str, html: str, **kwargs) -> dict:
    folder = tmp_path / "in"
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    run = run_extract(tmp_path, **kwargs)
    assert run.report.rejected == 0, run.rejects
    [record] = run.records
    return record


@pytest.mark.parametrize(("raw", "url", "name"), [
    ("Copyright © 2021 Le Desk. All rights reserved.", None, "Le Desk"),
    ("Accueil | Le Desk", None, "Le Desk"),
    ("© 2010-2021 Le360 - Tous droits réservés", None, "Le360"),
    ("جميع الحقوق محفوظة © هسبريس 2020", None, "هسبريس"),
    ("Hespress | هسبريس", "https://www.hespress.com/x", "Hespress"),  # the part that names the host
    ("Home - Morocco World News", None, "Morocco World News"),
    ("TelQuel", None, "TelQuel"),
    ("ledesk.ma", "https://ledesk.ma/x", None),  # only a host: the caller falls back to the host
    ("https://www.ledesk.ma/", None, None),
    ("Le premier site d'information économique et politique au Maroc", "https://ledesk.ma/x", None),  # a slogan
    ("Accueil", None, None),
    ("Copyright ©", None, None),
])
def test_site_names_are_cleaned(raw, url, name):
    assert clean_site_name(raw, url) == name


def test_a_broken_head_still_gives_site_name_and_canonical_link(tmp_path):
    """The reported case: og:site_name and a canonical link after something that closes <head> early."""
    head = ("<title>Le Maroc vaccine</title><noscript><img src='https://px.example/p.gif'></noscript>"
            "<div id='gdpr'>Cookies</div><meta property='og:site_name' content='Le Desk'>"
            "<link rel='canonical' href='https://ledesk.ma/actualites/le-maroc-vaccine/'>")
    record = extract_one(tmp_path, "article.html", page("Le Maroc vaccine", FR_TEXT, head))
    assert (record["source"], record["url"]) == ("Le Desk", "https://ledesk.ma/actualites/le-maroc-vaccine/")


def test_french_copyright_and_title_suffix(tmp_path):
    head = ("<title>Accueil | Le Desk</title><meta name='copyright' content='Copyright © 2021 Le Desk. All rights "
            "reserved.'><meta property='og:url' content='https://ledesk.ma/actualites/vaccin/?utm_source=fb'>")
    record = extract_one(tmp_path, "a.html", page("Le Maroc vaccine", FR_TEXT, head))
    assert (record["source"], record["url"]) == ("Le Desk", "https://ledesk.ma/actualites/vaccin/")


def test_arabic_page_json_ld_publisher_and_main_entity(tmp_path):
    ld = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "name": "موقع إخباري مغربي مستقل يهتم بالشأن السياسي والاقتصادي والاجتماعي",
         "url": "https://www.hespress.com/"},
        {"@type": "NewsArticle", "headline": "انطلاق حملة التلقيح",
         "mainEntityOfPage": {"@type": "WebPage", "@id": "https://www.hespress.com/societe/vaccination-2021.html"},
         "publisher": {"@type": "Organization", "name": "هسبريس", "url": "https://www.hespress.com/"}},
    ]}
    head = f'<title>انطلاق حملة التلقيح</title><script type="application/ld+json">{json.dumps(ld)}</script>'
    record = extract_one(tmp_path, "a.html", page("انطلاق حملة التلقيح", AR_TEXT, head, lang="ar"))
    assert (record["source"], record["url"]) == ("هسبريس", "https://www.hespress.com/societe/vaccination-2021.html")
    assert record["language"] == "ar"


def test_english_saved_page_title_suffix_and_saved_from_comment(tmp_path):
    url = "https://www.moroccoworldnews.com/2021/01/vaccination-campaign/"
    before = f"<!-- saved from url=({len(url):04d}){url} -->\n"
    head = "<title>Morocco Launches Vaccination Campaign - Morocco World News</title>"
    record = extract_one(tmp_path, "saved.htm", page("Morocco Launches Vaccination Campaign", EN_TEXT, head,
                                                     lang="en", before=before))
    assert (record["source"], record["url"]) == ("Morocco World News", url)
    assert saved_from_url(before + "<html>") == url


def test_application_name_and_a_host_only_site_name(tmp_path):
    head = "<title>Vaccination</title><meta name='application-name' content='Médias24'>"
    assert extract_one(tmp_path / "a", "a.html", page("Vaccination", FR_TEXT, head))["source"] == "Médias24"
    head = ("<title>Vaccination</title><meta property='og:site_name' content='www.Le360.ma'>"
            "<link rel='canonical' href='https://fr.le360.ma/societe/vaccination'>")
    assert extract_one(tmp_path / "b", "a.html", page("Vaccination", FR_TEXT, head))["source"] == "fr.le360.ma"
    head = "<title>Vaccination</title><meta property='og:site_name' content='www.Le360.ma'>"  # and no URL
    assert extract_one(tmp_path / "c", "a.html", page("Vaccination", FR_TEXT, head))["source"] == "le360.ma"
    # a host is no name: --source names the outlet then
    record = extract_one(tmp_path / "d", "a.html", page("Vaccination", FR_TEXT, head), source="Le360")
    assert record["source"] == "Le360"


def test_wget_mirror_folders_give_the_address(tmp_path):
    name = "www.ledesk.ma/actualites/2021/le-maroc-vaccine/index.html"
    record = extract_one(tmp_path, name, page("Le Maroc vaccine", FR_TEXT, "<title>Le Maroc vaccine</title>"))
    assert record["url"] == "https://www.ledesk.ma/actualites/2021/le-maroc-vaccine/"
    assert record["source"] == "ledesk.ma"
    assert mirror_url("mirror/www.ledesk.ma/a.html") == "https://www.ledesk.ma/a.html"
    assert mirror_url("data.v2/pages/a.html") is None and mirror_url("/tmp/in/a.html") is None


def test_source_option_names_the_outlet_of_pages_that_name_none(tmp_path):
    html = page("Le Maroc vaccine", FR_TEXT, "<title>Le Maroc vaccine</title>")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.html").write_text(html, encoding="utf-8")
    run = run_extract(tmp_path, inputs=[folder])
    assert [r["reason"] for r in run.rejects] == [
        "no source: the page names no outlet (site name) and has no URL to take one from; "
        "name it with extract --source NAME"]
    [record] = run_extract(tmp_path, inputs=[folder], source=" Le  Desk ").records
    assert record["source"] == "Le Desk"
    # a page that names its outlet keeps it; --source beats the host of a page that names none
    named = page("Autre", FR_TEXT.replace("jeudi", "mardi"),
                 "<title>Autre</title><meta property='og:site_name' content='TelQuel'>")
    (folder / "b.html").write_text(named, encoding="utf-8")
    mirrored = folder / "www.ledesk.ma" / "c.html"
    mirrored.parent.mkdir()
    mirrored.write_text(page("Troisième", FR_TEXT.replace("jeudi", "vendredi"), "<title>Troisième</title>"),
                        encoding="utf-8")
    sources = {r["title"]: r["source"] for r in run_extract(tmp_path, inputs=[folder], source="Le Desk").records}
    assert sources == {"Le Maroc vaccine": "Le Desk", "Autre": "TelQuel", "Troisième": "Le Desk"}


def test_source_option_must_be_a_name(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.html").write_text(page("Titre", FR_TEXT), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "toolkit", "extract", str(folder), "-o", str(tmp_path / "o.jsonl"),
                           "--source", "  ", "-q"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--source" in done.stderr and "Traceback" not in done.stderr


def test_json_ld_article_url_gives_the_address(tmp_path):
    """A Spanish page whose only address is its JSON-LD article's `url` (no canonical link, no og:url)."""
    text = ("El Ayuntamiento de Valencia aprobó este martes el presupuesto para el próximo año, que incluye una "
            "inversión récord en transporte público y en la ampliación de los carriles bici.")
    ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Valencia aprueba su presupuesto",
          "url": "https://www.levante-emv.com/valencia/2021/01/28/presupuesto.html",
          "publisher": {"@type": "Organization", "name": "Levante-EMV"}}
    head = f'<title>Valencia aprueba su presupuesto</title><script type="application/ld+json">{json.dumps(ld)}</script>'
    record = extract_one(tmp_path, "a.html", page("Valencia aprueba su presupuesto", text, head, lang="es"))
    assert (record["source"], record["url"]) == ("Levante-EMV", ld["url"])
    assert record["language"] == "es"
