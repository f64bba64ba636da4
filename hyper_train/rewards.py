"""Stage II rewards as plain functions, in TRL's reward-function form.

Each takes ``completions`` (strings, or chat turns ``[{"role": "assistant", "content": str}]``) plus
dataset columns as keyword arguments (``answer``, ``choices``, ``evidence``...) and returns one float
per completion. All chain reading goes through ``paqa_builder.chain``; accuracy uses the same
``extract_answer`` as ``hyper-train eval``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from difflib import SequenceMatcher
from typing import Any

from paqa_builder.chain import (
    LETTERS,
    PAUSE_TOKEN,
    extract_answer,
    format_score,
    parse,
    parse_env_lines,
    parse_speaker_lines,
    time_spans,
)


def completion_text(completion: Any) -> str:
    """Text of one completion, whether a string or a list of chat turns."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = []
        for turn in completion:
            content = turn.get("content", "") if isinstance(turn, dict) else str(turn)
            if isinstance(content, list):
                content = "".join(p.get("text") or "" for p in content)
            parts.append(content)
        return "".join(parts)
    return str(completion)


def _per_row(value: Any, n: int) -> list[Any]:
    """One value per completion: TRL passes dataset columns as per-row sequences."""
    if value is None or isinstance(value, (str, dict)):
        return [value] * n
    rows = list(value)
    if len(rows) != n:
        raise ValueError(f"{len(rows)} column values for {n} completions")
    return rows


def answer_letter(answer: str, choices: list[str] | None) -> str | None:
    """The gold letter from an ``answer`` that is a letter or an option text."""
    answer = str(answer).strip()
    if len(answer) == 1 and answer.upper() in LETTERS:
        return answer.upper()
    if choices and answer in choices:
        return LETTERS[list(choices).index(answer)]
    return extract_answer(answer, list(choices) if choices else None)


def accuracy_reward(completions: list[Any], answer: list[str], choices: list[list[str]] | None = None,
                    **_: Any) -> list[float]:
    """1.0 when the committed option (``chain.extract_answer``) is the gold one, else 0.0."""
    choices_rows = _per_row(choices, len(completions))
    out = []
    for comp, gold, ch in zip(completions, _per_row(answer, len(completions)), choices_rows):
        ch = list(ch) if ch is not None else None
        pred = extract_answer(completion_text(comp), ch)
        out.append(1.0 if pred is not None and pred == answer_letter(gold, ch) else 0.0)
    return out


def format_reward(completions: list[Any], **_: Any) -> list[float]:
    """``chain.format_score``: 1.0 for a valid chain, partial credit for partial structure."""
    return [format_score(completion_text(c)) for c in completions]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def text_support(claim: str, source: str) -> float:
    """How well ``source`` supports quoted ``claim``: 1.0 if contained, else best sentence similarity."""
    claim, source_n = _norm(claim), _norm(source)
    if not claim:
        return 0.0
    if claim in source_n:
        return 1.0
    sentences = [_norm(s) for s in re.split(r"[.!?\n]+", source) if _norm(s)] or [source_n]
    return max(SequenceMatcher(None, claim, s).ratio() for s in sentences)


def _label_match(claim: str, labels: list[str]) -> bool:
    """True when a label's words appear as whole words in the claim or vice versa ("rain" != "train")."""
    claim = _norm(claim)
    if not claim:
        return False
    for lab in map(_norm, labels):
        if lab and (re.search(rf"\b{re.escape(lab)}\b", claim) or re.search(rf"\b{re.escape(claim)}\b", lab)):
            return True
    return False


_PAREN_LETTER = re.compile(r"\(([A-J])\)")


def stated_letter(text: str, choices: list[str] | None = None) -> str | None:
    """The option a think section ends up on.

    First an explicit "the answer is (X)" (``chain.extract_answer`` without choices, so "(B) engine,
    not (D)" reads B), then the last ``(X)`` mentioned (for "I change my answer from (B) to (C)"),
    then a choice text named in the section.
    """
    explicit = extract_answer(text)
    if explicit:
        return explicit
    hits = [h for h in _PAREN_LETTER.findall(text) if not choices or LETTERS.index(h) < len(choices)]
    return hits[-1] if hits else extract_answer(text, choices)


def _evidence(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
            return parsed if isinstance(parsed, dict) else {}
        except json.JSONDecodeError:
            return {}
    return {}


def span_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time spans (0 for disjoint or empty ones)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def span_agreement(generated: list[tuple[float, float]], reference: list[tuple[float, float]]) -> float:
    """How well the spans a completion asserts match the evidence's spans, in [0, 1].

    The mean of two means: each generated span's best IoU with a reference span (an invented or
    misplaced span scores low) and each reference span's best IoU with a generated span (a
    missing one scores low)."""
    if not generated or not reference:
        return 0.0
    precision = sum(max(span_iou(g, r) for r in reference) for g in generated) / len(generated)
    recall = sum(max(span_iou(r, g) for g in generated) for r in reference) / len(reference)
    return (precision + recall) / 2


def consistency_checks(text: str, evidence: Any = None, choices: list[str] | None = None,
                       reference_chain: str | None = None) -> dict[str, float]:
    """The perceptual-consistency sub-scores that apply to ``text`` (each in [0, 1]).

    - ``speaker_vs_asr``: each SPEAKER quote is supported by the ASR section (or, when the
      question's evidence has a transcript / speaker texts, by those);
    - ``reasoning_vs_answer``: the letter the think block last commits to equals FINAL_ANSWER
      (REFLECT first, since it may correct the summary; then SUMMARY, then REASONING);
    - ``env_vs_evidence``: ENV claims are not among the evidence's ``absent_labels`` (1 per claim
      matching ``env_labels``, 0 per claim matching an absent label, 0.5 otherwise);
    - ``spans_vs_evidence``: the ``[a-bs]`` spans of the THINK block against those of the row's
      target chain (``reference_chain``, built from the clip's evidence), by ``span_agreement``.
    A check with nothing to compare is left out.
    """
    parsed = parse(text)
    s = parsed.sections
    ev = _evidence(evidence)
    checks: dict[str, float] = {}
    quotes = [q for _, _, _, q in parse_speaker_lines(s.get("SPEAKER")) if q]
    reference = ev.get("transcript") or " ".join(str(sp.get("text", "")) for sp in ev.get("speakers") or [])
    reference = reference or s.get("ASR") or ""
    if quotes and reference:
        checks["speaker_vs_asr"] = sum(text_support(q, reference) for q in quotes) / len(quotes)
    final = parsed.answer
    stated = None
    for section in ("REFLECT", "SUMMARY", "REASONING"):
        if s.get(section):
            stated = stated_letter(s[section], choices)
            if stated:
                break
    if final and stated:
        checks["reasoning_vs_answer"] = 1.0 if stated == final else 0.0
    claims = parse_env_lines(s.get("ENV"))
    present, absent = ev.get("env_labels") or [], ev.get("absent_labels") or []
    if claims and (present or absent):
        scores = [0.0 if _label_match(c, absent) else 1.0 if _label_match(c, present) else 0.5 for c in claims]
        checks["env_vs_evidence"] = sum(scores) / len(scores)
    if reference_chain:
        reference = time_spans(parse(reference_chain).sections.get("THINK"))
        if reference:
            checks["spans_vs_evidence"] = span_agreement(time_spans(s.get("THINK")), reference)
    return checks


def consistency_reward(completions: list[Any], evidence: list[Any] | None = None,
                       choices: list[list[str]] | None = None, chain: list[str] | None = None,
                       **_: Any) -> list[float]:
    """Mean of the applicable ``consistency_checks``; 0.0 without a THINK block, 0.5 if none apply.

    ``chain`` is the dataset's target-chain column (PAQA rows carry it): its time spans are the
    evidence the completion's spans are checked against."""
    n = len(completions)
    out = []
    for comp, ev, ch, ref in zip(completions, _per_row(evidence, n), _per_row(choices, n), _per_row(chain, n)):
        text = completion_text(comp)
        if parse(text).sections.get("THINK") is None:
            out.append(0.0)
            continue
        checks = consistency_checks(text, ev, list(ch) if ch is not None else None, ref)
        # neutral when nothing is checkable, so groups are not pushed towards empty sections
        out.append(sum(checks.values()) / len(checks) if checks else 0.5)
    return out


def length_score(words: int, min_words: int, max_words: int) -> float:
    """1.0 inside [min_words, max_words], falling linearly to 0 at 0 words and at 2 x max_words."""
    if words < min_words:
        return words / min_words if min_words else 1.0
    if words > max_words:
        return max(0.0, 1.0 - (words - max_words) / max_words)
    return 1.0


def make_length_reward(min_words: int, max_words: int) -> Callable[..., list[float]]:
    """Length shaping reward over the completion's word count (``<PAUSE>`` not counted)."""
    def length_reward(completions: list[Any], **_: Any) -> list[float]:
        return [length_score(len(completion_text(c).replace(PAUSE_TOKEN, " ").split()), min_words, max_words)
                for c in completions]
    return length_reward


def reward_factory(func: Callable[[Any], Callable[..., list[float]]]) -> Callable[[Any], Callable[..., list[float]]]:
    """Mark a registered reward as a factory: called with the run's ``RewardArgs`` to make the
    reward function (for rewards with settings, like ``length``). Plain reward callables
    ``f(completions, **columns) -> list[float]`` are registered as they are."""
    func.reward_factory = True  # type: ignore[attr-defined]
    return func


@reward_factory
def length_reward_from_args(reward_args: Any = None) -> Callable[..., list[float]]:
    """The ``length`` reward with the window of ``RewardArgs`` (60-400 words by default)."""
    return make_length_reward(getattr(reward_args, "length_min_words", 60),
                              getattr(reward_args, "length_max_words", 400))


def build_rewards(names: list[str], reward_args: Any = None) -> list[Callable[..., list[float]]]:
    """Reward functions for ``names`` (in order), configured from a ``RewardArgs``.

    Names are looked up in ``paqa_builder.registry`` (kind ``reward``): the built-ins
    ``accuracy``, ``format``, ``consistency``, ``length`` and any installed plug-in."""
    from paqa_builder.registry import load

    funcs: list[Callable[..., list[float]]] = []
    for name in names:
        reward = load("reward", name)
        funcs.append(reward(reward_args) if getattr(reward, "reward_factory", False) else reward)
    return funcs
