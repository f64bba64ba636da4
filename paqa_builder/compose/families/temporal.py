"""Temporal family: what is heard while a speaker talks, when a sound occurs relative to the first
speech, which sound comes first.

Only *timed* sound events are used (tagger or mixer spans): a clip-level dataset label says nothing
about when a sound happens. Every ordering needs a clear gap (``min_gap_s``) and every 'while' an
overlap of at least ``min_overlap_s``; otherwise the family abstains. A claim that a sound is *not*
heard at some moment (before/after, first sound, 'elsewhere' distractors) also needs spans from an
origin in ``timed_absence_origins``: a tagger's patchy spans only prove presence.
"""

from __future__ import annotations

from typing import Any

from ..facts import Facts, Sound, Speaker
from ..question import Ctx, Family, Question, Trap
from ..templates import PLANNING, choose, pick
from ..text import ordinal
from .environment import span

BEFORE, DURING, AFTER, NEVER = ("before anyone speaks", "while the first speaker is talking",
                                "after the first speaker's turn ends", "it is not heard at all")


def _timed(facts: Facts) -> dict[str, list[Sound]]:
    """Timed events grouped by sound name."""
    out: dict[str, list[Sound]] = {}
    for ev in facts.events:
        if ev.timed:
            out.setdefault(ev.name, []).append(ev)
    return out


def _complete(events: list[Sound], cfg: Any) -> bool:
    """True when every span of ``events`` comes from an origin trusted to show absence too."""
    return bool(events) and all(e.origin in cfg.timed_absence_origins for e in events)


def _overlap(events: list[Sound], spans: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(e.end, b) - max(e.start, a)) for e in events for a, b in spans)


def _gap(events: list[Sound], spans: list[tuple[float, float]]) -> float:
    """Smallest distance between any event and any span (0 when they touch or overlap)."""
    return min((max(a - e.end, e.start - b, 0.0) for e in events for a, b in spans), default=0.0)


def _turn_spans(sp: Speaker) -> list[tuple[float, float]]:
    return [(t.start, t.end) for t in sp.turns]


def _find(facts: Facts, name: str, mid: str | None) -> list[Sound]:
    return [ev for ev in facts.events if ev.timed and (ev.name.lower() == name.lower()
                                                      or (mid is not None and ev.mid == mid))]


def relation(events: list[Sound], first: tuple[float, float], cfg: Any) -> str | None:
    """BEFORE / DURING / AFTER for all ``events`` against the first turn, or None if mixed."""
    a, b = first
    kinds = set()
    for e in events:
        if e.end <= a - cfg.min_gap_s:
            kinds.add(BEFORE)
        elif e.start >= b + cfg.min_gap_s:
            kinds.add(AFTER)
        elif min(e.end, b) - max(e.start, a) >= cfg.min_overlap_s:
            kinds.add(DURING)
        else:
            return None
    return kinds.pop() if len(kinds) == 1 else None


def _relation_claim(events: list[Sound], first: tuple[float, float], cfg: Any) -> str | None:
    """What may be asserted about ``events`` against the first turn: the full ``relation`` for
    complete spans; for patchy (tagger) spans only DURING, when one of them overlaps the turn."""
    if _complete(events, cfg):
        return relation(events, first, cfg)
    a, b = first
    if any(min(e.end, b) - max(e.start, a) >= cfg.min_overlap_s for e in events):
        return DURING
    return None


def _first_turn(facts: Facts) -> tuple[float, float] | None:
    turns = [t for sp in facts.speakers or [] for t in sp.turns]
    if not turns:
        return None
    first = min(turns, key=lambda t: t.start)
    return first.start, first.end


def temporal(facts: Facts, ctx: Ctx) -> list[Question]:
    """During / relative / first-sound questions from timed events and speaker turns."""
    timed = _timed(facts)
    if not timed:
        return []
    cfg, out = ctx.cfg, []
    env_steps = "Timed sounds: " + ", ".join(f"{e.name} {span(e)}" for e in facts.events
                                             if e.timed) + "."
    for sp in facts.speakers or []:
        spans = _turn_spans(sp)
        during = [n for n, evs in timed.items() if _overlap(evs, spans) >= cfg.min_overlap_s]
        apart = [n for n, evs in timed.items()
                 if _complete(evs, cfg) and _gap(evs, spans) >= cfg.min_gap_s]
        if not during:
            continue
        name = ctx.rng.choice(during)
        anchors = [e.mid for evs in timed.values() for e in evs]
        wrong = apart[: cfg.num_choices - 1]
        absent = ctx.picker.near(facts, anchors, cfg.num_choices - 1 - len(wrong), ctx.rng)
        wrong += [n for _, n in absent]
        if not wrong:
            continue
        ev = timed[name][0]
        template, text = pick(ctx.rng, "temporal/during", ord=ordinal(sp.index))
        trap = apart[0] if apart else wrong[0]
        out.append(Question(
            task="temporal", variant="during", text=text, template=template, answer=name,
            distractors=wrong,
            evidence={"variant": "during", "speaker_index": sp.index, "sound": name,
                      "speaker_turns": [[round(a, 2), round(b, 2)] for a, b in spans],
                      "env": [[e.name, round(e.start, 2), round(e.end, 2)] for e in facts.events]},
            steps=[env_steps, f"The {ordinal(sp.index)} speaker talks at "
                   + ", ".join(f"{a:.1f}-{b:.1f}s" for a, b in spans) + "."],
            conclusion=f"The {name} {span(ev)} overlaps those turns.",
            fact=f"The {name} is heard while the {ordinal(sp.index)} speaker talks.",
            check=f"the {name} overlaps the {ordinal(sp.index)} speaker's turns.",
            planning=choose(ctx.rng, PLANNING["temporal"]),
            trap=Trap(option=trap, tempting=f"The {trap} is also in the clip, so it might be "
                                            f"heard at that time too." if trap in apart else
                      f"The {trap} could be hidden under the voice.",
                      correction=(f"the {trap} occurs only away from that speaker's turns; "
                                  if trap in apart else f"the {trap} is not heard at all; ")
                      + f"the sound overlapping them is the {name}."),
            option_mids={n: (timed[n][0].mid if n in timed else None) for n in [name] + wrong}
            | {n: m for m, n in absent},
        ))
    first = _first_turn(facts)
    if first is not None:
        found = {n: r for n, evs in timed.items() if (r := _relation_claim(evs, first, cfg))}
        if found:
            name = ctx.rng.choice(sorted(found))
            answer = found[name]
            wrong = [o for o in (BEFORE, DURING, AFTER, NEVER) if o != answer]
            ctx.rng.shuffle(wrong)
            template, text = pick(ctx.rng, "temporal/relative", sound=name)
            evs = timed[name]
            fact = f"The {name} {' and '.join(span(e) for e in evs)} is heard {answer}."
            out.append(Question(
                task="temporal", variant="relative", text=text, template=template, answer=answer,
                distractors=wrong[: cfg.num_choices - 1],
                evidence={"variant": "relative", "sound": name, "first_turn": list(first),
                          "sound_spans": [[e.start, e.end] for e in evs]},
                steps=[env_steps, f"The first speech runs from {first[0]:.1f}s to {first[1]:.1f}s."],
                conclusion=fact, fact=fact, check=fact[0].lower() + fact[1:],
                planning=choose(ctx.rng, PLANNING["temporal"]),
                trap=Trap(option=DURING if answer != DURING else AFTER,
                          tempting=f"The {name} and the speech are both prominent, so they seem "
                                   f"to coincide." if answer != DURING else
                          f"The {name} is still audible late in the clip.",
                          correction=fact[0].lower() + fact[1:]),
            ))
    starts = sorted(((min(e.start for e in evs), n) for n, evs in timed.items()))
    if (len(starts) >= 2 and starts[1][0] - starts[0][0] >= cfg.min_gap_s
            and all(_complete(evs, cfg) for evs in timed.values())):
        name = starts[0][1]
        later = [n for _, n in starts[1:]][: cfg.num_choices - 1]
        absent = ctx.picker.near(facts, [timed[name][0].mid], cfg.num_choices - 1 - len(later),
                                 ctx.rng)
        template, text = pick(ctx.rng, "temporal/first_sound")
        fact = f"The {name} starts at {starts[0][0]:.1f}s, before any other sound."
        out.append(Question(
            task="temporal", variant="first_sound", text=text, template=template, answer=name,
            distractors=later + [n for _, n in absent],
            evidence={"variant": "first_sound", "sound": name,
                      "env": [[e.name, round(e.start, 2), round(e.end, 2)] for e in facts.events]},
            steps=[env_steps, "Ordering the options by onset: "
                   + ", ".join(f"{n} at {t:.1f}s" for t, n in starts) + "."],
            conclusion=fact, fact=fact, check=fact[0].lower() + fact[1:],
            planning=choose(ctx.rng, PLANNING["temporal"]),
            trap=Trap(option=later[0], tempting=f"The {later[0]} is louder and easier to notice.",
                      correction=f"the {later[0]} starts at {starts[1][0]:.1f}s, after the "
                                 f"{name} at {starts[0][0]:.1f}s."),
            option_mids={name: timed[name][0].mid} | {n: m for m, n in absent},
        ))
    return out


def check_temporal(facts: Facts, evidence: dict[str, Any], choices: list[str],
                   ctx: Ctx) -> list[bool] | None:
    """Re-derive the timing relation from the record's timed events and turns."""
    variant, cfg = evidence.get("variant"), ctx.cfg
    mids = list(evidence.get("choice_mids") or [None] * len(choices))
    if not any(ev.timed for ev in facts.events):
        return None
    if variant == "during":
        k = int(evidence.get("speaker_index") or 0)
        if not facts.speakers or not 1 <= k <= len(facts.speakers):
            return None
        spans = _turn_spans(facts.speakers[k - 1])
        return [_overlap(_find(facts, c, m), spans) >= cfg.min_overlap_s
                for c, m in zip(choices, mids)]
    if variant == "relative":
        first = _first_turn(facts)
        evs = _find(facts, str(evidence.get("sound")), None)
        if first is None:
            return None
        rel = _relation_claim(evs, first, cfg) if evs else NEVER
        return None if rel is None else [c == rel for c in choices]
    onsets = {c: min((e.start for e in _find(facts, c, m)), default=None)
              for c, m in zip(choices, mids)}
    heard = sorted(t for t in onsets.values() if t is not None)
    if not heard or (len(heard) > 1 and heard[1] - heard[0] < cfg.min_gap_s / 2):
        return None
    return [onsets[c] == heard[0] for c in choices]


TEMPORAL = Family("temporal", temporal, check_temporal)
"""Registered in ``paqa_builder.registry`` (kind ``family``) under the task id."""
