"""The packaged pyannote segmentation model, run on sliding windows without importing pyannote.audio.

Why: ``import pyannote.audio`` costs 5-7 s of CPU per process (lightning imports all of
torchmetrics to read its version), which is a fifth of a 10-clip portable build and sat on its
critical path. The portable diarizer only needs three things from it: the PyanNet forward pass
(SincNet front end, bidirectional LSTM, linear layers, sigmoid per local speaker), the sliding
5 s windows, and the frame-level speaker count aggregated over those windows. This module builds
the same network from plain torch modules plus asteroid-filterbanks' parametric sinc filters (the
front end pyannote itself uses; importing it is free), loads the checkpoint's weights, and does
the windowing and counting in numpy. ``tests/test_segmentation_torch.py`` checks scores, binarized
activity and counts against pyannote.audio's own ``Model``/``Inference``/``speaker_count``.

A checkpoint of another architecture (for example a powerset model) falls back to pyannote.audio
(:func:`load_sliding_segmentation`), whose windowed output is wrapped in the same
:class:`ChunkScores`.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
SINCNET_KERNELS = (251, 3, 5, 3, 5, 3)
"""Kernel sizes of SincNet's layers (sinc conv, pool, conv, pool, conv, pool)."""


@dataclass(frozen=True)
class Frames:
    """A regular grid of time frames: frame ``i`` covers ``[start + i*step, start + i*step + duration]``."""

    start: float
    duration: float
    step: float

    def closest_frame(self, t: float) -> int:
        """Index of the frame whose centre is closest to time ``t`` (seconds)."""
        return int(np.rint((t - self.start - 0.5 * self.duration) / self.step))


@dataclass
class ChunkScores:
    """Per-window frame scores of the segmentation model.

    ``data`` is (chunks, frames per chunk, local speakers); chunk ``c`` starts at ``chunks.start +
    c * chunks.step`` and lasts ``chunks.duration`` seconds; ``frames`` is the model's frame grid
    (its receptive field) within a chunk.
    """

    data: np.ndarray
    chunks: Frames
    frames: Frames


def sincnet_frames(stride: int = 10, sample_rate: int = SAMPLE_RATE) -> Frames:
    """Receptive field of one SincNet output frame: its start, span and hop, in seconds.

    Valid convolutions and pools only (no padding), so frame 0 is centred on the middle of its own
    span and starts at 0; the hop is the product of the strides."""
    strides = (stride, 3, 1, 3, 1, 3)
    size, jump = 1, 1
    for kernel, step in zip(SINCNET_KERNELS, strides):
        size += (kernel - 1) * jump
        jump *= step
    return Frames(start=0.0, duration=size / sample_rate, step=jump / sample_rate)


class _Opaque:
    """Stands in for any pyannote object pickled inside a checkpoint (specifications, enums)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.items: dict[Any, Any] = {}
        self.values: list[Any] = []

    def __setstate__(self, state: Any) -> None:
        self.state = state

    # pickled dict / list subclasses are rebuilt through these
    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.values.append(value)

    def extend(self, values: Any) -> None:
        self.values.extend(values)


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickles a Lightning checkpoint without importing pyannote (its classes become opaque)."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(("pyannote", "lightning", "pytorch_lightning")):
            return _Opaque
        return super().find_class(module, name)


class _PickleModule:
    """The ``pickle_module`` torch.load accepts: ours, with the tolerant unpickler."""

    Unpickler = _CheckpointUnpickler
    __name__ = "paqa_checkpoint_pickle"

    @staticmethod
    def load(file: io.IOBase, **kwargs: Any) -> Any:
        return _CheckpointUnpickler(file, **kwargs).load()


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's ``state_dict``, ``hyper_parameters`` and architecture ``(module, class)``.

    Only for trusted files (the one in the whisperx wheel, or one the user names): like
    ``torch.load(weights_only=False)``, it runs the checkpoint's pickle."""
    import torch

    blob = torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=_PickleModule)
    meta = blob.get("pyannote.audio", {}) if isinstance(blob, dict) else {}
    arch = meta.get("architecture", {}) if isinstance(meta, dict) else {}
    specs = meta.get("specifications") if isinstance(meta, dict) else None
    state = getattr(specs, "state", None)
    state = state if isinstance(state, dict) else {}
    problem = getattr(state.get("problem"), "args", ())
    return {"state_dict": blob.get("state_dict", {}), "hparams": blob.get("hyper_parameters", {}),
            "architecture": (arch.get("module"), arch.get("class")),
            "powerset": bool(state.get("powerset_max_classes")),
            # pyannote's Problem: 0 binary, 1 mono-label (softmax), 2 multi-label (sigmoid)
            "multi_label": not problem or problem[0] in (0, 2),
            "classes": len(state.get("classes") or []), "duration": state.get("duration")}


def build_pyannet(hparams: dict[str, Any], state_dict: dict[str, Any]) -> Any:
    """A multi-label PyanNet as plain torch modules, with the checkpoint's weights loaded (eval)."""
    import torch
    from asteroid_filterbanks import Encoder, ParamSincFB
    from torch import nn
    from torch.nn import functional as F

    sinc_stride = int(hparams.get("sincnet", {}).get("stride", 10))
    lstm_cfg, linear_cfg = hparams["lstm"], hparams["linear"]
    classes = state_dict["classifier.weight"].shape[0]

    class SincFrontEnd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wav_norm1d = nn.InstanceNorm1d(1, affine=True)
            self.conv1d = nn.ModuleList([
                Encoder(ParamSincFB(80, 251, stride=sinc_stride, sample_rate=SAMPLE_RATE,
                                    min_low_hz=50, min_band_hz=50)),
                nn.Conv1d(80, 60, 5, stride=1), nn.Conv1d(60, 60, 5, stride=1)])
            self.pool1d = nn.ModuleList([nn.MaxPool1d(3, stride=3) for _ in range(3)])
            self.norm1d = nn.ModuleList([nn.InstanceNorm1d(n, affine=True) for n in (80, 60, 60)])

        def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
            out = self.wav_norm1d(waveforms)
            for i, (conv, pool, norm) in enumerate(zip(self.conv1d, self.pool1d, self.norm1d)):
                out = conv(out)
                if i == 0:
                    out = torch.abs(out)  # the sinc band outputs are signed; SincNet pools magnitudes
                out = F.leaky_relu(norm(pool(out)))
            return out

    class PyanNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sincnet = SincFrontEnd()
            self.lstm = nn.LSTM(60, lstm_cfg["hidden_size"], num_layers=lstm_cfg["num_layers"],
                                bidirectional=lstm_cfg["bidirectional"], batch_first=True)
            width = lstm_cfg["hidden_size"] * (2 if lstm_cfg["bidirectional"] else 1)
            sizes = [width] + [linear_cfg["hidden_size"]] * linear_cfg["num_layers"]
            self.linear = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])
            self.classifier = nn.Linear(sizes[-1], classes)

        def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(self.sincnet(waveforms).transpose(1, 2))
            for layer in self.linear:
                out = F.leaky_relu(layer(out))
            return torch.sigmoid(self.classifier(out))

    if not lstm_cfg.get("monolithic", True):
        raise ValueError("only PyanNet checkpoints with a monolithic LSTM are supported natively")
    net = PyanNet()
    net.load_state_dict(state_dict, strict=True)
    return net.eval()


class SlidingSegmentation:
    """Runs the PyanNet segmentation model on windows of ``window_s`` every ``step_s`` seconds.

    Windows follow pyannote's ``Inference(skip_aggregation=True)``: every full window that fits,
    then one zero-padded last window when the remainder is not a whole number of steps.
    """

    def __init__(self, net: Any, window_s: float = 5.0, step_s: float = 1.0, batch_size: int = 16,
                 device: Any = "cpu", frames: Frames | None = None) -> None:
        self.net = net.to(device)
        self.device = device
        self.window = int(round(window_s * SAMPLE_RATE))
        self.step = int(round(step_s * SAMPLE_RATE))
        self.chunks = Frames(0.0, window_s, step_s)
        self.frames = frames or sincnet_frames()
        self.batch_size = batch_size

    def __call__(self, audio: np.ndarray) -> ChunkScores:
        """Scores of every window of a 16 kHz mono signal."""
        import torch

        wave = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        n = wave.numel()
        # a view, not a copy: windows are materialised one batch at a time
        full = wave.unfold(0, self.window, self.step) if n >= self.window else wave.new_zeros((0, self.window))
        batches = [full[i: i + self.batch_size] for i in range(0, full.shape[0], self.batch_size)]
        if n < self.window or (n - self.window) % self.step > 0:
            last = wave[full.shape[0] * self.step:]
            batches.append(torch.nn.functional.pad(last, (0, self.window - last.numel()))[None])
        with torch.inference_mode():
            outputs = [self.net(part[:, None].contiguous().to(self.device)).float().cpu().numpy()
                       for part in batches]
        return ChunkScores(np.concatenate(outputs), self.chunks, self.frames)


class PyannoteSliding:
    """Fallback for checkpoints of other architectures: pyannote.audio's own ``Inference``."""

    def __init__(self, checkpoint: str, step_fraction: float, batch_size: int, device: Any) -> None:
        from pyannote.audio import Inference

        from .vad_pyannote import load_segmentation_model

        model = load_segmentation_model(checkpoint, str(device))
        window = model.specifications.duration
        self._inference = Inference(model, duration=window, step=step_fraction * window,
                                    skip_aggregation=True, batch_size=batch_size, device=device)
        field = model.receptive_field
        self.frames = Frames(field.start, field.duration, field.step)
        self.chunks = Frames(0.0, window, step_fraction * window)

    def __call__(self, audio: np.ndarray) -> ChunkScores:
        """Scores of every window, as :class:`ChunkScores`."""
        from .vad_pyannote import waveform_input

        return ChunkScores(np.asarray(self._inference(waveform_input(audio)).data), self.chunks, self.frames)


def load_sliding_segmentation(checkpoint: str | Path, step_fraction: float = 0.2,
                              batch_size: int = 16, device: Any = "cpu") -> SlidingSegmentation | PyannoteSliding:
    """The sliding segmentation for a checkpoint: native for a multi-label PyanNet file, else
    pyannote's (another architecture, a powerset or mono-label model, a Hub id, or a file this
    module cannot read)."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "pytorch_model.bin"
    if path.is_file():
        try:
            found = read_checkpoint(path)
            rows = found["state_dict"].get("classifier.weight")
            native = (found["architecture"][1] == "PyanNet" and not found["powerset"]
                      and found["multi_label"] and rows is not None
                      and found["classes"] in (0, rows.shape[0]))
            if native:
                stride = int(found["hparams"].get("sincnet", {}).get("stride", 10))
                window = float(found["duration"] or 5.0)  # the model's training window
                return SlidingSegmentation(build_pyannet(found["hparams"], found["state_dict"]), window,
                                           step_fraction * window, batch_size, device, sincnet_frames(stride))
        except Exception:  # noqa: BLE001 - anything unexpected in the file: pyannote reads it
            pass
    return PyannoteSliding(str(checkpoint), step_fraction, batch_size, device)


def binarize(scores: np.ndarray, onset: float, offset: float | None = None,
             initial_state: bool = False) -> np.ndarray:
    """Hysteresis thresholding along the frame axis of (chunks, frames, speakers) scores.

    A frame turns on above ``onset``, off below ``offset`` (default ``onset``), and otherwise keeps
    the state of the previous frame (``initial_state`` before the first). Returns 0/1 floats."""
    offset = onset if offset is None else offset
    on, off = scores > onset, scores < offset
    decided = on | off
    # index of the latest decided frame at or before each frame (-1 when none yet)
    frames = np.arange(scores.shape[1]).reshape(1, -1, 1)
    latest = np.maximum.accumulate(np.where(decided, frames, -1), axis=1)
    state = np.take_along_axis(on, np.maximum(latest, 0), axis=1)
    return np.where(latest >= 0, state, initial_state).astype(np.float64)


def speaker_count(binarized: np.ndarray, chunks: Frames, frames: Frames) -> tuple[np.ndarray, Frames]:
    """Frame-level number of active speakers, averaged over overlapping windows and rounded.

    ``binarized`` is (chunks, frames per chunk, local speakers) 0/1 activity. Each window adds its
    per-frame sum of active local speakers at the global frame nearest to its own start; the mean
    over contributing windows, rounded, is the count. Returns the (frames,) uint8 count and its
    frame grid (starting where the first window starts, as pyannote's aggregation does)."""
    n_chunks, per_chunk, _ = binarized.shape
    grid = Frames(chunks.start, frames.duration, frames.step)
    total = grid.closest_frame(chunks.start + chunks.duration + (n_chunks - 1) * chunks.step
                               + 0.5 * grid.duration) + 1
    summed = np.zeros(total, dtype=np.float32)
    weight = np.zeros(total, dtype=np.float32)
    per_frame = np.nansum(binarized, axis=-1)
    seen = (~np.isnan(binarized)).any(axis=-1)  # pyannote masks NaN per class; scores here never are
    for c in range(n_chunks):
        first = grid.closest_frame(chunks.start + c * chunks.step + 0.5 * grid.duration)
        summed[first: first + per_chunk] += per_frame[c]
        weight[first: first + per_chunk] += seen[c]
    count = summed / np.maximum(weight, 1e-12)
    count[weight == 0] = 0.0
    return np.rint(count).astype(np.uint8), grid
