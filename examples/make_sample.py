"""Regenerate ``examples/audioset_sample/``: a small AudioSet-layout folder with known ground truth.

Ten 10-second clips of espeak-ng speech (one to three distinct voices taking turns) mixed with
synthetic backgrounds at 5-20 dB SNR, plus background-only clips; files use the different AudioSet
namings, containers and sample rates the source must handle; real-format segments CSVs (one row
without audio, one audio file without a row), ``class_labels_indices.csv``, a copy of the AudioSet
ontology, and ``truth.jsonl`` describing what was really put in each clip.

    python examples/make_sample.py [--out examples/audioset_sample] [--seed 0] [--ontology PATH]

Deterministic for a given seed (and espeak-ng version).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paqa_builder.audio_io import resample
from paqa_builder.mixer.synth import VOICES, background, rms_db, speak
from paqa_builder.record import SAMPLE_RATE

CLIP_S = 10.0
DEFAULT_ONTOLOGY = Path(__file__).resolve().parents[2] / "shared" / "audioset" / "ontology.json"

BACKGROUND_LABELS = {  # synth kind -> (AudioSet mid, display name), checked against ontology.json
    "white_noise": ("/m/0chx_", "White noise"),
    "pink_noise": ("/m/0cj0r", "Pink noise"),
    "hum": ("/m/07rcgpl", "Hum"),
    "beeps": ("/m/02fs_r", "Beep, bleep"),
    "rain": ("/m/06mb1", "Rain"),
    "engine": ("/m/02mk9", "Engine"),
    "wind": ("/m/03m9d0z", "Wind"),
}
SPEECH, MALE, FEMALE, CONVERSATION = "/m/09x0r", "/m/05zppz", "/m/02zsn", "/m/01h8n0"
SPEECH_LABELS = {SPEECH: "Speech", MALE: "Male speech, man speaking",
                 FEMALE: "Female speech, woman speaking", CONVERSATION: "Conversation"}
GENDER = {"spk_a": "male", "spk_b": "female", "spk_c": "male", "spk_d": "female", "spk_e": "male",
          "spk_f": "female"}


@dataclass
class ClipSpec:
    """One sample clip: id, segment, file naming/format, turns (voice, text) and backgrounds (kind, snr)."""

    ytid: str
    start: float
    csv: str  # "balanced_train" or "eval"
    relpath: str  # file path below the sample root, naming pattern included
    turns: list[tuple[str, str]] = field(default_factory=list)
    backgrounds: list[tuple[str, float]] = field(default_factory=list)
    sample_rate: int = SAMPLE_RATE
    channels: int = 1


SPECS: list[ClipSpec] = [
    ClipSpec("-4rK2mZpQxE", 30.0, "balanced_train", "audio/balanced_train/Y-4rK2mZpQxE.flac",
             [("spk_a", "The train to Edinburgh leaves at seven fifteen."),
              ("spk_b", "Then we should buy two tickets now.")], [("engine", 12.0)]),
    ClipSpec("0bT9_vLw3Hs", 0.0, "balanced_train", "audio/balanced_train/Y0bT9_vLw3Hs.flac",
             [("spk_d", "Could you close the window, please? It is raining.")], [("rain", 8.0)]),
    ClipSpec("Yc8nR2kDq1M", 110.0, "balanced_train", "audio/balanced_train/sub/YYc8nR2kDq1M.flac",
             [("spk_c", "My name is David."), ("spk_f", "Nice to meet you, David."),
              ("spk_e", "Welcome to Toronto.")], [("hum", 15.0)]),
    ClipSpec("a3Fq-9ZkLmP", 20.0, "balanced_train", "audio/segments/a3Fq-9ZkLmP_20.000_30.000.flac",
             [], [("wind", 0.0), ("beeps", 0.0)]),
    ClipSpec("k7_PwQ2nXe0", 45.0, "balanced_train", "audio/segments/k7_PwQ2nXe0_45.000_55.000.flac",
             [("spk_e", "Please call Maria at five five five, two one nine eight.")], [("white_noise", 20.0)]),
    ClipSpec("M2xVb8rT-cA", 62.5, "balanced_train", "phone/M2xVb8rT-cA_62500_72500.wav",
             [("spk_b", "Flight forty two to Tokyo is boarding at gate nine."),
              ("spk_a", "Thank you.")], [("pink_noise", 10.0)], sample_rate=8000),
    ClipSpec("q9LmZ3sW_7d", 5.0, "eval", "eval/ogg/q9LmZ3sW_7d_5.ogg",
             [("spk_f", "Turn left after the bridge."), ("spk_c", "How far is the museum?"),
              ("spk_f", "About two hundred meters.")], [("engine", 6.0)], sample_rate=44100, channels=2),
    ClipSpec("T0pKx4Nw8Gs", 90.0, "eval", "eval/T0pKx4Nw8Gs.flac",
             [], [("rain", 0.0)]),
    ClipSpec("vB6-hJ2eRy1", 12.0, "eval", "eval/dcase/YvB6-hJ2eRy1_12.000_22.000.flac",
             [("spk_a", "Sarah, send the report before noon."),
              ("spk_d", "Sure, I will email it to Lisbon.")], [("hum", 5.0), ("beeps", 18.0)]),
    ClipSpec("zR5tQ8mN3oL", 200.0, "eval", "eval/zR5tQ8mN3oL_200.000_210.000.flac",
             [], [("engine", 0.0), ("white_noise", 0.0)]),
]
NO_ROW = ClipSpec("h4Gd9Xk2PqW", 0.0, "", "unsorted/Yh4Gd9Xk2PqW.flac",
                  [("spk_c", "This file has no row in any segments file.")], [("wind", 10.0)])
"""An audio file that no CSV row describes (counted as audio_without_row)."""
MISSING_AUDIO = ("n8Wq2Lr5TzB", 40.0, "eval", [SPEECH, "/m/06mb1"])
"""A CSV row whose audio is not in the folder (counted as rows_without_audio)."""


def render(spec: ClipSpec, seed: int) -> tuple[np.ndarray, dict]:
    """Mix one clip at 16 kHz; return the audio (peak 0.8) and its ground-truth dict."""
    rng = np.random.default_rng([seed, int.from_bytes(spec.ytid.encode(), "little") % (2**32)])
    n = int(CLIP_S * SAMPLE_RATE)
    voices = {v.name: v for v in VOICES}
    speech = np.zeros(n, dtype=np.float32)
    turns, t = [], 0.3 + 0.5 * float(rng.random())
    for speaker, text in spec.turns:
        utt = speak(text, voices[speaker])
        start = int(t * SAMPLE_RATE)
        if start + utt.size > n - int(0.2 * SAMPLE_RATE):
            raise ValueError(f"{spec.ytid}: turns do not fit in {CLIP_S} s; shorten the sentences")
        speech[start:start + utt.size] += utt
        turns.append({"speaker": speaker, "start": round(start / SAMPLE_RATE, 3),
                      "end": round((start + utt.size) / SAMPLE_RATE, 3), "text": text})
        t = (start + utt.size) / SAMPLE_RATE + 0.3 + 0.6 * float(rng.random())
    active = np.concatenate([speech[int(x["start"] * SAMPLE_RATE):int(x["end"] * SAMPLE_RATE)]
                             for x in turns]) if turns else None
    mix = speech.copy()
    backgrounds = []
    for kind, snr in spec.backgrounds:
        bg = background(kind, CLIP_S, seed=int(rng.integers(1 << 31)))
        if active is not None:
            # SNR against *active* speech, so pauses between turns do not lower the figure.
            gain = 10 ** ((rms_db(active) - rms_db(bg) - snr) / 20)
        else:
            gain = 1.0 / len(spec.backgrounds)
        mix += gain * bg
        mid, name = BACKGROUND_LABELS[kind]
        backgrounds.append({"kind": kind, "mid": mid, "label": name, "start": 0.0, "end": CLIP_S,
                            "snr_db": snr if active is not None else None,
                            "level_db": round(rms_db(gain * bg), 2)})
    scale = 0.8 / float(np.max(np.abs(mix)))
    mix *= scale
    for b in backgrounds:
        b["level_db"] = round(b["level_db"] + 20 * np.log10(scale), 2)
    order = list(dict.fromkeys(x["speaker"] for x in turns))
    truth = {
        "clip_id": spec.ytid, "file": spec.relpath, "duration": CLIP_S,
        "segment": [spec.start, spec.start + CLIP_S], "csv": spec.csv or None,
        "sample_rate": spec.sample_rate, "channels": spec.channels,
        "num_speakers": len(order),
        "speakers": [{"id": s, "voice": voices[s].variant, "gender": GENDER[s]} for s in order],
        "turns": turns,
        "transcript": " ".join(x["text"] for x in turns),
        "backgrounds": backgrounds,
        "speech_level_db": round(rms_db(active * scale), 2) if active is not None else None,
    }
    truth["labels"] = labels_for(truth)
    return mix.astype(np.float32), truth


def labels_for(truth: dict) -> list[str]:
    """AudioSet mids describing the clip, as a human annotator of AudioSet would tag it."""
    mids = []
    if truth["speakers"]:
        mids.append(SPEECH)
        genders = {s["gender"] for s in truth["speakers"]}
        mids += [MALE] if "male" in genders else []
        mids += [FEMALE] if "female" in genders else []
        mids += [CONVERSATION] if truth["num_speakers"] > 1 else []
    mids += [b["mid"] for b in truth["backgrounds"]]
    return list(dict.fromkeys(mids))


def write_audio(path: Path, audio: np.ndarray, spec: ClipSpec) -> None:
    """Write at the spec's rate/channels; container from the extension (FLAC/WAV 16-bit, OGG Vorbis)."""
    import soundfile as sf

    out = resample(audio, SAMPLE_RATE, spec.sample_rate)
    if spec.channels == 2:  # a slightly different right channel, like a real stereo recording
        out = np.stack([out, 0.9 * out], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    if ext == ".ogg":
        # ffmpeg with bitexact flags: libsndfile gives each OGG stream a random serial number,
        # which would make the file differ on every regeneration.
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "x.wav"
            sf.write(wav, out, spec.sample_rate, subtype="FLOAT")
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "libvorbis",
                            "-q:a", "3", "-fflags", "+bitexact", "-flags:a", "+bitexact", str(path)],
                           check=True)
    else:
        sf.write(path, out, spec.sample_rate, subtype="PCM_16")


def write_segments_csv(path: Path, rows: list[tuple[str, float, float, list[str]]]) -> None:
    """AudioSet segments CSV: three '#' header lines, then ``YTID, start, end, "mid,mid"``."""
    labels = sorted({m for r in rows for m in r[3]})
    lines = [
        "# Segments csv created Sun Mar  5 10:54:31 2017",
        f"# num_ytids={len(rows)}, num_segs={len(rows)}, num_unique_labels={len(labels)}, "
        f"num_positive_labels={sum(len(r[3]) for r in rows)}",
        "# YTID, start_seconds, end_seconds, positive_labels",
    ]
    lines += [f'{y}, {s:.3f}, {e:.3f}, "{",".join(m)}"' for y, s, e, m in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def build(out: Path, seed: int = 0, ontology: Path = DEFAULT_ONTOLOGY) -> list[dict]:
    """Write the whole sample folder to ``out`` (replacing it); return the truth rows."""
    names = {n["id"]: n["name"] for n in json.loads(ontology.read_text(encoding="utf-8"))}
    for mid, name in list(BACKGROUND_LABELS.values()) + list(SPEECH_LABELS.items()):
        if names.get(mid) != name:
            raise ValueError(f"ontology names {mid} {names.get(mid)!r}, expected {name!r}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    truths, rows = [], {"balanced_train": [], "eval": []}
    for spec in SPECS + [NO_ROW]:
        assert len(spec.ytid) == 11, spec.ytid
        audio, truth = render(spec, seed)
        write_audio(out / spec.relpath, audio, spec)
        if spec.csv:
            rows[spec.csv].append((spec.ytid, spec.start, spec.start + CLIP_S, truth["labels"]))
            truths.append(truth)
    ytid, start, csv_name, mids = MISSING_AUDIO
    rows[csv_name].append((ytid, start, start + CLIP_S, mids))
    for name, rs in rows.items():
        write_segments_csv(out / f"{name}_segments.csv", sorted(rs))
    used = sorted({m for rs in rows.values() for r in rs for m in r[3]})
    # Same layout as the real file: ``index,mid,"display name"`` (names always quoted).
    lines = ["index,mid,display_name"] + [f'{i},{mid},"{names[mid]}"' for i, mid in enumerate(used)]
    (out / "class_labels_indices.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copyfile(ontology, out / "ontology.json")
    truths.sort(key=lambda t: t["clip_id"])
    with open(out / "truth.jsonl", "w", encoding="utf-8") as fh:
        for truth in truths:
            fh.write(json.dumps(truth, sort_keys=True) + "\n")
    return truths


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "audioset_sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ontology", type=Path, default=DEFAULT_ONTOLOGY,
                        help="AudioSet ontology.json to copy and check label names against")
    args = parser.parse_args()
    readme = args.out / "README.md"
    kept = readme.read_text(encoding="utf-8") if readme.is_file() else None
    truths = build(args.out, args.seed, args.ontology)
    if kept is not None:  # the README is hand-written; keep it across regenerations
        readme.write_text(kept, encoding="utf-8")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {len(truths)} clips to {args.out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
