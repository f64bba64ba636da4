"""How far apart synthetic voices are for the portable diarizer, measured before any scene is mixed.

A scene eval can only count speakers correctly if the voices it mixes are distinguishable, and a
voice set is best judged on its own sentences rather than on the scene results it will be used to
measure. This module speaks a few sentences with every voice, embeds each utterance the way the
portable diarizer embeds a piece of speech (Resemblyzer, loudness-normalised, plus median F0), and
averages the diarizer's own clustering distance (``_clustering.speaker_distances``) over every
pair of utterances of two voices. The diarizer cuts its dendrogram at 0.35 in the portable recipe:
two voices whose mean distance is near that are merged in scenes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..mixer.generate import SpeakingVoice


@dataclass
class VoiceDistances:
    """Outcome of ``measure_voice_distances``."""

    names: list[str]
    """Voice names, in the order given."""
    mean: np.ndarray
    """(V, V) mean distance between utterances of voice i and voice j (diagonal: within a voice,
    distinct utterances only)."""
    median_f0: dict[str, float]
    """Median over utterances of each voice's median F0 (Hz)."""

    def closest_pairs(self) -> list[tuple[float, str, str]]:
        """Every pair of distinct voices as (mean distance, name, name), closest first."""
        pairs = [(float(self.mean[i, j]), self.names[i], self.names[j])
                 for i in range(len(self.names)) for j in range(i + 1, len(self.names))]
        return sorted(pairs)

    def distance(self, a: str, b: str) -> float:
        """Mean distance between voices ``a`` and ``b`` (by name)."""
        return float(self.mean[self.names.index(a), self.names.index(b)])


def measure_voice_distances(voices: Sequence[SpeakingVoice], sentences: Sequence[str],
                            pitch_weight: float = 0.8) -> VoiceDistances:
    """Speak ``sentences`` with every voice and average the diarizer distance per pair of voices.

    Args:
        voices: the voices to compare (anything with ``name`` and ``speak(text)`` at 16 kHz).
        sentences: what each voice says (at least two, so a within-voice distance exists).
        pitch_weight: weight of the pitch term (0.8 was the portable setting when the voice sets
            were picked with this distance; today's diarizer uses CAM++ and a pitch term of 2.0
            softened by intonation spread, see ``backends.diarize_portable``).
    """
    from resemblyzer import VoiceEncoder
    from scipy.spatial.distance import squareform

    from ..backends._clustering import speaker_distances
    from ..backends.voice_features import embed_speech, median_f0

    if len(sentences) < 2:
        raise ValueError("measure_voice_distances needs at least two sentences per voice")
    encoder = VoiceEncoder(device="cpu", verbose=False)
    embeddings, pitches, owner = [], [], []
    for v, voice in enumerate(voices):
        for text in sentences:
            audio = voice.speak(text)
            embeddings.append(embed_speech(encoder, audio))
            pitches.append(median_f0(audio))
            owner.append(v)
    full = squareform(speaker_distances(np.stack(embeddings), np.array(pitches), pitch_weight))
    who = np.array(owner)
    n = len(voices)
    mean = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            block = full[np.ix_(who == i, who == j)]
            # within a voice, leave out each utterance's zero distance to itself
            mean[i, j] = block[~np.eye(len(block), dtype=bool)].mean() if i == j else block.mean()
    f0 = {voice.name: float(np.median(np.array(pitches)[who == v])) for v, voice in enumerate(voices)}
    return VoiceDistances([v.name for v in voices], mean, f0)
