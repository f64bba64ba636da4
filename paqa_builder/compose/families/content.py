"""Content family: which word is mentioned (in the clip, or by the k-th speaker).

Needs a trusted transcript. Answers are content words the aligner scored well when word scores
exist; wrong options are words said only by *other* speakers (hard negatives) or concrete words
that share no stem with anything said.
"""

from __future__ import annotations

from typing import Any

from ..facts import Facts, normalize_text
from ..question import Ctx, Family, Question, Trap
from ..templates import PLANNING, choose, pick
from ..text import CONTENT_POOL, content_words, is_said, ordinal, said_words, sounds_near, unrelated_words


def _clip_text(facts: Facts) -> str:
    if facts.transcript and facts.transcript.strip():
        return facts.transcript
    return " ".join(sp.text for sp in facts.speakers or [])


def _well_scored(facts: Facts, ctx: Ctx) -> set[str] | None:
    """Words scored >= min_word_score whose whole sentence scored >= min_quote_word_score (a
    misheard neighbour often means a misheard inflection too: 'sleeping' heard as 'sleep');
    None when no word scores exist."""
    words = sorted((w for w in facts.words or [] if w.score is not None), key=lambda w: w.start)
    if not words:
        return None
    out: set[str] = set()
    sentence: list = []
    for i, w in enumerate(words):
        sentence.append(w)
        if w.word.rstrip("\"')").endswith((".", "?", "!")) or i == len(words) - 1:
            if min(x.score for x in sentence) >= ctx.cfg.min_quote_word_score:
                out |= {t for x in sentence if x.score >= ctx.cfg.min_word_score
                        for t in normalize_text(x.word).split()}
            sentence = []
    return out


def _clearly_heard(facts: Facts, speaker: Any, ctx: Ctx) -> bool:
    """Every word credited to ``speaker`` scored >= min_quote_word_score (True without scores)."""
    scores = [w.score for w in facts.words or [] if w.speaker == speaker.label and w.score is not None]
    if not any(w.score is not None for w in facts.words or []):
        return True
    return bool(scores) and min(scores) >= ctx.cfg.min_quote_word_score


def _context(word: str, text: str, width: int = 4) -> str:
    tokens = normalize_text(text).split()
    i = tokens.index(word) if word in tokens else 0
    return " ".join(tokens[max(0, i - width): i + width + 1])


def content(facts: Facts, ctx: Ctx) -> list[Question]:
    """Word questions over the whole clip and, with two or more speakers, per speaker."""
    if not facts.asr_ok:
        return []
    text = _clip_text(facts)
    said = said_words(text)
    ok = _well_scored(facts, ctx)
    usable = [w for w in content_words(text) if ok is None or w in ok]
    pool = unrelated_words(CONTENT_POOL, said)
    ctx.rng.shuffle(pool)
    out: list[Question] = []
    if usable and pool:
        word = ctx.rng.choice(usable)
        wrong = pool[: ctx.cfg.num_choices - 1]
        template, qtext = pick(ctx.rng, "content/any")
        out.append(Question(
            task="content", variant="any", text=qtext, template=template, answer=word,
            distractors=wrong,
            evidence={"variant": "any", "word": word, "transcript": text,
                      "absent_words": wrong},
            steps=[f"The transcript reads: \"{text.strip()}\".",
                   f"None of {', '.join(wrong)} occurs in it."],
            conclusion=f"The word \"{word}\" is said (\"...{_context(word, text)}...\").",
            fact=f"\"{word}\" is mentioned in the speech.",
            check=f"\"{word}\" is in the transcript and the other options are not.",
            planning=choose(ctx.rng, PLANNING["content"]),
            trap=Trap(option=wrong[0],
                      tempting=f"Something in the speech sounds a little like \"{wrong[0]}\".",
                      correction=f"\"{wrong[0]}\" never occurs in the transcript; the word that "
                                 f"is said is \"{word}\"."),
        ))
    speakers = facts.speakers or []
    if len(speakers) >= 2:
        for sp in speakers:
            others = {o.index: said_words(o.text) for o in speakers if o is not sp}
            mine = said_words(sp.text)
            own = [w for w in content_words(sp.text) if (ok is None or w in ok)
                   and not any(is_said(w, words) for words in others.values())]
            # "said by someone else, not by this speaker" is a claim about everything this
            # speaker said: only when all of it was heard clearly, and never a word that could
            # hide in one of theirs (report flite scene: "a long letter" heard as "along
            # lighter" made the other speaker's "long" a second right option)
            foreign: list[tuple[int, str]] = []
            seen: set[str] = set()
            for o in speakers if _clearly_heard(facts, sp, ctx) else []:
                for w in content_words(o.text) if o is not sp else []:
                    if w not in seen and not sounds_near(w, mine):
                        seen.add(w)
                        foreign.append((o.index, w))
            if not own:
                continue
            ctx.rng.shuffle(foreign)
            word = ctx.rng.choice(own)
            wrong = [w for _, w in foreign[: ctx.cfg.num_choices - 1]]
            wrong += pool[: ctx.cfg.num_choices - 1 - len(wrong)]
            if not wrong:
                continue
            trap_i, trap_w = foreign[0] if foreign else (None, wrong[0])
            template, qtext = pick(ctx.rng, "content/speaker", ord=ordinal(sp.index))
            out.append(Question(
                task="content", variant="speaker", text=qtext, template=template, answer=word,
                distractors=wrong,
                evidence={"variant": "speaker", "word": word, "speaker_index": sp.index,
                          "speakers": [{"index": o.index, "text": o.text} for o in speakers],
                          "transcript": text},
                steps=[f"The {ordinal(sp.index)} speaker says: \"{sp.text}\".",
                       "The other options are either said by someone else or not said at all."],
                conclusion=f"\"{word}\" comes from the {ordinal(sp.index)} speaker.",
                fact=f"The {ordinal(sp.index)} speaker mentions \"{word}\".",
                check=f"\"{word}\" is in the {ordinal(sp.index)} speaker's words.",
                planning=choose(ctx.rng, PLANNING["content"]),
                trap=Trap(option=trap_w,
                          tempting=f"\"{trap_w}\" is clearly audible in the conversation.",
                          correction=(f"\"{trap_w}\" is said by the {ordinal(trap_i)} speaker, "
                                      f"not the {ordinal(sp.index)}; " if trap_i else
                                      f"\"{trap_w}\" is never said; ")
                          + f"the {ordinal(sp.index)} speaker says \"{word}\"."),
            ))
    return out


def check_content(facts: Facts, evidence: dict[str, Any], choices: list[str],
                  ctx: Ctx) -> list[bool] | None:
    """Options that occur in the record's transcript (or the k-th speaker's words)."""
    if evidence.get("variant") == "speaker":
        k = int(evidence.get("speaker_index") or 0)
        speakers = facts.speakers or []
        if not 1 <= k <= len(speakers) or not speakers[k - 1].text:
            return None
        said = said_words(speakers[k - 1].text)
    else:
        text = _clip_text(facts)
        if not text.strip():
            return None
        said = said_words(text)
    return [is_said(c, said) for c in choices]


CONTENT = Family("content", content, check_content)
"""Registered in ``paqa_builder.registry`` (kind ``family``) under the task id."""
