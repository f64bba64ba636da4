"""CMU Flite and Festival voices for the scene mixer: a third voice family, for held-out evaluation.

Why a third family: the portable diarizer's settings were measured on espeak-ng and Kokoro voices,
so a scene eval on those voices can flatter it. Flite (Debian ``flite``) and its parent Festival
(Debian ``festival`` + ``festvox-kdlpc16k``) speak with recordings of real people, under the
permissive CMU / Edinburgh licences (code and voice data alike). Five speakers, all distinct:

* Flite ``kal16``: diphone voice of Kal, US English male (``kal`` is him again at 8 kHz).
* Flite ``awb``, ``rms``, ``slt``: statistical parametric (clustergen) voices trained on the CMU
  ARCTIC recordings of a Scottish English male, a US English male and a US English female.
* Festival ``ked_diphone``: diphone voice of another US English male (Festival's own engine).

Debian ships no second English female for either engine (``festvox-us-slt-hts`` is slt again; a
pitch-raised slt was tried and dropped: 43 % WER in pink noise at 10 dB). Flite's ``awb_time``
only speaks clock times. Both engines are deterministic, so a generated corpus is reproducible.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..record import SAMPLE_RATE

FLITE_INSTALL_HINT = "apt-get install flite festival festvox-kdlpc16k"
"""How to get both binaries and every voice of ``FLITE_VOICES`` on Debian/Ubuntu."""


@dataclass(frozen=True)
class FliteVoice:
    """A Flite speaker: corpus name and Flite voice (as ``flite -lv`` lists it)."""

    name: str
    voice: str

    def speak(self, text: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """``text`` spoken by this voice; float32 mono at ``sample_rate``, silence trimmed."""
        return _synthesise("flite", ["flite", "-voice", self.voice, "-t", text, "-o"], None,
                           self.voice, sample_rate)


@dataclass(frozen=True)
class FestivalVoice:
    """A Festival speaker: corpus name and Festival voice (as ``(voice.list)`` lists it)."""

    name: str
    voice: str

    def speak(self, text: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """``text`` spoken by this voice; float32 mono at ``sample_rate``, silence trimmed."""
        return _synthesise("festival", ["text2wave", "-eval", f"(voice_{self.voice})", "-o"],
                           text, self.voice, sample_rate)


FLITE_VOICES: tuple[FliteVoice | FestivalVoice, ...] = (
    FliteVoice("flite_kal", "kal16"),
    FliteVoice("flite_awb", "awb"),
    FliteVoice("flite_rms", "rms"),
    FliteVoice("flite_slt", "slt"),
    FestivalVoice("festival_ked", "ked_diphone"),
)
"""Every distinct English speaker Debian's flite and festvox-kdlpc16k carry (four male, one
female). Median F0 over 12 sentences (``median_f0``): 91, 132, 103, 178 and 104 Hz; closest pair
in the diarizer's distance 0.455 (awb / rms; ``benchmarks/voice_pairs.py --voice-set flite``)."""


_LISTINGS = {"flite": (["flite", "-lv"], None),
             "festival": (["festival", "--pipe"], "(print (voice.list))\n")}


@functools.lru_cache(maxsize=2)
def installed_voices(engine: str) -> frozenset[str]:
    """Voices the installed ``engine`` knows: ``flite -lv`` or Festival's ``(voice.list)``."""
    cmd, stdin = _LISTINGS[engine]
    if not shutil.which(cmd[0]):
        return frozenset()
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True).stdout
    out = out.partition(":")[2] if engine == "flite" else out.replace("(", " ").replace(")", " ")
    return frozenset(out.split())


def flite_available() -> bool:
    """True when ``flite`` and Festival's ``text2wave`` are installed with every voice used."""
    return bool(shutil.which("flite") and shutil.which("text2wave")) and all(
        v.voice in installed_voices(_engine(v)) for v in FLITE_VOICES)


def _engine(voice: FliteVoice | FestivalVoice) -> str:
    return "flite" if isinstance(voice, FliteVoice) else "festival"


def _synthesise(engine: str, cmd: list[str], stdin: str | None, voice: str,
                sample_rate: int) -> np.ndarray:
    """Run ``cmd`` + a WAV path (text on ``stdin`` if given) and return the trimmed 16 kHz audio.

    Both engines fall back or print an error with exit status 0 for a voice they lack, so the
    voice is checked against ``installed_voices(engine)`` first (ValueError), and a missing WAV
    is an error too.
    """
    import soundfile as sf

    from ..audio_io import resample
    from .synth import trim_silence

    if not shutil.which(cmd[0]):
        raise RuntimeError(f"{cmd[0]} is not installed: {FLITE_INSTALL_HINT}")
    if voice not in installed_voices(engine):
        raise ValueError(f"unknown {engine} voice {voice!r} (installed: "
                         f"{', '.join(sorted(installed_voices(engine)))}; {FLITE_INSTALL_HINT})")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "u.wav"
        done = subprocess.run([*cmd, str(wav)], input=stdin, capture_output=True, text=True)
        if done.returncode != 0 or not wav.is_file():
            raise RuntimeError(f"{cmd[0]} failed for voice {voice!r}: "
                               f"{(done.stderr + done.stdout).strip()[-300:]}")
        audio, sr = sf.read(wav, dtype="float32", always_2d=False)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return trim_silence(np.clip(resample(audio, sr, sample_rate), -1.0, 1.0), sample_rate)
