"""Voice activity detection with Silero VAD, using the weights the ``silero-vad`` wheel carries."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..record import NO_SPEECH, SAMPLE_RATE, ClipRecord
from ..stages.slots import Router, VoiceActivity


def vad_input(record: ClipRecord) -> np.ndarray:
    """The signal a VAD should listen to: the speech stem when separation ran, else the mixture."""
    audio = record.speech_audio if record.speech_audio is not None else record.audio
    if audio is None:
        raise ValueError("no audio to run VAD on (decode, and optionally separate, must run first)")
    return np.asarray(audio, dtype=np.float32)


class SileroVAD(VoiceActivity):
    """Speech regions ``[(start_s, end_s), ...]`` from Silero VAD (v5/v6 weights from the wheel).

    Reads ``speech_audio`` when present (cleaner after separation), otherwise ``audio``. Writes
    ``speech_regions`` sorted by start time, in seconds rounded to milliseconds; ``[]`` means the
    model heard no speech.

    The model stays on the CPU even when CUDA is present: Silero runs on 32 ms windows one after
    another (its recurrent state links them), so a GPU only adds transfer latency per window.
    """

    backend = "silero"

    def __init__(
        self,
        threshold: float = 0.5,
        min_speech_s: float = 0.25,
        min_silence_s: float = 0.1,
        speech_pad_s: float = 0.03,
        onnx: bool = False,
        **params: Any,
    ) -> None:
        """Configure the detector.

        Args:
            threshold: speech probability above which a window is speech (Silero's default 0.5;
                the release threshold is ``threshold - 0.15``, Silero's hysteresis).
            min_speech_s: regions shorter than this many seconds are dropped.
            min_silence_s: a pause must last this long to split two regions.
            speech_pad_s: seconds of padding added on both sides of each region.
            onnx: run the packaged ONNX export with onnxruntime instead of the TorchScript model.
        """
        super().__init__(**params)
        self.threshold = float(threshold)
        self.min_speech_s = float(min_speech_s)
        self.min_silence_s = float(min_silence_s)
        self.speech_pad_s = float(speech_pad_s)
        self.onnx = bool(onnx)
        self._model: Any = None
        self._version = "unknown"

    def check_available(self) -> None:
        """Fail early with one line if the ``silero-vad`` package is not installed."""
        import importlib.util

        if importlib.util.find_spec("silero_vad") is None:
            raise RuntimeError("vad/silero needs the silero-vad package: pip install silero-vad")

    def setup(self) -> None:
        """Load the packaged Silero model once (no network: the weights ship in the wheel)."""
        from importlib.metadata import version

        from silero_vad import load_silero_vad

        self._model = load_silero_vad(onnx=self.onnx)
        self._version = version("silero-vad")

    def provenance(self) -> str:
        """Stage, backend, model and package version."""
        kind = "onnx" if self.onnx else "jit"
        return f"{self.name}:{self.backend} model=silero_vad.{kind} version={self._version}"

    def regions(self, audio: np.ndarray) -> list[tuple[float, float]]:
        """Speech regions of one 16 kHz mono signal, in seconds."""
        import torch
        from silero_vad import get_speech_timestamps

        self.ensure_setup()
        if audio.size < 512:  # shorter than one Silero window: nothing to decide on
            return []
        stamps = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
            self._model,
            threshold=self.threshold,
            sampling_rate=SAMPLE_RATE,
            min_speech_duration_ms=int(round(self.min_speech_s * 1000)),
            min_silence_duration_ms=int(round(self.min_silence_s * 1000)),
            speech_pad_ms=int(round(self.speech_pad_s * 1000)),
        )
        # Sample indices rather than return_seconds, so that rounding is ours and consistent.
        return [(round(s["start"] / SAMPLE_RATE, 3), round(s["end"] / SAMPLE_RATE, 3)) for s in stamps]

    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Fill ``speech_regions`` on each record (the model resets its state per clip)."""
        for record in batch:
            record.speech_regions = self.regions(vad_input(record))


class SileroRouter(Router):
    """Routes a clip to the speech stages only when Silero hears speech in the *mixture*.

    Runs before separation, on the decoded clip, with a lower threshold than the VAD stage (which
    listens to the cleaner speech stem): a clip goes ``"no_speech"`` only when no stretch of at
    least ``min_speech_s`` reaches ``threshold``, so a missed speech clip (which would lose its
    speech questions) is much rarer than a music clip sent the long way (which costs only time).
    The route is the clip's ``route`` column; provenance names this router and its threshold, and
    every field a skipped stage wrote says ``not run (route no_speech)``.
    """

    backend = "silero"

    def __init__(self, threshold: float = 0.1, min_speech_s: float = 0.25, onnx: bool = True,
                 **params: Any) -> None:
        """Configure the router.

        Args:
            threshold: Silero speech probability that counts as speech on the mixture (the
                release threshold is ``threshold - 0.15``). Lower sends more clips the speech way.
                Chosen on TUNE scenes: at 0.1 none of 268 speech scenes (espeak, kokoro, hybrid
                seed 10, recorded tune speakers seed 11, half-speech mix seed 7) went the no-speech
                way; at 0.2 a hoarse recorded man at 10 dB SNR did (his mixture never passes 0.2).
                On the half-speech mix 27 of its 32 speech-free scenes are skipped at 0.1.
            min_speech_s: a clip takes the speech path when Silero finds one region at least
                this long (seconds).
            onnx: run the packaged ONNX export (faster on CPU) instead of the TorchScript model.
        """
        super().__init__(**params)
        self.threshold = float(threshold)
        self.min_speech_s = float(min_speech_s)
        self._vad = SileroVAD(threshold=threshold, min_speech_s=min_speech_s, min_silence_s=0.1,
                              speech_pad_s=0.0, onnx=onnx)

    def check_available(self) -> None:
        """Fail early with one line if the ``silero-vad`` package is not installed."""
        self._vad.check_available()

    def setup(self) -> None:
        """Load the packaged Silero model."""
        self._vad.ensure_setup()

    def provenance(self) -> str:
        """Stage, backend, threshold and the Silero model."""
        return (f"{self.name}:{self.backend} threshold={self.threshold:g} min_speech_s={self.min_speech_s:g} "
                f"{self._vad.provenance().split(' ', 1)[1]}")

    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Set ``route`` on each record from the mixture's Silero regions."""
        for record in batch:
            if record.audio is None:
                raise ValueError("no decoded audio (the decode stage must run before route)")
            regions = self._vad.regions(np.asarray(record.audio, dtype=np.float32))
            record.route = "speech" if regions else NO_SPEECH
