"""PyannoteDiarizer through ``pyannote.audio.Pipeline.from_pretrained(<local config.yaml>)``.

The pipeline is community-1-shaped (PyanNet segmentation, WeSpeaker ResNet34 embeddings, VBx
clustering with a PLDA), all with random weights built by ``tiny_models.build_pyannote_pipeline``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyannote.audio")

from tiny_models import build_pyannote_pipeline  # noqa: E402

from paqa_builder.backends.diarize_pyannote import PyannoteDiarizer, overlap_regions  # noqa: E402
from paqa_builder.mixer.synth import background  # noqa: E402
from paqa_builder.record import SAMPLE_RATE, TRANSIENT_FIELDS, ClipRecord, Turn  # noqa: E402
from paqa_builder.registry import build_stage  # noqa: E402


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return build_pyannote_pipeline(tmp_path_factory.mktemp("pyannote"))


@pytest.fixture(scope="module")
def stage(config):
    st = build_stage("diarize", {"backend": "pyannote", "pipeline": str(config), "device": "cpu"})
    st.check_available()
    st.ensure_setup()
    return st


def _record(cid: str, audio: np.ndarray, **kw) -> ClipRecord:
    return ClipRecord(clip_id=cid, source="test", path=f"{cid}.wav", audio=audio,
                      duration=audio.size / SAMPLE_RATE, **kw)


def _check_diarization(record: ClipRecord) -> None:
    duration = record.duration
    turns = record.turns
    assert isinstance(turns, list) and all(isinstance(t, Turn) for t in turns)
    assert [(t.start, t.end) for t in turns] == sorted((t.start, t.end) for t in turns)
    for t in turns:
        assert 0.0 <= t.start < t.end <= duration
    first_seen: list[str] = []
    for t in turns:
        if t.speaker not in first_seen:
            first_seen.append(t.speaker)
    assert first_seen == [f"SPEAKER_{i:02d}" for i in range(len(first_seen))]
    assert record.num_speakers == len(first_seen)
    for start, end in record.overlaps:
        assert 0.0 <= start < end <= duration
        mid = 0.5 * (start + end)
        assert sum(t.start <= mid <= t.end for t in turns) >= 2
    assert set(record.speaker_embeddings) <= set(first_seen)
    for vec in record.speaker_embeddings.values():
        assert vec.shape == (256,) and vec.dtype == np.float32 and np.all(np.isfinite(vec))
    assert 0.0 <= record.speaker_count_confidence <= 1.0


def test_pipeline_built_by_the_real_loader(stage, config):
    import torch
    from pyannote.audio.pipelines import SpeakerDiarization

    assert isinstance(stage, PyannoteDiarizer)
    assert isinstance(stage._pipeline, SpeakerDiarization)
    saved = torch.load(config.parent / "segmentation" / "pytorch_model.bin", weights_only=False)["state_dict"]
    loaded = stage._pipeline._segmentation.model.state_dict()
    assert all(torch.equal(saved[k], loaded[k].cpu()) for k in saved)
    assert stage.provenance().startswith(f"diarize:pyannote model={config} version=pyannote.audio-4")


def test_batch_fills_fields_with_invariants(stage):
    noisy = _record("noise", background("pink_noise", 6.0, seed=4),
                    speech_audio=background("white_noise", 6.0, seed=5))
    silent = _record("silent", np.zeros(3 * SAMPLE_RATE, dtype=np.float32), speech_ratio=0.0)
    stage([noisy, silent])
    assert noisy.error is None and silent.error is None, (noisy.error, silent.error)
    _check_diarization(noisy)
    # The random network marks speech almost everywhere in noise, with more than one speaker.
    assert noisy.num_speakers >= 1 and noisy.turns
    assert noisy.provenance["turns"].startswith("diarize:pyannote")
    assert "speaker_embeddings" in TRANSIENT_FIELDS  # never written to the shards
    assert silent.turns == [] and silent.num_speakers == 0 and silent.overlaps == []
    assert silent.speaker_count_confidence == 1.0


def test_speaker_bounds_reach_the_pipeline(config):
    st = PyannoteDiarizer(pipeline=str(config.parent), device="cpu", max_speakers=1)
    st.check_available()
    rec = _record("one", background("pink_noise", 6.0, seed=4))
    st([rec])
    assert rec.error is None
    _check_diarization(rec)
    assert rec.num_speakers <= 1 and rec.overlaps == []


def test_overlap_regions_and_confidence_rules():
    turns = [Turn("SPEAKER_00", 0.0, 3.0), Turn("SPEAKER_01", 2.0, 4.0),
             Turn("SPEAKER_02", 2.5, 5.0), Turn("SPEAKER_00", 5.0, 6.0), Turn("SPEAKER_01", 7.0, 8.0)]
    assert overlap_regions(turns) == [(2.0, 4.0)]
    assert overlap_regions([Turn("A", 0, 1), Turn("B", 1, 2)]) == []  # touching is not overlapping
    st = PyannoteDiarizer(pipeline="unused", min_talk_s=1.0, similar_cosine=0.5)
    same = np.ones(4, dtype=np.float32)
    two = [Turn("SPEAKER_00", 0.0, 2.0), Turn("SPEAKER_01", 2.0, 2.5)]
    assert st._count_confidence(two, {}, None) == pytest.approx(0.5)  # 0.5 s of the quieter speaker
    assert st._count_confidence(two[:1], {}, None) == 1.0
    assert st._count_confidence(two[:1] + [Turn("SPEAKER_01", 2, 4)],
                                {"SPEAKER_00": same, "SPEAKER_01": same}, None) == 0.0
    assert st._count_confidence([], {}, 0.6) == pytest.approx(0.3)
    # nobody found on an empty stem: sure, unless the router heard speech in the mixture
    for route, expected in ((None, 1.0), ("speech", 0.3)):
        record = ClipRecord(clip_id="e", source="t", path="e.wav", speech_ratio=0.0, route=route)
        st._write(record, [], {})
        assert (record.num_speakers, record.speaker_count_confidence) == (0, expected)


def test_check_available_offline_uncached(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError) as err:
        PyannoteDiarizer().check_available()
    msg = str(err.value)
    assert "\n" not in msg and "pyannote/speaker-diarization-community-1" in msg and "HF_HUB_OFFLINE" in msg


def test_check_available_gated_without_token(tmp_path, monkeypatch):
    import huggingface_hub.constants

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    with pytest.raises(RuntimeError) as err:
        PyannoteDiarizer(pipeline="pyannote/speaker-diarization-3.1").check_available()
    msg = str(err.value)
    assert "\n" not in msg and "gated" in msg and "HF_TOKEN" in msg
    assert "https://huggingface.co/pyannote/speaker-diarization-3.1" in msg


def test_check_available_missing_local_config(tmp_path):
    with pytest.raises(RuntimeError, match="config.yaml"):
        PyannoteDiarizer(pipeline=str(tmp_path)).check_available()
    with pytest.raises(RuntimeError, match="does not exist"):
        PyannoteDiarizer(pipeline=str(tmp_path / "nope" / "config.yaml")).check_available()


def _fake_hub_cache(cache, repo_id: str, files: dict[str, bytes]) -> None:
    """Lay out ``files`` as a cached snapshot of ``repo_id`` (Hugging Face cache format)."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 40
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    for name, data in files.items():
        target = repo_dir / "snapshots" / commit / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def test_hub_id_offline_uses_the_cache(config, tmp_path, monkeypatch):
    import huggingface_hub.constants

    repo_id = "pyannote/speaker-diarization-community-1"
    root = config.parent
    files = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Only config.yaml cached: the check names the first missing weight file.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "partial"))
    _fake_hub_cache(tmp_path / "partial", repo_id, {"config.yaml": files["config.yaml"]})
    with pytest.raises(RuntimeError) as err:
        PyannoteDiarizer(pipeline=repo_id).check_available()
    assert "\n" not in str(err.value) and "/pytorch_model.bin" in str(err.value)
    # Everything cached: the Hub id loads offline through Pipeline.from_pretrained.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "full"))
    _fake_hub_cache(tmp_path / "full", repo_id, files)
    st = PyannoteDiarizer(pipeline=repo_id, device="cpu")
    st.check_available()
    st.ensure_setup()
    rec = _record("hub", background("pink_noise", 3.0, seed=7))
    st([rec])
    assert rec.error is None
    _check_diarization(rec)
