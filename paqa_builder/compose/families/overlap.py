"""Overlap family (``speaker_overlap``): who talks over whom, and which two talk at once.

Built only on positive evidence: two speakers' turns that overlap for at least
``min_overlap_s``, inside an overlap region the diarizer reported (``record.overlaps``), from a
confident diarization (``facts.speakers``). There is no "nobody overlaps" question: a diarizer
that writes one speaker per moment (the portable one) cannot see overlap at all, so absence of
overlap is never asserted, and on such a diarizer the family simply asks nothing.

Variants:

* ``interrupter``: who starts talking while someone else is still speaking (exactly one such
  speaker in the clip, starting at least ``min_gap_s`` into the other's turn);
* ``pair``: with three or more speakers, which two talk at the same time (exactly one such pair);
* ``said``: what the speaker who cuts in says while the other is still talking. Asked only when
  the interrupting turn is one whole sentence (so the line is what overlaps, not a neighbour of
  it), heard well (every word >= ``min_quote_word_score``) and unlike anything the others say;
  the wrong options are the interrupted speaker's line at that moment (also heard then: the
  trap), the others' lines and fillers.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from ..facts import Facts, Speaker, normalize_text
from ..question import Ctx, Family, Question, Trap
from ..templates import PLANNING, choose, pick
from ..text import (
    QUOTE_CLASH,
    QUOTE_MATCH,
    cut_quote,
    ordinal,
    parse_speaker_option,
    sentences,
    similarity,
    speaker_option,
)
from .speakers import filler_quotes, quote_well_heard, quotes_of, turn_list

NOBODY = "nobody talks over anyone"
"""A distractor for ``interrupter``: false whenever the question is asked."""


def _covered(start: float, end: float, regions: list[tuple[float, float]] | None) -> float:
    """Seconds of [start, end] inside the detector's overlap ``regions`` (all of it when None)."""
    if regions is None:
        return end - start
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in regions)


def overlaps(facts: Facts, min_overlap_s: float, min_gap_s: float) -> list[dict[str, Any]]:
    """Overlaps between two speakers' turns: ``{"who": interrupter index, "over": interrupted
    index, "start", "end"}``, each at least ``min_overlap_s`` long and at least half inside the
    detector's overlap regions. The interrupter is the one whose turn starts later, by at least
    ``min_gap_s``; a pair of turns that start together has no interrupter (``who`` None). ``said``
    and ``over_said`` are the texts of the interrupting and the interrupted turn ("" without a
    clear interrupter)."""
    out = []
    for a, b in combinations(facts.speakers or [], 2):
        for ta in a.turns:
            for tb in b.turns:
                start, end = max(ta.start, tb.start), min(ta.end, tb.end)
                if end - start < min_overlap_s or _covered(start, end, facts.overlap_regions) < (end - start) / 2:
                    continue
                (first, t_first), (later, t_later) = sorted(((a, ta), (b, tb)), key=lambda x: x[1].start)
                clear = abs(ta.start - tb.start) >= min_gap_s
                out.append({"who": later.index if clear else None, "over": first.index if clear else None,
                            "pair": (a.index, b.index), "start": round(start, 2), "end": round(end, 2),
                            "said": (t_later.text or "") if clear else "",
                            "over_said": (t_first.text or "") if clear else ""})
    return out


def _interrupter(found: list[dict[str, Any]]) -> int | None:
    who = {o["who"] for o in found}
    return next(iter(who)) if len(who) == 1 and None not in who else None


def _pair(found: list[dict[str, Any]]) -> tuple[int, int] | None:
    pairs = {o["pair"] for o in found}
    return next(iter(pairs)) if len(pairs) == 1 else None


def pair_option(pair: tuple[int, int]) -> str:
    """'the first and third speakers'."""
    a, b = sorted(pair)
    return f"the {ordinal(a)} and {ordinal(b)} speakers"


def _spans(found: list[dict[str, Any]]) -> str:
    return ", ".join(f"{o['start']:.1f}-{o['end']:.1f}s" for o in found)


def speaker_overlap(facts: Facts, ctx: Ctx) -> list[Question]:
    """Overlap questions (see the module docstring); [] without clear overlap evidence."""
    sps: list[Speaker] = facts.speakers or []
    if len(sps) < 2:
        return []
    cfg = ctx.cfg
    found = overlaps(facts, cfg.min_overlap_s, cfg.min_gap_s)
    if not found:
        return []
    turns = turn_list(facts)
    evidence = {"overlaps": found, "num_speakers": len(sps)}
    out = []
    k = _interrupter(found)
    if k is not None:
        over = found[0]["over"]
        # the interrupted speaker first (the trap must survive the cut to num_choices), then the rest
        rest = [speaker_option(i) for i in range(1, len(sps) + 1) if i not in (k, over)] + [NOBODY]
        ctx.rng.shuffle(rest)
        wrong = [speaker_option(over)] + rest
        template, text = pick(ctx.rng, "speaker_overlap/interrupter")
        fact = (f"The {ordinal(k)} speaker starts talking while the {ordinal(over)} speaker is still "
                f"speaking ({_spans(found)}).")
        out.append(Question(
            task="speaker_overlap", variant="interrupter", text=text, template=template,
            answer=speaker_option(k), distractors=wrong[: cfg.num_choices - 1],
            evidence={**evidence, "variant": "interrupter", "speaker_index": k},
            steps=[f"The speakers in order of appearance: {turns}.",
                   f"Two voices are heard at once at {_spans(found)}."],
            conclusion=fact, fact=fact, check=fact[0].lower() + fact[1:],
            planning=choose(ctx.rng, PLANNING["speakers"]),
            trap=Trap(option=speaker_option(over),
                      tempting=f"The {ordinal(over)} speaker is talking during the overlap, so "
                               f"they could be the one who cuts in.",
                      correction=f"the {ordinal(over)} speaker was already talking; the "
                                 f"{ordinal(k)} speaker is the one who starts over them."),
        ))
    said = _said_question(facts, ctx, found, k)
    if said is not None:
        out.append(said)
    pair = _pair(found) if len(sps) >= 3 else None
    if pair is not None:
        wrong = [pair_option(p) for p in combinations(range(1, len(sps) + 1), 2) if p != tuple(sorted(pair))]
        ctx.rng.shuffle(wrong)
        template, text = pick(ctx.rng, "speaker_overlap/pair")
        fact = f"Only {pair_option(pair)} talk at the same time ({_spans(found)})."
        out.append(Question(
            task="speaker_overlap", variant="pair", text=text, template=template,
            answer=pair_option(pair), distractors=wrong[: cfg.num_choices - 1],
            evidence={**evidence, "variant": "pair", "pair": list(pair)},
            steps=[f"The speakers in order of appearance: {turns}.",
                   f"Two voices are heard at once at {_spans(found)}."],
            conclusion=fact, fact=fact, check=fact[0].lower() + fact[1:],
            planning=choose(ctx.rng, PLANNING["speakers"]),
        ))
    return out


def _interrupting_line(found: list[dict[str, Any]]) -> str | None:
    """The interrupting turn's text when it is one sentence (the same in every overlap found)."""
    lines = {o["said"] for o in found if o["who"] is not None}
    if len(lines) != 1:
        return None
    line = next(iter(lines)).strip()
    return line if line and len(sentences(line)) == 1 else None


def _said_question(facts: Facts, ctx: Ctx, found: list[dict[str, Any]], k: int | None) -> Question | None:
    """The ``said`` variant (module docstring), or None when its evidence is not clean."""
    line = _interrupting_line(found) if k is not None else None
    cfg = ctx.cfg
    if line is None or len(normalize_text(line).split()) < cfg.min_quote_words:
        return None
    sp = facts.speakers[k - 1]
    others = [o for o in facts.speakers or [] if o is not sp]
    if not quote_well_heard(line, sp, facts, cfg.min_quote_word_score) or \
            any(similarity(line, o.text) >= QUOTE_CLASH for o in others):
        return None
    quote = cut_quote(line, cfg.max_quote_words)
    over_line = next(o["over_said"] for o in found if o["who"] == k).strip()
    trap = cut_quote(over_line, cfg.max_quote_words) if over_line else None
    wrong = [trap] if trap and similarity(trap, sp.text) < QUOTE_CLASH else []
    lines = [q for o in others for q in quotes_of(o, ctx) if q not in wrong and similarity(q, sp.text) < QUOTE_CLASH]
    ctx.rng.shuffle(lines)  # not always the first lines of the lowest-numbered speakers
    wrong += lines
    need = cfg.num_choices - 1
    wrong = wrong[:need] + filler_quotes(facts, ctx, max(0, need - len(wrong)), like=quote)
    if not wrong:
        return None
    over = next(o["over"] for o in found if o["who"] == k)
    span = _spans([o for o in found if o["who"] == k])
    template, text = pick(ctx.rng, "speaker_overlap/said")
    fact = f"While the {ordinal(over)} speaker is still talking, the {ordinal(k)} speaker cuts in with \"{quote}\"."
    return Question(
        task="speaker_overlap", variant="said", text=text, template=template, answer=quote,
        distractors=wrong, evidence={"overlaps": found, "num_speakers": len(facts.speakers),
                                     "variant": "said", "speaker_index": k, "quote": quote},
        steps=[f"Two voices are heard at once at {span}.",
               f"The {ordinal(over)} speaker was already talking; the {ordinal(k)} speaker starts "
               f"during that turn."],
        conclusion=fact, fact=fact, check=f"the line \"{quote}\" is the {ordinal(k)} speaker's turn that "
                                          f"starts over the {ordinal(over)} speaker.",
        planning=choose(ctx.rng, PLANNING["speakers"]),
        trap=None if not trap or trap not in wrong else Trap(
            option=trap, tempting=f"\"{trap}\" is also heard during the overlap.",
            correction=f"that line is the {ordinal(over)} speaker's, who was already talking; the "
                       f"one who cuts in says \"{quote}\"."),
    )


def check_overlap(facts: Facts, evidence: dict[str, Any], choices: list[str],
                  ctx: Ctx) -> list[bool] | None:
    """Re-derive the interrupter, the overlapping pair or the interrupting line from the record's
    own turns."""
    found = overlaps(facts, ctx.cfg.min_overlap_s, ctx.cfg.min_gap_s) if facts.speakers else []
    if evidence.get("variant") == "said":
        line = _interrupting_line(found) if found and _interrupter(found) is not None else None
        if line is None:
            return None
        return [similarity(c.rstrip("."), line) >= QUOTE_MATCH for c in choices]
    if evidence.get("variant") == "interrupter":
        k = _interrupter(found) if found else None
        if k is None:
            return None
        return [c != NOBODY and parse_speaker_option(c) == k for c in choices]
    pair = _pair(found) if found else None
    if pair is None:
        return None
    return [c == pair_option(pair) for c in choices]


SPEAKER_OVERLAP = Family("speaker_overlap", speaker_overlap, check_overlap)
"""Registered in ``paqa_builder.registry`` (kind ``family``) under ``speaker_overlap``."""
