"""The shared pieces: normalization, the id rule, canonical URLs, decoding, language detection."""

from __future__ import annotations

import hashlib

import pytest
from jsonschema import Draft202012Validator

from toolkit.core.errors import NewsarchiveError
from toolkit.extract import LanguageDetector, PageRejected, canonical_url, detect_language, record_id
from toolkit.extract.decode import decode_bytes
from toolkit.extract.normalize import clean_inline, join_paragraphs


@pytest.mark.parametrize(("raw", "clean"), [
    ("  Maroc\u00a0:\u202fle\tpartenariat\u2009stratégique\u3000 ", "Maroc : le partenariat stratégique"),
    ("Cafe\u0301 de la gare", "Café de la gare"),  # NFC
    ("zero\u200bwidth soft\u00adhyphen \u200fمرحبا\u200e \ufeffBOM", "zerowidth softhyphen مرحبا BOM"),
    ("line\x0bbreaks\x0cinside\x1fparagraph", "line breaks inside paragraph"),
    ("control\x00\x07chars", "controlchars"),
    ("می\u200cخواهم", "می\u200cخواهم"),  # ZWNJ is kept: it changes Persian words
])
def test_clean_inline(raw, clean):
    assert clean_inline(raw) == clean


def test_paragraphs_are_joined_with_one_blank_line():
    assert join_paragraphs(["  Un\u00a0 ", "", "\u2003", "Deux\ttrois  "]) == "Un\n\nDeux trois"


def test_id_rule():
    url = "https://le360.ma/politique/article_1"  # already in its folded form: the key is the url itself
    assert record_id(url, "Le360", "2020-01-01", "Titre") == hashlib.sha256(url.encode()).hexdigest()[:32]
    assert record_id("http://www.le360.ma/politique/article_1/?utm_source=x", "", "", "") == record_id(url, "", "", "")
    key = b"Le360\n2020-01-01\nTitre"
    assert record_id(None, "Le360", "2020-01-01", "Titre") == hashlib.sha256(key).hexdigest()[:32]
    assert record_id(None, "Le360", "2020-01-01", "Titre") != record_id(None, "Le360", "2020-01-02", "Titre")


@pytest.mark.parametrize(("raw", "canonical"), [
    ("HTTPS://WWW.Le360.MA/Politique/Article?id=3#comments", "https://www.le360.ma/Politique/Article?id=3"),
    ("https://example.org", "https://example.org/"),
    ("http://example.org:8080/a b", "http://example.org:8080/a%20b"),
    ("https://example.org/100%/done%2F", "https://example.org/100%25/done%2F"),
    ("https://hespress.example/مجتمع", "https://hespress.example/%D9%85%D8%AC%D8%AA%D9%85%D8%B9"),
    ("https://bücher.example/ä", "https://xn--bcher-kva.example/%C3%A4"),
    ("https://example.org/a|b{c}", "https://example.org/a%7Cb%7Bc%7D"),
    ("ftp://example.org/file", None),
    ("/relative/path", None),
    ("https://user:secret@example.org/", None),
    ("", None),
])
def test_canonical_url(raw, canonical):
    assert canonical_url(raw) == canonical
    if canonical:
        assert Draft202012Validator.FORMAT_CHECKER.conforms(canonical, "uri")


def test_decoding_order():
    text = "Publié dans L'Economiste le 12 - 10 - 2020\nÉté très chaud à Marrakech, les touristes affluent."
    assert decode_bytes(text.encode("utf-8")) == text
    assert decode_bytes(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert decode_bytes(text.encode("utf-16")) == text
    assert decode_bytes(text.encode("utf-16-le")) == text
    assert decode_bytes(text.encode("cp1252")) == text
    assert decode_bytes(text.encode("cp1252"), declared="cp1252") == text
    with pytest.raises(PageRejected, match="undecodable bytes"):
        decode_bytes(bytes(range(256)) * 4)


@pytest.mark.parametrize(("title", "text", "language"), [
    ("Le Maroc lance sa campagne de vaccination", "", "fr"),
    ("Morocco launches its vaccination campaign", "", "en"),
    ("Marruecos lanza su campaña de vacunación", "", "es"),
    ("المغرب يطلق حملة التلقيح الوطنية", "", "ar"),
    ("CGEM : المغرب يطلق حملة التلقيح الوطنية", "", "ar"),  # a Latin acronym in an Arabic title
    ("Bourse", "La Bourse de Casablanca a terminé la séance de mardi en légère hausse, portée par les "
               "valeurs bancaires et les télécommunications, dans un volume d'échanges modeste.", "fr"),
])
def test_language_of_short_texts(title, text, language):
    assert detect_language(title, text) == language


def test_arabic_script_shortcut_only_when_arabic_is_alone_in_its_script():
    persian = "این یک متن فارسی است که برای آزمایش نوشته شده است و کمی طولانی تر است"
    assert detect_language(persian, "") == "ar"  # no Persian among the default candidates
    assert detect_language(persian, "", ("ar", "fa")) == "fa"


def test_language_edge_cases():
    assert detect_language("2021 - 12345", "") is None
    assert LanguageDetector(["fr"]).detect("Bonjour", "") == "fr"
    assert LanguageDetector(["fr"]).detect("1234", "") is None
    with pytest.raises(NewsarchiveError, match="'zz' is not an ISO 639-1 code"):
        LanguageDetector(["fr", "zz"])
