"""The one typed record that flows through every stage of the builder.

A ``ClipRecord`` is one clip (or one window of a long file). Sources create it with identity and
label fields; each stage fills the fields it declares in ``Stage.writes``. A field left at ``None``
means "not produced" (as opposed to an empty list, which means "produced, nothing found"). The
composer relies on that difference to abstain instead of guessing.

Fields whose names end in ``_audio`` or that are listed in ``TRANSIENT_FIELDS`` hold arrays or
embeddings and never reach the shards.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
"""Every stage sees 16 kHz mono float32 audio in [-1, 1]."""
NO_SPEECH = "no_speech"
"""``ClipRecord.route`` of a clip the router heard no speech in."""


@dataclass
class Label:
    """A source label: AudioSet machine id (or a free-form id) and its display name."""

    mid: str
    name: str


@dataclass
class Turn:
    """One speaker turn: who speaks from ``start`` to ``end`` (seconds into the clip), saying ``text``."""

    speaker: str
    start: float
    end: float
    text: str = ""
    confidence: float | None = None


@dataclass
class Word:
    """One recognised word with its time span, the speaker it was assigned to, and ASR/alignment score."""

    word: str
    start: float
    end: float
    speaker: str | None = None
    score: float | None = None


@dataclass
class BackgroundEvent:
    """A non-speech sound: label name, ontology mid (if known), tagger score and time span."""

    label: str
    mid: str | None
    score: float
    start: float
    end: float
    origin: str = "model"  # "model" (tagger) or "source" (dataset label) or "truth" (mixer manifest)


@dataclass
class ClipRecord:
    """Everything known about one clip. See module docstring for the None-vs-empty convention."""

    # identity (set by the source)
    clip_id: str
    source: str
    path: str
    offset: float = 0.0
    """Start of this clip inside ``path`` in seconds (non-zero for windows of long files)."""
    max_duration: float | None = None
    """Length to read from ``offset``; None reads to the end of the file."""
    labels: list[Label] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    """Source-specific extras, e.g. manifest transcript or AudioSet segment times (JSON-safe)."""
    truth: dict[str, Any] | None = None
    """Ground truth from a mixer manifest or a labelled corpus (speakers, turns, backgrounds)."""

    # decode
    audio: np.ndarray | None = None
    sample_rate: int = SAMPLE_RATE
    duration: float | None = None
    input_info: dict[str, Any] | None = None
    """Original container facts: codec, sample rate, channels, clipping ratio."""

    # route
    route: str | None = None
    """``"speech"`` or ``"no_speech"`` (``NO_SPEECH``: the speech stages skip the clip); None when
    the recipe has no route stage, which means every clip takes the speech path."""

    # separate
    speech_audio: np.ndarray | None = None
    background_audio: np.ndarray | None = None
    speech_ratio: float | None = None
    snr_db: float | None = None

    # vad / diarize
    speech_regions: list[tuple[float, float]] | None = None
    num_speakers: int | None = None
    speaker_count_confidence: float | None = None
    turns: list[Turn] | None = None
    overlaps: list[tuple[float, float]] | None = None
    speaker_embeddings: dict[str, np.ndarray] | None = None
    speaker_evidence: dict[str, float] | None = None
    """Cues behind the speaker count (``backends.speaker_confidence.count_evidence``)."""

    # transcribe
    words: list[Word] | None = None
    transcript: str | None = None
    language: str | None = None
    asr_confidence: float | None = None

    # tag
    background: list[BackgroundEvent] | None = None

    # acoustics
    acoustics: dict[str, float] | None = None
    """Clip-level features: loudness_lufs, rms_db, speech_db, background_db, pitch_hz, ..."""
    speaker_stats: dict[str, dict[str, float]] | None = None
    """Per speaker: pitch_hz, loudness_db, words_per_second, talk_time."""

    # compose
    qa: list[dict[str, Any]] | None = None

    # bookkeeping
    provenance: dict[str, str] = field(default_factory=dict)
    """field name -> "stage:backend model=... version=..." for every field a stage wrote."""
    error: str | None = None
    """Set by the stage that failed on this clip; the engine moves the clip to failures.jsonl."""
    skipped: str | None = None
    """Set by a quality gate: the clip is fine but yields no questions; it is counted, not written."""
    warnings: list[str] = field(default_factory=list)

    @property
    def live(self) -> bool:
        """True while no stage has failed or skipped this clip."""
        return self.error is None and self.skipped is None

    def skip(self, stage: str, reason: str) -> None:
        """Mark the clip skipped by a gate, with a one-line reason."""
        self.skipped = f"{stage}: {' '.join(str(reason).split())}"

    def fail(self, stage: str, reason: str) -> None:
        """Mark the clip failed with a one-line reason naming the file."""
        reason = " ".join(str(reason).split())
        self.error = f"{stage}: {self.path}: {reason}"

    def present_fields(self) -> set[str]:
        """Names of fields that hold a produced value (not None)."""
        return {f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None}


TRANSIENT_FIELDS = {"audio", "speech_audio", "background_audio", "speaker_embeddings"}
"""Large or private fields that are never written to the clips shards."""

SOURCE_FIELDS = {"clip_id", "source", "path", "offset", "max_duration", "labels", "meta", "truth",
                 "provenance", "warnings", "sample_rate"}
"""Fields every source fills; stages may read them without a producer stage."""


def record_fields() -> set[str]:
    """All field names a stage may declare in ``reads``/``writes``."""
    return {f.name for f in dataclasses.fields(ClipRecord)}
