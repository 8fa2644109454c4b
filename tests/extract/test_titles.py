"""Headlines of HTML pages whose only <h1> is a label (a section name, the site's logo), not the headline.

trafilatura takes a page's lone <h1> as its title when the page gives no og:title, twitter:title or
JSON-LD headline; on Mozilla Readability's test pages (WebMD: "Allergies Health Center") and on
htmldate's and the article-extraction benchmark's pages (logos: "L-Mag", "엔터 미디어") that <h1> is
not the headline, the <title> holds it. Pages written for the project, in English, French, Arabic
and German; and the pages where the <h1> is the headline keep it.
"""

from __future__ import annotations

import pytest

from tests.extract.conftest import run_extract, write_page

EN = ["Children who were given peanut products before their first birthday were far less likely to develop "
      "a peanut allergy by the age of five, according to a study published on Monday.",
      "The researchers followed more than six hundred infants at high risk of allergy and say parents should "
      "talk to their doctor before introducing peanuts, rather than avoiding them altogether."]
FR = ["Le Maroc a lancé jeudi sa campagne nationale de vaccination contre le Covid-19, en commençant par le "
      "personnel de santé et les personnes âgées de plus de 75 ans, a annoncé le ministère.",
      "La vaccination est gratuite et se déroule sur rendez-vous, après une inscription par SMS, dans des "
      "centres ouverts dans toutes les provinces du Royaume."]
AR = ["أعلنت وزارة الصحة اليوم الخميس عن انطلاق الحملة الوطنية للتلقيح ضد فيروس كورونا في جميع جهات المملكة، "
      "ودعت المواطنين المعنيين إلى التسجيل عبر الرسائل النصية القصيرة.",
      "وتشمل المرحلة الأولى العاملين في القطاع الصحي والسلطات العمومية والأشخاص المسنين."]
DE = ["Die Badeseen in Oberbayern haben in diesem Sommer so viele Gäste gezählt wie nie zuvor. Am Starnberger "
      "See waren die Parkplätze an fast jedem Wochenende überfüllt.",
      "Die Gemeinden reagieren darauf mit größeren Bussen und zusätzlichen Rettungsschwimmern."]


def page(*, title: str, h1: str, paragraphs: list[str], lang: str, head: str = "",
         canonical: str | None = None) -> str:
    """An article page without og:title: <title>, one <h1> above the article, a date, a canonical link."""
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>{link}{head}'
            '<meta property="article:published_time" content="2021-01-28T10:00:00+01:00"></head><body>'
            f'<header><h1 class="site">{h1}</h1><nav><a href="/">1</a> <a href="/a">2</a></nav></header>'
            f"<main><article>{body}</article></main><footer>Contact</footer></body></html>")


def extract_page(tmp_path, html: str, **kwargs) -> dict:
    write_page(tmp_path, html, "article.html")
    run = run_extract(tmp_path, **kwargs)
    assert not run.rejects, run.rejects
    [record] = run.records
    return record


def test_a_section_name_in_the_only_h1_is_not_the_headline(tmp_path):
    headline = "Children Who Eat Peanuts Early Are Less Likely to Develop an Allergy"
    record = extract_page(tmp_path, page(
        title=headline, h1="Allergies Health Center", paragraphs=EN, lang="en",
        head='<meta property="og:site_name" content="Health Weekly">',
        canonical="https://www.healthweekly.example/allergies/peanuts-early"))
    assert record["title"] == headline
    assert record["source"] == "Health Weekly"
    assert record["text"].split("\n\n") == EN  # the label is not the body's first line either


@pytest.mark.parametrize(("title", "h1", "paragraphs", "lang", "canonical", "headline", "source"), [
    ("Le Maroc lance sa campagne de vaccination | Le Desk", "Le Desk", FR, "fr",
     "https://ledesk.ma/actualites/vaccination/", "Le Maroc lance sa campagne de vaccination", "Le Desk"),
    ("انطلاق الحملة الوطنية للتلقيح ضد فيروس كورونا - هسبريس", '<a href="https://www.hespress.com/">هسبريس</a>',
     AR, "ar",
     "https://www.hespress.com/societe/vaccination.html", "انطلاق الحملة الوطنية للتلقيح ضد فيروس كورونا",
     "هسبريس"),
    ("Rekordsommer an den Badeseen in Oberbayern – Seenland-Blog", "Seenland", DE, "de",
     "https://www.seenland-blog.de/2021/rekordsommer", "Rekordsommer an den Badeseen in Oberbayern",
     "Seenland-Blog"),
], ids=["fr logo", "ar logo", "de logo"])
def test_the_site_logo_in_the_only_h1_is_not_the_headline(tmp_path, title, h1, paragraphs, lang, canonical,
                                                          headline, source):
    record = extract_page(tmp_path, page(title=title, h1=h1, paragraphs=paragraphs, lang=lang,
                                         canonical=canonical), languages=["ar", "fr", "en", "de"])
    assert record["title"] == headline
    assert record["source"] == source  # the <title>'s other part, not the headline
    assert record["language"] == lang


@pytest.mark.parametrize(("title", "h1", "head"), [
    # the <h1> is the headline, shortened in the <title>
    ("Morocco starts vaccinating health workers - Morocco World News", "Morocco vaccinates", ""),
    # a short headline beside a site name the page does not declare
    ("Morocco vaccinates | The Morning Herald Daily News", "Morocco vaccinates", ""),
    # a short headline under a <title> that only names the page and the site
    ("Accueil | Le Desk", "Vaccination : c'est parti", ""),
    # a page that gives its headline (og:title) agrees with its <h1>: trafilatura's choice stands
    ("Le calendrier complet des rendez-vous au Maroc", "Vaccination : c'est parti",
     '<meta property="og:title" content="Vaccination : c\'est parti">'),
    # a long <h1> is a headline whatever the <title> says
    ("Le premier site d'information économique et politique au Maroc",
     "Le Maroc lance jeudi sa campagne nationale de vaccination", ""),
])
def test_an_h1_that_is_the_headline_is_kept(tmp_path, title, h1, head):
    record = extract_page(tmp_path, page(title=title, h1=h1, paragraphs=EN if "Morocco" in title else FR,
                                         lang="en" if "Morocco" in title else "fr", head=head,
                                         canonical="https://ledesk.ma/actualites/vaccination/"))
    assert record["title"] == h1


def test_a_section_name_that_shares_a_word_with_the_title_is_left_alone(tmp_path):
    """Not enough to tell a label from a kicker: trafilatura's <h1> stands."""
    record = extract_page(tmp_path, page(title="Peanut allergy: children who eat peanuts early are protected",
                                         h1="Allergy News", paragraphs=EN, lang="en",
                                         canonical="https://www.healthweekly.example/allergies/peanuts-early"))
    assert record["title"] == "Allergy News"
