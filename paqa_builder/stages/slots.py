"""Per-slot base classes: each states once what its slot reads and writes.

A backend subclasses its slot's base and sets only ``backend`` (and its parameters), so every
separator, VAD, diarizer, transcriber and tagger agrees on the record fields it fills; a backend
that fills more (the portable diarizer's ``speaker_evidence``) extends ``writes``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..record import ClipRecord
from ..stage import Stage

UNSURE_EMPTY_COUNT = 0.3
"""``speaker_count_confidence`` of zero speakers found on a clip the router heard speech in (the
value the paper profile's diarizer gives zero speakers over a speech stem that is not empty)."""


class Router(Stage):
    """Decides, before any speech model runs, whether a clip has speech: ``route``.

    ``"no_speech"`` makes every ``speech_only`` stage write its empty result instead of running,
    so music, vehicles or silence cost decoding, tagging and acoustics only."""

    name: ClassVar[str] = "route"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"route"})


class Separator(Stage):
    """Splits the clip into a speech stem and a background stem and measures their balance."""

    name: ClassVar[str] = "separate"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"speech_audio", "background_audio", "speech_ratio", "snr_db"})
    speech_only: ClassVar[bool] = True

    def no_speech(self, record: ClipRecord) -> None:
        """No speech: a silent speech stem, the whole clip as background, no SNR."""
        audio = np.asarray(record.audio, dtype=np.float32)
        record.speech_audio = np.zeros_like(audio)
        record.background_audio = audio
        record.speech_ratio, record.snr_db = 0.0, None


class VoiceActivity(Stage):
    """Finds where speech is: ``speech_regions`` as (start, end) seconds."""

    name: ClassVar[str] = "vad"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"speech_regions"})
    speech_only: ClassVar[bool] = True

    def no_speech(self, record: ClipRecord) -> None:
        """No speech regions."""
        record.speech_regions = []


class Diarizer(Stage):
    """Who speaks when: turns, the speaker count and its confidence, overlaps, embeddings."""

    name: ClassVar[str] = "diarize"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"num_speakers", "speaker_count_confidence", "turns",
                                                  "overlaps", "speaker_embeddings"})
    speech_only: ClassVar[bool] = True

    def no_speech(self, record: ClipRecord) -> None:
        """Nobody speaks: zero speakers, known for sure."""
        record.num_speakers, record.speaker_count_confidence = 0, 1.0
        record.turns, record.overlaps, record.speaker_embeddings = [], [], {}
        if "speaker_evidence" in self.writes:
            record.speaker_evidence = {}

    @staticmethod
    def empty_count_confidence(record: ClipRecord) -> float:
        """Confidence in a count of zero speakers found by the diarizer itself.

        Sure (1.0) unless the router heard speech in the mixture (``route == "speech"``): then
        the stem-side VAD or the diarizer missed it, or the separator removed it (two AMI meeting
        excerpts of the tune group, with four and one true speakers, came out as zero at 1.0), so
        the count is marked unsure (``UNSURE_EMPTY_COUNT``)."""
        return UNSURE_EMPTY_COUNT if record.route == "speech" else 1.0


class Transcriber(Stage):
    """What is said: timed words, the transcript, the language and a confidence."""

    name: ClassVar[str] = "transcribe"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"words", "transcript", "language", "asr_confidence"})
    speech_only: ClassVar[bool] = True

    def no_speech(self, record: ClipRecord) -> None:
        """Nothing to read: no words, an empty transcript, no confidence."""
        record.words, record.transcript, record.asr_confidence = [], "", None
        record.language = getattr(self, "language", None)


class Tagger(Stage):
    """Which background sounds are heard, when: ``background`` events."""

    name: ClassVar[str] = "tag"
    reads: ClassVar[frozenset[str]] = frozenset({"audio"})
    writes: ClassVar[frozenset[str]] = frozenset({"background"})
