"""Small clip features the composer computes itself from ``record.audio`` (numpy only).

The acoustics stage owns the general features; these are the few that label-only acoustic
questions need and that must exist even when that stage did not run.
"""

from __future__ import annotations

import numpy as np


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS; -120 for silence or an empty array."""
    if x.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 1e-6 else -120.0


def half_levels(audio: np.ndarray | None) -> tuple[float, float] | None:
    """RMS dB of the first and second half of ``audio``; None without audio or when too short."""
    if audio is None or audio.size < 2:
        return None
    mid = audio.size // 2
    return rms_db(audio[:mid]), rms_db(audio[mid:])
