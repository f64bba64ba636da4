"""Speaker diarization with a pyannote.audio ``Pipeline`` (paper profile).

``Pipeline.from_pretrained`` loads either a Hub pipeline (``pyannote/speaker-diarization-community-1``
or ``-3.1``; gated, so a token from ``HF_TOKEN`` is needed the first time) or a local
``config.yaml`` whose ``$model/<subfolder>`` entries point next to it. The pipeline receives the
clip as an in-memory waveform (``{"waveform", "sample_rate"}``), never a file path, so the audio is
decoded once by the decode stage.

Speaker labels are renamed ``SPEAKER_00``, ``SPEAKER_01``, ... in order of first appearance, the
convention every question about "the first speaker" relies on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..record import SAMPLE_RATE, ClipRecord, Turn
from ..stages.slots import Diarizer
from . import hub


class PyannoteDiarizer(Diarizer):
    """Fill ``num_speakers``, ``speaker_count_confidence``, ``turns``, ``overlaps`` and ``speaker_embeddings``.

    ``speaker_count_confidence`` (0..1) is the smaller of two factors: the talk time of the least
    talkative speaker over ``min_talk_s`` (a speaker heard for a fraction of a second is often a
    clustering artefact), and how distinct the closest pair of speaker embeddings is
    (cosine similarity at or below ``similar_cosine`` counts as distinct; 1.0 means identical).
    With no speaker found it is 1.0 when the separator also saw little speech, else 0.3.
    """

    backend = "pyannote"
    uses_gpu = True

    def __init__(
        self,
        pipeline: str = "pyannote/speaker-diarization-community-1",
        device: str = "auto",
        input: str = "speech",
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        min_turn_s: float = 0.0,
        min_talk_s: float = 1.0,
        similar_cosine: float = 0.5,
        silence_db: float = -70.0,
        **params: Any,
    ) -> None:
        """Configure the diarizer.

        Args:
            pipeline: Hub id of a pyannote pipeline, or a local ``config.yaml`` (or its folder).
            device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:n]``.
            input: ``speech`` diarizes the speech stem when present, ``mixture`` always ``audio``.
            num_speakers: force this many speakers (None lets the pipeline decide).
            min_speakers: lower bound on the speaker count.
            max_speakers: upper bound on the speaker count.
            min_turn_s: turns shorter than this are dropped.
            min_talk_s: talk time below which a speaker lowers ``speaker_count_confidence``.
            similar_cosine: embedding cosine similarity up to which two speakers are fully distinct.
            silence_db: input RMS (dBFS) below which the clip is not diarized (no speakers);
                segmentation models can hallucinate speakers in digital silence.
            **params: ``batch_size`` (clips per call) and base-class parameters.
        """
        super().__init__(**params)
        if input not in ("speech", "mixture"):
            raise ValueError(f"diarize:pyannote input must be 'speech' or 'mixture', not {input!r}")
        self.pipeline_ref = str(pipeline)
        self.device_name = device
        self.input = input
        self.bounds = {k: v for k, v in (("num_speakers", num_speakers), ("min_speakers", min_speakers),
                                         ("max_speakers", max_speakers)) if v is not None}
        self.min_turn_s = float(min_turn_s)
        self.min_talk_s = float(min_talk_s)
        self.similar_cosine = float(similar_cosine)
        self.silence_db = float(silence_db)
        self._pipeline: Any = None

    @property
    def is_local(self) -> bool:
        """True when ``pipeline`` names a local file or folder rather than a Hub id."""
        return hub.is_local(self.pipeline_ref) or hub.looks_like_path(self.pipeline_ref)

    # -- availability ----------------------------------------------------------------------------
    def check_available(self) -> None:
        """One line when the pipeline is missing, uncached offline, gated without token, or unreadable."""
        what = f"{self.name}:{self.backend}"
        try:
            import pyannote.audio  # noqa: F401
        except ImportError as exc:
            raise RuntimeError(
                f"{what}: pyannote.audio cannot be imported ({exc}); pip install 'pyannote.audio>=4'."
            ) from None
        if self.is_local:
            path = hub.require_local_path(self.pipeline_ref, what)
            if path.is_dir():
                hub.require_local_path(str(path), what, must_contain=("config.yaml",))
            return
        local_hint = "set stages.diarize.pipeline to a local config.yaml"
        hub.require_hf_model(self.pipeline_ref, what, [("config.yaml",)], gated=True,
                             token=hub.hf_token(), local_hint=local_hint)
        config = hub.cached_file(self.pipeline_ref, "config.yaml")
        if config:
            # The config is cached: its $model/<subfolder> weights must be too (else a download).
            hub.require_hf_model(self.pipeline_ref, what, _subfolder_files(Path(config)), gated=True,
                                 token=hub.hf_token(), local_hint=local_hint)

    # -- lifecycle -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Load the pipeline with ``pyannote.audio.Pipeline.from_pretrained`` and move it to the device."""
        import torch
        from pyannote.audio import Pipeline

        ref: str | Path = self.pipeline_ref
        if self.is_local:
            ref = Path(self.pipeline_ref).expanduser()
            kwargs: dict[str, Any] = {}
        else:
            kwargs = {"token": hub.hf_token()}
        pipeline = Pipeline.from_pretrained(ref, **kwargs)
        if pipeline is None:  # pyannote returns None (after logging) when the Hub refuses access
            raise RuntimeError(f"{self.name}:{self.backend}: could not load {self.pipeline_ref}; "
                               f"check HF_TOKEN and that you accepted the model's conditions.")
        self._pipeline = pipeline.to(torch.device(hub.resolve_device(self.device_name)))

    def provenance(self) -> str:
        """Stage, backend, pipeline reference and pyannote.audio version."""
        from importlib.metadata import version

        return (f"{self.name}:{self.backend} model={self.pipeline_ref} "
                f"version=pyannote.audio-{version('pyannote.audio')}")

    # -- work ------------------------------------------------------------------------------------
    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Diarize each clip of ``batch`` (pyannote batches chunks within a clip)."""
        for record in batch:
            self._diarize_one(record)

    def _diarize_one(self, record: ClipRecord) -> None:
        import torch

        use_speech = self.input == "speech" and record.speech_audio is not None
        audio = np.asarray(record.speech_audio if use_speech else record.audio, dtype=np.float32)
        duration = audio.size / SAMPLE_RATE
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
        if 20 * np.log10(max(rms, 1e-10)) < self.silence_db:
            self._write(record, [], {})
            return
        waveform = torch.from_numpy(np.ascontiguousarray(audio)).unsqueeze(0)
        output = self._pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE}, **self.bounds)
        # pyannote.audio 4 returns DiarizeOutput; 3.x (and legacy=True) an Annotation.
        annotation = getattr(output, "speaker_diarization", output)
        raw_embeddings = getattr(output, "speaker_embeddings", None)
        if raw_embeddings is None and isinstance(output, tuple) and len(output) == 2:
            annotation, raw_embeddings = output  # 3.1 with return_embeddings=True

        raw_turns = []
        for segment, _, label in annotation.itertracks(yield_label=True):
            start, end = max(0.0, float(segment.start)), min(duration, float(segment.end))
            if end > start and end - start >= self.min_turn_s:
                raw_turns.append((start, end, str(label)))
        raw_turns.sort(key=lambda t: (t[0], t[1]))
        rename: dict[str, str] = {}
        for _, _, label in raw_turns:
            rename.setdefault(label, f"SPEAKER_{len(rename):02d}")
        turns = [Turn(speaker=rename[label], start=round(s, 3), end=round(e, 3)) for s, e, label in raw_turns]

        embeddings: dict[str, np.ndarray] = {}
        if raw_embeddings is not None:
            for row, label in zip(np.asarray(raw_embeddings), annotation.labels()):
                if str(label) in rename and np.all(np.isfinite(row)):
                    embeddings[rename[str(label)]] = row.astype(np.float32)

        self._write(record, turns, embeddings)

    def _write(self, record: ClipRecord, turns: list[Turn], embeddings: dict[str, np.ndarray]) -> None:
        record.turns = turns
        record.num_speakers = len({t.speaker for t in turns})
        record.overlaps = overlap_regions(turns)
        record.speaker_embeddings = embeddings
        record.speaker_count_confidence = self._count_confidence(turns, embeddings, record.speech_ratio)
        if not turns:  # a clip the router heard speech in is no sure case of nobody speaking
            record.speaker_count_confidence = min(record.speaker_count_confidence,
                                                  self.empty_count_confidence(record))

    def _count_confidence(self, turns: list[Turn], embeddings: dict[str, np.ndarray],
                          speech_ratio: float | None) -> float:
        """See the class docstring."""
        if not turns:
            return 1.0 if speech_ratio is None or speech_ratio < 0.05 else 0.3
        talk: dict[str, float] = {}
        for turn in turns:
            talk[turn.speaker] = talk.get(turn.speaker, 0.0) + (turn.end - turn.start)
        talk_factor = min(1.0, min(talk.values()) / self.min_talk_s) if self.min_talk_s > 0 else 1.0
        vectors = [v / (np.linalg.norm(v) or 1.0) for v in embeddings.values()]
        separation = 1.0
        if len(vectors) >= 2:
            matrix = np.stack(vectors)
            cosine = matrix @ matrix.T
            closest = float(np.max(cosine[~np.eye(len(vectors), dtype=bool)]))
            separation = float(np.clip((1.0 - closest) / max(1.0 - self.similar_cosine, 1e-6), 0.0, 1.0))
        return round(float(min(talk_factor, separation)), 4)


def _subfolder_files(config_yaml: Path) -> list[tuple[str, ...]]:
    """Files the ``$model/<subfolder>`` entries of a pipeline config need (models or PLDA)."""
    import yaml

    config = yaml.safe_load(config_yaml.read_text(encoding="utf-8")) or {}
    params = config.get("pipeline", {}).get("params", {})
    groups: list[tuple[str, ...]] = []
    for key, value in params.items():
        if isinstance(value, str) and value.startswith("$model/"):
            sub = value[len("$model/"):].split("@")[0].strip("/")
            if key == "plda":
                groups += [(f"{sub}/xvec_transform.npz",), (f"{sub}/plda.npz",)]
            else:
                groups.append((f"{sub}/pytorch_model.bin",))
    return groups


def overlap_regions(turns: list[Turn]) -> list[tuple[float, float]]:
    """Merged time regions where two or more turns are active, sorted by start."""
    events = sorted([(t.start, 1) for t in turns] + [(t.end, -1) for t in turns],
                    key=lambda e: (e[0], e[1]))  # ends before starts at equal times: touching != overlap
    regions: list[tuple[float, float]] = []
    active, opened = 0, 0.0
    for time, step in events:
        if step == 1:
            active += 1
            if active == 2:
                opened = time
        else:
            if active == 2 and time > opened:
                if regions and regions[-1][1] >= opened:
                    regions[-1] = (regions[-1][0], time)
                else:
                    regions.append((opened, time))
            active -= 1
    return [(round(a, 3), round(b, 3)) for a, b in regions]
