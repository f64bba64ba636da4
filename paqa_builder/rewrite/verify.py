"""Does a rewrite keep every fact of the template text? Rule checks, no model.

A rewrite may change wording only. It is rejected (the template text stays) when it drops or
alters a quoted line, a number or time span, an option letter, or a speaker reference; when it
changes the number of negations or the words that carry a comparison or an order; when it
names a sound or a speaker the original did not; when it names one of the options in a question;
or when it stops being a question (or becomes one). ``problem`` returns the first reason, in words
that are counted in the build's provenance.
"""

from __future__ import annotations

import re

from ..chain import LETTERS
from ..compose.facts import ORDINALS, normalize_text

QUOTE = re.compile(r"[\"\u201c]([^\"\u201d]+)[\"\u201d]")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
LETTER = re.compile(rf"\(([{LETTERS}])\)")
NEGATION = re.compile(r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot)\b|n't\b", re.I)
KEYWORDS = ("louder", "quieter", "softer", "higher", "lower", "more", "less", "fewer", "before", "after",
            "first", "last", "only", "same", "different", "both", "all", "absent", "present", "start", "end")
"""Words that carry a comparison, an order or a quantity: a rewrite keeps exactly the ones it had."""
SPEAKER = re.compile(rf"\b(?:({'|'.join(ORDINALS)}|last)\s+(?:speaker|voice|person)|(?:speaker|voice)\s+(\d+))\b",
                     re.I)


def _words(text: str) -> str:
    """Normalised words padded with spaces, so ``" dog "`` in it is a whole-word test."""
    return f" {normalize_text(text)} "


def sound_keys(names) -> frozenset[str]:
    """Sound names as ``problem`` compares them (normalised, space-padded): build once per run."""
    return frozenset(k for k in (_words(n) for n in names) if k.strip())


def _quotes(text: str) -> list[str]:
    """Quoted lines, without the punctuation a rewrite may move inside or outside the quotes."""
    return sorted(q.strip().rstrip(".,;:!?").strip() for q in QUOTE.findall(text))


def _speakers(text: str) -> set[str]:
    return {(a or b).lower() for a, b in SPEAKER.findall(text)}


def problem(original: str, rewrite: str, kind: str, vocabulary: set[str] | frozenset[str] = frozenset(),
            options: list[str] | None = None) -> str | None:
    """Why ``rewrite`` may not replace ``original`` (None: it may).

    Args:
        original: the template text.
        rewrite: the model's text.
        kind: ``"question"`` (must end with "?") or ``"sentence"`` (SUMMARY, REFLECT: must not).
        vocabulary: the sounds the build knows (ontology, labels, distractor pool) as
            ``sound_keys`` (plain names work too): a name the rewrite has and the original has not
            is a new sound claim.
        options: the question's options; a question rewrite may not name one the original did not.
    """
    text = " ".join(rewrite.split())
    if not text:
        return "empty"
    if not 0.5 <= len(text) / max(1, len(original)) <= 2.0:
        return "length changed too much"
    if kind == "question" and not text.endswith("?"):
        return "not a question"
    if kind == "sentence" and text.endswith("?"):
        return "became a question"
    if _quotes(original) != _quotes(text):
        return "quoted line changed"
    if sorted(NUMBER.findall(original)) != sorted(NUMBER.findall(text)):
        return "number or time span changed"
    if sorted(LETTER.findall(original)) != sorted(LETTER.findall(text)):
        return "option letter changed"
    if _speakers(text) - _speakers(original):
        return "new speaker reference"
    if _speakers(original) - _speakers(text):
        return "speaker reference dropped"
    # measured: SmolLM2 turned "rain is among the background sounds" into "... is not in the
    # background sounds" with every quote, number and letter intact
    if len(NEGATION.findall(original)) != len(NEGATION.findall(text)):
        return "negation changed"
    before, after = _words(original), _words(text)
    if {w for w in KEYWORDS if f" {w} " in before} != {w for w in KEYWORDS if f" {w} " in after}:
        return "comparison or order word changed"
    for name in vocabulary:
        key = name if name[:1] == " " else _words(name)  # plain names work too, only slower
        if key.strip() and key in after and key not in before:
            return "new sound claim"
    for option in options or []:
        key = _words(option)
        if key.strip() and key in after and key not in before:
            return "names an option"
    return None
