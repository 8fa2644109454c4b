"""How text becomes search terms: the same rules for articles and queries, one stemmer per language.

Words are runs of letters and digits in any script (Unicode alphanumerics: `«`, `’` and the Arabic
comma `،` separate words; `2021` is a word), lower-cased and folded to ASCII where a Latin letter has
one (é -> e, œ -> oe), then reduced by the Snowball stemmer of the article's language group. Before
that, combining accents and Arabic diacritics (harakat, tatweel, Quranic marks) are removed from the
whole text in bulk with pyarrow (one vectorised pass, linear in the text), so `مُحَمَّد` and `محمد`,
or a decomposed `é` and `é`, are the same word. No stop words: BM25 weights make frequent words count
for little. Words longer than MAX_WORD_BYTES are not indexed (base64 or markup debris).

tantivy does not store analyzers in an index: `register` must be called on every opened index, and
ANALYZER_VERSION, recorded in the index, says which rules built it (a change means a rebuild).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import tantivy

#: Bump when a rule above changes: an index built by another version is rebuilt (said in one line).
ANALYZER_VERSION = 1

#: Snowball stemmer of each language (ISO 639-1) that gets an index of its own; the others share
#: `other`, unstemmed.
STEMMERS = {
    "fr": "french", "ar": "arabic", "es": "spanish", "en": "english",
    "de": "german", "it": "italian", "pt": "portuguese", "nl": "dutch",
}
OTHER = "other"
GROUPS = (*STEMMERS, OTHER)
MAX_WORD_BYTES = 255

#: Marks folded away before words are cut: combining diacritics (a decomposed é), Arabic harakat,
#: superscript alef, tatweel and Quranic annotation signs.
_MARK_CHARS = "\u0300-\u036f\u0610-\u061a\u0640\u064b-\u065f\u0670\u06d6-\u06ed"
MARKS_RE2 = "[" + "".join(f"\\x{{{ord(c):04X}}}" if c != "-" else "-" for c in _MARK_CHARS) + "]+"
_MARKS = re.compile(f"[{_MARK_CHARS}]+")


def group_of(language: str | None) -> str:
    """The index a language's articles go to: its own when it has a stemmer, else `other`."""
    return language if language in STEMMERS else OTHER


def tokenizer_name(group: str) -> str:
    return f"newsarchive_{group}_v{ANALYZER_VERSION}"


@functools.cache
def analyzer(group: str | None) -> tantivy.TextAnalyzer:
    """The analyzer of a group (None: the same without stemming, for snippets' plain words)."""
    builder = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
               .filter(tantivy.Filter.remove_long(MAX_WORD_BYTES))
               .filter(tantivy.Filter.lowercase())
               .filter(tantivy.Filter.ascii_fold()))
    if group in STEMMERS:
        builder = builder.filter(tantivy.Filter.stemmer(STEMMERS[group]))
    return builder.build()


def register(index: tantivy.Index, group: str) -> None:
    """Give an opened index its analyzer (tantivy keeps only the analyzer's name in the index)."""
    index.register_tokenizer(tokenizer_name(group), analyzer(group))


def strip_marks(values: Any) -> Any:
    """The strings (a pyarrow array) without accents' combining marks and Arabic diacritics, in one
    vectorised pass. (pyarrow is imported here: a search does not need it.)"""
    import pyarrow.compute as pc

    return pc.replace_substring_regex(values, MARKS_RE2, "")


def strip_marks_text(text: str) -> str:
    return _MARKS.sub("", text)


def has_marks(text: str) -> bool:
    return _MARKS.search(text) is not None


def query_terms(text: str, group: str) -> list[str]:
    """The distinct terms a query looks up in a group's index, in the order they appear."""
    return list(dict.fromkeys(analyzer(group).analyze(strip_marks_text(text))))
