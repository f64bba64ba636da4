"""What should Whisper read: the separated speech stem, or the stem plus part of the background?

    # mixed scenes (a `paqa-build mix` folder; its manifest says which group each scene is in)
    python benchmarks/asr_input.py mix /tmp/cal/real_s11 --out real_s11.jsonl
    # the recorded speech corpus unmixed (benchmarks/real_voices.py), one group at a time
    python benchmarks/asr_input.py unmixed /tmp/rv/speech --group tune --out clean_tune.jsonl

For every clip the recipe's decode, separate and VAD stages run once, then the recipe's
transcriber reads ``speech + g * background`` for each gain ``g`` of ``--gains`` (1 is the
mixture itself; ``stems.asr_input``). It prints the WER per gain, over all clips and per band of
the separated SNR (``record.snr_db``), and writes one JSON line per clip (WER counts and
transcript per gain). ``unmixed`` cuts each speaker's utterances into clips of about 12 s (0.5 s
pauses), at most 8 clips per speaker, so that one speaker with many prompts does not dominate.

Choose a gain on ``tune`` clips only; quote ``report`` clips only (held-out protocol, see
``paqa_builder/mixer/heldout.py``). The printed header says which group the clips are from.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SAMPLE_RATE = 16_000
SNR_BANDS = ((-99.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 99.0))


def mixed_clips(scenes: Path) -> list[tuple[object, str, str]]:
    """(record, reference text, group) for every scene of a mix folder that has truth."""
    from paqa_builder.evaluation.evaluate import load_truth
    from paqa_builder.sources.folder import FolderSource

    truth = load_truth(scenes)
    out = []
    for record in FolderSource(scenes):
        if record.clip_id not in truth:
            continue
        turns = sorted(truth[record.clip_id]["truth"].get("turns") or [], key=lambda t: t["start"])
        out.append((record, " ".join(t["text"] for t in turns), str(truth[record.clip_id].get("group"))))
    return out


def unmixed_clips(corpus: Path, group: str, per_speaker: int = 8, clip_s: float = 12.0,
                  seed: int = 0) -> list[tuple[object, str, str]]:
    """Utterances of ``group``'s speakers, joined per speaker into clips of about ``clip_s``."""
    import numpy as np

    from paqa_builder.audio_io import load_audio
    from paqa_builder.record import ClipRecord

    by_speaker: dict[str, list[dict]] = collections.defaultdict(list)
    for line in (corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["group"] == group:
            by_speaker[item["speaker"]].append(item)
    pause = np.zeros(SAMPLE_RATE // 2, np.float32)
    rng = random.Random(seed)
    out = []
    for speaker, items in sorted(by_speaker.items()):
        clips, parts, texts, seconds = [], [], [], 0.0
        for item in items:
            audio = load_audio(corpus / item["path"], sr=SAMPLE_RATE)[0]
            parts += [pause, audio]
            texts.append(item["text"])
            seconds += audio.size / SAMPLE_RATE + 0.5
            if seconds > clip_s:
                clips.append((np.concatenate(parts + [pause]), " ".join(texts)))
                parts, texts, seconds = [], [], 0.0
        if parts:
            clips.append((np.concatenate(parts + [pause]), " ".join(texts)))
        if len(clips) > per_speaker:
            clips = rng.sample(clips, per_speaker)
        for i, (audio, text) in enumerate(clips):
            record = ClipRecord(clip_id=f"{speaker}_{i}", source="unmixed", path=f"{speaker}_{i}",
                                audio=audio, duration=audio.size / SAMPLE_RATE)
            out.append((record, text, group))
    return out


def measure(clips: list[tuple[object, str, str]], gains: list[float], recipe_name: str,
            language: str | None) -> list[dict]:
    """Run the recipe's separate + VAD once per clip, then its transcriber once per gain."""
    from paqa_builder.config import load_recipe
    from paqa_builder.evaluation import metrics as M
    from paqa_builder.registry import build_stage

    recipe = load_recipe(recipe_name)
    before = [build_stage(slot, dict(recipe["stages"][slot])) for slot in ("decode", "separate", "vad")]
    params = dict(recipe["stages"]["transcribe"])
    if language:
        params["language"] = language
    transcriber = build_stage("transcribe", params)
    lines, t0 = [], time.time()
    for i, (record, reference, group) in enumerate(clips, 1):
        for stage in before:
            if stage.name == "decode" and getattr(record, "audio", None) is not None:
                continue
            stage([record])
        line = {"clip": record.clip_id, "group": group, "snr_db": record.snr_db, "wer": {}}
        for gain in gains:
            transcriber.residual_gain = gain
            transcriber([record])
            c = M.wer_counts(reference, record.transcript)
            line["wer"][f"{gain:g}"] = {"errors": c.substitutions + c.deletions + c.insertions,
                                        "words": c.ref_words, "transcript": record.transcript}
        lines.append(line)
        if i % 10 == 0 or i == len(clips):
            print(f"{i}/{len(clips)} clips, ETA {(time.time() - t0) / i * (len(clips) - i):.0f} s",
                  file=sys.stderr)
    return lines


def summary(lines: list[dict], gains: list[float]) -> str:
    """Markdown table: WER per gain, all clips and per separated-SNR band."""
    groups = sorted({x["group"] for x in lines})
    keys = [f"{g:g}" for g in gains]
    head = "| clips | n | " + " | ".join(f"WER g={k}" for k in keys) + " |\n|---|---|" + "---|" * len(keys)

    def row(name: str, chosen: list[dict]) -> str:
        cells = []
        for k in keys:
            errors = sum(x["wer"][k]["errors"] for x in chosen)
            words = sum(x["wer"][k]["words"] for x in chosen)
            cells.append(f"{errors / words:.1%}" if words else "-")
        return f"| {name} | {len(chosen)} | " + " | ".join(cells) + " |"

    rows = [row("all", lines)]
    for lo, hi in SNR_BANDS:
        chosen = [x for x in lines if x["snr_db"] is not None and lo <= x["snr_db"] < hi]
        if chosen:
            rows.append(row(f"separated SNR {lo:g}..{hi:g} dB", chosen))
    return f"groups: {', '.join(groups)}\n\n{head}\n" + "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mix", help="scenes of a `paqa-build mix` folder")
    m.add_argument("scenes", type=Path)
    u = sub.add_parser("unmixed", help="the recorded speech corpus of benchmarks/real_voices.py, unmixed")
    u.add_argument("corpus", type=Path)
    u.add_argument("--group", required=True, choices=("tune", "report"))
    for q in (m, u):
        q.add_argument("--out", type=Path, help="JSON lines, one per clip")
        q.add_argument("--gains", default="0,0.3,0.6,1", help="comma-separated background shares")
        q.add_argument("--recipe", default="portable")
        q.add_argument("--language", default="en", help="forced language ('' detects it)")
    args = p.parse_args(argv)
    gains = [float(x) for x in args.gains.split(",")]
    clips = mixed_clips(args.scenes) if args.cmd == "mix" else unmixed_clips(args.corpus, args.group)
    if not clips:
        raise SystemExit("no clip with a reference transcript found")
    lines = measure(clips, gains, args.recipe, args.language or None)
    if args.out:
        args.out.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    print(summary(lines, gains))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
