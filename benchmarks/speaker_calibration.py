"""Fit and check the calibrated speaker-count confidence, under the held-out protocol.

    # 1. diarize scenes (decode -> separate -> vad -> diarize of a recipe) and keep the cues
    python benchmarks/speaker_calibration.py collect --scenes out/mix_espeak_s10 --out cues.jsonl
    # 2. fit on tune clips only (refuses any report clip), write the shipped calibration
    python benchmarks/speaker_calibration.py fit cues_tune_*.jsonl [--save]
    # 3. reliability table of the shipped calibration on report clips
    python benchmarks/speaker_calibration.py check cues_report_*.jsonl

    # sweeps over clustering settings: save the pieces once, re-cluster them in seconds
    python benchmarks/speaker_calibration.py collect --scenes out/mix_espeak_s10 --out cues.jsonl \
        --pieces espeak.pkl [--set vad.threshold=0.3]
    python benchmarks/speaker_calibration.py replay espeak.pkl --out sweep.jsonl \
        --sweep '[{"cluster_threshold": 0.6}, {"cluster_threshold": 0.7}]'
    # same/different-speaker separability of saved pieces (AUC, distance percentiles)
    python benchmarks/speaker_calibration.py pairs espeak.pkl real.pkl

Every scene folder is a ``paqa-build mix`` output whose manifest lines carry ``group`` (``tune`` or
``report``, see ``paqa_builder/mixer/heldout.py``); ``collect`` copies it to each cue line, ``fit``
uses only ``tune`` lines, ``check`` only ``report`` lines, so a figure quoted from ``check`` was
never seen by ``fit``. Only the diarization stages run (no ASR, no tagging): a 60-scene folder
takes about a minute and a half on 2 cores. Every cue line also carries the clip's DER parts
(missed, false alarm, confusion, scored seconds), and each run prints count accuracy and DER per
setting.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("decode", "separate", "vad", "diarize")
CALIBRATED_PARAMS = ("embedding", "cluster_threshold", "pitch_weight", "pitch_deadzone", "pitch_spread_scale",
                     "verify_threshold")
"""Diarizer settings a calibration holds for (recorded in its ``fitted_on``)."""


class _Memo:
    """Per-clip caches so that a sweep over clustering settings embeds each piece once."""

    def __init__(self, diarizer) -> None:
        from paqa_builder.backends import diarize_portable as dp

        self.embed, self.f0, self.dp = {}, {}, dp
        embed, f0, infer = diarizer._embed, dp.pitch_stats, None

        def key(x):
            return (x.size, float(x[:64].sum()), float(x.sum()))

        def cached_embed(x):
            if key(x) not in self.embed:
                self.embed[key(x)] = embed(x)
            return self.embed[key(x)]

        def cached_f0(x):
            if key(x) not in self.f0:
                self.f0[key(x)] = f0(x)
            return self.f0[key(x)]

        diarizer._embed, dp.pitch_stats = cached_embed, cached_f0
        self.seg = None
        diarizer.ensure_setup()
        infer = diarizer._segment

        def cached(audio):
            import copy

            if self.seg is None:
                self.seg = infer(audio)
            return copy.deepcopy(self.seg)  # the diarizer masks it in place

        diarizer._segment = cached

    def clear(self) -> None:
        """Forget the previous clip."""
        self.embed.clear(), self.f0.clear()
        self.seg = None


def _cue_line(record, line: dict, scenes: Path, config: dict, diarizer) -> dict:
    """One cue line: the clip's truth, what the diarizer built, its evidence and DER parts."""
    from paqa_builder.evaluation.metrics import DerAccumulator

    t = line["truth"]
    der = DerAccumulator()
    der.add(record.clip_id, t.get("turns") or [], record.turns or [], t["duration"])
    return {
        "clip_id": record.clip_id, "scenes": str(scenes), "group": line.get("group", "unknown"),
        "voices": line.get("voices"), "true_speakers": len(t.get("speakers") or []),
        "built_speakers": record.num_speakers, "error": record.error, "config": config,
        "diarizer": {k: getattr(diarizer, k) for k in CALIBRATED_PARAMS},
        "dendrogram_confidence": record.speaker_count_confidence,
        "evidence": record.speaker_evidence,
        "der": {k: der.summary()[k] for k in ("missed_s", "false_alarm_s", "confusion_s", "scored_speech_s")},
    }


def _report(out: Path, lines: list[dict], configs: list[dict]) -> None:
    for config in configs:
        mine = [x for x in lines if x["config"] == config]
        right = sum(x["built_speakers"] == x["true_speakers"] for x in mine)
        errors = sum(x["der"][k] for x in mine for k in ("missed_s", "false_alarm_s", "confusion_s"))
        scored = sum(x["der"]["scored_speech_s"] for x in mine) or float("nan")
        print(f"{out}: {config or 'recipe'}: {len(mine)} clips, count right {right}/{len(mine)}, "
              f"DER {errors / scored:.1%}")


def collect(scenes: Path, out: Path, recipe_name: str, sweep: list[dict] | None = None,
            fixed: dict | None = None, pieces_out: Path | None = None) -> int:
    """Diarize every scene of ``scenes`` with the recipe's stages; one cue line per scene (and per
    diarizer setting of ``sweep``, a list of parameter overrides, when given). ``pieces_out``
    also saves every clip's embedded pieces for ``replay``."""
    from paqa_builder.config import load_recipe
    from paqa_builder.evaluation.evaluate import load_truth
    from paqa_builder.registry import build_stage
    from paqa_builder.sources.folder import FolderSource

    recipe = load_recipe(recipe_name)
    stages = []
    fixed = dict(fixed or {})
    for slot in STAGES:
        params = dict(recipe["stages"][slot])
        # "vad.threshold=0.3" sets another stage's parameter; plain keys are the diarizer's
        params.update({k.split(".", 1)[1]: fixed.pop(k) for k in list(fixed) if k.startswith(slot + ".")})
        if slot == "diarize":
            params["calibration"] = None  # raw cues; the calibration is what we are fitting
            params.update({k: v for k, v in fixed.items() if "." not in k})
        stages.append(build_stage(slot, params))
    truth = load_truth(scenes)
    configs = sweep or [{}]
    diarizer = stages[-1]
    memo = _Memo(diarizer) if sweep else None
    saved: dict[str, dict] = {}
    if pieces_out:
        assign = diarizer.assign

        def keep(record, pieces, overlaps, seg_local_max, duration, audio=None):
            saved[record.clip_id] = {"pieces": pieces, "overlaps": overlaps,
                                     "seg_local_max": seg_local_max, "duration": duration}
            return assign(record, pieces, overlaps, seg_local_max, duration, audio=audio)

        diarizer.assign = keep
    lines = []
    t0 = time.time()
    records = [r for r in FolderSource(scenes) if r.clip_id in truth]
    for i, record in enumerate(records, 1):
        for stage in stages[:-1]:
            stage([record])
        if memo:
            memo.clear()
        for config in configs:
            for name, value in config.items():
                setattr(diarizer, name, value)
            diarizer([record])
            lines.append(_cue_line(record, truth[record.clip_id], scenes, config, diarizer))
        if i % 10 == 0 or i == len(records):
            rate = (time.time() - t0) / i
            print(f"{scenes.name}: {i}/{len(records)} clips, ETA {rate * (len(records) - i):.0f} s",
                  file=sys.stderr)
    out.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    if pieces_out:
        with open(pieces_out, "wb") as fh:
            pickle.dump({"scenes": str(scenes), "truth": truth, "clips": saved}, fh)
    _report(out, lines, configs)
    return 0


def replay(pieces_file: Path, out: Path, sweep: list[dict], recipe_name: str) -> int:
    """Re-cluster saved pieces under every setting of ``sweep``: no model runs, seconds per folder.

    The pieces (spans, embeddings, pitches) come from ``collect --pieces``, so only settings that
    act after embedding (cut, pitch term, clean-up, split repair, ...) can be swept here; the
    second pass (``verify_threshold``) embeds audio again, so replay runs without it."""
    from paqa_builder.backends.diarize_portable import PortableDiarizer
    from paqa_builder.config import load_recipe
    from paqa_builder.record import ClipRecord

    with open(pieces_file, "rb") as fh:
        data = pickle.load(fh)
    base = dict(load_recipe(recipe_name)["stages"]["diarize"])
    base.pop("backend", None)
    base["calibration"] = None
    base["verify_threshold"] = 0.0  # needs the audio, which the pieces file does not hold
    if any(c.get("verify_threshold") for c in sweep):
        raise SystemExit("replay cannot sweep verify_threshold (it embeds audio again): use collect --sweep")
    lines = []
    spreads = all(getattr(c["pieces"], "pitch_spreads", None) is not None for c in data["clips"].values())
    for config in sweep:
        diarizer = PortableDiarizer(**{**base, **config})
        if diarizer.pitch_spread_scale > 0 and diarizer.pitch_weight > 0 and not spreads:
            raise SystemExit(f"{pieces_file} holds no pitch spreads (collected before they existed): "
                             "collect it again, or sweep with pitch_spread_scale 0")
        for clip_id, saved in data["clips"].items():
            record = ClipRecord(clip_id=clip_id, source="replay", path=clip_id)
            diarizer.assign(record, saved["pieces"], saved["overlaps"], saved["seg_local_max"],
                            saved["duration"])
            lines.append(_cue_line(record, data["truth"][clip_id], Path(data["scenes"]), config, diarizer))
    out.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    _report(out, lines, sweep)
    return 0


def _read(paths: list[Path], group: str, config: dict | None = None) -> list[dict]:
    rows = [json.loads(x) for p in paths for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]
    configs = {json.dumps(r.get("config") or {}, sort_keys=True) for r in rows}
    if config is not None:
        rows = [r for r in rows if (r.get("config") or {}) == config]
    elif len(configs) > 1:
        raise SystemExit(f"the cue files hold several diarizer settings; pick one with --config "
                         f"(found {sorted(configs)})")
    bad = sorted({r["group"] for r in rows} - {group})
    if bad:
        raise SystemExit(f"refusing: these cue files hold {bad} clips, this step uses only "
                         f"'{group}' clips (held-out protocol)")
    return [r for r in rows if r.get("evidence") and not r.get("error")]


def _table(conf: list[float], right: list[bool], title: str) -> None:
    from paqa_builder.evaluation.metrics import reliability_table

    print(f"\n{title}\n\n| confidence | clips | count right |\n|---|---|---|")
    for row in reliability_table(conf, right):
        print(f"| {row['bin']} | {row['n']} | {row['accuracy']:.1%} |" if row["n"] else
              f"| {row['bin']} | 0 | - |")


def fit(paths: list[Path], save: bool, l2: float, folds: int, config: dict | None = None) -> int:
    """Fit on tune cue lines; print in-sample and cross-validated reliability; optionally save."""
    from paqa_builder.backends.speaker_confidence import fit_calibration, precision_threshold

    rows = _read(paths, "tune", config)
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
    diarizers = {json.dumps(r.get("diarizer"), sort_keys=True) for r in rows}
    if len(diarizers) != 1:
        raise SystemExit(f"the cue lines come from several diarizer settings: {sorted(diarizers)}")
    cal = fit_calibration(ev, right, l2=l2, fitted_on={
        "group": "tune", "scene_folders": [Path(s).name for s in sources], "clips": len(rows),
        "count_errors": right.count(False), "l2": l2, "diarizer": json.loads(diarizers.pop()),
        "voices": sorted({str(r.get("voices")) for r in rows})})
    print(f"tune clips {len(rows)}, count errors {right.count(False)}")
    print("weights:", {n: round(w, 3) for n, w in zip(cal.inputs, cal.weights)}, "bias", round(cal.bias, 3))
    _table([r["dendrogram_confidence"] for r in rows], right, "Tune, old dendrogram confidence")
    _table(cv, right, f"Tune, calibrated ({folds}-fold cross-validated)")
    in_sample, crossed = cal.threshold_98, precision_threshold(cv, right)
    # the shipped threshold is read off the cross-validated confidences: an in-sample cut is
    # optimistic by construction (the model has seen the clips it is judged on)
    cal.threshold_98 = crossed if crossed is not None else in_sample
    cal.fitted_on["threshold_98_in_sample"] = in_sample
    cal.fitted_on["threshold_98_cross_validated"] = crossed
    print(f"\nthreshold for >= 98 % on tune: in-sample {in_sample}, cross-validated {crossed}; "
          f"shipped {cal.threshold_98}")
    if save:
        print(f"saved {cal.save()}")
    return 0


def check(paths: list[Path], calibration: str | None, config: dict | None = None) -> int:
    """Reliability of the shipped (or given) calibration on report cue lines."""
    from paqa_builder.backends.speaker_confidence import CountCalibration

    cal = CountCalibration.load(calibration)
    if cal is None:
        raise SystemExit("no calibration file: run 'fit --save' first")
    rows = _read(paths, "report", config)
    right = [r["built_speakers"] == r["true_speakers"] for r in rows]
    conf = [cal.probability(r["evidence"]) for r in rows]
    _table([r["dendrogram_confidence"] for r in rows], right, "Report, old dendrogram confidence")
    _table(conf, right, "Report, calibrated")
    t = cal.threshold_98
    kept = [ok for c, ok in zip(conf, right) if t is not None and c >= t]
    print(f"\nat the tune threshold {t}: {len(kept)}/{len(rows)} clips kept, "
          f"{sum(kept)}/{len(kept)} counts right" if kept else f"\nat {t}: no clip kept")
    return 0


def pairs(pieces_files: list[Path]) -> int:
    """Same/different-speaker separability of saved pieces: for every pair of embedded pieces of
    one clip that each lie >= 80 % inside one true speaker's turn, the cosine distance and the
    pitch term; prints the AUC of "different" per file, cosine alone and with the shipped pitch
    weight 0.8, and the distance percentiles."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    for path in pieces_files:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        diff, cos, pitch = [], [], []
        for clip_id, saved in data["clips"].items():
            truth, p = data["truth"][clip_id]["truth"]["turns"], saved["pieces"]
            x = p.embeddings / np.linalg.norm(p.embeddings, axis=1, keepdims=True)
            owner = []
            for i in p.embedded:
                a, b = p.spans[i]
                share: dict[str, float] = {}
                for t in truth:
                    share[t["speaker"]] = share.get(t["speaker"], 0.0) + max(0.0, min(b, t["end"]) - max(a, t["start"]))
                best = max(share, key=share.get) if share else None
                owner.append(best if best and share[best] >= 0.8 * (b - a) else None)
            for i in range(len(owner)):
                for j in range(i + 1, len(owner)):
                    if owner[i] and owner[j]:
                        diff.append(owner[i] != owner[j])
                        cos.append(1.0 - float(x[i] @ x[j]))
                        pitch.append(abs(np.log(max(p.pitches[i], 30.0) / max(p.pitches[j], 30.0))))
        y, c, f0 = np.array(diff), np.array(cos), np.array(pitch)
        print(f"{path}: pairs {y.size} (different {int(y.sum())}); AUC cosine {roc_auc_score(y, c):.3f}, "
              f"cosine + 0.8 pitch {roc_auc_score(y, c + 0.8 * f0):.3f}; same-speaker cosine median/90th "
              f"{np.percentile(c[~y], 50):.2f}/{np.percentile(c[~y], 90):.2f}; different 5th/median "
              f"{np.percentile(c[y], 5):.2f}/{np.percentile(c[y], 50):.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--scenes", required=True, type=Path)
    c.add_argument("--out", required=True, type=Path)
    c.add_argument("--recipe", default="portable")
    c.add_argument("--sweep", help='JSON list of diarizer overrides, e.g. '
                   '\'[{"cluster_threshold": 0.5}, {"cluster_threshold": 0.6}]\'')
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="diarizer parameter for every setting (YAML value), e.g. embedding=campplus; "
                   "SLOT.KEY=VALUE sets another stage's, e.g. vad.threshold=0.3")
    c.add_argument("--pieces", type=Path, help="also save every clip's embedded pieces here (for replay)")
    r = sub.add_parser("replay")
    r.add_argument("pieces", type=Path)
    r.add_argument("--out", required=True, type=Path)
    r.add_argument("--sweep", required=True, help="JSON list of diarizer overrides")
    r.add_argument("--recipe", default="portable")
    f = sub.add_parser("fit")
    f.add_argument("cues", nargs="+", type=Path)
    f.add_argument("--save", action="store_true", help="write paqa_builder/backends/speaker_calibration.json")
    f.add_argument("--l2", type=float, default=1.0)
    f.add_argument("--folds", type=int, default=5)
    f.add_argument("--config", type=json.loads, help="diarizer setting of the cue lines to use (JSON)")
    k = sub.add_parser("check")
    k.add_argument("cues", nargs="+", type=Path)
    k.add_argument("--calibration")
    k.add_argument("--config", type=json.loads, help="diarizer setting of the cue lines to use (JSON)")
    q = sub.add_parser("pairs")
    q.add_argument("pieces", nargs="+", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "pairs":
        return pairs(a.pieces)
    if a.cmd == "collect":
        from paqa_builder.config import parse_override

        fixed = dict(parse_override(item) for item in a.set)
        return collect(a.scenes, a.out, a.recipe, json.loads(a.sweep) if a.sweep else None, fixed,
                       a.pieces)
    if a.cmd == "replay":
        return replay(a.pieces, a.out, json.loads(a.sweep), a.recipe)
    if a.cmd == "fit":
        return fit(a.cues, a.save, a.l2, a.folds, a.config)
    return check(a.cues, a.calibration, a.config)


if __name__ == "__main__":
    raise SystemExit(main())
