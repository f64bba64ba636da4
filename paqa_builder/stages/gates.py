"""Quality gate (stage ``gate``, backend ``default``): skip clips that cannot give reliable
questions and warn about weak ones.

Skipping (``record.skip``) is not failing: the clip decoded fine, it is just too short, too quiet,
mostly silent or too clipped for its perception to be trusted, so it is counted and left out of
the shards. Warnings go to ``record.warnings`` and the card, and the composer's own thresholds
decide which questions a warned clip still gets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..audio_io import rms_db
from ..record import ClipRecord
from ..stage import Stage


def active_share(audio: np.ndarray, sample_rate: int, floor_db: float, frame_s: float = 0.05) -> float:
    """Share of ``frame_s`` frames whose RMS is above ``floor_db`` dBFS."""
    n = max(1, int(frame_s * sample_rate))
    frames = audio[: audio.size // n * n].reshape(-1, n) if audio.size >= n else audio.reshape(1, -1)
    if frames.size == 0:
        return 0.0
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    return float(np.mean(20.0 * np.log10(np.maximum(rms, 1e-9)) > floor_db))


class QualityGate(Stage):
    """Skip unusable clips, warn about weak ones. All thresholds are recipe parameters."""

    name = "gate"
    backend = "default"
    reads = frozenset({"audio", "duration", "input_info"})
    writes: frozenset[str] = frozenset()

    def __init__(self, min_duration_s: float = 1.0, silence_db: float = -55.0,
                 min_active_share: float = 0.05, max_clipping_ratio: float = 0.01,
                 warn_clipping_ratio: float = 0.001, warn_asr_confidence: float = 0.6,
                 warn_snr_db: float = 0.0, warn_speaker_count_confidence: float = 0.6,
                 **params: Any) -> None:
        """Parameters:

        min_duration_s: clips shorter than this (seconds) are skipped: too little to ask about.
        silence_db: clips whose overall RMS (dBFS) is below this are skipped as near-silent;
            also the floor above which a 50 ms frame counts as active.
        min_active_share: clips with fewer active frames than this share are skipped as mostly
            silent (a click in silence passes the RMS test but carries nothing to perceive).
        max_clipping_ratio: clips with a larger share of full-scale samples (decode's
            ``input_info['clipping_ratio']``) are skipped: heavy clipping distorts every model.
        warn_clipping_ratio: above this share of clipped samples the clip is kept with a warning.
        warn_asr_confidence: a transcript below this confidence adds a warning.
        warn_snr_db: a speech-to-background SNR below this (dB) adds a warning.
        warn_speaker_count_confidence: a diarization confidence below this adds a warning.
        """
        super().__init__(**params)
        self.min_duration_s = float(min_duration_s)
        self.silence_db = float(silence_db)
        self.min_active_share = float(min_active_share)
        self.max_clipping_ratio = float(max_clipping_ratio)
        self.warn_clipping_ratio = float(warn_clipping_ratio)
        self.warn_asr_confidence = float(warn_asr_confidence)
        self.warn_snr_db = float(warn_snr_db)
        self.warn_speaker_count_confidence = float(warn_speaker_count_confidence)

    def provenance(self) -> str:
        """Stage, backend and the skip thresholds."""
        return (f"gate:default min_duration_s={self.min_duration_s} silence_db={self.silence_db} "
                f"max_clipping_ratio={self.max_clipping_ratio}")

    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Skip or warn on every record of ``batch``."""
        for record in batch:
            reason = self.skip_reason(record)
            if reason is not None:
                record.skip(self.name, reason)
            else:
                record.warnings.extend(f"gate: {w}" for w in self.warnings_for(record))

    def skip_reason(self, record: ClipRecord) -> str | None:
        """Why ``record`` cannot give reliable questions, or None when it can."""
        duration = record.duration
        if duration is None and record.audio is not None:
            duration = record.audio.size / record.sample_rate
        if duration is not None and duration < self.min_duration_s:
            return f"too short: {duration:.2f}s < {self.min_duration_s:.2f}s"
        clipping = float((record.input_info or {}).get("clipping_ratio") or 0.0)
        if clipping > self.max_clipping_ratio:
            return (f"heavy clipping: {100 * clipping:.2f}% of samples at full scale "
                    f"(max {100 * self.max_clipping_ratio:.2f}%)")
        level = (record.acoustics or {}).get("rms_db")
        audio = None if record.audio is None else np.asarray(record.audio, dtype=np.float32)
        if level is None and audio is not None:
            level = rms_db(audio)
        if level is not None and level < self.silence_db:
            return f"near-silent: RMS {level:.1f} dBFS < {self.silence_db:.1f} dBFS"
        if audio is not None and audio.size:
            share = active_share(audio, record.sample_rate, self.silence_db)
            if share < self.min_active_share:
                return (f"mostly silent: {100 * share:.1f}% of 50 ms frames above "
                        f"{self.silence_db:.0f} dBFS (min {100 * self.min_active_share:.1f}%)")
        return None

    def warnings_for(self, record: ClipRecord) -> list[str]:
        """Weaknesses worth reporting that do not justify skipping the clip."""
        out = []
        clipping = float((record.input_info or {}).get("clipping_ratio") or 0.0)
        if clipping > self.warn_clipping_ratio:
            out.append(f"clipping: {100 * clipping:.2f}% of samples at full scale")
        if record.asr_confidence is not None and record.asr_confidence < self.warn_asr_confidence:
            out.append(f"low ASR confidence {record.asr_confidence:.2f}")
        if record.snr_db is not None and record.snr_db < self.warn_snr_db:
            out.append(f"low SNR {record.snr_db:.1f} dB: background masks the speech")
        conf = record.speaker_count_confidence
        if conf is not None and conf < self.warn_speaker_count_confidence:
            out.append(f"uncertain speaker count (confidence {conf:.2f})")
        return out
