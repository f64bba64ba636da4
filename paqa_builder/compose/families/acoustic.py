"""Acoustic family: higher voice, louder speaker, faster talker, background vs speech level, which
half of the clip is louder, how noisy the recording is.

Comparisons are asked only with a clear margin (``min_pitch_ratio``, ``min_level_diff_db``,
``min_rate_ratio``); checks re-derive the winner with a small tolerance and call near-ties "about
the same". The clip-halves question needs only the decoded audio, so it works on label-only clips.
"""

from __future__ import annotations

import itertools
from typing import Any

from ..facts import Facts
from ..features import half_levels
from ..question import Ctx, Family, Question, Trap
from ..templates import PLANNING, choose, pick
from ..text import ordinal, parse_speaker_option, speaker_option

SAME = "they are about the same"
SPEECH_LOUDER, BG_LOUDER, EQUAL = ("the speech is louder", "the background is louder",
                                   "they are about equally loud")
FIRST_HALF, SECOND_HALF, HALVES_EQUAL = ("the first half", "the second half",
                                         "both halves are about equally loud")
CLEAN, NOISY, NO_VOICE = ("clean: the voices stand out clearly",
                          "noisy: background sound competes with the voices",
                          "there are no voices at all")
LEVEL_TOL_DB, RATIO_TOL = 1.0, 1.03
"""Tolerances of the checks: closer than this counts as 'about the same'."""

# variant -> (speaker_stats key, compare as "ratio" or "diff", config threshold name, adjective)
SPEAKER_COMPARISONS = {
    "pitch": ("pitch_hz", "ratio", "min_pitch_ratio", "a higher voice"),
    "speaker_level": ("loudness_db", "diff", "min_level_diff_db", "a louder voice"),
    "rate": ("words_per_second", "ratio", "min_rate_ratio", "a faster pace"),
}


def _winner(a: float, b: float, mode: str, margin: float) -> int | None:
    """0 when ``a`` beats ``b`` by ``margin``, 1 when ``b`` beats ``a``, None otherwise."""
    if mode == "diff":
        return 0 if a - b >= margin else 1 if b - a >= margin else None
    if a <= 0 or b <= 0:
        return None
    return 0 if a / b >= margin else 1 if b / a >= margin else None


def _speaker_pairs(facts: Facts, ctx: Ctx) -> list[Question]:
    speakers = facts.speakers or []
    out = []
    for variant, (key, mode, threshold, adjective) in SPEAKER_COMPARISONS.items():
        if variant == "rate" and not facts.asr_ok:
            continue  # words per second rest on the transcript
        margin = getattr(ctx.cfg, threshold)
        pairs = []
        for a, b in itertools.combinations(speakers, 2):
            va, vb = a.stats.get(key), b.stats.get(key)
            if va is None or vb is None:
                continue
            w = _winner(float(va), float(vb), mode, margin)
            if w is not None:
                pairs.append((a, b, (a, b)[w]))
        if not pairs:
            continue
        a, b, win = ctx.rng.choice(pairs)
        lose = b if win is a else a
        template, text = pick(ctx.rng, f"acoustic/{variant}")
        if len(speakers) > 2:
            text = (f"Comparing the {ordinal(a.index)} and {ordinal(b.index)} speakers: "
                    f"{text[0].lower()}{text[1:]}")
        unit = "Hz" if key == "pitch_hz" else "dB" if key == "loudness_db" else "words/s"
        values = f"the {ordinal(a.index)} speaker at {a.stats[key]:.1f} {unit}, the " \
                 f"{ordinal(b.index)} at {b.stats[key]:.1f} {unit}"
        fact = f"The {ordinal(win.index)} speaker has {adjective} ({values})."
        out.append(Question(
            task="acoustic", variant=variant, text=text, template=template,
            answer=speaker_option(win.index),
            distractors=[speaker_option(lose.index), SAME][: ctx.cfg.num_choices - 1],
            evidence={"variant": variant, "pair": [a.index, b.index], "stat": key,
                      "values": {str(a.index): a.stats[key], str(b.index): b.stats[key]}},
            steps=[f"I compare the two voices: {values}.",
                   "The difference is well beyond what I would call 'about the same'."],
            conclusion=fact, fact=fact, check=fact[0].lower() + fact[1:],
            planning=choose(ctx.rng, PLANNING["acoustic"]),
            trap=Trap(option=speaker_option(lose.index),
                      tempting=f"The {ordinal(lose.index)} speaker is more prominent in the "
                               f"conversation, which makes that voice stand out.",
                      correction=fact[0].lower() + fact[1:]),
        ))
    return out


def _speech_present(facts: Facts) -> bool:
    return bool(facts.speakers) or (facts.speech_ratio or 0.0) > 0.1


def _snr(facts: Facts) -> float | None:
    if facts.snr_db is not None:
        return facts.snr_db
    s, b = facts.acoustics.get("speech_db"), facts.acoustics.get("background_db")
    return None if s is None or b is None else s - b


def _clip_questions(facts: Facts, ctx: Ctx) -> list[Question]:
    cfg, out = ctx.cfg, []
    s_db, b_db = facts.acoustics.get("speech_db"), facts.acoustics.get("background_db")
    if s_db is not None and b_db is not None and _speech_present(facts) and facts.sounds:
        w = _winner(s_db, b_db, "diff", cfg.min_level_diff_db)
        if w is not None and facts.levels_agree(speech_louder=w == 0):
            answer, other = (SPEECH_LOUDER, BG_LOUDER) if w == 0 else (BG_LOUDER, SPEECH_LOUDER)
            fact = f"Speech is at {s_db:.1f} dB and the background at {b_db:.1f} dB."
            template, text = pick(ctx.rng, "acoustic/bg_vs_speech")
            out.append(_simple(ctx, "bg_vs_speech", text, template, answer, [other, EQUAL], fact,
                               {"speech_db": round(s_db, 2), "background_db": round(b_db, 2)}))
    halves = half_levels(facts.audio)
    if halves is not None and max(halves) > -60.0:
        w = _winner(halves[0], halves[1], "diff", cfg.min_level_diff_db)
        if w is not None:
            answer = (FIRST_HALF, SECOND_HALF)[w]
            fact = (f"The first half measures {halves[0]:.1f} dB RMS and the second half "
                    f"{halves[1]:.1f} dB RMS.")
            template, text = pick(ctx.rng, "acoustic/halves")
            out.append(_simple(ctx, "halves", text, template, answer,
                               [(SECOND_HALF, FIRST_HALF)[w], HALVES_EQUAL], fact,
                               {"first_half_db": round(halves[0], 2),
                                "second_half_db": round(halves[1], 2)}))
    snr = _snr(facts)
    noisy, clean = cfg.noisy_snr_db - cfg.snr_margin_db, cfg.clean_snr_db + cfg.snr_margin_db
    if snr is not None and _speech_present(facts) and (snr < noisy or snr > clean):
        answer, other = (NOISY, CLEAN) if snr < noisy else (CLEAN, NOISY)
        fact = f"The speech-to-background ratio is {snr:.1f} dB."
        template, text = pick(ctx.rng, "acoustic/noisy")
        out.append(_simple(ctx, "noisy", text, template, answer, [other, NO_VOICE], fact,
                           {"snr_db": round(snr, 2)}))
    return out


def _simple(ctx: Ctx, variant: str, text: str, template: int, answer: str, wrong: list[str],
            fact: str, values: dict[str, Any]) -> Question:
    return Question(
        task="acoustic", variant=variant, text=text, template=template, answer=answer,
        distractors=wrong[: ctx.cfg.num_choices - 1], evidence={"variant": variant, **values},
        steps=[fact, "The difference is large enough to be heard clearly."],
        conclusion=f"So {answer}.", fact=fact, check=fact[0].lower() + fact[1:],
        planning=choose(ctx.rng, PLANNING["acoustic"]),
        trap=Trap(option=wrong[0], tempting=f"Judging by ear alone, \"{wrong[0]}\" seems plausible.",
                  correction=f"the measurement says otherwise: {fact[0].lower() + fact[1:]}"),
    )


def acoustic(facts: Facts, ctx: Ctx) -> list[Question]:
    """All acoustic comparisons the record supports with a clear margin."""
    return _speaker_pairs(facts, ctx) + _clip_questions(facts, ctx)


def _check_speakers(facts: Facts, evidence: dict[str, Any], choices: list[str]) -> list[bool] | None:
    key, mode = SPEAKER_COMPARISONS[evidence["variant"]][:2]
    pair = [int(i) for i in evidence.get("pair") or []]
    speakers = facts.speakers or []
    if len(pair) != 2 or any(not 1 <= i <= len(speakers) for i in pair):
        return None
    vals = [speakers[i - 1].stats.get(key) for i in pair]
    if None in vals:
        return None
    w = _winner(float(vals[0]), float(vals[1]), mode, LEVEL_TOL_DB if mode == "diff" else RATIO_TOL)
    return [(c == SAME) if w is None else parse_speaker_option(c) == pair[w] for c in choices]


def check_acoustic(facts: Facts, evidence: dict[str, Any], choices: list[str],
                   ctx: Ctx) -> list[bool] | None:
    """Re-derive the comparison from the record's measurements (None when not measured)."""
    variant = evidence.get("variant")
    if variant in SPEAKER_COMPARISONS:
        return _check_speakers(facts, evidence, choices)
    if variant == "bg_vs_speech":
        s, b = facts.acoustics.get("speech_db"), facts.acoustics.get("background_db")
        if s is None or b is None:
            return None
        w = _winner(s, b, "diff", LEVEL_TOL_DB)
        right = EQUAL if w is None else (SPEECH_LOUDER, BG_LOUDER)[w]
    elif variant == "halves":
        halves = half_levels(facts.audio)
        if halves is None:
            return None
        w = _winner(halves[0], halves[1], "diff", LEVEL_TOL_DB)
        right = HALVES_EQUAL if w is None else (FIRST_HALF, SECOND_HALF)[w]
    elif variant == "noisy":
        snr = _snr(facts)
        if snr is None:
            return None
        mid = (ctx.cfg.noisy_snr_db + ctx.cfg.clean_snr_db) / 2
        right = NOISY if snr < mid else CLEAN
    else:
        return None
    return [c == right for c in choices]


ACOUSTIC = Family("acoustic", acoustic, check_acoustic)
"""Registered in ``paqa_builder.registry`` (kind ``family``) under the task id."""
