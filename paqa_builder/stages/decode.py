"""Decode stage: read each clip's window into 16 kHz mono float32 and reject unusable audio.

Fails a clip (it goes to ``failures.jsonl`` with the reason, and the run goes on) when the file is
unreadable (empty, truncated, not audio, no permission), too short, silent, or holds NaN/inf
samples. Warns (``record.warnings``) when the audio is usable but degraded: clipping, a low
original sample rate (e.g. 8 kHz telephone audio), a multichannel downmix, or decoder complaints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..audio_io import AudioError, finish, load_audio
from ..record import SAMPLE_RATE, ClipRecord
from ..stage import Stage

NAN_POLICIES = ("fail", "zero")


class Decode(Stage):
    """Decode ``path`` from ``offset`` for ``max_duration`` seconds (soundfile or ffmpeg).

    Params:
        min_duration_s: clips shorter than this (after decoding) fail as "too short". Default 0.5.
        silence_floor: clips whose peak is below this fail as silent (all-zero audio). Default 1e-4.
        nan_policy: ``"fail"`` (default) fails clips with NaN/inf samples; ``"zero"`` replaces
            them with zeros and adds a warning.
        clip_warn_ratio: warn when more than this share of samples sits at full scale. Default 0.001.
        low_rate_hz: warn when the original sample rate is below this. Default 16000.
        max_decode_s: longest read allowed at once, in seconds; a longer whole-file read fails
            instead of filling memory (sources window long files, so this only catches misuse).
            Default 600.
        batch_size: records per call (decoding is per clip; this only sets engine batching).
    """

    name = "decode"
    backend = "ffmpeg"
    reads = frozenset({"path", "offset", "max_duration"})
    writes = frozenset({"audio", "duration", "input_info"})

    def __init__(self, min_duration_s: float = 0.5, silence_floor: float = 1e-4,
                 nan_policy: str = "fail", clip_warn_ratio: float = 0.001,
                 low_rate_hz: int = 16000, max_decode_s: float = 600.0, **params: Any) -> None:
        super().__init__(**params)
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"decode nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        self.min_duration_s = float(min_duration_s)
        self.silence_floor = float(silence_floor)
        self.nan_policy = nan_policy
        self.clip_warn_ratio = float(clip_warn_ratio)
        self.low_rate_hz = int(low_rate_hz)
        self.max_decode_s = float(max_decode_s)

    def setup(self) -> None:
        """Import the decoders once (scipy.signal alone takes ~1-2 s), not inside the first clip."""
        import scipy.signal  # noqa: F401
        import soundfile  # noqa: F401

    def check_available(self) -> None:
        """Fail early when neither soundfile nor ffmpeg can be used."""
        import shutil

        try:
            import soundfile  # noqa: F401
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise RuntimeError(f"decode needs soundfile: {exc}") from exc
        if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
            raise RuntimeError("decode needs ffmpeg and ffprobe on PATH (apt-get install ffmpeg)")

    def provenance(self) -> str:
        """Stage name plus the decoders used."""
        import soundfile

        return f"decode:ffmpeg soundfile={soundfile.__version__}"

    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Decode and validate every record; failures are recorded per clip, never raised."""
        for record in batch:
            try:
                self._decode_one(record)
            except AudioError as exc:
                record.audio = None
                record.fail(self.name, exc.reason)

    def _decode_one(self, record: ClipRecord) -> None:
        source_error = record.meta.get("source_error")
        if source_error:
            raise AudioError(record.path, str(source_error))
        if record.audio is not None:
            # Already decoded by the source (hf rows): only normalise and validate.
            info = dict(record.input_info or {})
            audio = np.asarray(record.audio, dtype=np.float32)
            if audio.ndim != 1 or record.sample_rate != SAMPLE_RATE or not np.isfinite(audio).all():
                audio, stats = finish(audio.T if audio.ndim == 2 else audio, record.sample_rate)
                info.update(stats)
            info["peak"] = float(np.max(np.abs(audio))) if audio.size else 0.0
        else:
            audio, info = load_audio(record.path, record.offset, record.max_duration,
                                     max_seconds=self.max_decode_s)
        duration = audio.size / SAMPLE_RATE
        if duration < self.min_duration_s:
            raise AudioError(record.path, f"too short: {duration:.3f} s < min_duration_s {self.min_duration_s:g} s")
        if info.get("has_nan"):
            count = info.get("nonfinite_samples", "some")
            if self.nan_policy == "fail":
                raise AudioError(record.path, f"NaN/inf samples ({count}); set decode nan_policy=zero to keep the clip")
            record.warnings.append(f"decode: {count} NaN/inf samples replaced by zeros")
        if info.get("peak", 0.0) < self.silence_floor:
            raise AudioError(record.path, f"silent: peak {info.get('peak', 0.0):.2e} below silence_floor "
                                          f"{self.silence_floor:g} (all-zero or near-zero audio)")
        self._warn(record, info)
        record.audio = audio
        record.sample_rate = SAMPLE_RATE
        record.duration = round(duration, 6)
        record.input_info = {k: (v if isinstance(v, (str, int, float, bool)) or v is None else str(v))
                             for k, v in info.items()}

    def _warn(self, record: ClipRecord, info: dict[str, Any]) -> None:
        ratio = float(info.get("clipping_ratio") or 0.0)
        if ratio > self.clip_warn_ratio:
            record.warnings.append(f"decode: clipping: {100 * ratio:.2f}% of samples at full scale")
        rate = int(info.get("sample_rate") or 0)
        if 0 < rate < self.low_rate_hz:
            record.warnings.append(f"decode: low original sample rate {rate} Hz (upsampled to {SAMPLE_RATE}; "
                                   f"nothing above {rate // 2} Hz)")
        channels = int(info.get("channels") or 1)
        if channels > 1:
            record.warnings.append(f"decode: downmixed {channels} channels to mono")
        if info.get("decoder_errors"):
            record.warnings.append(f"decode: decoder reported errors: {info['decoder_errors']}")
