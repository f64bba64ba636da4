"""Environment families: env_present, env_absent, speech_or_env.

These need only labels (or tagger events) and, for the foreground question, levels or labels, so
they work on a clip before any perception backend has run.
"""

from __future__ import annotations

from typing import Any

from ..facts import Facts, Sound
from ..question import Ctx, Family, Question, Trap
from ..templates import PLANNING, choose, pick


def span(sound: Sound) -> str:
    """'[0.0-10.0s]' for a sound's time span."""
    return f"[{sound.start:.1f}-{sound.end:.1f}s]"


def _heard_list(sounds: list[Sound]) -> str:
    return ", ".join(f"{s.name} {span(s)}" for s in sounds)


def _all_heard(present: list[Sound], absent: str) -> str:
    """'the engine is heard, the gunshot is not.' / 'the engine and the rain are all heard, ...'
    (lower case: the reflect templates put it after a colon, like every other check)."""
    names = [f"the {s.name}" for s in present]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    verb = "is" if len(names) == 1 else "are all"
    return f"{listed} {verb} heard, the {absent} is not."


def _choice_mid(evidence: dict[str, Any], choices: list[str], i: int) -> str | None:
    mids = evidence.get("choice_mids") or []
    return mids[i] if i < len(mids) else None


# -- env_present --------------------------------------------------------------------------------

def env_present(facts: Facts, ctx: Ctx) -> list[Question]:
    """Which of these sounds is heard: one present sound against ontology-near absent ones."""
    if not facts.sounds:
        return []
    out = []
    for target in facts.sounds:
        anchors = [target.mid] + [s.mid for s in facts.sounds if s is not target]
        wrong = ctx.picker.near(facts, anchors, ctx.cfg.num_choices - 1, ctx.rng)
        if not wrong:
            continue
        names = [w[1] for w in wrong]
        template, text = pick(ctx.rng, "env_present")
        out.append(Question(
            task="env_present", variant="present", text=text, template=template,
            answer=target.name, distractors=names,
            evidence={"env_labels": [s.name for s in facts.sounds], "target": target.name,
                      "target_mid": target.mid, "absent_labels": names, "origin": target.origin,
                      "score": round(target.score, 3)},
            steps=[f"The background sounds I can identify are: {_heard_list(facts.sounds)}.",
                   f"None of {', '.join(names)} is among them."],
            conclusion=f"The {target.name} is clearly present {span(target)}.",
            fact=f"The {target.name} can be heard in the clip.",
            check=f"the {target.name} is in the background sounds, the other options are not.",
            planning=choose(ctx.rng, PLANNING["env"]),
            trap=Trap(option=names[0],
                      tempting=f"At a first listen, part of the background could pass for a "
                               f"{names[0]}, so it looks like a match.",
                      correction=f"the {names[0]} is not among the sounds I identified; the sound "
                                 f"that is actually there is the {target.name} {span(target)}."),
            option_mids={target.name: target.mid, **{n: m for m, n in wrong}},
        ))
    return out


def check_present(facts: Facts, evidence: dict[str, Any], choices: list[str],
                  ctx: Ctx) -> list[bool] | None:
    """An option is correct when its class (or a related one) is present in ``facts``."""
    if facts.sounds is None:
        return None
    return [ctx.picker.is_present(facts, _choice_mid(evidence, choices, i), c)
            for i, c in enumerate(choices)]


# -- env_absent ---------------------------------------------------------------------------------

def env_absent(facts: Facts, ctx: Ctx) -> list[Question]:
    """Which sound is NOT heard: one far, absent sound among present ones."""
    if not facts.sounds:
        return []
    absent = ctx.picker.far(facts, 1, ctx.rng, own_labels=ctx.cfg.labels_exhaustive)
    if not absent:
        return []
    mid, name = absent[0]
    present = list(facts.sounds)
    ctx.rng.shuffle(present)
    present = present[: ctx.cfg.num_choices - 1]
    quiet = min(present, key=lambda s: (s.end - s.start, s.score))
    template, text = pick(ctx.rng, "env_absent")
    return [Question(
        task="env_absent", variant="absent", text=text, template=template, answer=name,
        distractors=[s.name for s in present],
        evidence={"env_labels": [s.name for s in facts.sounds], "absent_labels": [name],
                  "target": name, "target_mid": mid},
        steps=[f"The background sounds I can identify are: {_heard_list(facts.sounds)}.",
               "Every option except one appears in that list."],
        conclusion=f"The {name} never occurs in the clip.",
        fact=f"The {name} is the only option that is not heard.",
        check=_all_heard(present, name),
        planning=choose(ctx.rng, PLANNING["env"]),
        trap=Trap(option=quiet.name,
                  tempting=f"The {quiet.name} is brief or faint, so it is easy to think it is "
                           f"missing.",
                  correction=f"the {quiet.name} is there {span(quiet)}; the sound that never "
                             f"occurs is the {name}."),
        option_mids={name: mid, **{s.name: s.mid for s in present}},
    )]


def check_absent(facts: Facts, evidence: dict[str, Any], choices: list[str],
                 ctx: Ctx) -> list[bool] | None:
    """An option is correct when neither its class nor a related one is present."""
    present = check_present(facts, evidence, choices, ctx)
    return None if present is None else [not p for p in present]


# -- speech_or_env ------------------------------------------------------------------------------

SPEECH, ENVIRONMENT, SILENCE = "speech", "environmental sounds", "near silence"


def foreground(facts: Facts, margin_db: float, labels_exhaustive: bool = False) -> tuple[str, str] | None:
    """(SPEECH or ENVIRONMENT, basis) when the evidence clearly says which dominates, else None."""
    speech_db, bg_db = facts.acoustics.get("speech_db"), facts.acoustics.get("background_db")
    talkers = bool(facts.speakers) or (facts.speech_ratio or 0.0) > 0.1 or facts.speech_labelled
    # the router heard speech in the mixture, yet VAD and the diarizer found none in the speech
    # stem: the separator may have taken quiet speech for noise (an AMI meeting excerpt whose
    # stem came out empty, a telephone voice of tune seed 12 were keyed "environment"), so
    # neither answer is safe
    if facts.route_heard_speech and not facts.speech_heard:
        return None
    # a speech stem with almost nothing in it says "no speech" only when VAD and diarization heard
    # none either: on a hoarse recorded voice the separator kept 0.5 % while VAD found the speaker
    if (facts.speech_ratio is not None and facts.speech_ratio < 0.02 and facts.sounds
            and not facts.speech_heard):
        return ENVIRONMENT, "speech_ratio"
    # the stems' whole-clip levels must agree in sign with the active-speech SNR: where the
    # separator leaks a recorded voice into the background stem, the levels alone said
    # "environment" on four tune clips whose speech was 5-16 dB above the background
    check = True
    if speech_db is not None and bg_db is not None:
        diff = speech_db - bg_db
    elif facts.snr_db is not None:
        diff, check = facts.snr_db, False
    else:
        diff = None
    if diff is not None:
        if diff >= margin_db and talkers and (not check or facts.levels_agree(speech_louder=True)):
            return SPEECH, "levels"
        if diff <= -margin_db and facts.sounds and (not check or facts.levels_agree(speech_louder=False)):
            return ENVIRONMENT, "levels"
        return None
    # labels only: decide only when one side is missing entirely
    if labels_exhaustive and facts.speakers is None and facts.speech_ratio is None:
        if facts.speech_labelled and not facts.sounds and not facts.env_produced:
            return SPEECH, "labels"
        if not facts.speech_labelled and facts.sounds and not facts.diarized:
            return ENVIRONMENT, "labels"
    return None


def speech_or_env(facts: Facts, ctx: Ctx) -> list[Question]:
    """Is the foreground speech or environmental sound (abstains when levels are close)."""
    found = foreground(facts, ctx.cfg.min_level_diff_db, ctx.cfg.labels_exhaustive)
    if found is None:
        return []
    answer, basis = found
    other = ENVIRONMENT if answer == SPEECH else SPEECH
    levels = {k: round(v, 1) for k, v in facts.acoustics.items() if k in ("speech_db", "background_db")}
    if basis == "levels":
        how = (f"speech at {levels['speech_db']} dB against background at "
               f"{levels['background_db']} dB" if len(levels) == 2
               else f"a speech-to-background ratio of {facts.snr_db:.1f} dB")
        step = f"The levels give {how}."
    elif basis == "speech_ratio":
        step = f"Speech covers only {100 * (facts.speech_ratio or 0):.0f}% of the clip."
    else:
        step = ("The clip is labelled only with voice classes." if answer == SPEECH
                else "No voice is labelled or detected; only non-speech sounds are.")
    sounds = f"Non-speech sounds: {_heard_list(facts.sounds)}." if facts.sounds else \
        "No distinct non-speech sound stands out."
    template, text = pick(ctx.rng, "speech_or_env")
    return [Question(
        task="speech_or_env", variant=basis, text=text, template=template, answer=answer,
        distractors=[other, SILENCE][: ctx.cfg.num_choices - 1],
        evidence={"foreground": answer, "basis": basis, **levels, "snr_db": facts.snr_db,
                  "speech_ratio": facts.speech_ratio,
                  "env_labels": [s.name for s in facts.sounds or []]},
        steps=[sounds, step],
        conclusion=f"The {answer} clearly dominate{'s' if answer == SPEECH else ''} the foreground.",
        fact=f"The foreground is mainly {answer}.",
        check=step[0].lower() + step[1:],
        planning=choose(ctx.rng, PLANNING["foreground"]),
        trap=Trap(option=other,
                  tempting=f"The {other} {'is' if other == SPEECH else 'are'} noticeable, so "
                           f"{'it' if other == SPEECH else 'they'} might seem to dominate.",
                  correction=f"{step[0].lower() + step[1:]} The {answer} "
                             f"{'is' if answer == SPEECH else 'are'} in the foreground."),
    )]


def check_speech_or_env(facts: Facts, evidence: dict[str, Any], choices: list[str],
                        ctx: Ctx) -> list[bool] | None:
    """Re-derive the dominant kind from the record's levels (sign only, 1 dB tolerance)."""
    found = foreground(facts, 1.0, ctx.cfg.labels_exhaustive)
    if found is None:
        return None
    return [c == found[0] for c in choices]


ENV_PRESENT = Family("env_present", env_present, check_present)
ENV_ABSENT = Family("env_absent", env_absent, check_absent)
SPEECH_OR_ENV = Family("speech_or_env", speech_or_env, check_speech_or_env)
"""Registered in ``paqa_builder.registry`` (kind ``family``) under the task id."""

