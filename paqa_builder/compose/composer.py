"""The ``compose`` stage: multiple-choice questions with perception-chain targets.

For every clip the composer (1) reduces the record to reliable facts (``facts.build_facts``,
which applies the abstain thresholds), (2) asks each enabled family for candidate questions,
(3) places the correct option at a uniformly random letter, (4) re-derives the key with the
family's independent ``check`` and drops the question if the two disagree, and (5) renders the
chain with ``paqa_builder.chain``. Each clip and task gets its own RNG seeded from a SHA-256 of
(seed, clip_id, task), so output does not depend on batch order, worker, or which other tasks are
enabled.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from .. import chain as chainfmt
from ..ontology import Ontology
from ..record import ClipRecord
from ..stage import Stage
from . import templates as tpl
from .config import TASK_IDS, ComposeConfig
from .distractors import DistractorPicker, load_cooccurrence
from .facts import Facts, build_facts, normalize_text
from .families import families
from .question import Ctx, Question
from .text import tidy


def clip_rng(seed: int, *parts: str) -> random.Random:
    """A ``random.Random`` seeded from a stable hash of ``seed`` and ``parts`` (not ``hash()``)."""
    digest = hashlib.sha256("\x1f".join([str(seed), *parts]).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and tuples turned into plain JSON types (recursively)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array (backends hand out float32 times)
        return jsonable(value.tolist())
    if isinstance(value, float):
        return round(value, 4)
    return value


def env_section(facts: Facts, cfg: ComposeConfig) -> str | None:
    """ENV body: one line per reliable sound (timed events first-class), or NONE_HEARD."""
    if facts.sounds is None:
        return None
    timed = [e for e in facts.events if e.timed]
    names = {e.name.lower() for e in timed}
    items = sorted(timed + [s for s in facts.sounds if s.name.lower() not in names],
                   key=lambda s: (s.start, s.name))
    if not items:
        return chainfmt.NONE_HEARD
    relation = facts.speaker_level_relation(cfg)
    return "\n".join(chainfmt.env_line(s.name, s.start, s.end, relation) for s in items)


def speaker_section(facts: Facts) -> str | None:
    """SPEAKER body in order of first appearance; None when diarization is absent or unreliable."""
    if facts.speakers is None:
        return None
    if not facts.speakers:
        return chainfmt.NONE_HEARD
    return "\n".join(
        chainfmt.speaker_line(sp.index, sp.start, sp.end,
                              sp.text if facts.asr_ok and sp.text else "[unclear]")
        for sp in facts.speakers)


def asr_section(facts: Facts) -> str | None:
    """ASR body: the transcript when trusted, '[unclear]' when not, None when never transcribed."""
    text = facts.transcript
    if text is None:
        texts = [sp.text for sp in facts.speakers or [] if sp.text]
        if not texts:
            return None
        text = " ".join(texts)
    if not text.strip():
        return chainfmt.NONE_HEARD
    return text.strip() if facts.asr_ok else "[unclear]"


class Composer(Stage):
    """Stage ``compose`` (backend ``default``): fills ``record.qa``. Parameters: ``ComposeConfig``."""

    name = "compose"
    backend = "default"
    reads = frozenset({"labels", "duration"})
    writes = frozenset({"qa"})

    @classmethod
    def param_names(cls) -> set[str]:
        """Every ``ComposeConfig`` field plus ``batch_size``."""
        from dataclasses import fields

        return {f.name for f in fields(ComposeConfig)} | {"batch_size"}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.cfg = ComposeConfig.from_params(self.params)
        self.ontology: Ontology | None = None
        self.picker: DistractorPicker | None = None
        self.families = families()

    def setup(self) -> None:
        """Load the ontology (or a flat label set) and the optional co-occurrence map once."""
        self.ontology = Ontology.load(self.cfg.ontology, self.cfg.class_labels)
        self.picker = DistractorPicker(self.ontology, load_cooccurrence(self.cfg.cooccurrence))

    def provenance(self) -> str:
        """Stage, backend and the settings that change the output."""
        onto = "hierarchical" if self.ontology is not None and self.ontology.hierarchical else "flat"
        return (f"compose:default seed={self.cfg.seed} ontology={onto} "
                f"reflect_share={self.cfg.reflect_share} num_choices={self.cfg.num_choices}")

    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Compose questions for every record of ``batch`` (clips are independent)."""
        for record in batch:
            record.qa = self.compose(record)

    # -- one clip --------------------------------------------------------------------------------
    def compose(self, record: ClipRecord) -> list[dict[str, Any]]:
        """All QA dicts for one record; [] when every family abstains."""
        self.ensure_setup()
        assert self.ontology is not None and self.picker is not None
        facts = build_facts(record, self.cfg, self.ontology)
        out: list[dict[str, Any]] = []
        # built-in tasks in their fixed order, then plug-in tasks in the order the recipe lists them
        order = [t for t in TASK_IDS if t in self.cfg.tasks] + [t for t in self.cfg.tasks if t not in TASK_IDS]
        for task in order:
            rng = clip_rng(self.cfg.seed, record.clip_id, task)
            ctx = Ctx(self.cfg, rng, self.ontology, self.picker)
            candidates = self.families[task].generate(facts, ctx)
            rng.shuffle(candidates)
            made = 0
            for question in candidates:
                if made >= self.cfg.max_questions_per_task:
                    break
                row = self._finish(question, facts, ctx, record, made)
                if row is not None:
                    out.append(row)
                    made += 1
        return out

    def _finish(self, q: Question, facts: Facts, ctx: Ctx, record: ClipRecord,
                n: int) -> dict[str, Any] | None:
        """Place options, self-check the key, render the chain; None drops the question."""
        rng, cfg = ctx.rng, self.cfg
        seen = {normalize_text(q.answer)}
        wrong: list[str] = []
        for d in q.distractors:
            key = normalize_text(d)
            if key and key not in seen:
                seen.add(key)
                wrong.append(d)
        wrong = wrong[: cfg.num_choices - 1]
        if not wrong:
            return None
        rng.shuffle(wrong)
        pos = rng.randrange(len(wrong) + 1)  # uniform over every letter the question has
        choices = wrong[:pos] + [q.answer] + wrong[pos:]
        evidence = {"task": q.task, "variant": q.variant, **q.evidence}
        if q.option_mids:
            evidence["choice_mids"] = [q.option_mids.get(c) for c in choices]
        verdict = self.families[q.task].check(facts, evidence, choices, ctx)
        if verdict != [i == pos for i in range(len(choices))]:
            record.warnings.append(f"compose: dropped a {q.task}/{q.variant} question whose key "
                                   f"failed the independent check")
            return None
        reflect = q.trap is not None and q.trap.option in wrong and rng.random() < cfg.reflect_share
        letter = chainfmt.LETTERS[pos]
        text = chainfmt.render(self._chain(q, facts, choices, pos, reflect, rng))
        problems = chainfmt.validate(text)
        if problems:  # a bug, not a data problem: keep the build going but say so
            record.warnings.append(f"compose: invalid chain for {q.task}: {problems[0]}")
            return None
        evidence["template"] = q.template
        evidence["reflect_corrected"] = reflect
        evidence = jsonable(evidence)
        question = tidy(q.text)
        user_text = question + "\n" + chainfmt.format_choices(choices)
        if cfg.instruction:
            user_text += "\n" + cfg.instruction
        messages: list[dict[str, Any]] = []
        if cfg.system_prompt:
            messages.append({"role": "system", "content": [{"type": "text", "text": cfg.system_prompt}]})
        messages += [
            {"role": "user", "content": [{"type": "audio", "text": None},
                                         {"type": "text", "text": user_text}]},
            {"role": "assistant", "content": [{"type": "text", "text": text}]},
        ]
        return {"id": f"{record.clip_id}/{q.task}/{n}", "task": q.task, "question": question,
                "choices": choices, "answer": letter, "answer_text": q.answer, "chain": text,
                "evidence": evidence, "messages": messages}

    def _chain(self, q: Question, facts: Facts, choices: list[str], pos: int, reflect: bool,
               rng: random.Random) -> chainfmt.Chain:
        """The perception chain for ``q``; with ``reflect`` the first pass picks the trap option."""
        letter, answer = chainfmt.LETTERS[pos], choices[pos]
        if reflect and q.trap is not None:
            wrong = chainfmt.LETTERS[choices.index(q.trap.option)]
            steps = q.steps + [f"{q.trap.tempting} That points to option ({wrong})."]
            summary = tpl.choose(rng, tpl.TENTATIVE, letter=wrong, text=q.trap.option)
            reflect_text = tpl.choose(rng, tpl.CORRECT, correction=q.trap.correction,
                                      letter=letter, text=answer, wrong=wrong)
        else:
            steps = q.steps + [f"{q.conclusion} This matches option ({letter})."]
            summary = tpl.choose(rng, tpl.SUMMARY, fact=q.fact, letter=letter, text=answer)
            reflect_text = tpl.choose(rng, tpl.CONFIRM, check=q.check, letter=letter)
        return chainfmt.Chain(
            planning=q.planning, reasoning=[tidy(s) for s in steps], summary=tidy(summary),
            answer=letter,
            env=env_section(facts, self.cfg), speaker=speaker_section(facts),
            asr=asr_section(facts), reflect=tidy(reflect_text),
        )
