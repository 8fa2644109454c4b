"""Maghress dumps: the seed's exact record, every robustness case, every reject reason."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from tests.extract.conftest import (
    AR,
    AR_BODY,
    FR,
    FR_BODY,
    SAMPLE_PAGES,
    SEED_NAME,
    SEED_SHARED,
    dump,
    run_extract,
)
from toolkit.core.schema import load_schema
from toolkit.extract import EDITIONS, Edition, MaghressParser, PageRejected, parse_maghress

SEED_TITLE = "Maroc-US : le partenariat stratégique bilatéral au centre des entretiens de Bourita-Blinken"


def test_seed_record_is_exactly_the_issues(tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(SAMPLE_PAGES / SEED_NAME, tmp_path / "in" / SEED_NAME)
    run = run_extract(tmp_path)
    assert run.report.exit_code == 0
    [record] = run.records
    assert record["title"] == SEED_TITLE
    assert record["source"] == "Barlamane"
    assert record["published_date"] == "2021-06-28"
    assert record["language"] == "fr"
    assert record["aggregator"] == "maghress"
    assert "url" not in record
    paragraphs = record["text"].split("\n\n")
    assert len(paragraphs) == 7
    assert paragraphs[0].startswith("Le ministre des Affaires étrangères, de la Coopération africaine")
    assert paragraphs[-1].endswith("dans un voisinage empreint de turbulences.")
    # the body is exactly the seven lines between the publication line and the footer, nothing else
    raw = (SAMPLE_PAGES / SEED_NAME).read_text(encoding="utf-8").splitlines()
    start = raw.index("Publié dans Barlamane le 28 - 06 - 2021") + 1
    end = raw.index("Cliquez ici pour lire l'article depuis sa source.")
    assert paragraphs == [line.strip() for line in raw[start:end] if line.strip()]
    for furniture in ("Merci d'avoir signalé", "Cliquez ici", "HCP : hausse", "\u00a0", "Publié dans"):
        assert furniture not in record["text"]
    key = f"Barlamane\n2021-06-28\n{SEED_TITLE}".encode()
    assert record["id"] == hashlib.sha256(key).hexdigest()[:32]
    assert list(record) == [f.name for f in load_schema().fields if f.name in record]


@pytest.mark.skipif(not SEED_SHARED.exists(), reason="../shared is not beside the project")
def test_sample_holds_the_seed_unchanged():
    assert (SAMPLE_PAGES / SEED_NAME).read_bytes() == SEED_SHARED.read_bytes()


ROBUST = {
    "crlf": dump(newline="\r\n"),
    "old mac cr": dump(newline="\r"),
    "no ticker": dump(ticker=False),
    "no notice": dump(notice=False),
    "no footer": dump(footer=False),
    "nothing but title, line and body": dump(ticker=False, notice=False, footer=False),
    "unicode spaces": dump(
        title="\u00a0Loi de finances\u202f: le projet\u2009présenté au Parlement\u3000",
        published="\u00a0Publié\u00a0dans\u2002Le360\u2003le\u202f12\u2009-\u00a010 - 2020\u00a0"),
    "tabs and trailing spaces": dump(published="\tPublié dans  Le360   le 12 - 10 - 2020 \t "),
    "invisible marks": dump(published="Publié dans Le360 le \u200e12 - 10 - 2020\u200f"),
    "byte-order mark": "\ufeff" + dump(),
    "decomposed accents (NFD)": dump().replace("é", "e\u0301"),
}


@pytest.mark.parametrize("content", ROBUST.values(), ids=ROBUST.keys())
def test_robust_layouts_give_the_same_record(one, content):
    run = one(content)
    assert run.report.rejected == 0, run.rejects
    [record] = run.records
    assert record["title"] == "Loi de finances : le projet présenté au Parlement"
    assert record["source"] == "Le360"
    assert record["published_date"] == "2020-10-12"
    assert record["language"] == "fr"
    assert record["text"] == "\n\n".join(FR_BODY)


def test_one_digit_day_and_month(one):
    [record] = one(dump(date="5 - 3 - 2020")).records
    assert record["published_date"] == "2020-03-05"


def test_only_the_first_publication_line_counts(one):
    body = [FR_BODY[0], "Publié dans Le Matin le 01 - 02 - 2019",
            "Publié dans le Bulletin officiel, le décret entre en vigueur."]
    [record] = one(dump(body=body)).records
    assert record["source"] == "Le360" and record["published_date"] == "2020-10-12"
    assert record["text"].split("\n\n") == body


def test_source_names_with_apostrophes_and_spaces(one):
    [record] = one(dump(source="L'Economiste")).records
    assert record["source"] == "L'Economiste"


def test_arabic_edition(one):
    run = one(dump(title="انطلاق المرحلة الثانية من حملة التلقيح", source="هسبريس", date="05 - 11 - 2019",
                   body=AR_BODY, edition=AR))
    [record] = run.records
    assert (record["title"], record["source"], record["published_date"], record["language"]) == (
        "انطلاق المرحلة الثانية من حملة التلقيح", "هسبريس", "2019-11-05", "ar")
    assert record["text"] == "\n\n".join(AR_BODY)
    assert "انقر هنا" not in record["text"] and "شكرا" not in record["title"]


def test_arabic_indic_digits_in_the_date(one):
    content = dump(source="هسبريس", body=AR_BODY, edition=AR, title="عنوان الخبر",
                   published="نشر في هسبريس يوم ٠٥ - ١١ - ٢٠١٩")
    [record] = one(content).records
    assert record["published_date"] == "2019-11-05"


@pytest.mark.parametrize(("encoding", "title"), [
    ("cp1252", "Été : la saison touristique démarre à Agadir"),
    ("cp1256", "انطلاق الموسم السياحي في أكادير"),
])
def test_legacy_encodings_are_decoded(one, encoding, title):
    arabic = encoding == "cp1256"
    content = dump(title=title, body=AR_BODY if arabic else FR_BODY, edition=AR if arabic else FR,
                   source="هسبريس" if arabic else "Le360")
    data = content.encode(encoding)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    [record] = one(data).records
    assert record["title"] == title
    assert record["language"] == ("ar" if arabic else "fr")


REJECTS = {
    "no publication line": (dump(published="Par notre correspondant à Rabat"), "no publication line"),
    "date with no publication words": (dump(published="Le360, 12 - 10 - 2020"), "no publication line"),
    "30 February": (dump(date="30 - 02 - 2021"), "line 16: impossible date 30 - 02 - 2021"),
    "month 13": (dump(date="12 - 13 - 2020"), "impossible date 12 - 13 - 2020"),
    "day 0": (dump(date="0 - 10 - 2020"), "impossible date 0 - 10 - 2020"),
    "year 0000": (dump(date="12 - 10 - 0000"), "impossible date"),
    "title missing after the notice": (dump(title=None), "empty title"),
    "title missing at the top": (dump(title=None, ticker=False, notice=False), "empty title"),
    "title missing under the ticker": (dump(title=None, notice=False), "empty title"),
    "nothing after the publication line": (dump(body=[], footer=False), "empty body"),
    "only the footer after it": (dump(body=[]), "empty body"),
    "only spaces after it": (dump(body=["\u00a0 \u2009", "\t"]), "empty body"),
}


@pytest.mark.parametrize(("content", "reason"), REJECTS.values(), ids=REJECTS.keys())
def test_each_reject_has_its_reason(one, content, reason):
    run = one(content)
    assert run.report.records == 0 and run.report.exit_code == 1
    [reject] = run.rejects
    assert reject["record"] is None and reject["input"].endswith("page.txt")
    assert reason in reject["reason"], reject["reason"]


def test_undecodable_bytes_are_rejected(one):
    data = bytes(range(256)) * 8  # control bytes and NUL: no text encoding makes a page of this
    [reject] = one(data).rejects
    assert reject["reason"].startswith("undecodable bytes:")
    assert "offset" in reject["reason"] and "UTF-8" in reject["reason"]


def test_stray_nul_bytes_are_dropped_and_counted(one):
    data = dump().encode("utf-8").replace(b"Le gouvernement", b"Le gouv\x00ernement\x00\x00")
    run = one(data)
    [record] = run.records
    assert record["text"].startswith("Le gouvernement a présenté")
    assert run.report.repairs == {"NUL bytes dropped": 3}
    assert "NUL bytes dropped 3 (1 page)" in run.report.summary()


def test_another_edition_is_one_more_entry():
    spanish = Edition(
        name="es", example="Publicado en <outlet> el DD - MM - YYYY",
        published=r"Publicado\s+en\s+(?P<source>.+?)\s+el\s+(?P<day>\d{1,2})\s*-\s*(?P<month>\d{1,2})\s*-\s*(?P<year>\d{4})",
        notice=(r"¡Gracias\s+por\s+avisar!",), footer=(r"Haga\s+clic\s+aquí\s+para\s+leer\s+el\s+artículo.*",),
    )
    page = dump(title="Marruecos lanza su campaña de vacunación", source="El Faro", date="28 - 01 - 2021",
                body=["Marruecos ha iniciado este jueves su campaña nacional de vacunación contra el covid-19."],
                edition={"notice": ["¡Gracias por avisar!"], "published": "Publicado en {source} el {date}",
                         "footer": "Haga clic aquí para leer el artículo en su fuente."})
    with pytest.raises(PageRejected, match="no publication line"):
        parse_maghress(page)
    parsed = MaghressParser((*EDITIONS, spanish)).parse(page)
    assert (parsed.source, parsed.published_date) == ("El Faro", "2021-01-28")
    assert parsed.title == "Marruecos lanza su campaña de vacunación"
    assert list(parsed.paragraphs) == ["Marruecos ha iniciado este jueves su campaña nacional de vacunación "
                                       "contra el covid-19."]
