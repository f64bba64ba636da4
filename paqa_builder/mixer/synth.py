"""Speech and background sounds the project can make itself: espeak-ng voices and numpy noises.

Used by the sample generator (``examples/make_sample.py``), the scene mixer and the tests, so that
everything that needs speech with a known transcript and speaker works offline.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio_io import rms_db
from ..record import SAMPLE_RATE


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: language/variant name, pitch (0-99) and speed (words per minute)."""

    name: str
    variant: str
    pitch: int
    speed: int

    def speak(self, text: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """``text`` spoken by this voice (see :func:`speak`)."""
        return speak(text, self, sample_rate)


VOICES: tuple[Voice, ...] = (
    Voice("spk_a", "en-us+m1", 35, 140),
    Voice("spk_b", "en-us+f1", 75, 145),
    Voice("spk_c", "en-us+m2", 55, 145),
    Voice("spk_d", "en-gb-x-rp+f5", 90, 175),
    Voice("spk_e", "en-us+m6", 75, 150),
    Voice("spk_f", "en-us+f2", 40, 150),
)
"""Distinct voices (variant, pitch and rate differ) used as synthetic speakers.

Median F0 measured with YIN: about 85, 237, 106, 320, 130 and 180 Hz, so neighbours in pitch
are about 0.2 or more apart in log-F0 and every pair is apart in Resemblyzer space too (the
earlier en-us+m3, en-us+m7 and en-029+m1 voices sat within 10 % of each other in pitch and were
merged by the portable diarizer, and Whisper base misheard the Caribbean voice)."""


def espeak_available() -> bool:
    """True when the ``espeak-ng`` binary is on PATH."""
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: Voice, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Synthesise ``text`` with ``voice``; float32 mono at ``sample_rate``, leading/trailing silence trimmed."""
    import soundfile as sf

    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed: apt-get install -y espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "u.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice.variant, "-p", str(voice.pitch), "-s", str(voice.speed),
             "-w", str(wav), text],
            check=True, capture_output=True,
        )
        audio, sr = sf.read(wav, dtype="float32", always_2d=False)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if sr != sample_rate:
        import librosa

        audio = librosa.resample(audio, orig_sr=sr, target_sr=sample_rate).astype(np.float32)
    return trim_silence(audio, sample_rate)


def trim_silence(audio: np.ndarray, sample_rate: int, floor_db: float = -45.0) -> np.ndarray:
    """Cut leading and trailing samples quieter than ``floor_db`` relative to the peak."""
    if audio.size == 0:
        return audio
    peak = float(np.max(np.abs(audio))) or 1.0
    loud = np.nonzero(np.abs(audio) > peak * 10 ** (floor_db / 20))[0]
    if loud.size == 0:
        return audio[:0]
    pad = int(0.02 * sample_rate)
    return audio[max(0, loud[0] - pad): loud[-1] + pad].astype(np.float32)


BACKGROUND_KINDS = ("white_noise", "pink_noise", "hum", "beeps", "rain", "engine", "wind")
"""Kinds ``--generate-backgrounds`` writes (the held-out scene sets were mixed from these)."""
EXTRA_KINDS = ("music",)
"""Kinds made only on request: ``music`` (chords, a bass line and drums) is the classic false
alarm of a voice detector, so speed benchmarks mix it into their speech-free clips."""


def _music(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Four-chord progression of harmonic tones with a bass note and a kick/hi-hat pattern."""
    bpm = float(rng.uniform(90, 130))
    beat = 60.0 / bpm
    roots = 220.0 * 2 ** (rng.choice([0, 2, 5, 7, 9], size=4) / 12)
    x = np.zeros_like(t)
    bar = (t // (4 * beat)).astype(int) % 4
    for b in range(4):
        on = bar == b
        for ratio in (1.0, 1.26, 1.5):  # major triad, three harmonics each
            f = roots[b] * ratio
            x[on] += sum(np.sin(2 * np.pi * f * k * t[on]) / k ** 1.5 for k in (1, 2, 3)) / 3
        x[on] += 0.8 * np.sin(2 * np.pi * roots[b] / 2 * t[on])
    since_beat = t % beat
    x += 1.5 * np.sin(2 * np.pi * 55 * since_beat) * np.exp(-since_beat / 0.08)
    half = t % (beat / 2)
    x += 0.3 * rng.standard_normal(t.size) * np.exp(-half / 0.02)
    return x


def background(kind: str, seconds: float, seed: int = 0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic environmental sound of ``seconds`` length, peak-normalised to 0.5."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    if kind == "white_noise":
        x = rng.standard_normal(n)
    elif kind == "pink_noise":
        spec = np.fft.rfft(rng.standard_normal(n))
        spec /= np.sqrt(np.maximum(np.arange(spec.size), 1))
        x = np.fft.irfft(spec, n)
    elif kind == "hum":
        f0 = 50.0 + 10 * rng.random()
        x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    elif kind == "beeps":
        gate = (np.floor(t * 2) % 2 == 0).astype(float)
        x = np.sin(2 * np.pi * 1000 * t) * gate
    elif kind == "rain":
        x = rng.standard_normal(n) * 0.2
        drops = rng.integers(0, max(n - 200, 1), size=int(seconds * 60))
        for d in drops:
            x[d:d + 200] += rng.standard_normal(min(200, n - d)) * np.exp(-np.arange(min(200, n - d)) / 30)
    elif kind == "engine":
        f0 = 30 + 5 * np.sin(2 * np.pi * 0.2 * t)
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        x = np.sign(np.sin(phase)) * 0.6 + 0.2 * rng.standard_normal(n)
    elif kind == "music":
        x = _music(t, rng)
    elif kind == "wind":
        spec = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1 / sample_rate)
        spec *= np.exp(-freqs / 400.0)
        x = np.fft.irfft(spec, n) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.15 * t))
    else:
        raise ValueError(f"unknown background kind {kind!r} (known: {', '.join(BACKGROUND_KINDS + EXTRA_KINDS)})")
    x = np.asarray(x, dtype=np.float64)
    peak = float(np.max(np.abs(x))) or 1.0
    return (0.5 * x / peak).astype(np.float32)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech + g * noise`` with ``g`` chosen so that speech-to-noise RMS ratio is ``snr_db``."""
    n = min(speech.size, noise.size)
    gain = 10 ** ((rms_db(speech[:n]) - rms_db(noise[:n]) - snr_db) / 20)
    return (speech[:n] + gain * noise[:n]).astype(np.float32)
