"""Acoustic attributes: levels, loudness, pYIN pitch, centroid, per-speaker stats."""

from __future__ import annotations

import time

import numpy as np
import pytest

from paqa_builder.audio_io import rms_db as level_db
from paqa_builder.mixer import synth
from paqa_builder.record import ClipRecord, Turn, Word
from paqa_builder.stages.acoustics import Acoustics, merge_spans, speaker_spans, subtract_spans

SR = 16_000


def tone(freq: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def record(audio: np.ndarray, **kw) -> ClipRecord:
    return ClipRecord(clip_id="c", source="synth", path="synth://c", audio=audio,
                      duration=audio.size / SR, **kw)


@pytest.fixture(scope="module")
def stage():
    st = Acoustics()
    st.ensure_setup()
    return st


def test_span_algebra():
    assert merge_spans([(3, 4), (0, 1), (0.5, 2), (2, 2.5)]) == [(0, 2.5), (3, 4)]
    assert subtract_spans([(0, 10)], [(2, 3), (2.5, 4), (9, 12)]) == [(0, 2), (4, 9)]
    spans = speaker_spans([Turn("A", 0, 4), Turn("B", 3, 6), Turn("A", 7, 8)])
    assert spans["A"] == ([(0, 4), (7, 8)], [(0, 3), (7, 8)])
    assert spans["B"] == ([(3, 6)], [(4, 6)])


def test_tone_levels_pitch_and_centroid(stage):
    rec = record(tone(200.0, 3.0))
    stage([rec])
    ac = rec.acoustics
    assert ac["rms_db"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    assert ac["peak_db"] == pytest.approx(20 * np.log10(0.5), abs=0.05)
    assert ac["pitch_hz"] == pytest.approx(200.0, rel=0.02)
    assert ac["spectral_centroid_hz"] == pytest.approx(200.0, rel=0.1)
    # BS.1770 K-weighting adds about +0.7 dB at 200 Hz relative to the -0.691 dB offset
    assert -12.0 < ac["loudness_lufs"] < -8.0
    assert "speech_db" not in ac and "background_db" not in ac and "words_per_second" not in ac
    assert rec.speaker_stats is None  # no diarization -> nothing produced


def test_pitch_follows_the_louder_octave(stage):
    low, high = record(tone(110.0, 2.0)), record(tone(330.0, 2.0))
    stage([low, high])
    assert low.acoustics["pitch_hz"] == pytest.approx(110.0, rel=0.03)
    assert high.acoustics["pitch_hz"] == pytest.approx(330.0, rel=0.03)


def test_short_or_silent_clips_omit_what_cannot_be_measured(stage):
    short = record(tone(300.0, 0.2))
    silent = record(np.zeros(SR, np.float32), turns=[])
    stage([short, silent])
    assert short.error is None and silent.error is None
    assert "loudness_lufs" not in short.acoustics
    assert silent.acoustics["rms_db"] == -120.0 and "pitch_hz" not in silent.acoustics
    assert silent.speaker_stats == {}


def test_a_silent_speech_stem_costs_no_pitch_tracking(stage, monkeypatch):
    """A clip routed no_speech has an all-zero speech stem: pYIN is not run on it (it would find
    nothing), while a stem with sound still is."""
    import librosa

    calls = []
    real = librosa.pyin
    monkeypatch.setattr(librosa, "pyin", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    quiet = record(tone(220.0, 1.0))
    quiet.speech_audio = np.zeros_like(quiet.audio)
    stage([quiet])
    assert calls == [] and "pitch_hz" not in quiet.acoustics and quiet.acoustics["rms_db"] > -20
    stage([record(tone(220.0, 1.0))])
    assert calls == [1]


@pytest.mark.skipif(not synth.espeak_available(), reason="espeak-ng not installed")
def test_two_speakers_pitch_loudness_rate_and_stems(stage):
    a = synth.speak("The weather is lovely today.", synth.VOICES[0])      # low voice, pitch 35
    b = synth.speak("I think we should take the train.", synth.VOICES[1])  # high voice, pitch 75
    b = b * 10 ** ((level_db(a) + 6.0 - level_db(b)) / 20)  # B exactly 6 dB louder than A
    gap = np.zeros(int(0.5 * SR), np.float32)
    speech = np.concatenate([gap, a, gap, b, gap]).astype(np.float32)
    t_a = (0.5, 0.5 + a.size / SR)
    t_b = (t_a[1] + 0.5, t_a[1] + 0.5 + b.size / SR)
    noise = synth.background("pink_noise", speech.size / SR, seed=4)
    noise = noise * 10 ** ((level_db(speech) - 10.0 - level_db(noise)) / 20)  # 10 dB below speech
    words = [Word(w, t_a[0], t_a[1], speaker="A") for w in "the weather is lovely today".split()] + \
            [Word(w, t_b[0], t_b[1], speaker="B") for w in "i think we should take the train".split()]
    rec = record(speech + noise, speech_audio=speech, background_audio=noise,
                 turns=[Turn("A", *t_a), Turn("B", *t_b)], words=words)
    started = time.perf_counter()
    stage([rec])
    elapsed = time.perf_counter() - started
    print(f"acoustics on {rec.duration:.2f} s: {elapsed:.2f} s")
    assert rec.error is None, rec.error
    ac, st = rec.acoustics, rec.speaker_stats
    assert ac["speech_minus_background_db"] == pytest.approx(10.0, abs=0.05)
    assert ac["speech_seconds"] == pytest.approx((t_a[1] - t_a[0]) + (t_b[1] - t_b[0]), abs=0.01)
    assert ac["words_per_second"] == pytest.approx(12 / ac["speech_seconds"], rel=0.01)
    assert set(st) == {"A", "B"}
    assert st["B"]["pitch_hz"] > 1.2 * st["A"]["pitch_hz"]
    assert 60.0 <= st["A"]["pitch_hz"] <= 500.0 and 60.0 <= st["B"]["pitch_hz"] <= 500.0
    assert st["B"]["loudness_db"] - st["A"]["loudness_db"] == pytest.approx(6.0, abs=0.5)
    assert st["A"]["talk_time"] == pytest.approx(t_a[1] - t_a[0], abs=0.01)
    assert st["A"]["words_per_second"] == pytest.approx(5 / st["A"]["talk_time"], rel=0.01)
    assert st["B"]["words_per_second"] == pytest.approx(7 / st["B"]["talk_time"], rel=0.01)
    assert rec.provenance["acoustics"].startswith("acoustics:librosa pyin")


def test_invalid_pitch_rate_is_rejected():
    with pytest.raises(ValueError, match="pitch_sr"):
        Acoustics(pitch_sr=800, pitch_fmax=500)
