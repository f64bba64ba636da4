"""ASTTagger through ``transformers`` ``ASTForAudioClassification.from_pretrained(<local dir>)``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

from tiny_models import AUDIOSET_NAMES, build_ast  # noqa: E402

from paqa_builder.backends.tag_ast import ASTTagger  # noqa: E402
from paqa_builder.mixer.synth import background  # noqa: E402
from paqa_builder.record import SAMPLE_RATE, BackgroundEvent, ClipRecord, Label  # noqa: E402
from paqa_builder.registry import build_stage  # noqa: E402

NAME_TO_MID = {name: mid for mid, name in AUDIOSET_NAMES.items()}


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("ast")
    csv = root / "class_labels_indices.csv"
    csv.write_text("index,mid,display_name\n" + "".join(
        f'{i},{mid},"{name}"\n' for i, (mid, name) in enumerate(AUDIOSET_NAMES.items())))
    return build_ast(root / "model", window_frames=100), csv


@pytest.fixture(scope="module")
def stage(paths):
    model_dir, csv = paths
    st = build_stage("tag", {"backend": "ast", "model": str(model_dir), "class_labels": str(csv),
                             "threshold": 0.0, "top_k": 2, "device": "cpu", "window_batch_size": 4})
    st.check_available()
    st.ensure_setup()
    return st


def _record(cid: str, seconds: float, kind: str, seed: int) -> ClipRecord:
    bg = background(kind, seconds, seed=seed)
    return ClipRecord(clip_id=cid, source="test", path=f"{cid}.wav", audio=bg.copy(),
                      background_audio=bg, duration=bg.size / SAMPLE_RATE)


def test_loaded_with_the_real_loader(stage, paths):
    from safetensors.torch import load_file
    from transformers import ASTForAudioClassification

    assert isinstance(stage, ASTTagger)
    assert isinstance(stage._model, ASTForAudioClassification)
    saved = load_file(str(paths[0] / "model.safetensors"))
    loaded = stage._model.state_dict()
    # transformers may rename some keys on save; the shared ones must hold our exact weights.
    shared = saved.keys() & loaded.keys()
    assert any("classifier" in k for k in shared)
    assert all(np.array_equal(saved[k].numpy(), loaded[k].numpy()) for k in shared)
    assert sum(t.numel() for t in saved.values()) == sum(t.numel() for t in loaded.values())
    # 100 filterbank frames of 10 ms: one-second windows, half-second hop.
    assert stage.window_s == pytest.approx(1.0) and stage.hop_s == pytest.approx(0.5)
    assert [lab[:2] for lab in stage._labels] == [(n, NAME_TO_MID[n]) for n in AUDIOSET_NAMES.values()]


def test_windows_cover_the_clip(stage):
    assert stage.windows(0.6) == [(0.0, 0.6)]
    spans = stage.windows(3.2)
    assert spans[0] == (0.0, 1.0) and spans[-1] == (2.2, 3.2)
    assert all(b - a == pytest.approx(1.0) for a, b in spans)
    assert all(b2 > a2 and a2 <= b1 for (a1, b1), (a2, b2) in zip(spans, spans[1:]))


def test_batch_events_match_window_scores(stage):
    long_clip, short_clip = _record("long", 3.2, "engine", 1), _record("short", 0.6, "rain", 2)
    short_clip.labels = [Label("/m/06mb1", "Rain"), Label("/m/09x0r", "Speech")]
    stage([long_clip, short_clip])
    # Source labels join as whole-clip events; the voice label does not.
    assert [(e.label, e.start, e.end, e.score) for e in short_clip.background if e.origin == "source"] \
        == [("Rain", 0.0, 0.6, 1.0)]
    for record in (long_clip, short_clip):
        assert record.error is None
        events = [e for e in record.background if e.origin == "model"]
        assert events and all(isinstance(e, BackgroundEvent) for e in events)
        assert [(e.start, -e.score) for e in events] == sorted((e.start, -e.score) for e in events)
        for e in events:
            assert 0.0 <= e.start < e.end <= record.duration + 1e-6
            assert e.label != "Speech" and e.mid == NAME_TO_MID[e.label] and e.origin == "model"
            assert 0.0 <= e.score <= 1.0
        assert record.provenance["background"].startswith("tag:ast model=")
    # Recompute each window's scores alone: its two best non-speech classes must be covered by
    # an event of that class spanning the window, with at least that score.
    audio = long_clip.background_audio
    spans = stage.windows(long_clip.duration)
    rows = stage.score([audio[int(a * SAMPLE_RATE): int(b * SAMPLE_RATE)] for a, b in spans])
    speech = list(AUDIOSET_NAMES.values()).index("Speech")
    for (a, b), row in zip(spans, rows):
        best = [c for c in np.argsort(-row)[:2] if c != speech]
        for c in best:
            name = stage._labels[c][0]
            assert any(e.label == name and e.start <= a and b <= e.end and e.score >= row[c] - 1e-4
                       for e in long_clip.background), (name, a, b)


def test_event_merging_rules(paths):
    st = ASTTagger(model=str(paths[0]), threshold=0.5, top_k=5, drop_speech=True,
                   class_labels=str(paths[1]), device="cpu")
    st.ensure_setup()
    # classes: 0 Speech, 1 Dog, 2 Rain, 3 Engine, 4 Music
    rows = [np.array([0.9, 0.8, 0.1, 0.6, 0.0]), np.array([0.9, 0.7, 0.2, 0.1, 0.0]),
            np.array([0.9, 0.95, 0.6, 0.1, 0.0]), np.array([0.9, 0.1, 0.1, 0.1, 0.0])]
    spans = [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.5, 2.5)]
    events = st.events([(a, b, r) for (a, b), r in zip(spans, rows)])
    got = [(e.label, e.start, e.end, e.score) for e in events]
    assert got == [("Dog", 0.0, 2.0, 0.95), ("Engine", 0.0, 1.0, 0.6), ("Rain", 1.0, 2.0, 0.6)]
    windows = [(a, b, r) for (a, b), r in zip(spans, rows)]
    # Without an ontology the names stay and the mids are unknown; voice is still known by name.
    st_all = ASTTagger(model=str(paths[0]), threshold=0.5, top_k=5, drop_speech=False, device="cpu")
    st_all.ensure_setup()
    speech = [e for e in st_all.events(windows) if e.label == "Speech"]
    assert [(e.start, e.end, e.mid) for e in speech] == [(0.0, 2.5, None)]
    st_flat = ASTTagger(model=str(paths[0]), threshold=0.5, top_k=5, exclude=["engine"], device="cpu")
    st_flat.ensure_setup()
    assert [(e.label, e.mid) for e in st_flat.events(windows)] == [("Dog", None), ("Rain", None)]


def test_check_available_offline_uncached(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError) as err:
        ASTTagger().check_available()
    msg = str(err.value)
    assert "\n" not in msg and "MIT/ast-finetuned-audioset-10-10-0.4593" in msg and "HF_HUB_OFFLINE" in msg
