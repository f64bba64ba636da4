"""verify_answer: confirms composed keys, rejects tampered ones, reads rows back from parquet, and
compares keys against a ground-truth record that disagrees with the perception."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from paqa_builder import chain as C
from paqa_builder.compose.composer import Composer
from paqa_builder.compose.samples import label_record, speech_record
from paqa_builder.compose.verify import verify_answer
from paqa_builder.ontology import Ontology
from paqa_builder.record import BackgroundEvent, Turn

ONTOLOGY = Path(__file__).resolve().parents[1] / "examples" / "audioset_sample" / "ontology.json"


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return Ontology.load(ONTOLOGY)


@pytest.fixture(scope="module")
def composed() -> list[tuple[dict, object]]:
    # the sample records carry tagger ("model") events; trusting their spans for absence too
    # (not the default) keeps every temporal variant, first_sound included, in the checked set
    comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=3, reflect_share=0.3,
                    timed_absence_origins=["model", "truth"])
    records = [speech_record(), label_record(),
               speech_record("trio", turns=(
                   ("X", 0.2, 2.5, "Where did you park the blue car yesterday?"),
                   ("Y", 2.9, 5.5, "Right behind the old post office on Main Street."),
                   ("Z", 5.9, 7.4, "I saw it there this morning, it is fine."),
                   ("X", 7.8, 9.6, "Thanks, I will pick it up after work.")),
                   stats={"X": {"pitch_hz": 110.0}, "Y": {"pitch_hz": 230.0},
                          "Z": {"pitch_hz": 160.0}})]
    comp(records)
    return [(row, rec) for rec in records for row in rec.qa]


def test_composed_keys_verify(composed, onto) -> None:
    assert len(composed) >= 40
    results = [verify_answer(row, rec, onto) for row, rec in composed]
    assert all(r is True for r in results), [row["id"] for (row, _), r in zip(composed, results)
                                             if r is not True]


def test_tampered_keys_fail(composed, onto) -> None:
    for row, rec in composed:
        bad = dict(row)
        others = [L for L in C.LETTERS[: len(row["choices"])] if L != row["answer"]]
        bad["answer"] = others[0]
        assert verify_answer(bad, rec, onto) is False, row["id"]
    row, rec = composed[0]
    assert verify_answer({**row, "answer": "Z"}, rec, onto) is False
    assert verify_answer({**row, "task": "no_such_task"}, rec, onto) is None


def test_rows_read_back_from_parquet(composed, onto, tmp_path) -> None:
    frame = pd.DataFrame([{**row, "evidence": json.dumps(row["evidence"]),
                           "messages": json.dumps(row["messages"])} for row, _ in composed])
    path = tmp_path / "qa.parquet"
    frame.to_parquet(path)
    back = pd.read_parquet(path).to_dict("records")
    assert not isinstance(back[0]["choices"], list)  # arrays come back, not lists
    for (row, rec), again in zip(composed, back):
        assert verify_answer(again, rec, onto) is True, row["id"]


def rows_of(composed, task: str, clip: str = "dialogue") -> list[dict]:
    return [row for row, rec in composed if row["task"] == task and rec.clip_id == clip]


def test_truth_that_disagrees_with_perception(composed, onto) -> None:
    truth = speech_record()
    # the mixer put three people in the scene: the diarizer merged two of them
    truth.turns = truth.turns + [Turn("C", 8.5, 9.8, "Count me in as well.")]
    truth.num_speakers = 3
    for row in rows_of(composed, "speaker_count"):
        assert verify_answer(row, truth, onto) is False
    # the tagger's bark was a false positive: nothing barks in the truth
    truth = speech_record(events=(("Rain", "/m/06mb1", 1.0, 4.0, 9.0),))
    truth.labels = []
    bark_rows = [r for r in rows_of(composed, "env_present") if r["answer_text"] == "bark"]
    for row in bark_rows:
        assert verify_answer(row, truth, onto) is False
    rain_rows = [r for r in rows_of(composed, "env_present") if r["answer_text"] == "rain"]
    for row in rain_rows:
        assert verify_answer(row, truth, onto) is True
    assert bark_rows or rain_rows


def test_asr_variants_still_match_truth(composed, onto) -> None:
    truth = speech_record(turns=(
        ("spk1", 0.4, 3.1, "Good morning! Did you hear the dog barking last night?"),
        ("spk2", 3.4, 6.1, "Yes, it kept me awake until 3 in the morning."),
        ("spk1", 6.4, 8.1, "We should talk to the neighbors about it.")))
    for task in ("speaker_quote", "quote_speaker", "speaker_count"):
        rows = rows_of(composed, task)
        assert rows
        for row in rows:
            assert verify_answer(row, truth, onto) is True, (row["question"], row["answer_text"])
    swapped = speech_record(turns=tuple((("B" if s == "A" else "A"), a, b, t) for s, a, b, t in (
        ("A", 0.5, 3.0, "Yes, it kept me awake until three in the morning."),
        ("B", 3.4, 6.0, "Good morning, did you hear the dog barking last night?"),
        ("A", 6.5, 8.0, "We should talk to the neighbours about it."))))
    for row in rows_of(composed, "quote_speaker"):
        assert verify_answer(row, swapped, onto) is False


def test_unverifiable_without_the_needed_fields(composed, onto) -> None:
    bare = label_record("dialogue")
    bare.audio = None
    for task in ("speaker_count", "speaker_quote", "quote_speaker", "speaker_order", "content"):
        for row in rows_of(composed, task):
            assert verify_answer(row, bare, onto) is None, row["id"]
    for row in rows_of(composed, "acoustic", clip="labels"):
        assert verify_answer(row, bare, onto) is None
    moved = copy.deepcopy(speech_record())
    moved.background = [BackgroundEvent("Bark", "/m/05tny_", 1.0, 6.0, 9.0, "truth"),
                        BackgroundEvent("Rain", "/m/06mb1", 1.0, 4.0, 9.0, "truth")]
    checked = 0
    for row in rows_of(composed, "temporal"):
        if row["evidence"]["variant"] == "first_sound" and row["answer_text"] == "bark":
            assert verify_answer(row, moved, onto) is False  # rain now starts first
            checked += 1
    assert checked


def test_related_truth_label_needs_the_ontology(composed) -> None:
    # the tagger said "bark"; the mixer's truth only names the source class "Dog"
    truth = speech_record(events=(("Dog", "/m/0bt9lr", 1.0, 0.0, 2.0),
                                  ("Rain", "/m/06mb1", 1.0, 4.0, 9.0)))
    rows = [r for r in rows_of(composed, "env_present") if r["answer_text"] == "bark"]
    assert rows
    for row in rows:
        assert verify_answer(row, truth, str(ONTOLOGY)) is True
        assert verify_answer(row, truth) is False  # flat: "bark" is not a name in the truth


def test_compound_words_count_as_said_either_way(onto) -> None:
    """ASR writes "backyard" where the script says "back yard": same sound, same answer."""
    from paqa_builder.compose.text import said_words

    assert {"back", "yard", "backyard", "inthe"} <= said_words("In the back yard.")
    assert "yardin" not in said_words("back yard. In")  # sentence punctuation is gone, pairs stay local
    comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=5, reflect_share=0.0, tasks=["content"])
    heard = speech_record("compound", turns=(("A", 0.3, 3.0, "We planted an apple tree in the backyard."),))
    rows = [r for r in comp.compose(heard) if r["evidence"]["variant"] == "any"]
    assert rows
    row = copy.deepcopy(rows[0])
    # force the key onto the compound, whatever word the composer drew
    idx = C.LETTERS.index(row["answer"])
    row["choices"] = list(row["choices"])
    row["choices"][idx] = "backyard"
    truth = speech_record("compound", turns=(("A", 0.3, 3.0, "We planted an apple tree in the back yard."),))
    assert verify_answer(row, truth, onto) is True
    other = speech_record("compound", turns=(("A", 0.3, 3.0, "We planted an apple tree in the garden."),))
    assert verify_answer(row, other, onto) is False


def test_spelling_variants_are_the_same_answer(onto) -> None:
    """The recogniser writes "harbor" where the script says "harbour": the key stands."""
    from paqa_builder.compose.text import is_said, said_words, similarity

    assert is_said("harbor", said_words("The lane runs along the harbour."))
    assert not is_said("harvard", said_words("The lane runs along the harbour."))
    assert similarity("The new lane runs along the harbor.", "The new lane runs along the harbour.") == 1.0
    comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=5, reflect_share=0.0, tasks=["content"])
    heard = speech_record("spelling", turns=(("A", 0.3, 3.0, "The new bicycle lane runs along the harbor."),))
    row = copy.deepcopy([r for r in comp.compose(heard) if r["evidence"]["variant"] == "any"][0])
    row["choices"] = list(row["choices"])
    row["choices"][C.LETTERS.index(row["answer"])] = "harbor"
    truth = speech_record("spelling", turns=(("A", 0.3, 3.0, "The new bicycle lane runs along the harbour."),))
    assert verify_answer(row, truth, onto) is True
