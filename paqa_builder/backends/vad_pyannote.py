"""Voice activity detection with the pyannote segmentation model that the WhisperX wheel carries.

WhisperX ships the 2022 ``pyannote/segmentation`` checkpoint (PyanNet, 5 s windows, up to three
local speakers, multi-label) as ``whisperx/assets/pytorch_model.bin``; pyannote.audio's own
``Model.from_pretrained`` loads it from that path without touching the Hub. The same helpers
serve the portable diarizer.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ..record import SAMPLE_RATE, ClipRecord
from ..stages.slots import VoiceActivity
from .vad_silero import vad_input


def packaged_segmentation_path() -> Path:
    """Path of the segmentation checkpoint inside the installed ``whisperx`` package.

    Found without importing whisperx (its import pulls in the ASR stack).
    """
    spec = importlib.util.find_spec("whisperx")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the packaged pyannote segmentation model needs whisperx: pip install whisperx")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "pytorch_model.bin"
    if not path.is_file():
        raise RuntimeError(f"whisperx is installed but carries no segmentation model at {path}")
    return path


def torch_device(device: str = "auto") -> Any:
    """``torch.device`` for ``device``; ``"auto"`` means cuda when available (``hub.resolve_device``)."""
    import torch

    from .hub import resolve_device

    return torch.device(resolve_device(device))


def load_segmentation_model(checkpoint: str | None = None, device: str = "auto") -> Any:
    """Load a pyannote segmentation ``Model`` through ``Model.from_pretrained`` and place it.

    ``checkpoint`` is a local file or folder; ``None`` takes the one packaged in whisperx.
    """
    import logging

    from pyannote.audio import Model

    path = str(checkpoint) if checkpoint else str(packaged_segmentation_path())
    # Lightning logs a checkpoint-upgrade notice for this 2022 file on every load; it is harmless.
    logging.getLogger("lightning.pytorch.utilities.migration.utils").setLevel(logging.ERROR)
    logging.getLogger("lightning_fabric.utilities.migration.utils").setLevel(logging.ERROR)
    model = Model.from_pretrained(path)
    if model is None:
        raise RuntimeError(f"pyannote could not load a segmentation model from {path}")
    model.eval()
    return model.to(torch_device(device))


def waveform_input(audio: np.ndarray) -> dict[str, Any]:
    """The in-memory ``{"waveform", "sample_rate"}`` mapping pyannote pipelines accept."""
    import torch

    waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
    return {"waveform": waveform, "sample_rate": SAMPLE_RATE}


class PyannoteSegmentationVAD(VoiceActivity):
    """Speech regions from pyannote's ``VoiceActivityDetection`` pipeline on the packaged model.

    Reads ``speech_audio`` when present, otherwise ``audio``; writes ``speech_regions`` in seconds
    (rounded to milliseconds), ``[]`` when nothing is heard. The model goes to cuda when present.
    """

    backend = "pyannote_seg"
    uses_gpu = True

    def __init__(
        self,
        checkpoint: str | None = None,
        onset: float = 0.767,
        offset: float = 0.377,
        min_duration_on: float = 0.136,
        min_duration_off: float = 0.067,
        device: str = "auto",
        **params: Any,
    ) -> None:
        """Configure the detector (threshold defaults are pyannote's tuned values for this model).

        Args:
            checkpoint: local segmentation checkpoint (file or folder); None uses the one in whisperx.
            onset: activation above which speech starts.
            offset: activation below which speech ends (hysteresis with ``onset``).
            min_duration_on: speech regions shorter than this (seconds) are removed.
            min_duration_off: pauses shorter than this (seconds) are filled.
            device: "auto" (cuda when available), "cpu" or "cuda[:n]".
        """
        super().__init__(**params)
        self.checkpoint = checkpoint
        self.onset = float(onset)
        self.offset = float(offset)
        self.min_duration_on = float(min_duration_on)
        self.min_duration_off = float(min_duration_off)
        self.device = device
        self._pipeline: Any = None
        self._version = "unknown"

    def check_available(self) -> None:
        """Fail early with one line if pyannote.audio or the packaged checkpoint is missing."""
        if importlib.util.find_spec("pyannote.audio") is None:
            raise RuntimeError("vad/pyannote_seg needs pyannote.audio: pip install pyannote.audio")
        if not self.checkpoint:
            packaged_segmentation_path()
        elif not Path(self.checkpoint).exists():
            raise RuntimeError(f"vad/pyannote_seg: checkpoint {self.checkpoint} does not exist")

    def setup(self) -> None:
        """Load the segmentation model once and wrap it in pyannote's VAD pipeline."""
        from importlib.metadata import version

        from pyannote.audio.pipelines import VoiceActivityDetection

        model = load_segmentation_model(self.checkpoint, self.device)
        pipeline = VoiceActivityDetection(segmentation=model)
        pipeline.instantiate({
            "onset": self.onset,
            "offset": self.offset,
            "min_duration_on": self.min_duration_on,
            "min_duration_off": self.min_duration_off,
        })
        self._pipeline = pipeline
        self._version = f"pyannote.audio={version('pyannote.audio')}"

    def provenance(self) -> str:
        """Stage, backend, checkpoint and library version."""
        model = Path(self.checkpoint).name if self.checkpoint else "pyannote/segmentation(whisperx)"
        return f"{self.name}:{self.backend} model={model} version={self._version}"

    def regions(self, audio: np.ndarray) -> list[tuple[float, float]]:
        """Speech regions of one 16 kHz mono signal, in seconds."""
        self.ensure_setup()
        if audio.size == 0:
            return []
        annotation = self._pipeline(waveform_input(audio))
        duration = audio.size / SAMPLE_RATE
        return [
            (round(max(0.0, seg.start), 3), round(min(duration, seg.end), 3))
            for seg in annotation.get_timeline().support()
        ]

    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Fill ``speech_regions`` on each record."""
        for record in batch:
            record.speech_regions = self.regions(vad_input(record))
