"""How far apart the mixer's voices are for the portable diarizer, pair by pair.

Complements ``voice_intelligibility.py`` (can Whisper read each voice?) with the other half of a
voice set's quality: can the diarizer tell its voices apart? Each voice speaks the same sentences;
each utterance is embedded as the diarizer embeds a piece (Resemblyzer + median F0) and the
diarizer's clustering distance is averaged per pair of voices. This is the Resemblyzer-era
distance (cut at 0.35) with which the mixer's voice sets were picked; today's portable diarizer
embeds with CAM++ and softens its pitch term by intonation spread (``backends/diarize_portable``).

    python benchmarks/voice_pairs.py                   # every voice set side by side
    python benchmarks/voice_pairs.py --voice-set hybrid --sentences 6

Offline; needs espeak-ng, resemblyzer, and the [voices] extra for the kokoro and hybrid sets.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    """Print, per voice set, the within-voice distances and every pair closest first."""
    from paqa_builder.evaluation.voice_distance import measure_voice_distances
    from paqa_builder.mixer.generate import SENTENCES, VOICE_SETS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice-set", action="append", choices=sorted(VOICE_SETS),
                    help="voice set(s) to measure (default: all)")
    ap.add_argument("--sentences", type=int, default=12, help="sentences per voice")
    ap.add_argument("--pitch-weight", type=float, default=0.8, help="as diarize.pitch_weight")
    args = ap.parse_args()

    # every fifth sentence from the second on: not the subset voice_intelligibility.py speaks
    sentences = SENTENCES[1::5][: args.sentences]
    for name in args.voice_set or sorted(VOICE_SETS):
        t0 = time.time()
        d = measure_voice_distances(VOICE_SETS[name](), sentences, args.pitch_weight)
        print(f"\n## {name}: {len(d.names)} voices, {len(sentences)} sentences each\n")
        print("| voice | median F0 (Hz) | within-voice distance |")
        print("|---|---|---|")
        for i, voice in enumerate(d.names):
            print(f"| {voice} | {d.median_f0[voice]:.0f} | {d.mean[i, i]:.3f} |")
        print("\n| pair | mean distance |")
        print("|---|---|")
        for dist, a, b in d.closest_pairs():
            print(f"| {a} / {b} | {dist:.3f} |")
        print(f"\n({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
