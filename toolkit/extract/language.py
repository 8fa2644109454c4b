"""Offline language detection: lingua (its models ship in the wheel), restricted and sampled for speed.

- The candidate set is small on purpose (`DEFAULT_LANGUAGES`): fewer candidates means fewer
  confusions on short texts and less time per page. Pass `languages=` to widen it.
- Arabic script is decided without lingua: when Arabic letters outnumber Latin letters and Arabic is
  the only Arabic-script language among the candidates, the answer is "ar" (exact for that set),
  and lingua then only weighs the other candidates, which makes it a third faster.
  Darija written in Arabic script is reported as "ar": lingua has no model for it.
- Only the start of title + text is looked at (`SAMPLE_CHARS`). lingua's cost grows with the text,
  and a few hundred characters already decide between these languages.
- lingua's low-accuracy mode loads trigram models only (a few MB, a tenth of a second), and for
  texts over 120 characters high-accuracy mode uses trigrams only anyway. Shorter samples go to a
  high-accuracy detector built on first need.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from toolkit.errors import NewsarchiveError

DEFAULT_LANGUAGES: tuple[str, ...] = ("ar", "fr", "en", "es", "de", "it", "pt", "nl")
SAMPLE_CHARS = 200
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
        self._arabic_shortcut = "ar" in codes and not (_ARABIC_SCRIPT_LANGUAGES - {"ar"}) & set(codes)
        # with the shortcut, lingua never has to consider Arabic: a third less work per page
        pairs = [(c, m) for c, m in zip(codes, members, strict=True) if not (self._arabic_shortcut and c == "ar")]
        self._lingua_codes = tuple(c for c, _ in pairs)
        self._members = [m for _, m in pairs]
        self._fast = None
        self._accurate = None

    def _build(self, accurate: bool):
        from lingua import LanguageDetectorBuilder

        builder = LanguageDetectorBuilder.from_languages(*self._members)
        return builder.build() if accurate else builder.with_low_accuracy_mode().build()

    def detect(self, title: str, text: str) -> str | None:
        """ISO 639-1 code, or None when the sample has no letters of any candidate language."""
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
        return found.iso_code_639_1.name.lower() if found is not None else None


def _sample(title: str, text: str) -> str:
    sample = f"{title} {text}" if title else text
    if len(sample) <= SAMPLE_CHARS:
        return sample
    cut = sample.rfind(" ", SAMPLE_CHARS // 2, SAMPLE_CHARS)
    return sample[: cut if cut > 0 else SAMPLE_CHARS]


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


_DEFAULT: dict[tuple[str, ...], LanguageDetector] = {}


def detect_language(title: str, text: str, languages: Sequence[str] = DEFAULT_LANGUAGES) -> str | None:
    """Module-level convenience: one cached detector per candidate set and process."""
    key = tuple(languages)
    detector = _DEFAULT.get(key)
    if detector is None:
        detector = _DEFAULT[key] = LanguageDetector(key)
    return detector.detect(title, text)
