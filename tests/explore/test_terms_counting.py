"""Top terms are counted in Arrow (issue 19's speed: a new explore page's words were cut and counted in
Python, 0.1-0.2 s of CPU holding the GIL). The numbers must be those of the plain rule, word by word,
kept here as the reference: on texts that stress where words are cut (underscores, digits, marks,
Arabic diacritics, Turkish İ, Greek final sigma, CJK, circled numbers), ties of surface words, stop
words per language, and stems shared across groups."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from toolkit.explore.articles import _term_counts, stop_words
from toolkit.search import analysis

_WORD = re.compile(r"\w+", re.UNICODE)


def reference(docs, owns):
    """The rule as it was written in Python, one article and one word at a time."""
    counts, documents, surfaces = Counter(), Counter(), defaultdict(Counter)
    for group, language, text in docs:
        stops, own, stem = stop_words(language), owns[group], analysis.analyzer(group)
        seen = set()
        for word, n in Counter(_WORD.findall(analysis.strip_marks_text(text).lower())).items():
            if word in stops:
                continue
            analysed = stem.analyze(word) if len(word) > 1 and not word.isdigit() else []
            if len(analysed) != 1 or analysed[0] in own:
                continue
            key = (group, analysed[0])
            counts[key] += n
            surfaces[key][word] += n
            seen.add(key)
        documents.update(seen)
    merged = {}
    for key, n in counts.items():
        entry = merged.setdefault(surfaces[key].most_common(1)[0][0], [0, 0])
        entry[0] += n
        entry[1] += documents[key]
    return merged


DOCS = [
    ("fr", "fr", "Le zèbre et les zèbres: la Bourse_de_Casablanca, 2021 et 2021bis; Zebra ZÈBRE zèbre."),
    ("fr", "fr", "Les zebres, le zèbre\u0301 (un e\u0301 de\u0301compose\u0301), naïve café, l'économie."),
    ("ar", "ar", "الاستثمار في المغرب، مُحَمَّد و محمد ـــ الاستثمارات الرباط"),
    ("other", "tr", "İstanbul İSTANBUL istanbul ıslak Işık"),
    ("other", "el", "ΟΔΟΣ ΟΔΟΣ'Α οδός Σ'Α ΑΣ σοφός ΣΟΦΟΣ."),
    ("other", "ja", "日本語テキスト 日本語テキスト ①② ½ x² ٣٤ ＡＢＣ"),
    ("en", "en", "Runners running run ran: the runner's run. RUN! Running_shoes"),
    ("fr", "fr", ""),
    ("fr", "fr", "   ,;  "),
    ("en", "en", "tie tied ties: tie ties"),
    ("fr", "fr", "course courses cours courir"),
    ("en", "en", "course courses"),
    ("fr", "fr", "walk walks"),  # met first here, in another group...
    ("en", "en", "walks walk"),  # ...so in English, walks is the surface word (a tie met first in English)
]


def _disagreeing() -> str:
    """Characters where Python's `\\w` and RE2's `[\\pL\\pN_]` disagree (Unicode versions differ: scripts
    added since), so that the test needs words cut exactly as Python cuts them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chars = [chr(c) for c in range(0x10000, 0x20000)]
    re2 = pc.match_substring_regex(pa.array(chars), pattern=r"^[\pL\pN_]$").to_pylist()
    return "".join(c for c, word in zip(chars, re2, strict=True) if bool(_WORD.fullmatch(c)) != word)[:3]


DOCS.append(("en", "en", "".join(f"alpha{c}omega " for c in _disagreeing()) + "alpha"))


@pytest.mark.parametrize("owns", [
    {"fr": set(), "ar": set(), "other": set(), "en": set()},
    {"fr": {"zebr"}, "ar": set(), "other": {"istanbul"}, "en": {"run"}},
])
def test_arrow_counting_equals_the_plain_rule(owns):
    assert _term_counts(DOCS, owns) == reference(DOCS, owns)
    for cut in range(1, len(DOCS)):  # any sample, any order of articles (ties go to the first met)
        docs = DOCS[cut:] + DOCS[:cut]
        assert _term_counts(docs, owns) == reference(docs, owns), cut


def test_counting_nothing():
    assert _term_counts([], {}) == {}
    assert _term_counts([("fr", "fr", "le la les"), ("en", "en", "")], {"fr": set(), "en": set()}) == {}
