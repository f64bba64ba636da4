"""How well the portable recogniser understands each synthetic voice, clean and in noise.

The mixed-scene WER (``scene_eval.sh``) mixes two things: how intelligible the espeak-ng voices
are and how much the backgrounds hurt. This script measures the first alone: for every voice it
speaks the same sentences, transcribes them with the portable Whisper base (language forced to
English, beam 5, as the portable recipe runs it) clean and over pink noise, and prints WER and the
voice's median F0.

    python benchmarks/voice_intelligibility.py                      # the mixer's voices
    python benchmarks/voice_intelligibility.py en-us+m3,50,150 ...   # variant,pitch,speed
    python benchmarks/voice_intelligibility.py --snr 5 --sentences 24
    python benchmarks/voice_intelligibility.py --voice-set kokoro    # the neural voices

Offline; needs espeak-ng and the packaged Whisper base (and the [voices] extra for kokoro).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def parse_voice(spec: str):
    """``variant,pitch,speed`` (e.g. ``en-us+m3,50,150``) as a ``synth.Voice`` named after itself."""
    from paqa_builder.mixer.synth import Voice

    variant, pitch, speed = spec.split(",")
    return Voice(spec, variant, int(pitch), int(speed))


def main() -> None:
    """Print one markdown row per voice: clean WER, noisy WER, median F0."""
    from faster_whisper import WhisperModel

    from paqa_builder import packaged_models as packaged
    from paqa_builder.backends.voice_features import median_f0
    from paqa_builder.evaluation import metrics as M
    from paqa_builder.mixer.generate import SENTENCES, VOICE_SETS
    from paqa_builder.mixer.synth import background, mix_at_snr

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("voices", nargs="*", help="espeak variant,pitch,speed (default: the voice set)")
    ap.add_argument("--voice-set", default="espeak", choices=sorted(VOICE_SETS),
                    help="the mixer's voice set to measure when no voice is given")
    ap.add_argument("--sentences", type=int, default=12, help="sentences per voice")
    ap.add_argument("--snr", type=float, default=10.0, help="pink-noise SNR in dB for the noisy run")
    args = ap.parse_args()

    voices = [parse_voice(v) for v in args.voices] or list(VOICE_SETS[args.voice_set]())
    step = max(1, len(SENTENCES) // args.sentences)
    sentences = SENTENCES[::step][: args.sentences]
    model = WhisperModel(str(packaged.whisper_base_dir()), device="cpu", compute_type="int8",
                         local_files_only=True)

    def transcribe(audio: np.ndarray) -> str:
        segments, _ = model.transcribe(audio, language="en", beam_size=5,
                                       condition_on_previous_text=False)
        return " ".join(s.text for s in segments)

    print(f"Whisper base on {len(sentences)} sentences per voice; noisy = pink noise at {args.snr:g} dB\n")
    print("| voice | settings | median F0 (Hz) | words | WER clean | WER noisy |")
    print("|---|---|---|---|---|---|")
    t0 = time.time()
    for voice in voices:
        clean, noisy, f0s = M.WerCounts(), M.WerCounts(), []
        for i, text in enumerate(sentences):
            audio = voice.speak(text)
            f0s.append(median_f0(audio))  # the diarizer's own pitch estimate, per sentence
            clean = clean + M.wer_counts(text, transcribe(audio))
            noise = background("pink_noise", audio.size / 16000 + 0.01, seed=i)[: audio.size]
            noisy = noisy + M.wer_counts(text, transcribe(mix_at_snr(audio, noise, args.snr).astype(np.float32)))
        settings = " ".join(f"{k}={v}" for k, v in vars(voice).items() if k != "name")
        print(f"| {voice.name} | {settings} | {np.median(f0s):.0f} | {clean.ref_words} | {100 * clean.wer:.1f} % | "
              f"{100 * noisy.wer:.1f} % |", flush=True)
    print(f"\n{len(voices)} voices in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
