"""Offline stand-in for nltk's ``punkt_tab`` sentence splitter, as used by WhisperX alignment.

``whisperx.alignment.align`` loads ``tokenizers/punkt_tab/<language>.pickle`` through
``nltk.data.load`` and, when the resource is missing, calls ``nltk.download('punkt_tab')``, which
fails (or hangs) without network. WhisperX only needs the splitter's ``span_tokenize`` to group
aligned words into sentence-level sub-segments, so a rule-based splitter is an adequate fallback:
a wrong split only changes sub-segment boundaries, never word times.

``patch_whisperx_alignment()`` wraps WhisperX's loader once per process: the real punkt data is
used when present, the fallback otherwise, and nothing is ever downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "etc", "e.g", "i.e", "no", "fig",
    "mt", "inc", "ltd", "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "approx", "dept", "est",
})
"""Words after which a full stop does not end a sentence (lower case, without the final dot)."""

_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f]+[\"'\u201d\u2019)\]]*")


class RuleSentenceSplitter:
    """Split text at ``.``/``!``/``?``/``…`` (and CJK stops) followed by whitespace or the end.

    A full stop after a known abbreviation or a single letter (an initial) does not split.
    Offers the two methods WhisperX and most callers use from nltk's ``PunktSentenceTokenizer``.
    """

    def __init__(self, abbreviations: frozenset[str] = ABBREVIATIONS) -> None:
        self.abbreviations = abbreviations

    def span_tokenize(self, text: str) -> Iterator[tuple[int, int]]:
        """Yield ``(start, end)`` character spans of the sentences, without surrounding spaces."""
        start = _skip_space(text, 0)
        for match in _END.finditer(text):
            end = match.end()
            if end < len(text) and not text[end].isspace() and not _is_cjk_stop(match.group()):
                continue  # "3.5", "a.m.": punctuation inside a token
            if match.group().startswith(".") and self._before_is_abbreviation(text, start, match.start()):
                continue
            if end > start:
                yield start, end
            start = _skip_space(text, end)
        if start < len(text.rstrip()):
            yield start, len(text.rstrip())

    def tokenize(self, text: str) -> list[str]:
        """The sentences of ``text``."""
        return [text[a:b] for a, b in self.span_tokenize(text)]

    def _before_is_abbreviation(self, text: str, start: int, dot: int) -> bool:
        word = text[start:dot].rsplit(None, 1)[-1] if text[start:dot].strip() else ""
        word = word.lstrip("\"'(\u201c\u2018").lower()
        return (len(word) == 1 and word.isalpha()) or word in self.abbreviations


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _is_cjk_stop(punct: str) -> bool:
    # Chinese/Japanese sentences end with full-width stops and no following space.
    return punct[0] in "\u3002\uff01\uff1f"


def punkt_available(language: str = "english") -> bool:
    """True when nltk's ``punkt_tab`` data for ``language`` is installed locally."""
    try:
        from nltk.data import find

        find(f"tokenizers/punkt_tab/{language}/")
        return True
    except (LookupError, ImportError):
        return False


def offline_loader(real_load: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``nltk.data.load``: punkt_tab requests fall back to ``RuleSentenceSplitter`` when missing."""

    def load(resource_url: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_load(resource_url, *args, **kwargs)
        except LookupError:
            if "punkt" in str(resource_url):
                return RuleSentenceSplitter()
            raise

    load.__wrapped__ = real_load  # type: ignore[attr-defined]
    return load


def patch_whisperx_alignment() -> bool:
    """Make ``whisperx.alignment`` use the fallback when punkt_tab is missing; idempotent.

    Returns True when the fallback will be used (punkt_tab for English is absent), so callers can
    note it in provenance.
    """
    import whisperx.alignment as alignment

    if not hasattr(alignment.nltk_load, "__wrapped__"):
        alignment.nltk_load = offline_loader(alignment.nltk_load)
    return not punkt_available("english")
