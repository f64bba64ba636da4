"""What a shared pitch track could save (issue 17): the seconds per audio second of the two pitch
estimators the portable build runs on the speech stem.

- acoustics: one pYIN track per clip at 8 kHz (``Acoustics.f0_track``), for the pitch keys;
- diarizer: YIN (``voice_features.pitch_stats``) on each embedded piece (back-to-back 3 s pieces
  here, the portable diarizer's ``max_segment_s``) and again on each final speaker's joined turns
  (the second pass; here the whole stem once), for the clustering's pitch term.

Run on tune-group scenes (``paqa-build mix`` output)::

    python benchmarks/pitch_cost.py --scenes /tmp/cal/real_s11 --clips 24
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """Time both estimators over the same speech stems and print seconds per audio second."""
    import soundfile as sf

    from paqa_builder.backends.voice_features import pitch_stats
    from paqa_builder.stages.acoustics import Acoustics

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", required=True, type=Path, help="a paqa-build mix output folder")
    ap.add_argument("--clips", type=int, default=24, help="the first N speech stems")
    args = ap.parse_args(argv)
    files = sorted(glob.glob(str(args.scenes / "stems" / "*.speech.flac")))[: args.clips]
    audios = [sf.read(f, dtype="float32")[0] for f in files]
    seconds = sum(a.size for a in audios) / 16000
    stage = Acoustics()
    stage.ensure_setup()
    stage.f0_track(audios[0], 16000)  # warm (numba)
    pitch_stats(audios[0][:48000])
    start = time.perf_counter()
    for a in audios:
        stage.f0_track(a, 16000)
    pyin = time.perf_counter() - start
    start = time.perf_counter()
    for a in audios:
        for s in range(0, a.size, 48000):
            if a.size - s >= 8000:  # the diarizer embeds pieces of 0.5 s and more
                pitch_stats(a[s: s + 48000])
        pitch_stats(a)
    yin = time.perf_counter() - start
    print(f"{len(audios)} speech stems, {seconds:.0f} s: acoustics pYIN {pyin / seconds:.4f} s/s, "
          f"diarizer YIN on pieces {yin / seconds:.4f} s/s")


if __name__ == "__main__":
    main()
