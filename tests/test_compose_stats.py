"""Statistical properties of the composer over a few hundred varied synthetic records: letter
positions, determinism, reflect share, template variety, distractor safety."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from paqa_builder import chain as C
from paqa_builder.compose.composer import Composer
from paqa_builder.compose.samples import speech_record
from paqa_builder.ontology import Ontology
from paqa_builder.record import Label

ONTOLOGY = Path(__file__).resolve().parents[1] / "examples" / "audioset_sample" / "ontology.json"
LINES = (
    "The bus was late again this morning.", "I left the keys on the kitchen table.",
    "Can you send me the report before noon?", "My brother is visiting us next week.",
    "The garden looks beautiful after the rain.", "We need more chairs for the party.",
    "Did anyone see where the cat went?", "The concert starts at eight tonight.",
    "I think the bakery closes early today.", "Let's take the long road by the river.",
    "Her new song is playing everywhere now.", "The doctor said to rest for a week.",
    "This phone keeps losing the signal.", "We painted the bedroom light blue.",
    "The football match went into extra time.", "Grandma baked apple pie for dessert.",
)


def concrete_classes(path: Path) -> list[tuple[str, str]]:
    """Leaf, non-abstract, non-blacklisted, non-voice classes of the ontology."""
    nodes = json.loads(path.read_text(encoding="utf-8"))
    onto = Ontology.load(path)
    return [(n["id"], n["name"]) for n in nodes
            if not n.get("child_ids") and not n.get("restrictions") and not onto.is_speech(n["id"])]


def make_records(n: int, seed: int = 7) -> list:
    """``n`` varied records: speakers, turns, tagger events, labels and levels all random."""
    rng = random.Random(seed)
    classes = concrete_classes(ONTOLOGY)
    out = []
    for i in range(n):
        n_spk = rng.choice([1, 2, 2, 3])
        order = [f"S{k}" for k in range(n_spk)] + [f"S{rng.randrange(n_spk)}"
                                                    for _ in range(rng.randrange(3))]
        t, turns = rng.uniform(0.0, 1.5), []
        for spk in order:
            dur = rng.uniform(1.2, 2.8)
            turns.append((spk, round(t, 2), round(t + dur, 2), rng.choice(LINES)))
            t += dur + rng.uniform(0.2, 0.9)
        events = []
        for mid, name in rng.sample(classes, rng.randrange(0, 4)):
            a = rng.uniform(0, 8)
            events.append((name, mid, rng.uniform(0.05, 0.95), round(a, 2),
                           round(min(10.0, a + rng.uniform(0.5, 4)), 2)))
        stats = {f"S{k}": {"pitch_hz": rng.uniform(90, 260), "loudness_db": rng.uniform(-35, -15),
                           "words_per_second": rng.uniform(1.5, 4.0)} for k in range(n_spk)}
        rec = speech_record(f"clip{i:04d}", turns=tuple(turns), events=tuple(events),
                            speech_db=rng.uniform(-35, -15), background_db=rng.uniform(-45, -15),
                            stats=stats, duration=max(10.0, t + 0.5),
                            asr_confidence=rng.choice([0.9, 0.9, 0.4]),
                            count_confidence=rng.choice([0.9, 0.9, 0.5]))
        rec.labels = [Label(mid, name) for mid, name in rng.sample(classes, rng.randrange(0, 3))]
        out.append(rec)
    return out


def compose_all(records: list, **params) -> list[dict]:
    comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=2, **params)
    for start in range(0, len(records), 16):
        comp(records[start:start + 16])
    assert all(r.error is None for r in records)
    return [row for r in records for row in r.qa]


@pytest.fixture(scope="module")
def records() -> list:
    return make_records(160)


@pytest.fixture(scope="module")
def rows(records) -> list[dict]:
    return compose_all(records, seed=0, reflect_share=0.2)


def chi_square(counts: list[int]) -> float:
    expected = sum(counts) / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


def test_enough_items_and_all_valid(rows) -> None:
    assert len(rows) >= 400
    assert len({r["task"] for r in rows}) == 10
    for row in rows:
        assert C.validate(row["chain"]) == []
        assert C.parse(row["chain"]).answer == row["answer"]
        assert row["choices"][C.LETTERS.index(row["answer"])] == row["answer_text"]


def test_answer_positions_uniform(rows) -> None:
    for k, critical in ((4, 16.27), (3, 13.82)):  # chi-square, p = 0.001, k-1 degrees of freedom
        pos = [C.LETTERS.index(r["answer"]) for r in rows if len(r["choices"]) == k]
        assert len(pos) >= 100
        counts = [pos.count(i) for i in range(k)]
        assert chi_square(counts) < critical, counts
        assert min(counts) > 0.6 * len(pos) / k, counts


def test_deterministic_and_independent_of_batching(records, rows) -> None:
    again = make_records(160)
    random.Random(1).shuffle(again)
    comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=2, seed=0, reflect_share=0.2)
    comp(again)  # one big batch, shuffled order
    by_id = {row["id"]: row for r in again for row in r.qa}
    assert by_id == {row["id"]: row for row in rows}
    other = compose_all(make_records(160), seed=1, reflect_share=0.2)
    same = {r["id"]: r for r in rows}
    shared = [r for r in other if r["id"] in same]
    changed = sum(r["chain"] != same[r["id"]]["chain"] or r["choices"] != same[r["id"]]["choices"]
                  for r in shared)
    assert changed > 0.5 * len(shared)


def test_reflect_share(rows) -> None:
    flags = [r["evidence"]["reflect_corrected"] for r in rows]
    assert abs(np.mean(flags) - 0.2) < 0.05, np.mean(flags)
    for row in rows:
        parsed = C.parse(row["chain"])
        reflect, reasoning = parsed.sections["REFLECT"], parsed.sections["REASONING"]
        last_step = reasoning.splitlines()[-1]
        if row["evidence"]["reflect_corrected"]:
            wrong = last_step.rsplit("(", 1)[1][0]
            assert wrong != row["answer"] and wrong in C.LETTERS[: len(row["choices"])]
            assert f"({row['answer']})" in reflect and f"({wrong})" in reflect
        else:
            assert last_step.endswith(f"option ({row['answer']}).")
            assert f"({row['answer']})" in reflect


def test_reflect_share_extremes(records) -> None:
    subset = make_records(40, seed=3)
    none = compose_all(subset, reflect_share=0.0)
    assert not any(r["evidence"]["reflect_corrected"] for r in none)
    every = compose_all(make_records(40, seed=3), reflect_share=1.0)
    assert np.mean([r["evidence"]["reflect_corrected"] for r in every]) > 0.9


def test_template_variety(rows) -> None:
    by_task: dict[str, Counter] = {}
    for row in rows:
        ev = row["evidence"]
        by_task.setdefault(row["task"], Counter())[(ev["variant"], ev["template"])] += 1
    for task, counts in by_task.items():
        total = sum(counts.values())
        assert counts.most_common(1)[0][1] <= 0.5 * total, (task, counts)


def test_distractors_never_present_or_related(records, rows) -> None:
    onto = Ontology.load(ONTOLOGY)
    recs = {r.clip_id: r for r in records}
    checked = 0
    for row in rows:
        if row["task"] not in ("env_present", "env_absent"):
            continue
        rec = recs[row["id"].split("/")[0]]
        present = {lab.mid for lab in rec.labels} | {e.mid for e in rec.background}
        blocked = set().union(*(onto.related(m) for m in present))
        absent = ([m for m, c in zip(row["evidence"]["choice_mids"], row["choices"])
                   if c != row["answer_text"]] if row["task"] == "env_present"
                  else [row["evidence"]["target_mid"]])
        for mid in absent:
            assert mid not in blocked and not onto.is_speech(mid), (row["id"], mid)
            checked += 1
    assert checked >= 200


def test_weak_events_never_asked(records, rows) -> None:
    weak = {(r.clip_id, e.label.split(",")[0].lower()) for r in records for e in r.background
            if e.score < 0.3 and e.label not in {lab.name for lab in r.labels}}
    for row in rows:
        if row["task"] == "env_present":
            assert (row["id"].split("/")[0], row["answer_text"].lower()) not in weak
