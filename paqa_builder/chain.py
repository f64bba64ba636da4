"""The perception-chain format: tags, order, render, parse, validate, answer extraction.

This is the single definition shared by the builder (which renders target chains) and the trainer
(whose format, accuracy and consistency rewards parse model output). Nothing else in the project
spells a chain tag.

    <THINK>
    <PLANNING>...</PLANNING>
    <CAPTION>
    <ENV>...</ENV>
    <SPEAKER>...</SPEAKER>
    <ASR>...</ASR>
    </CAPTION>
    <REASONING>1. ...\n2. ...</REASONING>
    <SUMMARY>...</SUMMARY>
    <REFLECT>...</REFLECT>
    </THINK>
    <FINAL_ANSWER>B</FINAL_ANSWER>

Inside ``<SPEAKER>`` each speaker is one line, ``Speaker 1 [0.0-3.2s]: "text"``; inside ``<ENV>``
each sound is one line, ``- dog barking [0.0-10.0s] (louder than speech)``. The line helpers below
write and read those forms so that the consistency reward can compare claims with evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

LETTERS = "ABCDEFGHIJ"
"""Answer letters, in option order."""

PAUSE_TOKEN = "<PAUSE>"
"""Special token the Stage II policy emits to think before committing (HyPeR)."""

OUTER_TAGS = ("THINK", "FINAL_ANSWER")
THINK_TAGS = ("PLANNING", "CAPTION", "REASONING", "SUMMARY", "REFLECT")
CAPTION_TAGS = ("ENV", "SPEAKER", "ASR")
ALL_TAGS = OUTER_TAGS + THINK_TAGS + CAPTION_TAGS
REQUIRED_TAGS = ("THINK", "PLANNING", "CAPTION", "REASONING", "SUMMARY", "FINAL_ANSWER")
"""Tags a well-formed chain must contain; ENV/SPEAKER/ASR/REFLECT are optional."""

NONE_HEARD = "none"
"""Body of an ENV/SPEAKER/ASR section when the perception found nothing (distinct from absent)."""


@dataclass
class Chain:
    """A perception chain as data. ``None`` sections are omitted when rendered."""

    planning: str
    reasoning: list[str]
    summary: str
    answer: str
    env: str | None = None
    speaker: str | None = None
    asr: str | None = None
    reflect: str | None = None


@dataclass
class ParsedChain:
    """Result of ``parse``: section bodies (None when missing) and the problems found."""

    sections: dict[str, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def answer(self) -> str | None:
        """The FINAL_ANSWER letter, upper-cased, or None."""
        body = self.sections.get("FINAL_ANSWER")
        if body is None:
            return None
        return _tag_letter(body)  # the same reader as extract_answer ("I think B" is B)

    @property
    def valid(self) -> bool:
        return not self.problems


def _block(tag: str, body: str) -> str:
    return f"<{tag}>{body.strip()}</{tag}>"


def render(chain: Chain) -> str:
    """Render ``chain`` as text in the canonical tag order."""
    steps = "\n".join(f"{i}. {s.strip()}" for i, s in enumerate(chain.reasoning, 1))
    caption = [
        _block(tag, body)
        for tag, body in (("ENV", chain.env), ("SPEAKER", chain.speaker), ("ASR", chain.asr))
        if body is not None
    ]
    think = [_block("PLANNING", chain.planning), "<CAPTION>", *caption, "</CAPTION>",
             _block("REASONING", steps), _block("SUMMARY", chain.summary)]
    if chain.reflect is not None:
        think.append(_block("REFLECT", chain.reflect))
    return "\n".join(["<THINK>", *think, "</THINK>", _block("FINAL_ANSWER", chain.answer)])


_TAG_RE = re.compile(r"<(/?)(" + "|".join(ALL_TAGS) + r")>")


def map_section(text: str, tag: str, fn: Any, count: int = 0) -> str:
    """``text`` with the body of each ``<tag>...</tag>`` section replaced by ``fn(body)`` (the first
    ``count`` sections; 0: all). The one place besides ``render`` that writes a tag."""
    if tag not in ALL_TAGS:
        raise ValueError(f"unknown chain tag {tag!r}")
    return re.sub(rf"(<{tag}>)(.*?)(</{tag}>)", lambda m: m.group(1) + fn(m.group(2)) + m.group(3), text,
                  count=count, flags=re.S)


def parse(text: str) -> ParsedChain:
    """Parse chain text. Never raises: malformed input yields ``problems``.

    Checks: every required tag present exactly once and closed, tags nested as specified
    (caption tags inside CAPTION, think tags inside THINK), think sections in canonical order,
    a single letter in FINAL_ANSWER, nothing but whitespace (or ``<PAUSE>``) outside the blocks.
    """
    text = text.replace(PAUSE_TOKEN, "")
    out = ParsedChain()
    stack: list[tuple[str, int]] = []
    seen: list[str] = []
    counts: dict[str, int] = {}
    last_end = 0
    for m in _TAG_RE.finditer(text):
        closing, tag = m.group(1) == "/", m.group(2)
        if not stack and text[last_end:m.start()].strip():
            out.problems.append(f"text outside tags before <{'/' if closing else ''}{tag}>")
        if not closing:
            parent = stack[-1][0] if stack else None
            expected_parent = ("CAPTION" if tag in CAPTION_TAGS else "THINK" if tag in THINK_TAGS
                               else None)
            if parent != expected_parent:
                out.problems.append(f"<{tag}> inside <{parent}>, expected inside <{expected_parent}>")
            stack.append((tag, m.end()))
            counts[tag] = counts.get(tag, 0) + 1
            seen.append(tag)
        else:
            if not stack or stack[-1][0] != tag:
                out.problems.append(f"unexpected </{tag}>")
                continue
            _, body_start = stack.pop()
            out.sections.setdefault(tag, text[body_start:m.start()].strip())
            if not stack:
                last_end = m.end()
    if stack:
        out.problems.append("unclosed " + ", ".join(f"<{t}>" for t, _ in stack))
    if text[last_end:].strip() and not stack:
        out.problems.append("text after the last block")
    for tag in REQUIRED_TAGS:
        if counts.get(tag, 0) == 0:
            out.problems.append(f"missing <{tag}>")
    out.problems += [f"<{t}> appears {n} times" for t, n in counts.items() if n > 1]
    order = [t for t in seen if t in THINK_TAGS]
    if order != sorted(order, key=THINK_TAGS.index):
        out.problems.append("think sections out of order: " + ",".join(order))
    if "FINAL_ANSWER" in out.sections and out.answer is None:
        out.problems.append("FINAL_ANSWER holds no option letter")
    for tag in ALL_TAGS:
        out.sections.setdefault(tag, None)
    return out


def validate(text: str) -> list[str]:
    """Problems with ``text`` as a chain; an empty list means well-formed."""
    return parse(text).problems


def format_score(text: str) -> float:
    """Share of format checks passed, in [0, 1]: 1.0 for a valid chain, 0.0 for no tags at all."""
    parsed = parse(text)
    present = sum(1 for t in REQUIRED_TAGS if parsed.sections.get(t) is not None)
    if present == 0:
        return 0.0
    score = present / len(REQUIRED_TAGS)
    return max(0.0, score - 0.1 * len([p for p in parsed.problems if not p.startswith("missing")]))


_ANSWER_PATTERNS = (
    re.compile(r"answer\s*(?:is|:)?\s*[\(\[]?([A-J])[\)\]]?(?![A-Za-z])", re.I),
    re.compile(r"(?:option|choice)\s*[\(\[]?([A-J])[\)\]]?(?![A-Za-z])", re.I),
    re.compile(r"^\s*[\(\[]?([A-J])[\)\]\.:]?\s*$", re.I | re.M),
)


def _tag_letter(body: str) -> str | None:
    """The option letter inside a FINAL_ANSWER body: "(B)", a lone "b", else the first capital
    A-J standing alone that is not the pronoun ("I think it is B" is B, not I); None otherwise
    (then the phrase patterns read the body)."""
    bracketed = re.search(r"[\(\[]([A-J])[\)\]]", body)
    if bracketed:
        return bracketed.group(1)
    alone = re.fullmatch(r"\s*([A-Ja-j])[.)]?\s*", body)
    if alone:
        return alone.group(1).upper()
    for hit in re.finditer(r"\b([A-J])\b", body):
        if not (hit.group(1) == "I" and re.match(r"\s+[a-z]", body[hit.end():])):
            return hit.group(1)
    return None


def extract_answer(text: str, choices: list[str] | None = None) -> str | None:
    """The option letter a free-form or chain answer commits to, or None.

    Order: FINAL_ANSWER tag, then "the answer is (B)"-style phrases, then a bare letter line, then
    (when ``choices`` are given) the single choice whose text appears in the answer. Shared by the
    accuracy reward and ``hyper-train eval`` so both read answers the same way.
    """
    m = re.search(r"<FINAL_ANSWER>(.*?)</FINAL_ANSWER>", text, re.S)
    if m:
        letter = _tag_letter(m.group(1))
        if letter:
            return letter
        text = m.group(1)
    for pattern in _ANSWER_PATTERNS:
        hits = pattern.findall(text)
        if hits:
            return hits[-1].upper()
    if choices:
        low = text.lower()
        found = [i for i, c in enumerate(choices) if c and c.lower() in low]
        if len(found) == 1:
            return LETTERS[found[0]]
    return None


# -- time spans --------------------------------------------------------------------------------

SPAN_RE = re.compile(r"\[(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)s\]")
"""A time span as chains write it, ``[2.4-4.3s]``: groups are start and end in seconds."""


def time_spans(text: str | None) -> list[tuple[float, float]]:
    """Every ``[start-end s]`` span in a chain or chain section, in order of appearance."""
    return [(float(m.group(1)), float(m.group(2))) for m in SPAN_RE.finditer(text or "")]


# -- line helpers for SPEAKER and ENV sections ------------------------------------------------

def speaker_line(index: int, start: float, end: float, text: str) -> str:
    """One SPEAKER line; ``index`` counts from 1 in order of first appearance."""
    return f'Speaker {index} [{start:.1f}-{end:.1f}s]: "{text.strip()}"'


_SPEAKER_RE = re.compile(r'Speaker\s+(\d+)\s*(?:\[([\d.]+)-([\d.]+)s\])?\s*:\s*"?(.*?)"?\s*$', re.I)


def parse_speaker_lines(body: str | None) -> list[tuple[int, float | None, float | None, str]]:
    """``(speaker index, start, end, quoted text)`` for each speaker line in a SPEAKER body."""
    out = []
    for line in (body or "").splitlines():
        m = _SPEAKER_RE.search(line.strip().lstrip("-* "))
        if m:
            start = float(m.group(2)) if m.group(2) else None
            end = float(m.group(3)) if m.group(3) else None
            out.append((int(m.group(1)), start, end, m.group(4).strip()))
    return out


def env_line(label: str, start: float, end: float, relation: str | None = None) -> str:
    """One ENV line: a sound, its time span and optionally its level relative to speech."""
    tail = f" ({relation})" if relation else ""
    return f"- {label} [{start:.1f}-{end:.1f}s]{tail}"


_ENV_RE = re.compile(r"^-\s*(.+?)\s*(?:\[[\d.]+-[\d.]+s\])?\s*(?:\(.*\))?\s*$")


def parse_env_lines(body: str | None) -> list[str]:
    """Sound labels claimed in an ENV body (lower-cased)."""
    labels = []
    for line in (body or "").splitlines():
        m = _ENV_RE.match(line.strip())
        if m:
            labels.append(m.group(1).strip().lower())
    return labels


def format_choices(choices: list[str]) -> str:
    """Options as they appear in a question prompt: ``(A) first (B) second``."""
    return " ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
