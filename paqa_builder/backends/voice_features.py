"""Per-excerpt voice features of the portable diarizer: a Resemblyzer embedding, median F0 and the
spread of log F0 (librosa's YIN). Also used by the voice-set tools (``evaluation.voice_distance``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..record import SAMPLE_RATE


def embed_speech(encoder: Any, samples: np.ndarray) -> np.ndarray:
    """Resemblyzer embedding of a speech excerpt (16 kHz), loudness-normalised first.

    Resemblyzer's mel input is not log-compressed, so level changes move the embedding;
    its own preprocessing brings speech to -30 dBFS, and so does this. ``encoder`` is a
    ``resemblyzer.VoiceEncoder``.
    """
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) or 1e-6
    scaled = samples * (10 ** (-30 / 20) / rms)
    return encoder.embed_utterance(np.clip(scaled, -1, 1).astype(np.float32))


def median_f0(samples: np.ndarray) -> float:
    """Median F0 (Hz, YIN) over the louder half of the frames of a speech excerpt."""
    return pitch_stats(samples)[0]


def pitch_stats(samples: np.ndarray) -> tuple[float, float]:
    """(median F0 in Hz, robust spread of log F0) over the louder half of a speech excerpt's frames.

    YIN frames; restricting to the louder frames keeps mostly voiced speech, where YIN's estimate
    is meaningful. The spread is the interquartile range of ln F0 over those frames / 1.349 (a
    standard deviation that a few octave errors do not move)."""
    import librosa

    f0 = librosa.yin(samples.astype(np.float32), fmin=60, fmax=500, sr=SAMPLE_RATE,
                     frame_length=1024, hop_length=256)
    rms = librosa.feature.rms(y=samples, frame_length=1024, hop_length=256)[0][: f0.size]
    loud = rms >= np.median(rms)
    picked = f0[loud] if loud.any() else f0
    q1, q3 = np.percentile(np.log(np.clip(picked, 30.0, 1000.0)), [25, 75])
    return float(np.median(picked)), float((q3 - q1) / 1.349)


def wideband_share(samples: np.ndarray) -> float:
    """Share of a speech excerpt's energy at or above 4 kHz (16 kHz audio). A telephone line passes
    nothing above 3.4 kHz and 8 kHz audio nothing above 4 kHz, so a phone voice scores near 0
    (1e-7 to 2e-4 measured), wideband speech 1e-3 to 1e-1."""
    power = np.abs(np.fft.rfft(np.asarray(samples, dtype=np.float64))) ** 2
    total = float(power.sum())
    if total <= 0:
        return 0.0
    return float(power[np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE) >= 4000].sum() / total)


def join_spans(audio: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """The samples of ``(start, end)`` second spans of 16 kHz ``audio``, joined in order (one
    speaker's turns, for the diarizer's second pass and the phone-line cue)."""
    parts = [audio[int(a * SAMPLE_RATE): int(b * SAMPLE_RATE)] for a, b in spans]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=audio.dtype)
