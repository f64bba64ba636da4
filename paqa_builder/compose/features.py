"""Small clip features the composer computes itself from ``record.audio`` (numpy only).

The acoustics stage owns the general features; these are the few that label-only acoustic
questions need and that must exist even when that stage did not run.
"""

from __future__ import annotations

import numpy as np

from ..audio_io import rms_db


def half_levels(audio: np.ndarray | None) -> tuple[float, float] | None:
    """RMS dB of the first and second half of ``audio``; None without audio or when too short."""
    if audio is None or audio.size < 2:
        return None
    mid = audio.size // 2
    return rms_db(audio[:mid]), rms_db(audio[mid:])
