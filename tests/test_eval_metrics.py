"""Eval metrics against hand-computed small cases, and `paqa-build eval` on a tiny built dataset."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from paqa_builder.evaluation import metrics as M
from paqa_builder.evaluation.evaluate import evaluate, load_truth, main, write_report


def _turn(speaker, start, end, text=""):
    return {"speaker": speaker, "start": start, "end": end, "text": text}


def test_der_hand_computed():
    acc = M.DerAccumulator()
    # clip 1: 2 s of A labelled as the speaker mapped to B -> confusion 2 / 20 s
    mapping = acc.add("c1", [_turn("A", 0, 10), _turn("B", 10, 20)],
                      [_turn("X", 0, 12), _turn("Y", 12, 20)], duration=20)
    assert mapping == {"X": "A", "Y": "B"}
    assert acc.per_clip["c1"] == pytest.approx(0.1)
    # clip 2: 2 s of speech missed and 1 s of false alarm over 10 s of speech
    acc.add("c2", [_turn("A", 0, 10)], [_turn("Z", 0, 8), _turn("Z", 11, 12)], duration=12)
    assert acc.per_clip["c2"] == pytest.approx(0.3)
    s = acc.summary()
    assert s["der"] == pytest.approx((2 + 2 + 1) / 30)
    assert (s["confusion_s"], s["missed_s"], s["false_alarm_s"]) == pytest.approx((2, 2, 1))
    assert s["scored_speech_s"] == pytest.approx(30)


def test_der_collar_forgives_boundary_error():
    acc = M.DerAccumulator(collar=1.0)
    acc.add("c", [_turn("A", 0, 10), _turn("B", 10, 20)], [_turn("X", 0, 10.4), _turn("Y", 10.4, 20)], 20)
    assert acc.summary()["der"] == pytest.approx(0.0)


def test_der_clip_without_reference_speech():
    acc = M.DerAccumulator()
    assert acc.add("silent", [], [_turn("X", 1, 2)], duration=5) == {}
    assert math.isnan(acc.per_clip["silent"])
    assert acc.summary()["false_alarm_s"] == pytest.approx(1.0)


def test_wer_hand_computed():
    c = M.wer_counts("The cat sat on the mat.", "the cat SIT on mat")
    assert (c.substitutions, c.deletions, c.insertions, c.hits) == (1, 1, 0, 4)
    assert c.wer == pytest.approx(2 / 6)
    total = c + M.wer_counts("hello world", "hello big world")
    assert total.wer == pytest.approx(3 / 8)
    assert M.wer_counts("", "extra words").insertions == 2
    assert M.wer_counts("", "").wer is None
    assert M.wer_counts("two words", None).deletions == 2
    assert M.normalize_words("Don\u2019t STOP, now!") == "don't stop now"


def test_speaker_texts_from_turns_or_words():
    turns = [_turn("S1", 2, 3, "later"), _turn("S1", 0, 1, "first"), _turn("S2", 1, 2, "middle")]
    assert M.speaker_texts(turns) == {"S1": "first later", "S2": "middle"}
    words = [{"word": "b", "start": 1, "end": 2, "speaker": "S1"},
             {"word": "a", "start": 0, "end": 1, "speaker": "S1"}]
    assert M.speaker_texts([_turn("S1", 0, 2)], words) == {"S1": "a b"}


def test_speaker_count_accuracy():
    out = M.speaker_count_accuracy([(2, 2), (3, 2), (1, None), (2, 2)])
    assert out["accuracy"] == pytest.approx(0.5)
    assert out["confusion"] == {"2": {"2": 2}, "3": {"2": 1}, "1": {"none": 1}}
    assert M.speaker_count_accuracy([])["accuracy"] is None


def test_merged_speakers_names_the_voices_given_to_one_built_speaker():
    ref = [_turn("A", 0.0, 4.0), _turn("B", 5.0, 9.0), _turn("C", 10.0, 12.0), _turn("D", 20.0, 21.0)]
    # X covers A and B (merged); C is Y's alone; D overlaps nobody, so it is in no pair
    hyp = [_turn("X", 0.0, 9.0), _turn("Y", 10.0, 12.0)]
    assert M.merged_speakers(ref, hyp) == [("A", "B")]
    # A split across two built speakers takes the longer one: 3 s with X against 1 s with Y
    hyp = [_turn("X", 0.0, 3.0), _turn("Y", 3.0, 4.0), _turn("Y", 5.0, 9.0)]
    assert M.merged_speakers(ref[:2], hyp) == []
    assert M.merged_speakers(ref, []) == []
    three = [_turn("P", 0, 1), _turn("Q", 1, 2), _turn("R", 2, 3)]
    assert M.merged_speakers(three, [_turn("Z", 0, 3)]) == [("P", "Q"), ("P", "R"), ("Q", "R")]


def test_snr_band_edges():
    assert M.snr_band(None) == "no background"
    assert M.snr_band(4.99) == "< 5 dB"
    assert M.snr_band(5.0) == "5-10 dB"
    assert M.snr_band(19.99) == "15-20 dB"
    assert M.snr_band(20.0) == ">= 20 dB"


def test_tag_precision_recall_hand_computed():
    out = M.tag_precision_recall([["Rain", "Engine"], ["Rain"], []], [["rain"], ["Engine"], ["Wind"]])
    rain, engine, wind = (out["per_class"][k] for k in ("Rain", "Engine", "Wind"))
    assert (rain["tp"], rain["fp"], rain["fn"]) == (1, 0, 1)
    assert rain["precision"] == 1.0 and rain["recall"] == 0.5
    assert engine["precision"] == 0.0 and engine["recall"] == 0.0
    assert wind["precision"] == 0.0 and wind["recall"] is None
    assert out["micro"]["precision"] == pytest.approx(1 / 3)
    assert out["micro"]["recall"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        M.tag_precision_recall([["a"]], [])


def test_answer_key_accuracy_with_injected_verify():
    rows = [{"id": f"c/{t}/{i}", "clip_id": "c", "task": t, "answer": a,
             "evidence": json.dumps({"variant": f"v{i}"}), "choices": np.array(["one", "two"])}
            for i, (t, a) in enumerate([("speaker_count", "A"), ("speaker_count", "B"),
                                        ("env_present", "A"), ("acoustic", "A"), ("content", "A")])]
    rows.append({"id": "orphan/env_present/0", "clip_id": "orphan", "task": "env_present", "answer": "A"})

    def verify(row, record):
        assert record == "truth-of-c"
        if row["task"] == "acoustic":
            return None
        if row["task"] == "content":
            raise KeyError("no words")
        return row["answer"] == "A"

    out = M.answer_key_accuracy(rows, {"c": "truth-of-c"}, verify)
    sc, env = out["per_task"]["speaker_count"], out["per_task"]["env_present"]
    assert (sc["verified"], sc["correct"], sc["accuracy"]) == (2, 1, 0.5)
    assert (env["questions"], env["verified"], env["no_truth"], env["accuracy"]) == (2, 1, 1, 1.0)
    assert out["per_task"]["acoustic"]["unverifiable"] == 1
    assert out["per_task"]["content"]["unverifiable"] == 1 and "KeyError" in out["errors"][0]
    assert out["overall"]["accuracy"] == pytest.approx(2 / 3)
    assert [w["id"] for w in out["wrong_examples"]] == ["c/speaker_count/1"]
    assert out["wrong_examples"][0]["variant"] == "v1"  # evidence read back from parquet JSON
    assert out["wrong_examples"][0]["choices"] == ["one", "two"]
    assert M.answer_key_accuracy(rows * 3, {"c": "truth-of-c"}, verify,
                                 max_examples=2)["wrong_examples"] == out["wrong_examples"] * 2


# -- end to end on a tiny hand-made dataset --------------------------------------------------------

def _write_parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.fixture()
def tiny(tmp_path):
    truth_dir, built = tmp_path / "scenes", tmp_path / "paqa"
    truth_dir.mkdir()
    scenes = [
        {"path": "scenes/s1.flac", "clip_id": "s1", "labels": ["Rain"], "truth": {
            "duration": 10.0, "speakers": ["spk_a", "spk_b"], "snr_db": 10.0,
            "turns": [_turn("spk_a", 0.0, 4.0, "the cat sat on the mat"),
                      _turn("spk_b", 5.0, 9.0, "hello there")],
            "backgrounds": [{"label": "Rain", "mid": "/m/06mb1", "start": 0, "end": 10, "level_db": -30}]}},
        {"path": "scenes/s2.flac", "clip_id": "s2", "labels": ["Engine"], "truth": {
            "duration": 10.0, "speakers": ["spk_a"], "snr_db": 5.0,
            "turns": [_turn("spk_a", 1.0, 5.0, "good morning everyone")],
            "backgrounds": [{"label": "Engine", "mid": "/m/02mk9", "start": 0, "end": 10, "level_db": -25}]}},
        {"path": "scenes/s3.flac", "clip_id": "s3", "labels": [], "truth": {
            "duration": 8.0, "speakers": ["spk_b"], "snr_db": None,
            "turns": [_turn("spk_b", 1.0, 3.0, "not built")], "backgrounds": []}},
    ]
    (truth_dir / "manifest.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scenes))
    ev = lambda label, mid, origin: {"label": label, "mid": mid, "score": 0.9, "start": 0.0,  # noqa: E731
                                     "end": 10.0, "origin": origin}
    clips = [
        # s1: perfect diarization, one word wrong for spk_b; rain found, a speech tag ignored
        {"clip_id": "s1", "duration": 10.0, "num_speakers": 2,
         "turns": [_turn("SPEAKER_00", 0.0, 4.0, "the cat sat on the mat"),
                   _turn("SPEAKER_01", 5.0, 9.0, "hello their")],
         "transcript": "the cat sat on the mat hello their",
         "background": [ev("rain", "/m/06mb1", "model"), ev("Speech", "/m/09x0r", "model")]},
        # s2: two speakers found where there is one (second is 1 s false alarm + 1 inserted word);
        # engine only as a source label (not scored), wind wrongly tagged
        {"clip_id": "s2", "duration": 10.0, "num_speakers": 2,
         "turns": [_turn("SPEAKER_00", 1.0, 5.0, "good morning everyone"),
                   _turn("SPEAKER_01", 6.0, 7.0, "uh")],
         "transcript": "good morning everyone uh",
         "background": [ev("Engine", "/m/02mk9", "source"), ev("Wind", "/m/03m9d0z", "model")]},
    ]
    _write_parquet(built / "data" / "clips" / "train-00000-of-00001.parquet", clips)
    qa = [{"id": "s1/speaker_count/0", "clip_id": "s1", "task": "speaker_count", "answer": "B",
           "choices": ["one", "two"], "answer_text": "two", "question": "How many?"},
          {"id": "s2/speaker_count/0", "clip_id": "s2", "task": "speaker_count", "answer": "B",
           "choices": ["one", "two"], "answer_text": "two", "question": "How many?"},
          {"id": "s1/env_present/0", "clip_id": "s1", "task": "env_present", "answer": "A",
           "choices": ["rain", "dog"], "answer_text": "rain", "question": "Which sound?"}]
    _write_parquet(built / "data" / "qa" / "train-00000-of-00001.parquet", qa)
    return truth_dir, built


def count_verify(row, record):
    """Re-derive speaker_count keys from the truth record; other tasks: cannot tell."""
    if row["task"] != "speaker_count":
        return None
    return row["answer_text"] == ["zero", "one", "two", "three"][record.num_speakers]


def test_evaluate_end_to_end(tiny, tmp_path):
    truth_dir, built = tiny
    fig = evaluate(truth_dir, built, verify=count_verify, with_audio=False)
    assert fig["coverage"] == {"truth_scenes": 3, "built_clips": 2, "matched": 2, "missing": ["s3"]}
    assert fig["speaker_count"]["accuracy"] == pytest.approx(0.5)
    # DER: s1 perfect; s2 1 s false alarm over 4 s speech -> 1 / (8 + 4)
    assert fig["diarization"]["der"] == pytest.approx(1 / 12)
    # WER: 1 substitution (their) + 1 insertion (uh) over 6 + 2 + 3 reference words
    assert fig["wer"]["wer"] == pytest.approx(2 / 11)
    per = fig["wer"]["per_speaker"]
    assert per["spk_a"]["wer"] == pytest.approx(0.0) and per["spk_b"]["wer"] == pytest.approx(0.5)
    assert fig["wer"]["speaker_attributed"]["insertions"] == 1  # "uh" from the unmatched speaker
    tags = fig["tags"]["per_class"]
    assert tags["Rain"]["precision"] == 1.0 and tags["Rain"]["recall"] == 1.0
    assert tags["Engine"]["recall"] == 0.0  # the source-origin copy does not count
    assert tags["Wind"]["precision"] == 0.0
    assert "Speech" not in tags
    ak = fig["answer_keys"]["per_task"]
    assert ak["speaker_count"]["accuracy"] == pytest.approx(0.5)  # s2's key says two, truth is one
    assert ak["env_present"]["unverifiable"] == 1
    assert fig["questions"]["per_clip"] == pytest.approx(1.5)
    assert fig["questions"]["per_task"]["speaker_count"]["per_clip"] == pytest.approx(1.0)
    # s1 (10 dB): 1 error in 8 words; s2 (5 dB): 1 insertion over 3 words; listed loudest first
    by_snr = fig["wer"]["by_snr"]
    assert list(by_snr) == ["10-15 dB", "5-10 dB"]
    assert by_snr["10-15 dB"]["clips"] == 1 and by_snr["10-15 dB"]["wer"] == pytest.approx(1 / 8)
    assert by_snr["5-10 dB"]["wer"] == pytest.approx(1 / 3)
    assert fig["merged_speakers"] == []
    assert fig["per_clip"]["s1"]["snr_db"] == 10.0 and fig["per_clip"]["s1"]["merged"] == []

    report = write_report(fig, tmp_path / "eval")
    text = report.read_text()
    assert "| speaker-count accuracy | 50.0 % |" in text
    assert "| speaker_count | 2 | 1.00 | 2 | 50.0 % |" in text
    assert "| 10-15 dB | 1 | 8 | 12.5 % |" in text
    assert "No two true speakers of a clip went mostly to the same built speaker." in text
    fig["merged_speakers"] = [{"speakers": ["spk_a", "spk_b"], "clips": 3}]
    assert "| spk_a + spk_b | 3 |" in write_report(fig, tmp_path / "eval_merged").read_text()
    assert (tmp_path / "eval" / "answer_keys.png").stat().st_size > 1000
    assert json.loads((tmp_path / "eval" / "eval.json").read_text())["wer"]["wer"] == pytest.approx(2 / 11)


def test_eval_cli(tiny, tmp_path, monkeypatch, capsys):
    truth_dir, built = tiny
    (tmp_path / "myverify.py").write_text(
        "def always(row, record):\n    return row['clip_id'] == 's1'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "report"
    rc = main(["--truth", str(truth_dir), "--built", str(built), "--out", str(out),
               "--verify", "myverify:always", "--no-audio", "--collar", "0.25"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| answer-key accuracy (all tasks) | 66.7 % |" in printed
    assert "DER (collar 0.25 s)" in printed
    assert (out / "report.md").is_file()
    assert main(["--truth", str(tmp_path / "nope"), "--built", str(built)]) == 2


def test_load_truth_requires_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="paqa-build mix"):
        load_truth(tmp_path)


def test_numbers_are_normalised_on_both_sides():
    """Whisper writes digits where the script spelled numbers; the WER must not count that."""
    assert M.normalize_words("Please call Maria at 5, 5, 5, 2, 1, 9, 8.") == \
        "please call maria at five five five two one nine eight"
    assert M.normalize_words("Boarding at 7.15 from gate 42") == \
        "boarding at seven fifteen from gate forty two"
    assert M.normalize_words("It leaves at 10:00.") == "it leaves at ten"
    assert M.number_words(305) == "three hundred five" and M.number_words(12000) == "twelve thousand"
    c = M.wer_counts("The train leaves at seven fifteen", "the train leaves at 7.15")
    assert (c.hits, c.substitutions, c.deletions, c.insertions) == (6, 0, 0, 0)
    assert M.wer_counts("gate nine", "gate 8").substitutions == 1


def test_wer_does_not_count_spelling_variants():
    c = M.wer_counts("Our neighbour painted the harbour wall grey.", "our neighbor painted the harbor wall gray")
    assert (c.substitutions, c.deletions, c.insertions, c.hits) == (0, 0, 0, 7)
    c = M.wer_counts("Our neighbour painted the harbour wall grey.", "our neighbor painted the harvard wall gray")
    assert c.substitutions == 1 and c.wer == pytest.approx(1 / 7)


def test_truth_without_transcript_is_left_out_of_wer_and_of_text_keys(tiny):
    """AMI-style truth (speaker turns, no text): no WER from that clip, quote keys unverifiable,
    speaker-count keys still checked."""
    truth_dir, built = tiny
    lines = [json.loads(x) for x in (truth_dir / "manifest.jsonl").read_text().splitlines()]
    lines[1]["truth"]["transcribed"] = False  # s2, given a second voice so that its order is defined
    lines[1]["truth"]["speakers"].append("spk_b")
    lines[1]["truth"]["turns"].append(_turn("spk_b", 6.0, 8.0))
    for t in lines[1]["truth"]["turns"]:
        t["text"] = ""
    (truth_dir / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    qa = pq.read_table(built / "data" / "qa" / "train-00000-of-00001.parquet").to_pylist()
    qa.append({"id": "s2/speaker_quote/0", "clip_id": "s2", "task": "speaker_quote", "answer": "A",
               "choices": ["good morning", "hello"], "answer_text": "good morning", "question": "Who?"})
    qa.append({"id": "s2/speaker_order/0", "clip_id": "s2", "task": "speaker_order", "answer": "A",
               "choices": ['the one who says "good morning"', 'the one who says "hello"'],
               "answer_text": 'the one who says "good morning"', "question": "Who speaks first?",
               "evidence": json.dumps({"variant": "first"})})
    for row in qa:  # the writer's schema comes from the first row
        row.setdefault("evidence", "{}")
    _write_parquet(built / "data" / "qa" / "train-00000-of-00001.parquet", qa)
    fig = evaluate(truth_dir, built, with_audio=False)  # the composer's own verifier
    # only s1 counts: 1 substitution over 8 words; s2's "good morning everyone uh" is not 4 insertions
    assert fig["wer"]["wer"] == pytest.approx(1 / 8) and fig["wer"]["ref_words"] == 8
    assert list(fig["wer"]["by_snr"]) == ["10-15 dB"]
    assert fig["per_clip"]["s2"]["wer"] is None and fig["per_clip"]["s1"]["wer"] == pytest.approx(1 / 8)
    assert fig["wer"]["speaker_attributed"]["insertions"] == 0
    ak = fig["answer_keys"]["per_task"]
    assert ak["speaker_quote"] == {**ak["speaker_quote"], "verified": 0, "unverifiable": 1}
    assert ak["speaker_order"] == {**ak["speaker_order"], "verified": 0, "unverifiable": 1}
    # the verifier cannot tell a line's speaker without the truth's text: no outcome recorded
    assert not {"s2/speaker_quote/0", "s2/speaker_order/0"} & set(fig["question_outcomes"])
    assert ak["speaker_count"]["verified"] == 2  # the count is still checked on s2
