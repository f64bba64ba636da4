"""Background events from the source's own labels: the model-free tagger of the cheap recipe.

AudioSet labels say *that* a sound is in the 10 s segment, not *when*, so each non-speech label
becomes one event spanning the whole clip with ``origin="source"`` and score 1.0. Voice labels
(speech, singing, shouting, ...) are dropped: speech is the foreground, never an ENV fact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..ontology import Ontology
from ..record import BackgroundEvent, ClipRecord
from .slots import Tagger


def load_ontology(path: str | Path | None, class_labels: str | Path | None = None) -> Ontology:
    """The ontology from ``path`` (``ontology.json``) when it exists, else a flat, empty one."""
    return Ontology.load(path, class_labels)


def clip_duration(record: ClipRecord) -> float:
    """Clip length in seconds: decoded duration, else audio length, else the requested window."""
    if record.duration is not None:
        return float(record.duration)
    if record.audio is not None:
        return len(record.audio) / float(record.sample_rate)
    return float(record.max_duration or 0.0)


def resolve_label(mid: str, name: str, ontology: Ontology) -> tuple[str | None, str]:
    """(mid, display name) for a source label, filling whichever side the ontology knows.

    Free-form labels (folder manifests) may carry a name but no AudioSet mid, or a name in the
    ``mid`` slot; both are looked up by name. The mid is None when it cannot be resolved.
    """
    mid = (mid or "").strip()
    name = (name or "").strip()
    if mid and mid in ontology.names:
        return mid, name or ontology.name(mid)
    by_name = ontology.mid_for_name(name) if name else None
    if by_name:
        return by_name, name
    if mid and not mid.startswith("/") and not name:
        by_name = ontology.mid_for_name(mid)
        return (by_name, mid) if by_name else (None, mid)
    return (mid or None), (name or mid)


def source_events(record: ClipRecord, ontology: Ontology, exclude_speech: bool = True,
                  exclude: frozenset[str] = frozenset()) -> list[BackgroundEvent]:
    """One whole-clip ``origin="source"`` event per distinct non-speech source label."""
    end = clip_duration(record)
    events: list[BackgroundEvent] = []
    seen: set[str] = set()
    for label in record.labels:
        mid, name = resolve_label(label.mid, label.name, ontology)
        key = mid or name.lower()
        if not key or key in seen:
            continue
        if mid and exclude_speech and ontology.is_speech(mid):
            continue
        if (mid and mid in exclude) or name.lower() in exclude:
            continue
        seen.add(key)
        events.append(BackgroundEvent(label=name, mid=mid, score=1.0, start=0.0, end=round(end, 3),
                                      origin="source"))
    return events


class SourceLabelTagger(Tagger):
    """Write ``background`` from the source labels alone (no model, no audio needed)."""

    backend: ClassVar[str] = "source_labels"
    reads: ClassVar[frozenset[str]] = frozenset({"labels"})

    def __init__(self, ontology: str | None = None, class_labels: str | None = None,
                 exclude_speech: bool = True, exclude: list[str] | None = None,
                 **params: Any) -> None:
        """Configure the tagger.

        Args:
            ontology: path of AudioSet ``ontology.json``; without it labels stay flat and only the
                built-in voice mids count as speech.
            class_labels: optional ``class_labels_indices.csv`` for mid -> name lookups.
            exclude_speech: drop voice labels (speech, singing, shouting, ...); on by default
                because speech is the foreground, not the environment.
            exclude: further mids or names (case-insensitive) never to report.
        """
        super().__init__(**params)
        self.ontology_path = ontology
        self.class_labels = class_labels
        self.exclude_speech = bool(exclude_speech)
        self.exclude = frozenset(e if e.startswith("/") else e.lower() for e in (exclude or []))
        self.ontology: Ontology | None = None

    def setup(self) -> None:
        """Read the ontology once."""
        self.ontology = load_ontology(self.ontology_path, self.class_labels)

    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Fill ``background`` on every record from its labels."""
        assert self.ontology is not None
        for record in batch:
            record.background = source_events(record, self.ontology, self.exclude_speech,
                                              self.exclude)
