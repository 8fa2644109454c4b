"""Offline language detection: lingua (its models ship in the wheel), restricted and sampled for speed.

- The candidate set is small on purpose (`DEFAULT_LANGUAGES`): fewer candidates means fewer
  confusions on short texts and less time per page. Pass `languages=` to widen it.
- Arabic script is decided without lingua: when Arabic letters outnumber Latin letters and Arabic is
  the only Arabic-script language among the candidates, the answer is "ar" (exact for that set),
  and lingua then only weighs the other candidates, which makes it a third faster.
  Darija written in Arabic script is reported as "ar": lingua has no model for it.
- Only the start of title + text is looked at (`SAMPLE_CHARS`). lingua's cost grows with the text,
  and a few hundred characters already decide between these languages.
- A restricted candidate set always finds one of its own, even for a page in another language (an
  Indonesian page came out `nl`). So the answer is checked against every language lingua ships
  (low-accuracy mode, same sample, ~2 ms): when the candidates together get less than
  `MIN_CANDIDATE_CONFIDENCE` of that wider detector's confidence, even on a second look at
  `CONFIRM_CHARS` of the text (rare, so its cost does not count), the record is labelled `und`
  (ISO 639-2 "undetermined") instead of a wrong code. `languages=("all",)` makes every language
  lingua ships a candidate (then `und` means the top language got less than that confidence).
  The check costs about 1.4 ms of CPU per page (2% of an HTML page's parse, measured on the
  article-extraction benchmark's 181 pages), but would make Maghress dumps five times slower; their
  editions are French and Arabic by construction, so their pages skip it (`check_others=False`).
- lingua's low-accuracy mode loads trigram models only (a few MB, a tenth of a second), and for
  texts over 120 characters high-accuracy mode uses trigrams only anyway. Shorter samples go to a
  high-accuracy detector built on first need.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from toolkit.core.errors import NewsarchiveError

DEFAULT_LANGUAGES: tuple[str, ...] = ("ar", "fr", "en", "es", "de", "it", "pt", "nl")
SAMPLE_CHARS = 200
#: The label of a record whose language is not among the candidates or not decided (ISO 639-2).
UNDETERMINED = "und"
#: `--languages all`: every language lingua ships is a candidate.
ALL_LANGUAGES = "all"
#: The share of the all-language detector's confidence the candidates need, else the answer is `und`.
MIN_CANDIDATE_CONFIDENCE = 0.25
#: With every language a candidate, an answer under this confidence is looked at again on more text.
SURE_CONFIDENCE = 0.9
#: A doubtful answer is looked at again on this much of title + text before it becomes `und`: 200
#: characters of an English page that starts "HONOLULU, Hawaii" read as Tagalog, 600 do not.
CONFIRM_CHARS = 600
#: Below this many characters lingua's low-accuracy mode is noticeably less accurate.
SHORT_TEXT_CHARS = 120
#: ISO 639-1 codes of the Arabic-script languages lingua knows.
_ARABIC_SCRIPT_LANGUAGES = frozenset({"ar", "fa", "ur"})

_ARABIC_LETTER = re.compile(r"[\u0620-\u064A\u066E-\u06D3\u06D5\u06EE-\u06FF\u0750-\u077F\u08A0-\u08FF"
                            r"\uFB50-\uFDFF\uFE70-\uFEFF]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00C0-\u024F\u1E00-\u1EFF]")


class LanguageDetector:
    """Detect the language of title + text among a fixed set of ISO 639-1 codes."""

    def __init__(self, languages: Sequence[str] = DEFAULT_LANGUAGES) -> None:
        from lingua import IsoCode639_1, Language

        codes = tuple(dict.fromkeys(code.strip().lower() for code in languages if code.strip()))
        if ALL_LANGUAGES in codes:
            codes = tuple(sorted(lang.iso_code_639_1.name.lower() for lang in Language.all()))
        if not codes:
            raise NewsarchiveError("no candidate language given; pass ISO 639-1 codes such as fr,ar,en,es")
        members = []
        for code in codes:
            try:
                members.append(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())))
            except AttributeError:
                raise NewsarchiveError(
                    f"language {code!r} is not an ISO 639-1 code the detector knows; use codes such as "
                    "fr, ar, en, es, de"
                ) from None
        self.codes = codes
        self.everything = set(members) >= set(Language.all())  # nothing is outside: no wider check
        self._arabic_shortcut = "ar" in codes and not (_ARABIC_SCRIPT_LANGUAGES - {"ar"}) & set(codes)
        # with the shortcut, lingua never has to consider Arabic: a third less work per page
        pairs = [(c, m) for c, m in zip(codes, members, strict=True) if not (self._arabic_shortcut and c == "ar")]
        self._lingua_codes = tuple(c for c, _ in pairs)
        self._members = [m for _, m in pairs]
        self._member_set = frozenset(self._members)
        self._fast = None
        self._accurate = None
        self._wide = None

    def _build(self, accurate: bool):
        from lingua import LanguageDetectorBuilder

        builder = LanguageDetectorBuilder.from_languages(*self._members)
        # all 75 languages in high-accuracy mode would load every n-gram model (about 1 GB): not for a worker
        return builder.build() if accurate and not self.everything else builder.with_low_accuracy_mode().build()

    def _confident(self, sample: str, found, second_look: bool = False) -> bool:
        """Whether the candidates hold enough of the all-language detector's confidence for `sample`."""
        if self._wide is None:
            if self.everything:
                self._wide = self._fast if self._fast is not None else self._build(accurate=False)
            else:
                from lingua import LanguageDetectorBuilder

                self._wide = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
        if self.everything:
            bar = MIN_CANDIDATE_CONFIDENCE if second_look else SURE_CONFIDENCE
            return self._wide.compute_language_confidence(sample, found) >= bar
        values = self._wide.compute_language_confidence_values(sample)
        if values and values[0].language in self._member_set:  # the usual case: a candidate leads
            return True
        return sum(v.value for v in values if v.language in self._member_set) >= MIN_CANDIDATE_CONFIDENCE

    def detect(self, title: str, text: str, check_others: bool = True) -> str | None:
        """ISO 639-1 code; `und` when the text is in none of the candidates (or not decided); None when
        the sample has no letters at all. `check_others=False` trusts the candidates (no `und` check)."""
        sample = _sample(title, text)
        if self._arabic_shortcut:
            arabic = len(_ARABIC_LETTER.findall(sample))
            if arabic and arabic > len(_LATIN_LETTER.findall(sample)):
                return "ar"
        if len(self._members) <= 1:  # lingua needs two candidates; one is a declaration, not a guess
            if not _has_letters(sample):
                return None
            return self._lingua_codes[0] if self._lingua_codes else self.codes[0]
        if len(sample) < SHORT_TEXT_CHARS:
            if self._accurate is None:
                self._accurate = self._build(accurate=True)
            detector = self._accurate
        else:
            if self._fast is None:
                self._fast = self._build(accurate=False)
            detector = self._fast
        found = detector.detect_language_of(sample)
        if found is None:  # letters, but of no candidate's script (Cyrillic with Latin candidates): und
            return UNDETERMINED if _has_letters(sample) else None
        if check_others and not self._confident(sample, found):
            longer = _sample(title, text, CONFIRM_CHARS)  # rare: a second look on more text
            if len(longer) <= len(sample):
                return UNDETERMINED
            if self._fast is None:
                self._fast = self._build(accurate=False)
            found = self._fast.detect_language_of(longer)
            if found is None or not self._confident(longer, found, second_look=True):
                return UNDETERMINED
        return found.iso_code_639_1.name.lower()


def _sample(title: str, text: str, limit: int = SAMPLE_CHARS) -> str:
    sample = f"{title} {text}" if title else text
    if len(sample) <= limit:
        return sample
    cut = sample.rfind(" ", limit // 2, limit)
    return sample[: cut if cut > 0 else limit]


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


_DEFAULT: dict[tuple[str, ...], LanguageDetector] = {}


def detect_language(title: str, text: str, languages: Sequence[str] = DEFAULT_LANGUAGES,
                    check_others: bool = True) -> str | None:
    """Module-level convenience: one cached detector per candidate set and process."""
    key = tuple(languages)
    detector = _DEFAULT.get(key)
    if detector is None:
        detector = _DEFAULT[key] = LanguageDetector(key)
    return detector.detect(title, text, check_others)
