"""Silero VAD (silero-vad wheel) and pyannote segmentation VAD (model from the whisperx wheel)."""

from __future__ import annotations

import numpy as np
import pytest

from paqa_builder.backends.vad_pyannote import PyannoteSegmentationVAD, packaged_segmentation_path
from paqa_builder.backends.vad_silero import SileroVAD
from paqa_builder.mixer import synth
from paqa_builder.record import SAMPLE_RATE, ClipRecord

pytestmark = pytest.mark.skipif(not synth.espeak_available(), reason="espeak-ng not installed")


@pytest.fixture(scope="module", params=["silero", "silero_onnx", "pyannote_seg"])
def vad(request):
    stage = {"silero": lambda: SileroVAD(),
             "silero_onnx": lambda: SileroVAD(onnx=True),
             "pyannote_seg": lambda: PyannoteSegmentationVAD(device="cpu")}[request.param]()
    stage.check_available()
    stage.setup()
    stage._ready = True
    return stage


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """8 s at 15 dB SNR over pink noise: speech at ~1 s and ~4.5 s, true spans returned."""
    clean = np.zeros(8 * SAMPLE_RATE, dtype=np.float32)
    spans = []
    for text, voice, start in (("the coffee is too hot to drink", synth.VOICES[0], 1.0),
                               ("turn left after the bridge", synth.VOICES[1], 4.5)):
        utt = synth.speak(text, voice)
        i = int(start * SAMPLE_RATE)
        clean[i: i + utt.size] = utt
        spans.append((start, start + utt.size / SAMPLE_RATE))
    return synth.mix_at_snr(clean, synth.background("pink_noise", 8.0, seed=4), 15.0), spans


def test_finds_the_two_utterances(vad, scene):
    audio, spans = scene
    record = ClipRecord(clip_id="v", source="test", path="v.wav", audio=audio)
    vad([record])
    assert record.error is None
    regions = record.speech_regions
    assert len(regions) == 2, regions
    for (start, end), (t_start, t_end) in zip(regions, spans):
        assert abs(start - t_start) < 0.25 and abs(end - t_end) < 0.3, (regions, spans)
    assert all(isinstance(x, float) for region in regions for x in region)
    assert record.provenance["speech_regions"].startswith(f"vad:{vad.backend} model=")


def test_silence_and_noise_give_empty_list(vad):
    for audio in (np.zeros(3 * SAMPLE_RATE, dtype=np.float32),
                  synth.background("white_noise", 3.0, seed=5) * 0.05):
        record = ClipRecord(clip_id="s", source="test", path="s.wav", audio=audio)
        vad([record])
        assert record.speech_regions == []


def test_listens_to_the_speech_stem_when_present(vad, scene):
    audio, _ = scene
    silent_stem = np.zeros_like(audio)
    record = ClipRecord(clip_id="p", source="test", path="p.wav", audio=audio, speech_audio=silent_stem)
    vad([record])
    assert record.speech_regions == []


def test_packaged_checkpoint_is_found():
    path = packaged_segmentation_path()
    assert path.name == "pytorch_model.bin" and path.stat().st_size > 1_000_000


def test_missing_checkpoint_is_reported():
    with pytest.raises(RuntimeError, match="does not exist"):
        PyannoteSegmentationVAD(checkpoint="/nonexistent/segmentation.bin").check_available()
