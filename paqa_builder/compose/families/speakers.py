"""Speaker families: speaker_count, speaker_quote, quote_speaker, speaker_order.

Speakers are numbered by first appearance. Every family here needs a confident diarization
(``facts.speakers`` is None otherwise); the quote families also need a trusted transcript.
"""

from __future__ import annotations

import re
from typing import Any

from ..facts import Facts, Speaker, normalize_text
from ..question import Ctx, Family, Question, Trap
from ..templates import PLANNING, choose, pick
from ..text import (
    FILLER_LINES,
    QUOTE_CLASH,
    attribute,
    cut_quote,
    fillers_like,
    ordinal,
    parse_speaker_option,
    sentences,
    similarity,
    speaker_option,
)

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve")


def speaker_summary(sp: Speaker) -> dict[str, Any]:
    """Evidence entry for one speaker."""
    return {"index": sp.index, "start": round(sp.start, 2), "end": round(sp.end, 2),
            "talk_time": round(sp.talk_time, 2), "text": sp.text}


def turn_list(facts: Facts) -> str:
    """'speaker 1 at 0.0-3.1s; speaker 2 at ...' in order of first appearance."""
    return "; ".join(f"speaker {sp.index} at {sp.start:.1f}-{sp.end:.1f}s" for sp in facts.speakers or [])


def _eligible(facts: Facts, ctx: Ctx) -> list[Speaker]:
    return [sp for sp in facts.speakers or [] if sp.talk_time >= ctx.cfg.min_turn_seconds]


def quotes_of(sp: Speaker, ctx: Ctx) -> list[str]:
    """Quotable sentences of a speaker (>= min_quote_words, cut to max_quote_words)."""
    # only sentences said whole inside one turn (facts.whole_sentences); without turn texts, the
    # sentences of sp.text, which joins the aligned words
    said = sp.quotable if sp.quotable is not None else sentences(sp.text)
    return [cut_quote(sent, ctx.cfg.max_quote_words) for sent in said
            if len(normalize_text(sent).split()) >= ctx.cfg.min_quote_words]


def quote_well_heard(quote: str, sp: Speaker, facts: Facts, threshold: float) -> bool:
    """True when every word of ``quote`` was recognised in ``sp``'s words with a score of at least
    ``threshold`` (also when no word carries a score, or ``threshold`` is 0).

    The quote is looked up as a contiguous run of the speaker's scored words; a quote that cannot
    be found there (words not assigned to speakers) is not trusted.
    """
    if threshold <= 0:
        return True
    seq = [(tok, w.score) for w in sorted(facts.words or [], key=lambda w: w.start)
           if w.speaker == sp.label for tok in normalize_text(w.word).split()]
    if not any(score is not None for _, score in seq):
        return not seq or not facts.words or all(w.score is None for w in facts.words)
    q = normalize_text(quote).split()
    toks = [tok for tok, _ in seq]
    for i in range(len(toks) - len(q) + 1):
        if toks[i:i + len(q)] == q:
            return all(score is not None and score >= threshold for _, score in seq[i:i + len(q)])
    return False


def quote_owned(quote: str, sp: Speaker, facts: Facts, margin_s: float) -> bool:
    """True when the words of ``quote`` lie clear of every other speaker: no word starts or ends
    within ``margin_s`` seconds of another speaker's turn (True when ``margin_s`` is 0).

    A line said next to a speaker change is where the diarization's boundary, and so the line's
    owner, is least sure: one word given to the wrong side makes a quote nobody said in full, or
    gives the line to the wrong person.
    """
    if margin_s <= 0:
        return True
    own = [w for w in sorted(facts.words or [], key=lambda w: w.start) if w.speaker == sp.label]
    toks = [(tok, w) for w in own for tok in normalize_text(w.word).split()]
    q = normalize_text(quote).split()
    others = [t for o in facts.speakers or [] if o is not sp for t in o.turns]
    for i in range(len(toks) - len(q) + 1):
        if [tok for tok, _ in toks[i:i + len(q)]] == q:
            lo, hi = toks[i][1].start - margin_s, toks[i + len(q) - 1][1].end + margin_s
            return not any(t.start < hi and t.end > lo for t in others)
    return not facts.words  # turn texts without word times: nothing to check against


def _unique_quotes(sp: Speaker, facts: Facts, ctx: Ctx) -> list[str]:
    """Well-heard quotes of ``sp`` that no other speaker could be heard saying, said clear of the
    other speakers' turns."""
    return [q for q in quotes_of(sp, ctx)
            if all(similarity(q, o.text) < QUOTE_CLASH for o in facts.speakers or [] if o is not sp)
            and quote_well_heard(q, sp, facts, ctx.cfg.min_quote_word_score)
            and quote_owned(q, sp, facts, ctx.cfg.min_quote_margin_s)]


def filler_quotes(facts: Facts, ctx: Ctx, k: int, like: str = "") -> list[str]:
    """``k`` filler lines nobody in the clip says, as long as ``like`` (the true line) as possible."""
    lines = [line for line in FILLER_LINES
             if all(similarity(line, sp.text) < QUOTE_CLASH for sp in facts.speakers or [])]
    return fillers_like(like, lines, k, ctx.rng)


def _ordinal_options(facts: Facts, answer: int, ctx: Ctx) -> list[str]:
    """Wrong speaker options: the other speakers, then one non-existent position."""
    n = len(facts.speakers or [])
    others = [i for i in range(1, n + 2) if i != answer]
    ctx.rng.shuffle(others)
    return [speaker_option(i) for i in sorted(others[: ctx.cfg.num_choices - 1])]


# -- speaker_count ------------------------------------------------------------------------------

def speaker_count(facts: Facts, ctx: Ctx) -> list[Question]:
    """How many speakers: abstains unless every diarized speaker talks long enough."""
    speakers = facts.speakers
    if not speakers or len(_eligible(facts, ctx)) != len(speakers) or len(speakers) >= len(NUMBER_WORDS) - 2:
        return []
    n = len(speakers)
    near = sorted((i for i in range(1, n + 4) if i != n), key=lambda i: (abs(i - n), i))
    wrong = [NUMBER_WORDS[i] for i in near[: ctx.cfg.num_choices - 1]]
    turns = sum(len(sp.turns) for sp in speakers)
    trap_n = n + 1 if turns > n else max(1, n - 1) if n > 1 else n + 1
    tempting = (f"There are {turns} turns, and counting every turn as a new voice gives "
                f"{NUMBER_WORDS[trap_n]}." if trap_n > n else
                f"Two of the voices sound alike, so they could be one person, giving "
                f"{NUMBER_WORDS[trap_n]}.")
    template, text = pick(ctx.rng, "speaker_count")
    return [Question(
        task="speaker_count", variant="count", text=text, template=template,
        answer=NUMBER_WORDS[n], distractors=wrong,
        evidence={"num_speakers": n, "speakers": [speaker_summary(sp) for sp in speakers]},
        steps=[f"I hear {turns} turn{'s' if turns != 1 else ''} from these voices: "
                   f"{turn_list(facts)}.",
               f"Grouping the turns by voice leaves {n} distinct speaker{'s' if n != 1 else ''}."],
        conclusion=f"So {NUMBER_WORDS[n]} {'person speaks' if n == 1 else 'people speak'}.",
        fact=f"There {'is' if n == 1 else 'are'} {NUMBER_WORDS[n]} distinct "
             f"speaker{'s' if n != 1 else ''}.",
        check=f"the turns group into exactly {NUMBER_WORDS[n]} voice{'s' if n != 1 else ''}.",
        planning=choose(ctx.rng, PLANNING["speakers"]),
        trap=Trap(option=NUMBER_WORDS[trap_n], tempting=tempting,
                  correction=f"the turns belong to {NUMBER_WORDS[n]} distinct "
                             f"voice{'s' if n != 1 else ''}, not {NUMBER_WORDS[trap_n]}."),
    )]


def check_count(facts: Facts, evidence: dict[str, Any], choices: list[str],
                ctx: Ctx) -> list[bool] | None:
    """The option naming the record's number of speakers."""
    if facts.num_speakers is None:
        return None
    return [c == NUMBER_WORDS[facts.num_speakers] for c in choices]


# -- speaker_quote / quote_speaker --------------------------------------------------------------

def speaker_quote(facts: Facts, ctx: Ctx) -> list[Question]:
    """What does the k-th speaker say: their line against other speakers' lines and fillers."""
    if not facts.asr_ok:
        return []
    out = []
    for sp in _eligible(facts, ctx):
        own = _unique_quotes(sp, facts, ctx)
        if not own:
            continue
        quote = ctx.rng.choice(own)
        others = [(o, q) for o in facts.speakers or [] if o is not sp
                  for q in _unique_quotes(o, facts, ctx) if similarity(q, sp.text) < QUOTE_CLASH]
        ctx.rng.shuffle(others)
        wrong = [q for _, q in others[: ctx.cfg.num_choices - 1]]
        wrong += filler_quotes(facts, ctx, ctx.cfg.num_choices - 1 - len(wrong), like=quote)
        if not wrong:
            continue
        trap_sp, trap_q = others[0] if others else (None, wrong[0])
        correction = (f"\"{trap_q}\" is said by the {ordinal(trap_sp.index)} speaker; the "
                      f"{ordinal(sp.index)} speaker says \"{quote}\"." if trap_sp else
                      f"\"{trap_q}\" is never said; the {ordinal(sp.index)} speaker says \"{quote}\".")
        template, text = pick(ctx.rng, "speaker_quote", ord=ordinal(sp.index))
        out.append(Question(
            task="speaker_quote", variant="quote", text=text, template=template, answer=quote,
            distractors=wrong,
            evidence={"speaker_index": sp.index, "quote": quote, "num_speakers": facts.num_speakers,
                      "speakers": [speaker_summary(s) for s in facts.speakers or []],
                      "transcript": facts.transcript},
            steps=[f"Ordering the voices by first appearance gives {turn_list(facts)}.",
                   f"The {ordinal(sp.index)} speaker talks at {sp.start:.1f}-{sp.end:.1f}s and "
                   f"says: \"{sp.text}\"."],
            conclusion=f"Only the line \"{quote}\" comes from the {ordinal(sp.index)} speaker.",
            fact=f"The {ordinal(sp.index)} speaker says \"{quote}\".",
            check=f"the {ordinal(sp.index)} speaker's words contain \"{quote}\".",
            planning=choose(ctx.rng, PLANNING["speakers"]),
            trap=Trap(option=trap_q,
                      tempting=f"\"{trap_q}\" is said close to the {ordinal(sp.index)} speaker's "
                               f"turn, so it could be theirs." if trap_sp else
                               f"\"{trap_q}\" sounds like something said in the clip.",
                      correction=correction),
        ))
    return out


def check_quote(facts: Facts, evidence: dict[str, Any], choices: list[str],
                ctx: Ctx) -> list[bool] | None:
    """Options whose words match the k-th speaker of the record."""
    k = evidence.get("speaker_index")
    if not facts.speakers or not any(sp.text for sp in facts.speakers) or k is None:
        return None
    return [attribute(c, facts) == int(k) for c in choices]


def quote_speaker(facts: Facts, ctx: Ctx) -> list[Question]:
    """Who says "...": a line unique to one speaker, options by speaker position."""
    if not facts.asr_ok or not facts.speakers or len(facts.speakers) < 2:
        return []
    out = []
    for sp in _eligible(facts, ctx):
        own = _unique_quotes(sp, facts, ctx)
        if not own:
            continue
        quote = ctx.rng.choice(own)
        wrong = _ordinal_options(facts, sp.index, ctx)
        neighbours = [o for o in facts.speakers if o is not sp]
        trap_sp = min(neighbours, key=lambda o: abs(o.index - sp.index))
        template, text = pick(ctx.rng, "quote_speaker", quote=quote)
        out.append(Question(
            task="quote_speaker", variant="who", text=text, template=template,
            answer=speaker_option(sp.index), distractors=wrong,
            evidence={"speaker_index": sp.index, "quote": quote, "num_speakers": facts.num_speakers,
                      "speakers": [speaker_summary(s) for s in facts.speakers],
                      "transcript": facts.transcript},
            steps=[f"Ordering the voices by first appearance gives {turn_list(facts)}.",
                   f"The words \"{quote}\" occur in the turn at {sp.start:.1f}-{sp.end:.1f}s."],
            conclusion=f"That turn belongs to the {ordinal(sp.index)} speaker.",
            fact=f"\"{quote}\" is said by the {ordinal(sp.index)} speaker.",
            check=f"the line appears only in the {ordinal(sp.index)} speaker's words.",
            planning=choose(ctx.rng, PLANNING["speakers"]),
            trap=Trap(option=speaker_option(trap_sp.index),
                      tempting=f"The {ordinal(trap_sp.index)} speaker talks right around that "
                               f"moment, so the line could be theirs.",
                      correction=f"the line \"{quote}\" is in the {ordinal(sp.index)} speaker's "
                                 f"turn, not the {ordinal(trap_sp.index)} speaker's."),
        ))
    return out


def check_who(facts: Facts, evidence: dict[str, Any], choices: list[str],
              ctx: Ctx) -> list[bool] | None:
    """The option naming the speaker whose words match the quoted line."""
    quote = evidence.get("quote")
    if not quote or not facts.speakers or not any(sp.text for sp in facts.speakers):
        return None
    who = attribute(quote, facts)
    return [who is not None and parse_speaker_option(c) == who for c in choices]


# -- speaker_order ------------------------------------------------------------------------------

def _described(quote: str) -> str:
    return f'the one who says "{quote}"'


def _order_answer(facts: Facts, variant: str, cfg: Any) -> int | None:
    """Index of the first/last/most-talking speaker, or None when the margin is too small."""
    sps = facts.speakers or []
    if len(sps) < 2:
        return None
    if variant == "first":
        a, b = sorted(sps, key=lambda s: s.start)[:2]
        return a.index if b.start - a.start >= cfg.min_gap_s else None
    if variant == "last":
        a, b = sorted(sps, key=lambda s: -s.end)[:2]
        return a.index if a.end - b.end >= cfg.min_gap_s else None
    a, b = sorted(sps, key=lambda s: -s.talk_time)[:2]
    return a.index if a.talk_time >= cfg.min_talk_time_ratio * max(b.talk_time, 1e-6) else None


_ORDER_TEMPTING = {
    "first": "The {ord} speaker's voice is the most prominent, so it seems to come first.",
    "last": "The {ord} speaker also talks near the end of the clip.",
    "most": "The {ord} speaker's turns sound long as well.",
}


def speaker_order(facts: Facts, ctx: Ctx) -> list[Question]:
    """First (options describe voices by a line), last and most-talking speaker."""
    sps = facts.speakers or []
    if len(sps) < 2 or len(_eligible(facts, ctx)) != len(sps):
        return []
    out = []
    for variant in ("first", "last", "most"):
        k = _order_answer(facts, variant, ctx.cfg)
        if k is None:
            continue
        sp = sps[k - 1]
        runner = max((o for o in sps if o is not sp),
                     key=lambda o: o.talk_time if variant != "last" else o.end)
        if variant == "first":
            if not facts.asr_ok:
                continue
            lines = {o.index: _unique_quotes(o, facts, ctx) for o in sps}
            if not all(lines.values()):
                continue
            chosen = {i: ctx.rng.choice(q) for i, q in lines.items()}
            described = {i: _described(line) for i, line in chosen.items()}
            answer = described[k]
            wrong = [described[i] for i in described if i != k][: ctx.cfg.num_choices - 1]
            wrong += [_described(line) for line in
                      filler_quotes(facts, ctx, ctx.cfg.num_choices - 1 - len(wrong), like=chosen[k])]
            trap_option = described[runner.index]
            fact = f"The voice heard first ({answer}) starts at {sp.start:.1f}s."
        else:
            answer, wrong = speaker_option(k), _ordinal_options(facts, k, ctx)
            trap_option = speaker_option(runner.index)
            fact = (f"The {ordinal(k)} speaker's last turn ends at {sp.end:.1f}s, after everyone "
                    f"else." if variant == "last" else
                    f"The {ordinal(k)} speaker talks for {sp.talk_time:.1f}s, more than anyone "
                    f"else.")
        template, text = pick(ctx.rng, f"speaker_order/{variant}")
        out.append(Question(
            task="speaker_order", variant=variant, text=text, template=template, answer=answer,
            distractors=wrong,
            evidence={"variant": variant, "speaker_index": k, "num_speakers": len(sps),
                      "speakers": [speaker_summary(s) for s in sps]},
            steps=[f"The speakers in order of appearance: {turn_list(facts)}.",
                   "Talk times: " + ", ".join(f"speaker {o.index} {o.talk_time:.1f}s" for o in sps)
                   + "."],
            conclusion=fact, fact=fact, check=fact[0].lower() + fact[1:],
            planning=choose(ctx.rng, PLANNING["speakers"]),
            trap=Trap(option=trap_option,
                      tempting=_ORDER_TEMPTING[variant].format(ord=ordinal(runner.index)),
                      correction=fact[0].lower() + fact[1:]),
        ))
    return out


def check_order(facts: Facts, evidence: dict[str, Any], choices: list[str],
                ctx: Ctx) -> list[bool] | None:
    """Re-derive first/last/most from the record's turns; options by position or by line."""
    variant = evidence.get("variant")
    cfg = ctx.cfg
    k = _order_answer(facts, str(variant), cfg) if facts.speakers else None
    if k is None:
        return None
    lines = [re.fullmatch(r'the one who says "(.*)"', c) for c in choices]
    if any(lines) and not any(sp.text for sp in facts.speakers):
        return None  # options by line, a record without text (e.g. truth with speaker turns only)
    return [(attribute(m.group(1), facts) if m else parse_speaker_option(c)) == k
            for m, c in zip(lines, choices)]


SPEAKER_COUNT = Family("speaker_count", speaker_count, check_count)
SPEAKER_QUOTE = Family("speaker_quote", speaker_quote, check_quote)
QUOTE_SPEAKER = Family("quote_speaker", quote_speaker, check_who)
SPEAKER_ORDER = Family("speaker_order", speaker_order, check_order)
"""Registered in ``paqa_builder.registry`` (kind ``family``) under the task id."""

