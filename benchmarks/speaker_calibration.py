"""Fit and check the calibrated speaker-count confidence, under the held-out protocol.

    # 1. diarize scenes (decode -> separate -> vad -> diarize of a recipe) and keep the cues
    python benchmarks/speaker_calibration.py collect --scenes out/mix_espeak_s10 --out cues.jsonl
    # 2. fit on tune clips only (refuses any report clip), write the shipped calibration
    python benchmarks/speaker_calibration.py fit cues_tune_*.jsonl [--save]
    # 3. reliability table of the shipped calibration on report clips
    python benchmarks/speaker_calibration.py check cues_report_*.jsonl

Every scene folder is a ``paqa-build mix`` output whose manifest lines carry ``group`` (``tune`` or
``report``, see ``paqa_builder/mixer/heldout.py``); ``collect`` copies it to each cue line, ``fit``
uses only ``tune`` lines, ``check`` only ``report`` lines, so a figure quoted from ``check`` was
never seen by ``fit``. Only the diarization stages run (no ASR, no tagging): a 60-scene folder
takes about a minute and a half on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("decode", "separate", "vad", "diarize")


def collect(scenes: Path, out: Path, recipe_name: str) -> int:
    """Diarize every scene of ``scenes`` with the recipe's stages; one cue line per scene."""
    from paqa_builder.config import load_recipe
    from paqa_builder.evaluate import load_truth
    from paqa_builder.registry import build_stage
    from paqa_builder.sources.folder import FolderSource

    recipe = load_recipe(recipe_name)
    stages = []
    for slot in STAGES:
        params = dict(recipe["stages"][slot])
        if slot == "diarize":
            params["calibration"] = None  # raw cues; the calibration is what we are fitting
        stages.append(build_stage(slot, params))
    truth = load_truth(scenes)
    lines = []
    t0 = time.time()
    records = [r for r in FolderSource(scenes) if r.clip_id in truth]
    for i, record in enumerate(records, 1):
        for stage in stages:
            stage([record])
        line = truth[record.clip_id]
        t = line["truth"]
        lines.append({
            "clip_id": record.clip_id, "scenes": str(scenes), "group": line.get("group", "unknown"),
            "voices": line.get("voices"), "true_speakers": len(t.get("speakers") or []),
            "built_speakers": record.num_speakers, "error": record.error,
            "dendrogram_confidence": record.speaker_count_confidence,
            "evidence": record.speaker_evidence,
        })
        if i % 10 == 0 or i == len(records):
            rate = (time.time() - t0) / i
            print(f"{scenes.name}: {i}/{len(records)} clips, ETA {rate * (len(records) - i):.0f} s",
                  file=sys.stderr)
    out.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    right = sum(x["built_speakers"] == x["true_speakers"] for x in lines)
    print(f"{out}: {len(lines)} clips, count right {right}/{len(lines)}")
    return 0


def _read(paths: list[Path], group: str) -> list[dict]:
    rows = [json.loads(x) for p in paths for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]
    bad = sorted({r["group"] for r in rows} - {group})
    if bad:
        raise SystemExit(f"refusing: these cue files hold {bad} clips, this step uses only "
                         f"'{group}' clips (held-out protocol)")
    return [r for r in rows if r.get("evidence") and not r.get("error")]


def _table(conf: list[float], right: list[bool], title: str) -> None:
    from paqa_builder.eval_metrics import reliability_table

    print(f"\n{title}\n\n| confidence | clips | count right |\n|---|---|---|")
    for row in reliability_table(conf, right):
        print(f"| {row['bin']} | {row['n']} | {row['accuracy']:.1%} |" if row["n"] else
              f"| {row['bin']} | 0 | - |")


def fit(paths: list[Path], save: bool, l2: float, folds: int) -> int:
    """Fit on tune cue lines; print in-sample and cross-validated reliability; optionally save."""
    from paqa_builder.backends.speaker_confidence import fit_calibration, precision_threshold

    rows = _read(paths, "tune")
    ev = [r["evidence"] for r in rows]
    right = [r["built_speakers"] == r["true_speakers"] for r in rows]
    # cross-validated confidences: each fold scored by a model that never saw it
    cv = [0.0] * len(rows)
    for f in range(folds):
        train = [i for i in range(len(rows)) if i % folds != f]
        model = fit_calibration([ev[i] for i in train], [right[i] for i in train], l2=l2)
        for i in range(f, len(rows), folds):
            cv[i] = model.probability(ev[i])
    sources = sorted({r["scenes"] for r in rows})
    cal = fit_calibration(ev, right, l2=l2, fitted_on={
        "group": "tune", "scene_folders": [Path(s).name for s in sources], "clips": len(rows),
        "count_errors": right.count(False), "l2": l2})
    print(f"tune clips {len(rows)}, count errors {right.count(False)}")
    print("weights:", {n: round(w, 3) for n, w in zip(cal.inputs, cal.weights)}, "bias", round(cal.bias, 3))
    _table([r["dendrogram_confidence"] for r in rows], right, "Tune, old dendrogram confidence")
    _table(cv, right, f"Tune, calibrated ({folds}-fold cross-validated)")
    print(f"\nthreshold for >= 98 % on tune (in-sample): {cal.threshold_98}; cross-validated: "
          f"{precision_threshold(cv, right)}")
    if save:
        print(f"saved {cal.save()}")
    return 0


def check(paths: list[Path], calibration: str | None) -> int:
    """Reliability of the shipped (or given) calibration on report cue lines."""
    from paqa_builder.backends.speaker_confidence import CountCalibration

    cal = CountCalibration.load(calibration)
    if cal is None:
        raise SystemExit("no calibration file: run 'fit --save' first")
    rows = _read(paths, "report")
    right = [r["built_speakers"] == r["true_speakers"] for r in rows]
    conf = [cal.probability(r["evidence"]) for r in rows]
    _table([r["dendrogram_confidence"] for r in rows], right, "Report, old dendrogram confidence")
    _table(conf, right, "Report, calibrated")
    t = cal.threshold_98
    kept = [ok for c, ok in zip(conf, right) if t is not None and c >= t]
    print(f"\nat the tune threshold {t}: {len(kept)}/{len(rows)} clips kept, "
          f"{sum(kept)}/{len(kept)} counts right" if kept else f"\nat {t}: no clip kept")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--scenes", required=True, type=Path)
    c.add_argument("--out", required=True, type=Path)
    c.add_argument("--recipe", default="portable")
    f = sub.add_parser("fit")
    f.add_argument("cues", nargs="+", type=Path)
    f.add_argument("--save", action="store_true", help="write paqa_builder/backends/speaker_calibration.json")
    f.add_argument("--l2", type=float, default=1.0)
    f.add_argument("--folds", type=int, default=5)
    k = sub.add_parser("check")
    k.add_argument("cues", nargs="+", type=Path)
    k.add_argument("--calibration")
    a = p.parse_args(argv)
    if a.cmd == "collect":
        return collect(a.scenes, a.out, a.recipe)
    if a.cmd == "fit":
        return fit(a.cues, a.save, a.l2, a.folds)
    return check(a.cues, a.calibration)


if __name__ == "__main__":
    raise SystemExit(main())
