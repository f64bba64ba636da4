"""A telephone-channel copy of a ``paqa-build mix --speech`` corpus (one group's speakers only).

Of the tune speakers of ``benchmarks/real_voices.py`` one is narrowband (asterisk_allison, IVR
prompts: median energy share above 4 kHz 1.6e-5, against 1.7e-2 to 4.3e-2 for the others), and no
tune scene is a phone call, where every voice went through the same channel; on the report side
the pyannote call is. This writes such voices from the tune speakers themselves, so that the gap
can be measured, and tuned on, without touching report audio. The channel: 300-3400 Hz band-pass,
8 kHz sampling, 8-bit mu-law (G.711), back to 16 kHz. Speaker ids get a ``_tel`` suffix; groups,
texts and licences are kept.

    python benchmarks/telephone_corpus.py /tmp/rv/speech /tmp/rv_tel/speech --group tune
    paqa-build mix --speech /tmp/rv_tel/speech --group tune --generate-backgrounds --out DIR --scenes 60 --seed 12
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
MU = 255.0


def telephone(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` (mono float, ``sample_rate`` Hz) through a G.711-like channel, at the same rate."""
    from scipy.signal import butter, resample_poly, sosfiltfilt

    band = butter(6, [300, 3400], btype="bandpass", fs=sample_rate, output="sos")
    narrow = resample_poly(sosfiltfilt(band, audio.astype(np.float64)), 8000, sample_rate)
    peak = float(np.max(np.abs(narrow))) or 1.0
    x = np.clip(narrow / peak, -1.0, 1.0)
    coded = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    coded = np.round((coded + 1.0) * 127.5) / 127.5 - 1.0  # 8 bits
    decoded = np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(MU)) / MU
    return (resample_poly(decoded, sample_rate, 8000) * peak).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    """Write the telephone copy; print one line per speaker."""
    import soundfile as sf

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path, help="folder with manifest.jsonl (benchmarks/real_voices.py speech/)")
    p.add_argument("out", type=Path)
    p.add_argument("--group", default="tune", help="copy only this group's speakers (default: tune)")
    a = p.parse_args(argv)
    rows = [json.loads(x) for x in (a.corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    rows = [r for r in rows if r.get("group") == a.group]
    if not rows:
        print(f"{a.corpus}/manifest.jsonl: no {a.group} speakers", file=sys.stderr)
        return 1
    out_rows, seconds = [], {}
    for r in rows:
        audio, sr = sf.read(a.corpus / r["path"], dtype="float32", always_2d=False)
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        speaker = r["speaker"] + "_tel"
        path = Path(r["corpus"] + "_tel") / speaker / Path(r["path"]).name
        (a.out / path).parent.mkdir(parents=True, exist_ok=True)
        sf.write(a.out / path, telephone(audio, sr), sr, subtype="PCM_16")
        out_rows.append({**r, "path": str(path), "speaker": speaker, "corpus": r["corpus"] + "_tel",
                         "channel": "telephone (300-3400 Hz, 8 kHz, 8-bit mu-law)"})
        seconds[speaker] = seconds.get(speaker, 0.0) + float(r.get("seconds", len(audio) / sr))
    (a.out / "manifest.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in out_rows),
                                          encoding="utf-8")
    for speaker, secs in sorted(seconds.items()):
        print(f"{speaker:30s} {a.group:6s} {secs:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
