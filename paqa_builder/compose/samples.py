"""Hand-built example records that exercise every question family, without any model.

Used by the tests and as a demo: ``python -m paqa_builder.compose.samples [ontology.json]`` prints
the questions and chains the composer makes for them. The records are plain ``ClipRecord`` objects
filled the way the perception stages fill them (labels only; with turns and words; with tagger
events; with acoustics).
"""

from __future__ import annotations

import sys

import numpy as np

from ..record import SAMPLE_RATE, BackgroundEvent, ClipRecord, Label, Turn, Word

DIALOGUE = (
    ("A", 0.5, 3.0, "Good morning, did you hear the dog barking last night?"),
    ("B", 3.4, 6.0, "Yes, it kept me awake until three in the morning."),
    ("A", 6.5, 8.0, "We should talk to the neighbours about it."),
)
"""Default turns of ``speech_record``: (speaker, start, end, text)."""


def tone_audio(seconds: float, first_half_db: float, second_half_db: float,
               seed: int = 0) -> np.ndarray:
    """Noise whose two halves sit at the given RMS levels (dBFS), for loudness questions."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    x = rng.standard_normal(n).astype(np.float32)
    x /= float(np.sqrt(np.mean(x ** 2)))
    gains = np.where(np.arange(n) < n // 2, 10 ** (first_half_db / 20), 10 ** (second_half_db / 20))
    return (x * gains).astype(np.float32)


def label_record(clip_id: str = "labels", labels: tuple[tuple[str, str], ...] = (
        ("/m/0bt9lr", "Dog"), ("/m/06mb1", "Rain")), halves_db: tuple[float, float] = (-30.0, -18.0),
        duration: float = 10.0) -> ClipRecord:
    """A clip as an AudioSet source plus decode leave it: labels, audio, duration."""
    rec = ClipRecord(clip_id=clip_id, source="sample", path=f"{clip_id}.wav",
                     labels=[Label(mid, name) for mid, name in labels])
    rec.audio = tone_audio(duration, *halves_db, seed=len(clip_id))
    rec.duration = duration
    return rec


def speech_record(clip_id: str = "dialogue", turns: tuple[tuple[str, float, float, str], ...] = DIALOGUE,
                  asr_confidence: float = 0.9, count_confidence: float = 0.9,
                  events: tuple[tuple[str, str, float, float, float], ...] = (
                      ("Bark", "/m/05tny_", 0.8, 0.0, 2.0), ("Rain", "/m/06mb1", 0.7, 4.0, 9.0),
                      ("Cat", "/m/01yrx", 0.1, 4.0, 5.0)),
                  speech_db: float = -20.0, background_db: float = -32.0,
                  stats: dict[str, dict[str, float]] | None = None,
                  duration: float = 10.0) -> ClipRecord:
    """A clip after the full perception chain: turns, words, transcript, events, acoustics.

    ``events`` are (label, mid, score, start, end) tagger hits; the default includes a weak 'Cat'
    (score 0.1) that must neither be asked about nor used as a distractor.
    """
    rec = label_record(clip_id, labels=(("/m/09x0r", "Speech"),), duration=duration)
    rec.turns = [Turn(s, a, b, text, asr_confidence) for s, a, b, text in turns]
    rec.words = []
    for turn in rec.turns:
        tokens = turn.text.split()
        step = (turn.end - turn.start) / len(tokens)
        rec.words += [Word(w, turn.start + i * step, turn.start + (i + 1) * step, turn.speaker, 0.9)
                      for i, w in enumerate(tokens)]
    rec.transcript = " ".join(t.text for t in rec.turns)
    rec.asr_confidence = asr_confidence
    speakers = sorted({t.speaker for t in rec.turns})
    rec.num_speakers = len(speakers)
    rec.speaker_count_confidence = count_confidence
    rec.speech_ratio = 0.6
    rec.snr_db = speech_db - background_db
    rec.background = [BackgroundEvent(label, mid, score, a, b, "model")
                      for label, mid, score, a, b in events]
    rec.acoustics = {"speech_db": speech_db, "background_db": background_db,
                     "rms_db": max(speech_db, background_db) + 1.0}
    default_stats = {"A": {"pitch_hz": 120.0, "loudness_db": -20.0, "words_per_second": 2.0},
                     "B": {"pitch_hz": 210.0, "loudness_db": -29.0, "words_per_second": 3.5}}
    rec.speaker_stats = stats if stats is not None else {k: v for k, v in default_stats.items()
                                                         if k in speakers}
    return rec


def main(argv: list[str]) -> None:
    """Print composed questions for the sample records."""
    from .composer import Composer

    composer = Composer(ontology=argv[0] if argv else None, max_questions_per_task=2)
    for rec in (label_record(), speech_record()):
        composer([rec])
        for row in rec.qa or []:
            print(f"## {row['id']}\n{row['question']}  {row['choices']}  -> {row['answer']}\n"
                  f"{row['chain']}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
