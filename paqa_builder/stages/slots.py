"""Per-slot base classes: each states once what its slot reads and writes.

A backend subclasses its slot's base and sets only ``backend`` (and its parameters), so every
separator, VAD, diarizer, transcriber and tagger agrees on the record fields it fills; a backend
that fills more (the portable diarizer's ``speaker_evidence``) extends ``writes``.
"""

from __future__ import annotations

from typing import ClassVar

from ..stage import Stage


class Separator(Stage):
    """Splits the clip into a speech stem and a background stem and measures their balance."""

    name: ClassVar[str] = "separate"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"speech_audio", "background_audio", "speech_ratio", "snr_db"})


class VoiceActivity(Stage):
    """Finds where speech is: ``speech_regions`` as (start, end) seconds."""

    name: ClassVar[str] = "vad"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"speech_regions"})


class Diarizer(Stage):
    """Who speaks when: turns, the speaker count and its confidence, overlaps, embeddings."""

    name: ClassVar[str] = "diarize"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"num_speakers", "speaker_count_confidence", "turns",
                                                  "overlaps", "speaker_embeddings"})


class Transcriber(Stage):
    """What is said: timed words, the transcript, the language and a confidence."""

    name: ClassVar[str] = "transcribe"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"words", "transcript", "language", "asr_confidence"})


class Tagger(Stage):
    """Which background sounds are heard, when: ``background`` events."""

    name: ClassVar[str] = "tag"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"background"})
