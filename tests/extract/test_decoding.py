"""Damaged bytes in real-language pages: a UTF-8 page with stray bytes stays UTF-8, NULs are dropped.

The pages are written for the project, in German, Polish, French and Arabic, as a news site would
serve them (UTF-8, declared in a meta tag); then one, a few or many bytes are damaged the way real
crawls are: a cp1252 quote (0x92) pasted into the template, a lone 0xFF, a cut character.
"""

from __future__ import annotations

import pytest

from tests.extract.conftest import run_extract, write_page
from tests.extract.test_html import html_page
from toolkit.extract.decode import decode

PAGES = {
    "de": dict(
        title="So schön war der Sommer: Rekordzahlen für Bayerns Seen",
        site_name="Süddeutsche Rundschau",
        paragraphs=[
            "Die Badeseen in Oberbayern haben in diesem Sommer so viele Gäste gezählt wie nie zuvor. "
            "Am Starnberger See und am Ammersee waren die Parkplätze an fast jedem Wochenende überfüllt.",
            "Die Gemeinden reagieren darauf mit größeren Bussen, längeren Öffnungszeiten der Strandbäder "
            "und zusätzlichen Rettungsschwimmern, die über die Wasserwacht eingestellt wurden.",
            "Für den nächsten Sommer prüfen die Landkreise eine Gebühr für Tagesgäste, die mit dem Auto "
            "anreisen; Anwohner und Gäste mit Übernachtung sollen davon befreit bleiben.",
        ],
    ),
    "pl": dict(
        title="Seria ataków na szpitale: Fundacja ostrzega przed kolejnymi",
        site_name="Gazeta Pomorska",
        paragraphs=[
            "W ciągu ostatniego tygodnia doszło do trzech ataków na systemy informatyczne szpitali w "
            "województwie pomorskim. Zespoły ratunkowe musiały przez kilka godzin pracować na papierowych kartach.",
            "Fundacja zajmująca się bezpieczeństwem cyfrowym ostrzega, że podobne ataki mogą się powtórzyć, "
            "jeżeli placówki nie zaktualizują oprogramowania i nie przeszkolą personelu.",
            "Ministerstwo zdrowia zapowiedziało dodatkowe środki na zabezpieczenia, ale dyrektorzy szpitali "
            "mówią, że pieniądze trafią do nich najwcześniej w przyszłym roku.",
        ],
    ),
    "fr": dict(
        title="Été record à Agadir : les hôtels affichent complet jusqu'en septembre",
        site_name="Le Courrier économique",
        paragraphs=[
            "Les hôteliers d'Agadir n'avaient pas connu une telle saison depuis plus d'une décennie. Le taux "
            "d'occupation a dépassé 92 % en juillet, porté par les touristes européens et marocains.",
            "Les professionnels réclament désormais davantage de liaisons aériennes et une meilleure desserte "
            "de l'aéroport, où les files d'attente se sont allongées pendant tout l'été.",
            "La région prévoit d'ouvrir deux nouveaux établissements l'année prochaine, dont un hôtel "
            "écologique près de la vallée du Paradis, à une trentaine de kilomètres de la côte.",
        ],
    ),
    "ar": dict(
        title="موسم سياحي قياسي في أكادير والفنادق ممتلئة حتى شتنبر",
        site_name="هسبريس",
        paragraphs=[
            "عرفت مدينة أكادير هذا الصيف موسما سياحيا غير مسبوق منذ أكثر من عشر سنوات، إذ تجاوزت نسبة ملء "
            "الفنادق اثنين وتسعين في المائة خلال شهر يوليوز.",
            "ويطالب المهنيون بمزيد من الرحلات الجوية وتحسين الولوج إلى المطار، حيث طالت طوابير الانتظار "
            "طيلة فصل الصيف.",
            "وتعتزم الجهة افتتاح مؤسستين فندقيتين جديدتين السنة المقبلة، من بينهما فندق بيئي قرب وادي الجنة.",
        ],
    ),
}
LANGUAGES = ["ar", "fr", "en", "de", "pl"]
BAD = (b"\x92", b"\xff", b"\xe9")  # a cp1252 quote, a byte no UTF-8 has, a cut 3-byte character


def damaged(language: str, bad_bytes: int) -> tuple[bytes, list[str]]:
    """The page as UTF-8 bytes with `bad_bytes` invalid bytes after spaces of its body, and the
    paragraphs as they should come out (each bad byte one U+FFFD)."""
    page = PAGES[language]
    paragraphs = []
    remaining = bad_bytes
    expected = []
    for text in page["paragraphs"]:
        words = text.split(" ")
        marked = []
        for i, word in enumerate(words):
            if remaining and i % 3 == 1:
                marked.append("\x00BAD" + word)
                remaining -= 1
            else:
                marked.append(word)
        paragraphs.append(" ".join(marked))
        expected.append(" ".join(marked).replace("\x00BAD", "\ufffd"))
    assert remaining == 0, "not enough words to damage"
    html = html_page(title=page["title"], site_name=page["site_name"], paragraphs=paragraphs, lang=language,
                     authors=None, canonical=f"https://news.example/{language}/article.html")
    data = html.encode("utf-8")
    for n in range(bad_bytes):
        data = data.replace(b"\x00BAD", BAD[n % len(BAD)], 1)
    return data, expected


@pytest.mark.parametrize("bad_bytes", [1, 5, 20], ids=["one", "a few", "many"])
@pytest.mark.parametrize("language", list(PAGES))
def test_a_utf8_page_with_bad_bytes_stays_utf8(tmp_path, language, bad_bytes):
    data, expected = damaged(language, bad_bytes)
    write_page(tmp_path, data, "article.html")
    run = run_extract(tmp_path, languages=LANGUAGES)
    [record] = run.records
    assert record["title"] == PAGES[language]["title"]  # not "So schÃ¶n", not "atakأ³w"
    assert record["source"] == PAGES[language]["site_name"]
    assert record["text"].split("\n\n") == expected
    assert record["language"] == language
    assert run.report.repairs == {"invalid UTF-8 bytes replaced": bad_bytes}
    assert f"invalid UTF-8 bytes replaced {bad_bytes} (1 page)" in run.report.summary()


@pytest.mark.parametrize(("language", "encoding"), [("fr", "cp1252"), ("de", "cp1252"), ("ar", "cp1256")])
def test_a_page_that_really_is_a_legacy_encoding_is_read_as_one(tmp_path, language, encoding):
    page = PAGES[language]
    html = html_page(title=page["title"], site_name=page["site_name"], paragraphs=page["paragraphs"],
                     lang=language, authors=None, charset="utf-8")  # a wrong declaration, as often
    write_page(tmp_path, html.encode(encoding), "legacy.html")
    run = run_extract(tmp_path, languages=LANGUAGES)
    [record] = run.records
    assert record["title"] == page["title"] and record["text"].split("\n\n") == page["paragraphs"]
    assert not run.report.repairs


def test_nuls_in_the_markup_are_dropped_as_browsers_do(tmp_path):
    """A Spanish news page with 22 NULs in its markup (real crawls have them) is extracted whole."""
    paragraphs = [
        "El Ayuntamiento de Valencia aprobó este martes el presupuesto para el próximo año, que incluye "
        "una inversión récord en transporte público y en la ampliación de los carriles bici.",
        "La oposición criticó que las partidas para vivienda social no crecen al mismo ritmo y anunció "
        "que presentará enmiendas durante el debate en el pleno del mes que viene.",
    ]
    html = html_page(title="Valencia aprueba un presupuesto récord para el transporte público",
                     site_name="Diario de Levante", paragraphs=paragraphs, lang="es", authors=None)
    data = html.encode("utf-8").replace(b"><", b">\x00\x00<", 11)  # between tags, where crawls have them
    assert data.count(0) == 22
    write_page(tmp_path, data, "noticia.html")
    run = run_extract(tmp_path)
    [record] = run.records
    assert record["language"] == "es" and record["text"].split("\n\n") == paragraphs
    assert run.report.repairs == {"NUL bytes dropped": 22}


def test_a_binary_file_is_still_rejected(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8 + bytes(400)
    write_page(tmp_path, png, "image.html")
    [reject] = run_extract(tmp_path).rejects
    assert reject["reason"].startswith("undecodable bytes:") and "no legacy encoding fits" in reject["reason"]


def test_decode_counts_what_it_repairs():
    text = "Zażółć gęślą jaźń, powiedział dyrektor szpitala w Gdańsku."
    data = text.encode("utf-8")
    one_bad = data.replace(b" powiedzia", b" \x92powiedzia")
    decoded = decode(one_bad)
    assert decoded.text == text.replace(" powiedzia", " \ufffdpowiedzia")
    assert (decoded.encoding, decoded.replaced, decoded.nuls) == ("utf-8", 1, 0)
    assert decode(data.replace(b" ", b" \x00")).repairs == {"NUL bytes dropped": text.count(" ")}
    # ASCII with one high byte is no evidence of UTF-8: the legacy reading is the likely one
    assert decode(b"Cafe au lait \xe9t\xe9").text.endswith(" été")
