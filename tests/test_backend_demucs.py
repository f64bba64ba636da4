"""DemucsSeparator through ``demucs.pretrained.get_model(name, repo=dir)`` with a tiny random HTDemucs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("demucs")

from tiny_models import build_demucs  # noqa: E402

from paqa_builder.backends.separate_demucs import DemucsSeparator  # noqa: E402
from paqa_builder.backends.stems import SNR_LIMIT_DB, stem_stats  # noqa: E402
from paqa_builder.mixer.synth import background  # noqa: E402
from paqa_builder.record import SAMPLE_RATE, ClipRecord  # noqa: E402
from paqa_builder.registry import build_stage  # noqa: E402


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return build_demucs(tmp_path_factory.mktemp("demucs"))


@pytest.fixture(scope="module")
def stage(repo):
    sep = build_stage("separate", {"backend": "demucs", "repo": str(repo), "device": "cpu",
                                   "batch_size": 3})
    sep.check_available()
    sep.ensure_setup()
    return sep


def _record(i: int, audio: np.ndarray) -> ClipRecord:
    return ClipRecord(clip_id=f"c{i}", source="test", path=f"c{i}.wav", audio=audio,
                      duration=audio.size / SAMPLE_RATE)


def test_loader_reads_our_checkpoint(stage, repo):
    import torch
    from demucs.apply import BagOfModels

    assert isinstance(stage, DemucsSeparator)
    assert isinstance(stage._model, BagOfModels)
    assert stage._model.samplerate == 44100 and "vocals" in stage._model.sources
    saved = torch.load(next(repo.glob("*.th")), weights_only=False)["state"]
    loaded = stage._model.models[0].state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k], loaded[k].cpu()) for k in saved)


def test_batch_fills_stems_that_sum_to_the_mixture(stage):
    clips = [0.8 * background("beeps", 1.3, seed=1) + 0.2 * background("pink_noise", 1.3, seed=2),
             background("engine", 2.1, seed=3),
             np.zeros(8000, dtype=np.float32)]
    batch = [_record(i, c.astype(np.float32)) for i, c in enumerate(clips)]
    out = stage(batch)
    assert out is batch and all(r.error is None for r in batch)
    for record, clip in zip(batch, clips):
        assert record.speech_audio.shape == clip.shape and record.speech_audio.dtype == np.float32
        assert record.background_audio.shape == clip.shape
        assert np.all(np.isfinite(record.speech_audio))
        np.testing.assert_allclose(record.speech_audio + record.background_audio, clip, atol=1e-5)
        assert 0.0 <= record.speech_ratio <= 1.0
        assert -SNR_LIMIT_DB <= record.snr_db <= SNR_LIMIT_DB
        assert record.provenance["speech_audio"].startswith("separate:demucs model=htdemucs")
    # The random network still produces a non-trivial speech stem for real input ...
    assert float(np.abs(batch[1].speech_audio).max()) > 0
    # ... and the silent clip gets an all-zero speech stem, no speech and the SNR floor.
    assert not batch[2].speech_audio.any()
    assert batch[2].speech_ratio == 0.0 and batch[2].snr_db == -SNR_LIMIT_DB


def test_separate_keeps_clip_order_and_lengths(stage):
    clips = [background("white_noise", s, seed=i) for i, s in enumerate((0.7, 1.9))]
    stems = stage.separate(clips)
    assert [s.size for s in stems] == [c.size for c in clips]
    alone = stage.separate(clips[1:])[0]
    # The second clip is the longest, so batching pads nothing inside it: same result alone.
    np.testing.assert_allclose(stems[1], alone, atol=1e-4)


def test_stem_stats_definitions():
    sr = SAMPLE_RATE
    tone = np.sin(2 * np.pi * 220 * np.arange(sr) / sr).astype(np.float32)
    speech = np.concatenate([tone, np.zeros(sr, np.float32)])  # speech in the first half only
    noise = 0.1 * np.ones(2 * sr, dtype=np.float32)
    stats = stem_stats(speech, noise, sr, frame_s=0.05)
    assert stats.speech_ratio == pytest.approx(0.5)
    # SNR over speech frames: sine power 0.5 against 0.01 -> 17 dB.
    assert stats.snr_db == pytest.approx(10 * np.log10(0.5 / 0.01), abs=0.05)
    assert stem_stats(np.zeros(sr, np.float32), noise[:sr], sr).snr_db == -SNR_LIMIT_DB


def test_check_available_wrong_name_in_repo(repo):
    sep = DemucsSeparator(model="htdemucs_ft", repo=str(repo))
    with pytest.raises(RuntimeError) as err:
        sep.check_available()
    msg = str(err.value)
    assert "\n" not in msg and "htdemucs_ft" in msg and "htdemucs" in msg.split("found:")[1]


def test_check_available_offline_uncached(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(RuntimeError) as err:
        DemucsSeparator(model="htdemucs").check_available()
    msg = str(err.value)
    assert "\n" not in msg and "HF_HUB_OFFLINE" in msg and "repo" in msg
