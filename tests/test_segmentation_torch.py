"""The native segmentation runner against pyannote.audio itself: same scores, activity and counts.

The portable diarizer runs the packaged PyanNet checkpoint without importing pyannote.audio
(``backends/segmentation_torch``). These tests load the same checkpoint through pyannote's
``Model.from_pretrained`` / ``Inference`` / ``binarize`` / ``speaker_count`` and require the
results to agree, on real generated speech of several lengths (whole windows, a remainder, and a
clip shorter than one window)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from paqa_builder.backends.segmentation_torch import (
    Frames,
    binarize,
    load_sliding_segmentation,
    sincnet_frames,
    speaker_count,
)
from paqa_builder.backends.vad_pyannote import packaged_segmentation_path, waveform_input
from paqa_builder.mixer import synth
from paqa_builder.record import SAMPLE_RATE


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """About 12 s of two espeak voices taking turns over a noise background."""
    parts = []
    for i, text in enumerate(["the train leaves at nine from the second platform",
                              "please close the window before the rain starts",
                              "we should buy some bread on the way home"]):
        parts += [synth.speak(text, synth.VOICES[i % 2]), np.zeros(SAMPLE_RATE // 2, np.float32)]
    clean = np.concatenate(parts)
    return synth.mix_at_snr(clean, synth.background("engine", clean.size / SAMPLE_RATE, seed=3), 15.0)


@pytest.fixture(scope="module")
def pyannote_side():
    from pyannote.audio import Inference

    from paqa_builder.backends.vad_pyannote import load_segmentation_model

    model = load_segmentation_model(None, "cpu")
    return model, Inference(model, duration=5.0, step=1.0, skip_aggregation=True, batch_size=16)


def test_frames_match_the_models_receptive_field(pyannote_side):
    model, _ = pyannote_side
    field, mine = model.receptive_field, sincnet_frames()
    assert (mine.start, mine.duration, mine.step) == pytest.approx((field.start, field.duration, field.step))


@pytest.mark.parametrize("seconds", [None, 7.3, 3.1])
def test_scores_activity_and_count_equal_pyannotes(speech, pyannote_side, seconds):
    from pyannote.audio.pipelines.utils.diarization import SpeakerDiarizationMixin
    from pyannote.audio.utils.signal import binarize as pyannote_binarize

    model, inference = pyannote_side
    audio = speech if seconds is None else speech[: int(seconds * SAMPLE_RATE)]
    native = load_sliding_segmentation(packaged_segmentation_path(), step_fraction=0.2)
    assert type(native).__name__ == "SlidingSegmentation"
    mine, theirs = native(audio), inference(waveform_input(audio))
    assert mine.data.shape == theirs.data.shape
    np.testing.assert_allclose(mine.data, theirs.data, atol=1e-5)
    assert mine.data.max() > 0.9  # speech is heard: not a vacuous comparison of zeros

    ours_bin = binarize(mine.data, onset=0.5)
    their_bin = pyannote_binarize(theirs, onset=0.5, initial_state=False)
    np.testing.assert_array_equal(ours_bin, their_bin.data)

    count, grid = speaker_count(ours_bin, mine.chunks, mine.frames)
    their_count = SpeakerDiarizationMixin.speaker_count(their_bin, model.receptive_field, warm_up=(0.0, 0.0))
    np.testing.assert_array_equal(count, their_count.data[:, 0])
    assert grid.start == pytest.approx(their_count.sliding_window.start)
    assert grid.step == pytest.approx(their_count.sliding_window.step)
    assert count.max() >= 1


def test_binarize_is_hysteresis_along_frames():
    scores = np.array([[[0.2], [0.7], [0.45], [0.3], [0.8], [0.6]]])
    np.testing.assert_array_equal(binarize(scores, onset=0.5, offset=0.4)[0, :, 0], [0, 1, 1, 0, 1, 1])
    np.testing.assert_array_equal(binarize(scores, onset=0.5)[0, :, 0], [0, 1, 0, 0, 1, 1])
    # a frame at exactly the threshold keeps the previous state (here the initial one)
    np.testing.assert_array_equal(binarize(np.full((1, 2, 1), 0.5), 0.5, initial_state=True)[0, :, 0], [1, 1])


def test_speaker_count_averages_overlapping_windows():
    frames = sincnet_frames()
    per_chunk = 293
    chunks = Frames(0.0, 5.0, 1.0)
    data = np.zeros((2, per_chunk, 3))
    data[0, :, :2] = 1.0  # window 0 hears two speakers everywhere, window 1 hears one
    data[1, :, 0] = 1.0
    count, grid = speaker_count(data, chunks, frames)
    shift = grid.closest_frame(1.0 + 0.5 * grid.duration)
    assert count[0] == 2 and count[shift - 1] == 2  # only window 0 covers these frames
    assert count[shift + 1] == 2  # (2 + 1) / 2 = 1.5 rounds to even: 2
    assert count[shift + per_chunk - 1] == 1  # only window 1


def test_the_portable_diarizer_never_imports_pyannote_audio(speech, tmp_path):
    """The speed reason for the module: a build's diarizer loads without pyannote.audio."""
    audio = tmp_path / "speech.npy"
    np.save(audio, speech)
    code = ("import sys, numpy as np\n"
            "from paqa_builder.backends.diarize_portable import PortableDiarizer\n"
            "from paqa_builder.record import ClipRecord\n"
            "d = PortableDiarizer(device='cpu'); d.ensure_setup()\n"
            f"r = ClipRecord(clip_id='x', source='t', path='x'); r.audio = np.load({str(audio)!r})\n"
            "d.process_batch([r])\n"
            "print(r.num_speakers, any(m.startswith('pyannote.audio') for m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    speakers, imported = out.stdout.split()[-2:]
    assert int(speakers) >= 1
    assert imported == "False"


def test_a_checkpoint_folder_runs_natively_and_an_unreadable_file_goes_to_pyannote(tmp_path, monkeypatch):
    import shutil

    from paqa_builder.backends import segmentation_torch

    folder = tmp_path / "seg"
    folder.mkdir()
    shutil.copy(packaged_segmentation_path(), folder / "pytorch_model.bin")
    assert type(load_sliding_segmentation(folder)).__name__ == "SlidingSegmentation"
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(segmentation_torch, "PyannoteSliding", lambda path, *args: ("pyannote", path))
    assert load_sliding_segmentation(broken) == ("pyannote", str(broken))
    assert load_sliding_segmentation("pyannote/segmentation") == ("pyannote", "pyannote/segmentation")
