"""Calibrated speaker-count confidence, reliability tables and the held-out protocol."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from paqa_builder.backends._clustering import Clusters
from paqa_builder.backends.speaker_confidence import (
    GAP_CAP,
    CountCalibration,
    cluster_cues,
    count_evidence,
    design_row,
    fit_calibration,
    local_speaker_peak,
    precision_threshold,
)
from paqa_builder.evaluation.metrics import reliability_table
from paqa_builder.mixer import heldout


def _evidence(**kw):
    base = dict(speakers=2, heights=np.array([0.1, 0.2, 0.6]), threshold=0.35,
                dendrogram_confidence=1.0, raw_clusters=2, split_suspect=False,
                talk_s={0: 4.0, 1: 1.5}, centroid_distance=np.array([[0, 0.7], [0.7, 0]]),
                piece_spread=0.2, seg_local_max=2, pieces=6)
    base.update(kw)
    return count_evidence(**base)


def test_count_evidence_hand_values():
    ev = _evidence()
    assert ev["gap_below"] == pytest.approx(0.15) and ev["gap_above"] == pytest.approx(0.25)
    assert ev["min_talk_s"] == 1.5 and ev["speech_s"] == 5.5 and ev["nearest_speakers"] == 0.7
    assert ev["cleaned_up"] == 0.0 and ev["seg_local_max"] == 2.0
    one = _evidence(speakers=1, heights=np.array([0.05]), talk_s={0: 5.0},
                    centroid_distance=np.zeros((1, 1)), raw_clusters=2)
    assert one["gap_above"] == GAP_CAP and one["cleaned_up"] == 1.0
    assert one["nearest_speakers"] == GAP_CAP + 0.35


def test_design_row_separates_single_and_multi_cues():
    row = design_row(_evidence(seg_local_max=1))
    assert row["single"] == 0.0 and row["seg_fewer"] == 1.0 and row["seg_more"] == 0.0
    assert row["spread_single"] == 0.0 and row["spread_multi"] == pytest.approx(0.2)
    assert row["log_min_talk_multi"] == pytest.approx(math.log1p(1.5))
    single = design_row(_evidence(speakers=1, talk_s={0: 3.0}, centroid_distance=np.zeros((1, 1)),
                                  seg_local_max=2))
    assert single["single"] == 1.0 and single["seg_more"] == 1.0 and single["nearest_multi"] == 0.0
    assert single["spread_single"] == pytest.approx(0.2)


def test_local_speaker_peak_counts_tracks_active_long_enough():
    data = np.zeros((3, 100, 3))
    data[0, :50, 0] = 1                      # one track, 0.5 s at 10 ms frames
    data[1, :60, 0] = data[1, 40:, 1] = 1    # two tracks
    data[2, :20, 2] = 1                      # too short to count
    data[2, :, 0] = 1
    assert local_speaker_peak(data, 0.01) == 2
    assert local_speaker_peak(data, 0.01, min_active_s=0.7) == 1
    assert local_speaker_peak(np.zeros((0, 5, 3)), 0.01) == 0


def test_cluster_cues_distance_and_spread():
    emb = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    clusters = Clusters(np.array([0, 0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]]), 1.0)
    cues = cluster_cues(emb, np.array([100.0, 100.0, 200.0]), clusters, pitch_weight=0.5)
    assert cues["distance"][0, 1] == pytest.approx(1.0 + 0.5 * math.log(2))
    assert cues["spread"] == pytest.approx(0.2) and cues["pieces"] == 3


def test_fit_learns_the_cue_and_ranks_clips():
    rng = np.random.default_rng(0)
    evidence, right = [], []
    for i in range(300):
        wrong = i % 5 == 0
        evidence.append(_evidence(seg_local_max=1 if wrong else 2,
                                  heights=np.array([0.1, 0.3 if wrong else 0.1, 0.6]))
                        | {"piece_spread": float(rng.uniform(0, 0.3))})
        right.append(not wrong if rng.uniform() > 0.01 else wrong)
    cal = fit_calibration(evidence, right, fitted_on={"group": "tune"})
    p_ok = cal.probability(_evidence())
    p_bad = cal.probability(_evidence(seg_local_max=1, heights=np.array([0.1, 0.3, 0.6])))
    assert p_ok > 0.9 > 0.5 > p_bad
    assert cal.threshold_98 is not None and p_bad < cal.threshold_98 <= p_ok
    assert cal.fitted_on == {"group": "tune"}


def test_calibration_round_trip(tmp_path):
    cal = CountCalibration(inputs=["single"], weights=[2.0], bias=1.0, mean=[0.5], scale=[0.5],
                           threshold_98=0.9, fitted_on={"group": "tune"})
    path = cal.save(tmp_path / "cal.json")
    back = CountCalibration.load(path)
    assert back == cal
    # single=1 -> z = 1 + 2 * (1 - 0.5) / 0.5 = 3
    assert back.probability({"speakers": 1}) == pytest.approx(1 / (1 + math.exp(-3)))
    assert CountCalibration.load(tmp_path / "missing.json") is None


def test_shipped_calibration_was_fitted_on_tune_only():
    cal = CountCalibration.load()
    assert cal is not None, "paqa_builder/backends/speaker_calibration.json is missing"
    assert cal.fitted_on["group"] == "tune" and cal.fitted_on["clips"] >= 100
    assert all("report" not in name and "flite" not in name for name in cal.fitted_on["scene_folders"])
    assert cal.threshold_98 is not None and 0.5 < cal.threshold_98 < 1.0
    assert len(cal.inputs) == len(cal.weights) == len(cal.mean) == len(cal.scale)


def test_precision_threshold_exact():
    conf = [0.99] * 30 + [0.8] * 10 + [0.6] * 10
    right = [True] * 30 + [True] * 9 + [False] + [False] * 5 + [True] * 5
    # top 30 all right, top 40: 39/40 = 97.5 % < 98 % -> stop at 0.99
    assert precision_threshold(conf, right) == 0.99
    assert precision_threshold(conf, right, target=0.95) == 0.8
    assert precision_threshold(conf, right, min_kept=45) is None
    assert precision_threshold([0.9] * 10, [True] * 10, min_kept=20) is None


def test_reliability_table_exact():
    rows = reliability_table([0.1, 0.55, 0.96, 0.99, 1.0, 0.97], [False, True, True, True, False, True])
    by = {r["bin"]: r for r in rows}
    assert by["0.00-0.50"]["n"] == 1 and by["0.00-0.50"]["accuracy"] == 0.0
    assert by["0.50-0.70"]["accuracy"] == 1.0
    assert by["0.95-0.98"]["n"] == 2 and by["0.95-0.98"]["right"] == 2
    assert by["0.98-1.00"]["n"] == 2 and by["0.98-1.00"]["accuracy"] == 0.5
    assert by["0.98-1.00"]["mean_confidence"] == pytest.approx(0.995)
    assert by["0.80-0.90"]["n"] == 0 and by["0.80-0.90"]["accuracy"] is None


def test_heldout_groups_and_seeds():
    assert heldout.voice_set_group("espeak") == "tune" and heldout.voice_set_group("flite") == "report"
    with pytest.raises(ValueError, match="no held-out group"):
        heldout.voice_set_group("mystery")
    heldout.check_scene_group("tune", 3)
    heldout.check_scene_group("report", heldout.REPORT_SEED_START)
    with pytest.raises(ValueError, match="report scenes use mixer seeds >= 1000"):
        heldout.check_scene_group("report", 3)
    with pytest.raises(ValueError, match="tune scenes use mixer seeds < 1000"):
        heldout.check_scene_group("tune", 1000)


def _corpus(root, groups):
    import soundfile as sf

    from paqa_builder.mixer.synth import VOICES, speak

    root.mkdir()
    lines = []
    for i, group in enumerate(groups):
        audio = speak("the garden gate was left open all night", VOICES[i % len(VOICES)])
        sf.write(root / f"u{i}.wav", audio, 16000)
        lines.append({"path": f"u{i}.wav", "speaker": f"s{i}", "text": "the garden gate was left open",
                      "group": group})
    (root / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_mix_stamps_group_filters_speakers_and_refuses_mixed_groups(tmp_path, capsys):
    pytest.importorskip("soundfile")
    from paqa_builder.mixer.cli import main

    _corpus(tmp_path / "speech", ["tune", "report", "report"])
    base = ["--speech", str(tmp_path / "speech"), "--generate-backgrounds", "--scenes", "3"]
    assert main(base + ["--out", str(tmp_path / "m1"), "--seed", "0"]) == 2
    assert "pick one group with --group" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "m2"), "--seed", "0", "--group", "report"]) == 2
    assert "report scenes use mixer seeds >= 1000" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "m3"), "--seed", "1000", "--group", "report"]) == 0
    lines = [json.loads(x) for x in (tmp_path / "m3" / "manifest.jsonl").read_text().splitlines()]
    assert {x["group"] for x in lines} == {"report"}
    spoken = {s for x in lines for s in x["truth"]["speakers"]}
    assert spoken and spoken <= {"s1", "s2"}


def test_pitch_deadzone_forgives_small_pitch_differences():
    from paqa_builder.backends._clustering import speaker_distances

    emb = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    f0 = np.array([100.0, 120.0, 200.0])  # |ln| gaps: 0.182, 0.693, 0.511
    plain = speaker_distances(emb, f0, pitch_weight=1.0)
    np.testing.assert_allclose(plain, [math.log(1.2), math.log(2.0), math.log(200 / 120)], atol=1e-9)
    dz = speaker_distances(emb, f0, pitch_weight=1.0, pitch_deadzone=0.2)
    np.testing.assert_allclose(dz, [0.0, math.log(2.0) - 0.2, math.log(200 / 120) - 0.2], atol=1e-9)


def _two_voice_pieces(spreads: bool = True):
    from paqa_builder.backends.diarize_portable import PieceSet

    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    spans = [(0.0, 2.0), (2.0, 4.0), (4.5, 6.5), (6.5, 8.5), (8.5, 8.6)]
    return PieceSet(spans, [0, 1, 2, 3], np.stack([a, a + 0.05, b, b + 0.05]), np.full(4, 2.0),
                    np.array([120.0, 121.0, 200.0, 205.0]), np.full(4, 0.05) if spreads else None)


def test_assign_clusters_saved_pieces_without_any_model():
    from paqa_builder.backends.diarize_portable import PortableDiarizer
    from paqa_builder.record import ClipRecord

    record = ClipRecord(clip_id="c", source="x", path="c.wav")
    PortableDiarizer(calibration=None).assign(record, _two_voice_pieces(), [(4.4, 4.6)], 2, 9.0)
    assert record.num_speakers == 2
    # the un-embedded 0.1 s tail takes its neighbour's speaker and joins its turn
    assert [(t.speaker, t.start, t.end) for t in record.turns] == [
        ("SPEAKER_00", 0.0, 4.0), ("SPEAKER_01", 4.5, 8.6)]
    assert record.speaker_evidence["pieces"] == 4.0 and record.speaker_evidence["seg_local_max"] == 2.0
    assert record.overlaps == [(4.4, 4.6)]
    # a cut above the voices' distance merges them: the replay sees the setting, not a cache
    merged = ClipRecord(clip_id="c", source="x", path="c.wav")
    PortableDiarizer(calibration=None, cluster_threshold=1.5, pitch_weight=0.0).assign(
        merged, _two_voice_pieces(), [], 2, 9.0)
    assert merged.num_speakers == 1


def test_replay_sweeps_saved_pieces_and_scores_der(tmp_path, capsys):
    import pickle

    from benchmark_scripts import load_script

    tool = load_script("speaker_calibration")
    truth = {"c": {"group": "tune", "voices": "test", "truth": {
        "duration": 9.0, "speakers": ["A", "B"],
        "turns": [{"speaker": "A", "start": 0.0, "end": 4.0}, {"speaker": "B", "start": 4.5, "end": 8.6}]}}}
    saved = {"c": {"pieces": _two_voice_pieces(), "overlaps": [], "seg_local_max": 2, "duration": 9.0}}
    (tmp_path / "p.pkl").write_bytes(pickle.dumps({"scenes": "s", "truth": truth, "clips": saved}))
    sweep = [{"cluster_threshold": 0.6}, {"cluster_threshold": 1.5, "pitch_weight": 0.0}]
    assert tool.main(["replay", str(tmp_path / "p.pkl"), "--out", str(tmp_path / "c.jsonl"),
                      "--sweep", json.dumps(sweep)]) == 0
    lines = [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert [(x["config"], x["built_speakers"], x["true_speakers"]) for x in lines] == [
        (sweep[0], 2, 2), (sweep[1], 1, 2)]
    assert lines[0]["der"]["missed_s"] == pytest.approx(0.0) and lines[0]["der"]["confusion_s"] == pytest.approx(0.0)
    # one speaker for both voices: the mapping gives it to B (4.1 s), so A's 4.0 s are confusion
    assert lines[1]["der"]["confusion_s"] == pytest.approx(4.0)
    out = capsys.readouterr().out
    assert "count right 2/2" not in out and "count right 1/1, DER 0.0%" in out and "count right 0/1" in out
    # pieces saved before pitch spreads existed cannot stand for the spread-softened setting
    saved = {"c": {**saved["c"], "pieces": _two_voice_pieces(spreads=False)}}
    (tmp_path / "old.pkl").write_bytes(pickle.dumps({"scenes": "s", "truth": truth, "clips": saved}))
    with pytest.raises(SystemExit, match="holds no pitch spreads"):
        tool.main(["replay", str(tmp_path / "old.pkl"), "--out", str(tmp_path / "d.jsonl"),
                   "--sweep", json.dumps(sweep)])


def test_second_pass_merges_speakers_whose_whole_speech_is_one_voice(monkeypatch):
    """The pieces cluster into two voices; measured again on everything each said, the two are
    one voice (same embedding and pitch), so the second pass merges them into the longer talker's
    label. Without the audio (a replay) or with ``verify_threshold`` 0 the two stay apart."""
    from paqa_builder.backends.diarize_portable import PortableDiarizer
    from paqa_builder.record import ClipRecord

    audio = np.zeros(9 * 16000, dtype=np.float32)
    measured = []

    def whole(diarizer, joined, spans):
        measured.append([tuple(round(x, 1) for x in s) for s in spans])
        return np.array([1.0, 0.0, 0.0]), 150.0, 0.05

    monkeypatch.setattr(PortableDiarizer, "_measure", lambda self, a, spans: whole(self, a, spans))
    record = ClipRecord(clip_id="c", source="x", path="c.wav")
    PortableDiarizer(calibration=None).assign(record, _two_voice_pieces(), [], 2, 9.0, audio=audio)
    assert record.num_speakers == 1 and record.speaker_evidence["verify_merges"] == 1.0
    assert [(t.speaker, t.start, t.end) for t in record.turns] == [("SPEAKER_00", 0.0, 4.0), ("SPEAKER_00", 4.5, 8.6)]
    assert measured == [[(0.0, 4.0)], [(4.5, 8.6)]]  # each speaker's own turns, joined
    for diarizer, kwargs in ((PortableDiarizer(calibration=None), {}),
                             (PortableDiarizer(calibration=None, verify_threshold=0.0), {"audio": audio})):
        kept = ClipRecord(clip_id="c", source="x", path="c.wav")
        diarizer.assign(kept, _two_voice_pieces(), [], 2, 9.0, **kwargs)
        assert kept.num_speakers == 2


def test_merge_close_speakers_merges_closest_first_and_measures_the_merged_speaker_again():
    from paqa_builder.backends._turns import merge_close_speakers

    turns = [(0.0, 3.0, 0), (3.0, 4.0, 1), (5.0, 6.0, 2), (6.0, 9.0, 0)]
    voice = {0: 0.0, 1: 0.1, 2: 0.45}  # a number per speaker stands in for the features
    calls = []

    def measure(spans):
        calls.append(spans)
        owners = {lab for s, e, lab in turns if any(a <= s and e <= b for a, b in spans)}
        return sum(voice[o] for o in owners) / len(owners)

    merged, n, nearest = merge_close_speakers(turns, measure, lambda a, b: abs(a - b), 0.3, 0.1)
    # 0 and 1 (0.1 apart) merge first; the merged speaker measures 0.05, still 0.4 from speaker 2
    assert n == 1 and merged == [(0.0, 4.0, 0), (5.0, 6.0, 2), (6.0, 9.0, 0)]
    assert nearest == pytest.approx(0.4)  # the pair it kept apart
    assert calls[-1] == [(0.0, 4.0), (6.0, 9.0)]
    everyone, n, nearest = merge_close_speakers(turns, measure, lambda a, b: abs(a - b), 0.5, 0.1)
    assert n == 2 and {lab for *_, lab in everyone} == {0} and nearest is None
