"""The overlap family (issue 16): who talks over whom, which two talk at once; abstention."""

from __future__ import annotations

from pathlib import Path

import pytest

from paqa_builder import chain as C
from paqa_builder.compose.composer import Composer
from paqa_builder.compose.families.overlap import NOBODY
from paqa_builder.compose.samples import speech_record
from paqa_builder.compose.verify import verify_answer

ONTOLOGY = Path(__file__).resolve().parents[1] / "examples" / "audioset_sample" / "ontology.json"
A1 = ("SPEAKER_00", 0.0, 4.0, "Good morning, did you hear the dog barking last night?")
B1 = ("SPEAKER_01", 3.0, 6.0, "Yes, it kept me awake until three in the morning.")
A2 = ("SPEAKER_00", 6.5, 9.0, "We should talk to the neighbours about it.")


@pytest.fixture(scope="module")
def composer() -> Composer:
    comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=3, tasks=["speaker_overlap"])
    comp.ensure_setup()
    return comp


def _overlap_rows(composer, turns, overlaps):
    rec = speech_record(turns=tuple(turns))
    rec.overlaps = overlaps
    composer([rec])
    assert rec.error is None, rec.error
    return rec, rec.qa


def test_interrupter_key_and_chain(composer):
    rec, rows = _overlap_rows(composer, [A1, B1, A2], [(3.0, 4.0)])
    assert sorted(r["evidence"]["variant"] for r in rows) == ["interrupter", "said"]
    row = next(r for r in rows if r["evidence"]["variant"] == "interrupter")
    assert row["task"] == "speaker_overlap"
    assert row["answer_text"] == "the second speaker"
    assert NOBODY in row["choices"] and "the first speaker" in row["choices"]
    assert row["evidence"]["overlaps"] == [{"who": 2, "over": 1, "pair": [1, 2], "start": 3.0, "end": 4.0,
                                            "said": B1[3], "over_said": A1[3]}]
    assert C.validate(row["chain"]) == [] and C.extract_answer(row["chain"]) == row["answer"]
    assert "3.0-4.0s" in row["chain"]
    assert verify_answer(row, rec, ONTOLOGY) is True
    # the same question against a record where the first speaker cuts in instead: wrong key
    other = speech_record(turns=(("SPEAKER_00", 0.0, 2.5, "Hi there."), ("SPEAKER_01", 2.5, 6.0, B1[3]),
                                 ("SPEAKER_00", 5.0, 8.0, A2[3])))
    assert verify_answer(row, other, ONTOLOGY) is False


def test_pair_with_three_speakers(composer):
    c1 = ("SPEAKER_02", 4.5, 7.0, "I think it was the one next door.")
    turns = [A1, ("SPEAKER_01", 4.2, 6.0, B1[3]), ("SPEAKER_02", 5.0, 9.0, c1[3])]
    rec, rows = _overlap_rows(composer, turns, [(5.0, 6.0)])
    variants = {r["evidence"]["variant"]: r for r in rows}
    assert set(variants) == {"interrupter", "pair", "said"}
    assert variants["said"]["answer_text"] == c1[3]
    assert variants["pair"]["answer_text"] == "the second and third speakers"
    assert variants["interrupter"]["answer_text"] == "the third speaker"
    assert "the first and second speakers" in variants["pair"]["choices"]
    assert all(verify_answer(r, rec, ONTOLOGY) is True for r in rows)


@pytest.mark.parametrize("turns, overlaps, why", [
    ([A1, ("SPEAKER_01", 4.2, 6.0, B1[3]), A2], [], "turns that never overlap (one voice per moment)"),
    ([A1, ("SPEAKER_01", 3.7, 6.0, B1[3]), A2], [(3.7, 4.0)], "an overlap shorter than 0.5 s"),
    ([A1, B1, A2], [(0.0, 0.2)], "an overlap the detector did not hear"),
    ([A1, ("SPEAKER_01", 0.2, 3.0, B1[3]), A2], [(0.2, 3.0)], "two turns that start together"),
])
def test_abstains_without_clear_overlap_evidence(composer, turns, overlaps, why):
    _, rows = _overlap_rows(composer, turns, overlaps)
    assert rows == [], why


def test_two_interrupters_ask_nothing(composer):
    turns = [A1, B1, ("SPEAKER_00", 5.0, 9.0, A2[3])]
    _, rows = _overlap_rows(composer, turns, [(3.0, 4.0), (5.0, 6.0)])
    assert rows == []  # each speaker cuts into the other once: no single answer


def test_said_by_the_speaker_who_cuts_in(composer):
    """'What does the person who cuts in say?': the interrupting line, with the interrupted
    speaker's line of that moment as the trap; checked against the record's turns; not asked
    when the interrupting turn holds two sentences (which one overlaps is then unknown) or a
    word of it was heard badly."""
    rec, rows = _overlap_rows(composer, [A1, B1, A2], [(3.0, 4.0)])
    row = next(r for r in rows if r["evidence"]["variant"] == "said")
    assert row["answer_text"] == B1[3]
    assert A1[3] in row["choices"] and len(set(row["choices"])) == len(row["choices"]) >= 3
    assert C.validate(row["chain"]) == [] and C.extract_answer(row["chain"]) == row["answer"]
    assert verify_answer(row, rec, ONTOLOGY) is True
    # the same question against a record where the first speaker's line is the one that cuts in
    swapped = speech_record(turns=(("SPEAKER_01", 0.0, 4.0, B1[3]), ("SPEAKER_00", 3.0, 6.0, A1[3])))
    swapped.overlaps = [(3.0, 4.0)]
    assert verify_answer(row, swapped, ONTOLOGY) is False

    two = ("SPEAKER_01", 3.0, 6.0, "Yes, it did. It kept me awake until three in the morning.")
    _, rows = _overlap_rows(composer, [A1, two, A2], [(3.0, 4.0)])
    assert [r["evidence"]["variant"] for r in rows] == ["interrupter"]
    rec = speech_record(turns=(A1, B1, A2))
    rec.overlaps = [(3.0, 4.0)]
    for w in rec.words:
        if w.word == "awake":
            w.score = 0.3
    composer([rec])
    assert [r["evidence"]["variant"] for r in rec.qa] == ["interrupter"]
