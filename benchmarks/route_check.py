"""How many speech scenes would the router send past the speech models, at which threshold?

    python benchmarks/route_check.py /tmp/cal/real_s11 /tmp/half --thresholds 0.1 0.15 0.2 0.3 0.5

For each mixed scene folder (``paqa-build mix`` output: ``manifest.jsonl`` with truth), runs the
route stage (``backends.vad_silero.SileroRouter``, Silero on the mixture) at every threshold and
prints, per folder and threshold, the speech scenes routed ``no_speech`` (each one loses its
speech questions) and the speech-free scenes routed ``no_speech`` (each one saves the speech
models). Choose the threshold on TUNE folders; report folders only check it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def check(folder: Path, thresholds: list[float]) -> list[str]:
    """One line per threshold for the scenes of ``folder``."""
    from paqa_builder.audio_io import load_audio
    from paqa_builder.backends.vad_silero import SileroRouter
    from paqa_builder.record import NO_SPEECH, ClipRecord

    scenes = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines() if line]
    audio = {s["clip_id"]: load_audio(folder / s["path"])[0] for s in scenes}
    group = sorted({s.get("group", "?") for s in scenes})
    lines = []
    for threshold in thresholds:
        router = SileroRouter(threshold=threshold)
        router.ensure_setup()
        records = [ClipRecord(clip_id=s["clip_id"], source="check", path=s["path"], audio=audio[s["clip_id"]])
                   for s in scenes]
        router(records)
        speech = {s["clip_id"] for s in scenes if s["truth"]["speakers"]}
        lost = sorted(r.clip_id for r in records if r.route == NO_SPEECH and r.clip_id in speech)
        saved = sum(r.route == NO_SPEECH for r in records if r.clip_id not in speech)
        lines.append(f"{folder} ({'/'.join(group)}) threshold {threshold:g}: speech scenes routed away "
                     f"{len(lost)}/{len(speech)} {lost[:5]}; speech-free scenes skipped "
                     f"{saved}/{len(scenes) - len(speech)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path, help="paqa-build mix output folders")
    p.add_argument("--thresholds", nargs="+", type=float, default=[0.1, 0.15, 0.2, 0.3, 0.5])
    args = p.parse_args(argv)
    for folder in args.folders:
        for line in check(folder, args.thresholds):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
