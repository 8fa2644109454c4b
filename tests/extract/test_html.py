"""HTML pages through trafilatura: metadata, main text, canonical URL, site name, language."""

from __future__ import annotations

import hashlib

from tests.extract.conftest import run_extract, write_page

ARTICLE_FR = [
    "Le Maroc a lancé jeudi sa campagne nationale de vaccination contre le Covid-19, avec l'objectif "
    "de vacciner&nbsp;80% de la population adulte dans les prochains mois.",
    "Les premières doses ont été administrées au personnel de santé, aux autorités publiques et aux "
    "enseignants âgés de plus de 45 ans, selon le ministère de la Santé.",
    "La vaccination est gratuite et se déroule sur rendez-vous, après une inscription par SMS au numéro "
    "dédié, dans des centres ouverts dans toutes les provinces du Royaume.",
]

AR_PARAGRAPHS = [
    "أعلنت وزارة الصحة اليوم الخميس عن انطلاق الحملة الوطنية للتلقيح ضد فيروس كورونا في جميع جهات "
    "المملكة.",
    "وتشمل المرحلة الأولى العاملين في القطاع الصحي والسلطات العمومية والأشخاص المسنين.",
]


def html_page(*, title: str = "Vaccination : le Maroc lance sa campagne nationale",
              canonical: str | None = "https://www.medias24.example/2021/01/28/vaccination-maroc/",
              site_name: str | None = "Médias24", date: str | None = "2021-01-28T18:30:00+01:00",
              authors: str | None = "Amina Alaoui; Karim Bennani", paragraphs: list[str] = ARTICLE_FR,
              lang: str = "fr", charset: str = "utf-8", title_suffix: str = " | Site") -> str:
    head = [f'<meta charset="{charset}">', f"<title>{title}{title_suffix}</title>"]
    if canonical:
        head.append(f'<link rel="canonical" href="{canonical}">')
    if site_name:
        head.append(f'<meta property="og:site_name" content="{site_name}">')
    head.append(f'<meta property="og:title" content="{title}">')
    if authors:
        head.append(f'<meta name="author" content="{authors}">')
    if date:
        head.append(f'<meta property="article:published_time" content="{date}">')
    head.append('<meta name="description" content="Le chapeau de l\'article.">')
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f'<!DOCTYPE html><html lang="{lang}"><head>{"".join(head)}</head><body>'
            '<nav><a href="/">Accueil</a> <a href="/economie">Economie</a> <a href="/sport">Sport</a></nav>'
            f"<article><h1>{title}</h1>{body}</article>"
            "<footer>© Tous droits réservés. Mentions légales. Contact.</footer></body></html>")


def test_html_page_round_trips_to_a_record(tmp_path):
    write_page(tmp_path, html_page(), "article.html")
    run = run_extract(tmp_path)
    assert run.report.exit_code == 0 and run.report.formats == {"html": 1}
    [record] = run.records
    assert record["title"] == "Vaccination : le Maroc lance sa campagne nationale"
    assert record["source"] == "Médias24"
    assert record["published_date"] == "2021-01-28"
    assert record["authors"] == ["Amina Alaoui", "Karim Bennani"]
    assert record["url"] == "https://www.medias24.example/2021/01/28/vaccination-maroc/"
    key = "https://medias24.example/2021/01/28/vaccination-maroc"  # id rule 2: www. and the last / folded
    assert record["id"] == hashlib.sha256(key.encode()).hexdigest()[:32]
    assert record["language"] == "fr"
    assert record["description"] == "Le chapeau de l'article."
    expected = [p.replace("&nbsp;", " ") for p in ARTICLE_FR]
    assert record["text"].split("\n\n") == expected  # no title repeated, no nav, no footer, no NBSP
    assert "aggregator" not in record


def test_without_site_name_the_source_is_the_host(tmp_path):
    write_page(tmp_path, html_page(site_name=None, title="Un titre sans nom de site", title_suffix=""), "a.htm")
    [record] = run_extract(tmp_path).records
    assert record["source"] == "medias24.example"


def test_non_ascii_canonical_url_is_percent_encoded(tmp_path):
    url = "https://www.hespress.example/مجتمع/التلقيح-2021.html#comments"
    paragraphs = AR_PARAGRAPHS
    write_page(tmp_path, html_page(canonical=url, site_name="هسبريس", title="انطلاق حملة التلقيح",
                                   paragraphs=paragraphs, lang="ar"), "ar.html")
    [record] = run_extract(tmp_path).records
    assert record["url"].isascii() and "#" not in record["url"]
    assert record["url"].startswith("https://www.hespress.example/%D9%85%D8%AC%D8%AA%D9%85%D8%B9/")
    assert record["language"] == "ar" and record["source"] == "هسبريس"


def test_declared_legacy_charset_is_honoured(tmp_path):
    paragraphs = AR_PARAGRAPHS
    page = html_page(charset="windows-1256", title="انطلاق حملة التلقيح", paragraphs=paragraphs, lang="ar",
                     site_name="هسبريس", authors=None)
    write_page(tmp_path, page.encode("cp1256"), "legacy.html")
    [record] = run_extract(tmp_path).records
    assert record["title"] == "انطلاق حملة التلقيح"
    assert record["text"].startswith("أعلنت وزارة الصحة")


def test_page_without_a_date_is_rejected(tmp_path):
    write_page(tmp_path, html_page(date=None, canonical="https://example.org/article"), "nodate.html")
    run = run_extract(tmp_path)
    [reject] = run.rejects
    assert reject == {"input": str(tmp_path / "in" / "nodate.html"), "record": None,
                      "reason": "no publication date found on the page"}


def test_empty_html_is_rejected(tmp_path):
    write_page(tmp_path, "<html><head><title>x</title></head><body></body></html>", "empty.html")
    [reject] = run_extract(tmp_path).rejects
    assert "no article text" in reject["reason"] or "empty" in reject["reason"]


def test_auto_format_recognises_html_inside_a_txt_file(tmp_path):
    write_page(tmp_path, "\n  " + html_page(), "saved-page.txt")
    run = run_extract(tmp_path)
    assert run.report.formats == {"html": 1}
    assert run.records[0]["source"] == "Médias24"


def test_forcing_the_maghress_format_on_html_rejects_it(tmp_path):
    page = write_page(tmp_path, html_page(), "article.html")
    run = run_extract(tmp_path, [page], fmt="maghress")  # a file named on the command line is always read
    assert run.rejects[0]["reason"].startswith("no publication line")
