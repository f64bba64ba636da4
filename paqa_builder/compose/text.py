"""Text helpers for quote and word questions: similarity, speaker attribution, filler pools."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from ..spelling import spelling_key, spelling_keys
from .facts import ORDINALS, Facts, normalize_text, split_sentences

QUOTE_MATCH = 0.75
"""Similarity at which an option counts as a rendering of a speaker's words (ASR vs truth)."""

QUOTE_CLASH = 0.55
"""Distractor quotes must stay below this similarity to the true speaker's words."""

FILLER_LINES: tuple[str, ...] = (
    "I will call you back after lunch.", "The train leaves at half past seven.",
    "Could you pass me the salt, please?", "We should paint the fence this weekend.",
    "My sister moved to a new apartment.", "The printer is out of paper again.",
    "Let's meet at the library tomorrow.", "I forgot my umbrella at the office.",
    "The soup needs a little more pepper.", "He finally fixed the old bicycle.",
    "Turn left at the second traffic light.", "The museum opens at nine on Sundays.",
    "I think the battery is almost empty.", "She bought fresh bread at the market.",
    "Remember to water the plants tonight.", "The meeting has been moved to Friday.",
    "Our flight was delayed by two hours.", "This coffee is much too strong for me.",
    "The kids are playing in the garden.", "Please close the window, it's cold.",
    "I left my keys on the kitchen table next to the fruit bowl.",
    "The bus was so crowded this morning that I had to stand all the way.",
    "We are going to visit my grandparents in the countryside next month.",
    "If the weather stays this nice we could have a picnic by the river.",
    "Somebody parked a big truck right in front of our garage again.",
    "She has been practising the piano every evening for the concert.",
    "The new restaurant on the corner serves the best noodles in town.",
    "Don't forget that the store closes early on public holidays.",
    "My phone battery died halfway through the call with the bank.",
    "They are building a new playground behind the old school.",
    "OK.", "Yes, sure.", "Not today.", "Thanks a lot.",
)
"""Neutral everyday lines used as wrong quotes when the clip has too few other speakers: short,
medium and long, so that a filler can match the length of the true line (``fillers_like``)."""

CONTENT_POOL: tuple[str, ...] = (
    "apple", "blanket", "bridge", "candle", "carpet", "castle", "cheese", "circus", "cookie",
    "desert", "dinner", "doctor", "dragon", "engine", "forest", "garden", "guitar", "hammer",
    "harbor", "island", "jacket", "kitchen", "ladder", "lemon", "library", "market", "mirror",
    "monkey", "mountain", "museum", "needle", "orange", "pencil", "pepper", "pillow", "planet",
    "pocket", "rabbit", "river", "rocket", "saddle", "school", "shadow", "silver", "spider",
    "station", "summer", "ticket", "tiger", "tomato", "tunnel", "turtle", "umbrella", "valley",
    "village", "violin", "wallet", "window", "winter", "yellow", "basket", "bottle", "button",
    "camera", "coffee", "feather", "garlic", "helmet", "lantern", "marble", "napkin", "parrot",
    "puzzle", "ribbon", "sandwich", "teacher", "thunder", "tractor", "whistle", "zipper",
)
"""Concrete words for wrong options of content questions."""

STOPWORDS = frozenset("""
about above after again against also because been before being below between both could does
doing down during each even from further have having here hers herself himself into itself just
more most much myself once only other ought ours ourselves over really same shall should some
such than that their theirs them themselves then there these they this those through under
until very well were what when where which while whom will with would your yours yourself
yourselves okay yeah gonna wanna going thing things something anything nothing maybe right
know think like said says just make made take come came want need tell told went goes gone
give gave gets getting looks seems sure still though
""".split())
"""Function and filler words never used as the answer of a content question."""


_DOUBLE_STOP = re.compile(r'(?<!\.)([.?!])(["\u201d]?)[.?](?!\.)')


def tidy(text: str) -> str:
    """Drop the stop a template adds after text that already ends a sentence ('...?".' -> '...?"')."""
    return _DOUBLE_STOP.sub(r"\1\2", text).replace("....", "...")


def ordinal(index: int) -> str:
    """'first', 'second', ... for a 1-based speaker index."""
    return ORDINALS[index - 1] if 1 <= index <= len(ORDINALS) else f"{index}th"


def speaker_option(index: int) -> str:
    """Option text naming a speaker by position: 'the second speaker'."""
    return f"the {ordinal(index)} speaker"


def parse_speaker_option(text: str) -> int | None:
    """Inverse of ``speaker_option``: the 1-based index, or None."""
    m = re.fullmatch(r"the (\w+) speaker", text.strip().lower())
    if m and m.group(1) in ORDINALS:
        return ORDINALS.index(m.group(1)) + 1
    return None


def similarity(quote: str, text: str) -> float:
    """Best word-sequence similarity of ``quote`` with any same-length window of ``text``
    (spelling variants compare equal: "harbour" matches "harbor")."""
    q, t = spelling_keys(normalize_text(quote)).split(), spelling_keys(normalize_text(text)).split()
    if not q or not t:
        return 0.0
    if len(t) <= len(q):
        return SequenceMatcher(None, q, t).ratio()
    return max(SequenceMatcher(None, q, t[i:i + len(q)]).ratio() for i in range(len(t) - len(q) + 1))


def attribute(quote: str, facts: Facts) -> int | None:
    """Index of the speaker whose words best match ``quote`` (>= QUOTE_MATCH), else None."""
    best, best_sim = None, 0.0
    for sp in facts.speakers or []:
        sim = similarity(quote, sp.text)
        if sim > best_sim:
            best, best_sim = sp.index, sim
    return best if best_sim >= QUOTE_MATCH else None


def fillers_like(line: str, candidates: list[str], k: int, rng) -> list[str]:
    """``k`` of ``candidates`` closest in length (characters) to ``line``, in random order.

    A wrong quote much shorter than the true one is a text-only shortcut: on a 60-scene mix the
    longest option was the key of 53 % of ``speaker_quote`` questions (chance 25 %)."""
    pool = list(candidates)
    rng.shuffle(pool)  # ties in length go to a random line
    pool.sort(key=lambda c: abs(len(c) - len(line)))
    out = pool[:k]
    rng.shuffle(out)
    return out


def cut_quote(text: str, max_words: int) -> str:
    """The first ``max_words`` words of ``text``, without trailing punctuation when cut."""
    words = text.split()
    if len(words) <= max_words:
        return text.strip()
    return " ".join(words[:max_words]).rstrip(",;:") + "..."


def sentences(text: str) -> list[str]:
    """Split a turn's text into sentences (keeps the punctuation; ``facts.split_sentences``)."""
    return split_sentences(text)


def content_words(text: str) -> list[str]:
    """Distinct content words of ``text`` (>= 4 letters, not stop words), in order of appearance."""
    out: list[str] = []
    for w in normalize_text(text).split():
        if len(w) >= 4 and w.isalpha() and w not in STOPWORDS and w not in out:
            out.append(w)
    return out


def said_words(text: str) -> set[str]:
    """Spelling keys (``spelling.spelling_key``) of the words of ``text``, plus every pair of
    neighbours written as one word; test a word against it with ``is_said``.

    "back yard" and "backyard" (or "window sill" and "windowsill") sound the same, and speech
    recognisers write them either way; joining neighbours makes a compound count as said whichever
    way either side spelled it, both when an answer is checked and when distractors are excluded.
    """
    out: set[str] = set()
    for part in re.split(r"[.!?]+(?=\s|$)", text or ""):  # no pair across a sentence end
        tokens = normalize_text(part).split()
        out |= {spelling_key(w) for w in tokens} | {spelling_key(a + b) for a, b in zip(tokens, tokens[1:])}
    return out


def is_said(word: str, said: set[str]) -> bool:
    """True when ``word`` (any case, any spelling variant) is in a ``said_words`` set."""
    return spelling_key(normalize_text(word).replace(" ", "")) in said


def sounds_near(word: str, said: set[str]) -> bool:
    """True when ``word`` is said or could be hiding in a misheard word of a ``said_words`` set:
    a heard word contains it ("long" in "along", heard for "a long"), or the two differ by a single
    letter inserted, dropped or changed ("cold" / "colt"). A wrong option must not be near
    anything heard: the recogniser may have written the option's sound as that word. (Only that
    direction: a short heard word such as "the" inside an option, "feather", proves nothing.)"""
    key = spelling_key(normalize_text(word).replace(" ", ""))
    if key in said:
        return True
    return any((len(key) >= 3 and key in heard) or (min(len(key), len(heard)) >= 4 and _one_edit(key, heard))
               for heard in said)


def _one_edit(a: str, b: str) -> bool:
    """Levenshtein distance of ``a`` and ``b`` is exactly 1."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)):] == b[i + 1:]


def unrelated_words(pool: tuple[str, ...], said: set[str]) -> list[str]:
    """Words of ``pool`` that share no 4-letter prefix with anything in ``said`` (a
    ``said_words`` set) and are not ``sounds_near`` any of it."""
    prefixes = {w[:4] for w in said}
    return [w for w in pool if w[:4] not in prefixes and not sounds_near(w, said)]
