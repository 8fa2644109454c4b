"""Languages outside --languages are flagged `und`, not mislabelled; `--languages all` takes every one."""

from __future__ import annotations

import json

import pytest

from tests.extract.conftest import run_extract, write_page
from tests.extract.test_html import html_page
from toolkit.cli import main
from toolkit.extract import LanguageDetector
from toolkit.validate import validate

ARTICLES = {
    "pt": ("Governo anuncia novo pacote para conter a inflação",
           ["O governo anunciou nesta terça-feira um novo pacote de medidas para conter a inflação, que atingiu "
            "o nível mais alto dos últimos anos, segundo o instituto nacional de estatística.",
            "As medidas incluem a redução temporária de impostos sobre os combustíveis e um apoio às famílias "
            "com rendimentos mais baixos, que será pago a partir do próximo mês."]),
    "it": ("Il governo annuncia un nuovo pacchetto contro l'inflazione",
           ["Il governo ha annunciato martedì un nuovo pacchetto di misure per contenere l'inflazione, che ha "
            "raggiunto il livello più alto degli ultimi anni secondo l'istituto nazionale di statistica.",
            "Le misure prevedono una riduzione temporanea delle accise sui carburanti e un sostegno alle "
            "famiglie con i redditi più bassi, che sarà versato a partire dal mese prossimo."]),
    "de": ("Regierung kündigt neues Paket gegen die Inflation an",
           ["Die Regierung hat am Dienstag ein neues Maßnahmenpaket angekündigt, um die Inflation einzudämmen, "
            "die nach Angaben des Statistikamts den höchsten Stand seit vielen Jahren erreicht hat.",
            "Vorgesehen sind eine befristete Senkung der Steuern auf Kraftstoffe und eine Unterstützung für "
            "Familien mit niedrigen Einkommen, die ab dem kommenden Monat ausgezahlt wird."]),
    "nl": ("Regering kondigt nieuw pakket tegen inflatie aan",
           ["De regering heeft dinsdag een nieuw pakket maatregelen aangekondigd om de inflatie te beteugelen, "
            "die volgens het statistiekbureau het hoogste niveau in jaren heeft bereikt.",
            "Het gaat om een tijdelijke verlaging van de accijns op brandstof en steun voor gezinnen met een "
            "laag inkomen, die vanaf volgende maand wordt uitbetaald."]),
    "id": ("Pemerintah umumkan paket baru untuk menekan inflasi",
           ["Pemerintah mengumumkan paket kebijakan baru pada hari Selasa untuk menekan inflasi yang mencapai "
            "tingkat tertinggi dalam beberapa tahun terakhir, menurut badan pusat statistik.",
            "Kebijakan tersebut meliputi penurunan sementara pajak bahan bakar dan bantuan bagi keluarga "
            "berpenghasilan rendah yang akan dibayarkan mulai bulan depan."]),
    "en": ("Government announces new package to curb inflation",
           ["The government announced a new package of measures on Tuesday to curb inflation, which has "
            "reached its highest level in years, according to the national statistics office.",
            "The measures include a temporary cut in fuel duties and support for low-income families, "
            "to be paid from next month onwards."]),
}


def write_articles(tmp_path, languages):
    for code in languages:
        title, paragraphs = ARTICLES[code]
        write_page(tmp_path, html_page(title=title, paragraphs=paragraphs, lang=code, authors=None,
                                       canonical=f"https://news.example/{code}/inflation.html"), f"{code}.html")


def by_url_language(run) -> dict[str, str]:
    return {r["url"].split("/")[3]: r["language"] for r in run.records}


def test_languages_outside_the_candidates_are_und(tmp_path):
    write_articles(tmp_path, ["pt", "it", "de", "nl", "en"])
    run = run_extract(tmp_path, languages=["en", "ko", "ru", "ja"])
    assert by_url_language(run) == {"pt": "und", "it": "und", "de": "und", "nl": "und", "en": "en"}
    assert run.report.languages == {"und": 4, "en": 1}
    assert "undetermined      4  records labelled und" in run.report.summary()
    assert validate([run.output]).invalid == 0  # the schema takes und


def test_indonesian_is_not_labelled_dutch(tmp_path):
    write_articles(tmp_path, ["id", "nl"])
    run = run_extract(tmp_path)  # the default candidates: ar, fr, en, es, de, it, pt, nl
    assert by_url_language(run) == {"id": "und", "nl": "nl"}


def test_languages_all_makes_every_language_a_candidate(tmp_path, capsys):
    write_articles(tmp_path, ["id", "pt", "de"])
    out = tmp_path / "out.jsonl"
    with pytest.raises(SystemExit) as exit_info:
        main(["extract", str(tmp_path / "in"), "-o", str(out), "--languages", "all", "-q", "-j", "1"])
    assert exit_info.value.code == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["language"] for r in records) == ["de", "id", "pt"]
    assert "undetermined" not in capsys.readouterr().out


def test_the_detector_knows_what_all_means():
    everything = LanguageDetector(["all"])
    assert everything.everything and {"id", "fa", "ar", "ko", "yo"} <= set(everything.codes)
    assert everything.detect(*ARTICLES["id"][0:1], ARTICLES["id"][1][0]) == "id"
    assert LanguageDetector(everything.codes).everything  # what the workers get back: the same set
    assert not LanguageDetector(["fr", "en"]).everything


def test_a_doubtful_start_gets_a_second_look_on_more_text(tmp_path):
    """200 characters of Hawaiian place names read as Swahili to the all-language detector; the
    English that follows settles it, with the defaults and with all."""
    title = "Road closures: Kailua, Hilo, Waimea, Kahului, Lihue"
    paragraphs = [
        "Kaunakakai, Kapaa, Honokaa, Waikoloa, Kapaau, Haleiwa, Kaneohe, Waianae, Pahoa, Keaau, Makawao, Haiku, "
        "Kihei, Lahaina, Hanalei, Waimanalo, Kaaawa, Laie, Hauula, Kahuku, Waialua, Mokuleia, Makaha, Nanakuli.",
        "The state transportation department said on Tuesday that several roads in these towns would be closed "
        "overnight for repairs after the heavy rain of the past week. Drivers are asked to use the detours that "
        "are signposted and to allow extra time for their journeys, especially in the early morning."]
    write_page(tmp_path, html_page(title=title, paragraphs=paragraphs, lang="en", authors=None), "roads.html")
    assert [r["language"] for r in run_extract(tmp_path).records] == ["en"]
    assert [r["language"] for r in run_extract(tmp_path, languages=["all"]).records] == ["en"]
