"""Give each recognised word a speaker from the diarization turns, and each turn its text.

Shared by the faster-whisper and WhisperX transcribers (our equivalent of
``whisperx.assign_word_speakers``, working on the record's ``Word``/``Turn`` dataclasses).
"""

from __future__ import annotations

from ..record import Turn, Word


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _gap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Distance between two intervals (0 when they touch or overlap)."""
    return max(0.0, b0 - a1, a0 - b1)


def word_turn_index(word: Word, turns: list[Turn]) -> int | None:
    """Index of the turn that overlaps ``word`` most; the nearest turn when none overlaps.

    Ties on overlap go to the turn whose centre is closest to the word's centre, so a word on
    the boundary of two back-to-back turns lands in the one it mostly sits in.
    """
    if not turns:
        return None
    centre = 0.5 * (word.start + word.end)

    def key(i: int) -> tuple[float, float, float]:
        t = turns[i]
        ov = _overlap(word.start, word.end, t.start, t.end)
        return (-ov, _gap(word.start, word.end, t.start, t.end), abs(centre - 0.5 * (t.start + t.end)))

    return min(range(len(turns)), key=key)


def assign_words_to_speakers(words: list[Word], turns: list[Turn] | None,
                             fill_turn_text: bool = True, sep: str = " ") -> list[Word]:
    """Set ``word.speaker`` from ``turns`` (in place) and, if asked, each turn's ``text``.

    Every word goes to exactly one turn (largest overlap, else nearest), so the turn texts
    together hold the whole transcript once, even where turns overlap. Turns that receive no
    word get ``text=""``. With no turns the words are returned unchanged. Returns ``words``.
    ``sep`` joins the words of a turn ("" for languages written without spaces).
    """
    if not turns:
        return words
    per_turn: list[list[str]] = [[] for _ in turns]
    for word in words:
        idx = word_turn_index(word, turns)
        if idx is None:
            continue
        word.speaker = turns[idx].speaker
        per_turn[idx].append(word.word)
    if fill_turn_text:
        for turn, texts in zip(turns, per_turn):
            turn.text = join_words(texts, sep)
    return words


def join_words(tokens: list[str], sep: str = " ") -> str:
    """Join word strings with ``sep`` (Whisper words carry their own punctuation)."""
    return sep.join(t.strip() for t in tokens if t.strip())
