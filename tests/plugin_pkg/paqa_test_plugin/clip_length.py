"""Question family ``clip_length``: about how many seconds long is the clip?"""

from __future__ import annotations

from paqa_builder.compose.question import Family, Question


def _option(seconds: int) -> str:
    return f"about {seconds} seconds"


def generate(facts, ctx) -> list[Question]:
    if not facts.duration:
        return []
    true = max(1, round(facts.duration))
    wrong = [true + d for d in (-3, 3, 6) if true + d >= 1]
    return [Question(
        task="clip_length", variant="seconds", text="About how long is the recording?", template=0,
        answer=_option(true), distractors=[_option(w) for w in wrong], evidence={"duration": facts.duration},
        steps=[f"The recording runs from 0.0 s to {facts.duration:.1f} s."],
        conclusion=f"That is about {true} seconds.", fact=f"The clip lasts about {true} seconds.",
        check=f"The clip ends at {facts.duration:.1f} s.", planning="I measure how long the recording lasts.")]


def check(facts, evidence, choices, ctx) -> list[bool] | None:
    if not facts.duration:
        return None
    return [c == _option(max(1, round(facts.duration))) for c in choices]


FAMILY = Family("clip_length", generate, check)
