"""Background sound tagging with an AudioSet Audio Spectrogram Transformer (paper profile).

``transformers``' ``ASTForAudioClassification`` scores fixed-length windows (the model's
``max_length`` frames of 10 ms: 10.24 s for the AudioSet checkpoints) slid over the background
stem, so every tag carries the times of the windows where it scored above ``threshold``. Windows of
all clips in a batch go through the model together.

Class names come from the model config's ``id2label``; they are mapped to AudioSet mids through the
ontology (``ontology.json`` and/or ``class_labels_indices.csv`` when given), and voice classes
(speech, singing, shouting...) and Silence are dropped by default since the speech stem covers
them. As in the portable YAMNet tagger, the source's own non-speech labels are added as whole-clip
``origin="source"`` events (``stages.source_tags.source_events``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ontology import SPEECH_MIDS, Ontology
from ..record import SAMPLE_RATE, BackgroundEvent, ClipRecord
from ..stages.slots import Tagger
from ..stages.source_tags import source_events
from . import hub

DEFAULT_MODEL = "MIT/ast-finetuned-audioset-10-10-0.4593"
FRAME_S = 0.01
"""AST's filterbank hop (10 ms): ``max_length`` frames make one model window."""

SILENCE_MID = "/m/028v0c"
VOICE_NAMES = frozenset({
    "speech", "male speech, man speaking", "female speech, woman speaking",
    "child speech, kid speaking", "conversation", "narration, monologue", "babbling",
    "speech synthesizer", "shout", "bellow", "whoop", "yell", "battle cry", "children shouting",
    "screaming", "whispering", "singing",
})
"""Display names of ``ontology.SPEECH_MIDS``, for checkpoints whose names cannot be mapped to mids
(no ontology given)."""


class ASTTagger(Tagger):
    """Fill ``background`` with ``BackgroundEvent``s (label, mid, score, start, end) from AST windows.

    An event is a run of consecutive windows where the class is among the window's ``top_k`` and
    scores at least ``threshold`` (sigmoid of the logit); its score is the highest window score.
    ``[]`` means the tagger ran and found nothing above threshold.
    """

    backend = "ast"
    uses_gpu = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str = "auto",
        input: str = "background",
        window_s: float | None = None,
        hop_s: float | None = None,
        threshold: float = 0.3,
        top_k: int = 10,
        ontology: str | None = None,
        class_labels: str | None = None,
        drop_speech: bool = True,
        include_source_labels: bool = True,
        exclude: list[str] | None = None,
        window_batch_size: int = 16,
        **params: Any,
    ) -> None:
        """Configure the tagger.

        Args:
            model: Hub id or local folder of an ``ASTForAudioClassification`` checkpoint.
            device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:n]``.
            input: ``background`` tags the background stem when present, ``mixture`` always ``audio``.
            window_s: window length in seconds; None uses the model's own input length.
            hop_s: step between windows; None uses half a window.
            threshold: lowest sigmoid score kept as an event.
            top_k: only a window's ``top_k`` classes can become events.
            ontology: path to AudioSet ``ontology.json`` (names -> mids, voice classes).
            class_labels: path to ``class_labels_indices.csv`` (names -> mids, flat).
            drop_speech: leave voice classes (``ontology.SPEECH_MIDS`` and descendants of Speech) out.
            include_source_labels: add the source's non-speech labels as whole-clip events with
                ``origin="source"``.
            exclude: further mids or names (case-insensitive) never to report (Silence always is).
            window_batch_size: windows per forward pass.
            **params: ``batch_size`` (clips per call) and base-class parameters.
        """
        super().__init__(**params)
        if input not in ("background", "mixture"):
            raise ValueError(f"tag:ast input must be 'background' or 'mixture', not {input!r}")
        self.model_name = str(model)
        self.device_name = device
        self.input = input
        self.window_s = window_s
        self.hop_s = hop_s
        self.threshold = float(threshold)
        self.top_k = int(top_k)
        self.ontology_path = ontology
        self.class_labels_path = class_labels
        self.drop_speech = bool(drop_speech)
        self.include_source_labels = bool(include_source_labels)
        self.exclude = frozenset(e if e.startswith("/") else e.lower() for e in (exclude or []))
        self._ontology: Ontology | None = None
        self.window_batch_size = int(window_batch_size)
        self._model: Any = None
        self._extractor: Any = None
        self._labels: list[tuple[str, str | None, bool]] = []
        """Per class: display name, mid (None when unknown), and whether it is never reported."""
        self._device = "cpu"

    # -- availability ----------------------------------------------------------------------------
    def check_available(self) -> None:
        """One line when the checkpoint is neither local nor cached while the Hub is off."""
        what = f"{self.name}:{self.backend}"
        if hub.is_local(self.model_name) or hub.looks_like_path(self.model_name):
            hub.require_local_path(self.model_name, what,
                                   must_contain=("config.json", "preprocessor_config.json"))
            return
        hub.require_hf_model(self.model_name, what, [("config.json",), ("preprocessor_config.json",),
                                                     ("model.safetensors", "pytorch_model.bin")])

    # -- lifecycle -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Load the feature extractor and model with ``from_pretrained``; map classes to mids."""
        from transformers import ASTFeatureExtractor, ASTForAudioClassification

        offline = hub.hub_offline()
        self._device = hub.resolve_device(self.device_name)
        self._extractor = ASTFeatureExtractor.from_pretrained(self.model_name, local_files_only=offline)
        model = ASTForAudioClassification.from_pretrained(self.model_name, local_files_only=offline)
        self._model = model.to(self._device).eval()
        onto = Ontology.load(self.ontology_path, self.class_labels_path)
        id2label = model.config.id2label
        self._labels = []
        for idx in range(model.config.num_labels):
            name = str(id2label.get(idx, id2label.get(str(idx), idx)))
            if name.startswith(("/m/", "/t/", "/g/")):  # checkpoints labelled by mid
                mid, name = name, onto.name(name)
            else:
                mid = onto.mid_for_name(name)
            voice = (mid in SPEECH_MIDS or onto.is_speech(mid)) if mid else name.lower() in VOICE_NAMES
            muted = ((self.drop_speech and voice) or SILENCE_MID in (mid, name)
                     or name.lower() in ("silence", *self.exclude) or mid in self.exclude)
            self._labels.append((name, mid, muted))
        self._ontology = onto
        if self.window_s is None:
            self.window_s = int(self._extractor.max_length) * FRAME_S
        if self.hop_s is None:
            self.hop_s = self.window_s / 2

    def provenance(self) -> str:
        """Stage, backend, model, window/threshold and transformers version."""
        from importlib.metadata import version

        return (f"{self.name}:{self.backend} model={self.model_name} window_s={self.window_s} "
                f"threshold={self.threshold} version=transformers-{version('transformers')}")

    # -- work ------------------------------------------------------------------------------------
    def windows(self, duration: float) -> list[tuple[float, float]]:
        """Window spans covering ``[0, duration]``; the last one ends at the clip end."""
        win, hop = float(self.window_s), float(self.hop_s)
        if duration <= win:
            return [(0.0, duration)]
        starts = list(np.arange(0.0, duration - win, hop))
        starts.append(duration - win)  # cover the tail with a full window
        return [(round(float(s), 3), round(float(s) + win, 3)) for s in starts]

    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Score every window of every clip in ``batch`` and turn them into events."""
        jobs: list[tuple[int, float, float, np.ndarray]] = []
        for i, record in enumerate(batch):
            use_bg = self.input == "background" and record.background_audio is not None
            audio = np.asarray(record.background_audio if use_bg else record.audio, dtype=np.float32)
            for start, end in self.windows(audio.size / SAMPLE_RATE):
                chunk = audio[int(round(start * SAMPLE_RATE)): int(round(end * SAMPLE_RATE))]
                if chunk.size < 400:  # the filterbank needs one full 25 ms frame
                    chunk = np.pad(chunk, (0, 400 - chunk.size))
                jobs.append((i, start, end, chunk))
        scores = self.score([job[3] for job in jobs])
        per_clip: list[list[tuple[float, float, np.ndarray]]] = [[] for _ in batch]
        for (i, start, end, _), row in zip(jobs, scores):
            per_clip[i].append((start, end, row))
        for record, windows in zip(batch, per_clip):
            events = self.events(windows)
            if self.include_source_labels and self._ontology is not None:
                events.extend(source_events(record, self._ontology, self.drop_speech, self.exclude))
            record.background = events

    def score(self, chunks: list[np.ndarray]) -> np.ndarray:
        """Sigmoid class scores, shape ``(len(chunks), num_labels)``."""
        import torch

        rows = []
        for k in range(0, len(chunks), self.window_batch_size):
            part = chunks[k: k + self.window_batch_size]
            feats = self._extractor(part, sampling_rate=SAMPLE_RATE, return_tensors="pt")
            with torch.inference_mode():
                logits = self._model(input_values=feats["input_values"].to(self._device)).logits
            rows.append(torch.sigmoid(logits.float()).cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, len(self._labels)), np.float32)

    def events(self, windows: list[tuple[float, float, np.ndarray]]) -> list[BackgroundEvent]:
        """Merge per-window detections of each class into timed events, sorted by start then score."""
        open_events: dict[int, BackgroundEvent] = {}
        done: list[BackgroundEvent] = []
        for start, end, row in windows:
            top = np.argsort(-row)[: self.top_k]
            hits = {int(c) for c in top if row[c] >= self.threshold and not self._labels[c][2]}
            for cls in list(open_events):
                if cls not in hits:
                    done.append(open_events.pop(cls))
            for cls in hits:
                event = open_events.get(cls)
                if event is not None and start <= event.end:
                    event.end = max(event.end, end)
                    event.score = max(event.score, float(row[cls]))
                else:
                    name, mid, _ = self._labels[cls]
                    open_events[cls] = BackgroundEvent(label=name, mid=mid, score=float(row[cls]),
                                                       start=start, end=end, origin="model")
        done.extend(open_events.values())
        for event in done:
            event.score = round(event.score, 4)
        return sorted(done, key=lambda e: (e.start, -e.score, e.label))
