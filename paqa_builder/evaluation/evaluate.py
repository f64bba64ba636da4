"""``paqa-build eval``: measure a built PAQA dataset against the ground truth of mixed scenes.

    paqa-build eval --truth scenes/ --built paqa/ [--out paqa/eval]

``--truth`` is a ``paqa-build mix`` output folder (``manifest.jsonl`` with a ``truth`` object per
scene); ``--built`` is a ``paqa-build`` output folder built from it. Figures:

* speaker-count accuracy (clips whose ``num_speakers`` equals the number of mixed speakers);
* DER (pyannote.metrics, ``--collar`` seconds, overlap scored unless ``--skip-overlap``);
* WER (jiwer) of the clip transcript, and speaker-attributed WER per corpus speaker (hypothesis
  speakers mapped to true ones by the DER's optimal mapping);
* background tag precision/recall per class, from the built ``background`` events whose origin is
  in ``--tag-origins`` (default ``model,truth``: a tagger's or the oracle's events; labels copied
  from the dataset, origin ``source``, are not evidence of perception);
* answer-key accuracy per task: every QA row is re-checked against a record rebuilt from ground
  truth (``OraclePerception`` + acoustics) by ``paqa_builder.compose.verify.verify_answer``;
* questions per clip, overall and per task.

Two diagnostics say where the pipeline misses: WER per band of scene SNR, and the pairs of true
speakers that the diarization merged into one (their speech mostly went to the same built speaker).

Writes ``report.md``, ``eval.json`` and PNG plots to ``--out`` (default ``<built>/eval``; see
``eval_report``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..dataset.rows import plain
from ..record import ClipRecord, Label
from . import metrics as M
from .report import summary_table, task_table, write_report

VerifyFn = Callable[[dict[str, Any], ClipRecord], "bool | None"]


# -- loading ---------------------------------------------------------------------------------------

def load_truth(truth_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Manifest lines of a mixer output folder, by clip id (lines without ``truth`` are dropped)."""
    path = Path(truth_dir) / "manifest.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: --truth must be a 'paqa-build mix' output folder")
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return {str(x.get("clip_id") or Path(x["path"]).stem): x for x in lines if x.get("truth")}


def _read_tables(folder: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.parquet")):
        names = [n for n in pq.ParquetFile(path).schema_arrow.names if n != "audio"]
        rows += [plain(r) for r in pq.read_table(path, columns=names).to_pylist()]
    return rows


def load_built(built_dir: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(clips rows, qa rows)`` of a built dataset, all splits, without the audio column."""
    root = Path(built_dir)
    if not (root / "data").is_dir():
        raise FileNotFoundError(f"{root}/data not found: --built must be a 'paqa-build' output folder")
    return _read_tables(root / "data" / "clips"), _read_tables(root / "data" / "qa")


def truth_record(line: dict[str, Any], root: Path, with_audio: bool = True) -> ClipRecord:
    """A record rebuilt from one manifest line: oracle perception, plus audio when asked."""
    from ..backends.oracle import OraclePerception

    truth = line["truth"]
    from ..mixer.scene import SPEECH_LABEL

    labels = [Label(mid=b.get("mid") or b["label"], name=b["label"])
              for b in truth.get("backgrounds") or []]
    if truth.get("speakers"):  # the mixer labels every scene with a voice "Speech"
        labels.append(Label(mid=SPEECH_LABEL[1], name=SPEECH_LABEL[0]))
    record = ClipRecord(clip_id=str(line.get("clip_id") or Path(line["path"]).stem),
                        source="mixer", path=str(root / line["path"]), labels=labels, truth=truth,
                        meta=dict(line.get("meta") or {}), duration=float(truth["duration"]))
    if with_audio:
        from ..audio_io import load_audio

        record.audio = load_audio(record.path, sr=record.sample_rate)[0]
        record.duration = len(record.audio) / record.sample_rate
    OraclePerception(load_stems=with_audio)([record])
    if record.error:
        raise RuntimeError(record.error)
    return record


def build_truth_records(lines: dict[str, dict[str, Any]], root: Path, with_audio: bool = True,
                        acoustics: bool = True) -> tuple[dict[str, ClipRecord], list[str]]:
    """Truth records by clip id, with the acoustics stage run when available; plus notes."""
    notes: list[str] = []
    records = {cid: truth_record(line, root, with_audio) for cid, line in lines.items()}
    if with_audio and acoustics:
        from ..registry import build_stage

        try:
            stage = build_stage("acoustics", {"backend": "librosa"})
            stage(list(records.values()))
        except (ImportError, RuntimeError, ValueError) as exc:
            notes.append(f"acoustics not computed on the truth records ({exc}); acoustic "
                         "questions are left unverifiable")
    for record in records.values():  # loudness checks read the mixture; the stems can go
        record.speech_audio = record.background_audio = None
    return records, notes


def default_verify() -> VerifyFn | None:
    """``paqa_builder.compose.verify.verify_answer`` if the composer provides it, else None."""
    try:
        return importlib.import_module("paqa_builder.compose.verify").verify_answer
    except (ImportError, AttributeError):
        return None


# -- evaluation ------------------------------------------------------------------------------------

def _num_speakers(row: dict[str, Any]) -> int | None:
    value = row.get("num_speakers")
    return None if value is None else int(value)


def evaluate(truth_dir: str | Path, built_dir: str | Path, *, collar: float = 0.0,
             skip_overlap: bool = False, tag_origins: tuple[str, ...] = ("model", "truth"),
             verify: VerifyFn | None = None, with_audio: bool = True,
             acoustics: bool = True) -> dict[str, Any]:
    """All figures of the report as one JSON-safe dict (see module docstring)."""
    from ..mixer.corpus import is_voice_label

    truth = load_truth(truth_dir)
    clips, qa = load_built(built_dir)
    built = {str(r["clip_id"]): r for r in clips}
    matched = [cid for cid in truth if cid in built]
    der = M.DerAccumulator(collar=collar, skip_overlap=skip_overlap)
    wer_total, sa_total = M.WerCounts(), M.WerCounts()
    per_speaker: dict[str, M.WerCounts] = {}
    by_band: dict[str, tuple[int, M.WerCounts]] = {}
    merged: dict[tuple[str, str], int] = {}
    counts, tag_truth, tag_pred, per_clip = [], [], [], {}
    for cid in matched:
        t, b = truth[cid]["truth"], built[cid]
        ref_turns, hyp_turns = t.get("turns") or [], b.get("turns") or []
        mapping = der.add(cid, ref_turns, hyp_turns, float(t["duration"]))
        ref_text = " ".join(x.get("text", "") for x in sorted(ref_turns, key=lambda x: x["start"]))
        hyp_text = b.get("transcript")
        if hyp_text is None:
            hyp_text = " ".join(w["word"] for w in b.get("words") or [])
        # truth with speaker turns but no transcript (e.g. AMI excerpts) says nothing of WER
        transcribed = t.get("transcribed", True) is not False
        clip_wer = M.wer_counts(ref_text, hyp_text) if transcribed else None
        if clip_wer is not None:
            wer_total += clip_wer
            band = M.snr_band(t.get("snr_db"))
            n_band, band_counts = by_band.get(band, (0, M.WerCounts()))
            by_band[band] = (n_band + 1, band_counts + clip_wer)
        pairs = M.merged_speakers(ref_turns, hyp_turns)
        for pair in pairs:
            merged[pair] = merged.get(pair, 0) + 1
        ref_by_spk = M.speaker_texts(ref_turns) if transcribed else {}
        hyp_by_spk = M.speaker_texts(hyp_turns, b.get("words")) if transcribed else {}
        for spk, text in ref_by_spk.items():
            hyp = " ".join(v for k, v in hyp_by_spk.items() if mapping.get(k) == spk)
            c = M.wer_counts(text, hyp)
            per_speaker[spk] = per_speaker.get(spk, M.WerCounts()) + c
            sa_total += c
        for k, v in hyp_by_spk.items():  # text from a speaker matched to nobody: insertions
            if mapping.get(k) not in ref_by_spk:
                sa_total += M.wer_counts("", v)
        counts.append((len(t.get("speakers") or []), _num_speakers(b)))
        by_mid = {x.get("mid"): x["label"] for x in t.get("backgrounds") or [] if x.get("mid")}
        tag_truth.append({x["label"] for x in t.get("backgrounds") or []})
        tag_pred.append({by_mid.get(e.get("mid"), e["label"]) for e in b.get("background") or []
                         if e.get("origin") in tag_origins and not is_voice_label(e["label"], e.get("mid"))})
        per_clip[cid] = {"speakers_true": counts[-1][0], "speakers_built": counts[-1][1],
                         "count_confidence": b.get("speaker_count_confidence"),
                         "group": truth[cid].get("group", "unknown"),
                         "der": der.per_clip[cid], "wer": None if clip_wer is None else clip_wer.wer,
                         "snr_db": t.get("snr_db"), "merged": [list(p) for p in pairs],
                         "tags_true": sorted(tag_truth[-1]), "tags_built": sorted(tag_pred[-1])}
    figures: dict[str, Any] = {
        "coverage": {"truth_scenes": len(truth), "built_clips": len(built),
                     "matched": len(matched), "missing": sorted(set(truth) - set(built))[:50]},
        "speaker_count": M.speaker_count_accuracy(counts),
        "diarization": der.summary(),
        "wer": {**wer_total.as_dict(), "speaker_attributed": sa_total.as_dict(),
                "per_speaker": {k: v.as_dict() for k, v in sorted(per_speaker.items())},
                "by_snr": {b: {"clips": by_band[b][0], **by_band[b][1].as_dict()}
                           for b in M.SNR_BANDS if b in by_band}},
        "merged_speakers": [{"speakers": list(p), "clips": n}
                            for p, n in sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))],
        "tags": {**M.tag_precision_recall(tag_truth, tag_pred), "origins": list(tag_origins)},
        "questions": _question_counts(qa, len(built)),
        "per_clip": per_clip, "notes": [],
    }
    verify = verify or default_verify()
    if verify is None:
        figures["answer_keys"] = None
        figures["notes"].append("answer-key accuracy not computed: paqa_builder.compose.verify "
                                "is not available")
    else:
        lines = {cid: truth[cid] for cid in {str(r["clip_id"]) for r in qa} if cid in truth}
        records, notes = build_truth_records(lines, Path(truth_dir), with_audio, acoustics)
        figures["notes"] += notes
        figures["answer_keys"] = M.answer_key_accuracy(qa, records, verify)
    outcomes = (figures.get("answer_keys") or {}).pop("outcomes", {})
    figures.update(_speaker_reliability(per_clip, qa, outcomes))
    # for 'paqa-build view': which keys were wrong, and where the truth lanes come from
    figures["question_outcomes"] = dict(sorted(outcomes.items()))
    figures["truth_dir"] = str(Path(truth_dir).resolve())
    return figures


SPEAKER_TASKS = ("speaker_count", "speaker_quote", "quote_speaker", "speaker_order", "speaker_overlap")
"""Tasks whose keys rest on the diarization (their questions share the clip's count confidence)."""


def _speaker_reliability(per_clip: dict[str, dict[str, Any]], qa: list[dict[str, Any]],
                         outcomes: dict[str, bool]) -> dict[str, Any]:
    """Held-out groups, reliability tables and speaker-question coverage of multi-speaker clips.

    ``reliability.speaker_count``: count confidence bin -> share of clips whose count is right;
    ``reliability.speaker_keys``: the same confidence for every verified speaker-task question ->
    share of right keys. ``speaker_questions``: speaker-task questions per clip with >= 2 true
    speakers (the coverage half of abstention).
    """
    groups: dict[str, int] = {}
    for c in per_clip.values():
        groups[c["group"]] = groups.get(c["group"], 0) + 1
    clips = [c for c in per_clip.values() if c["count_confidence"] is not None]
    count_table = M.reliability_table([float(c["count_confidence"]) for c in clips],
                                      [c["speakers_true"] == c["speakers_built"] for c in clips])
    conf, right = [], []
    multi = {cid for cid, c in per_clip.items() if c["speakers_true"] >= 2}
    asked = 0
    for row in qa:
        if row.get("task") not in SPEAKER_TASKS:
            continue
        cid = str(row.get("clip_id"))
        asked += cid in multi
        c = per_clip.get(cid, {}).get("count_confidence")
        if c is not None and str(row.get("id")) in outcomes:
            conf.append(float(c))
            right.append(outcomes[str(row.get("id"))])
    return {"groups": groups,
            "reliability": {"speaker_count": count_table,
                            "speaker_keys": M.reliability_table(conf, right)},
            "speaker_questions": {"multi_speaker_clips": len(multi), "questions": asked,
                                  "per_multi_speaker_clip": asked / len(multi) if multi else None}}


def _question_counts(qa: list[dict[str, Any]], n_clips: int) -> dict[str, Any]:
    per_task: dict[str, int] = {}
    for row in qa:
        per_task[str(row.get("task"))] = per_task.get(str(row.get("task")), 0) + 1
    return {"total": len(qa), "clips": n_clips,
            "per_clip": len(qa) / n_clips if n_clips else None,
            "clips_with_questions": len({r.get("clip_id") for r in qa}),
            "per_task": {k: {"questions": v, "per_clip": v / n_clips if n_clips else None}
                         for k, v in sorted(per_task.items())}}


# -- report ----------------------------------------------------------------------------------------

def _load_callable(spec: str) -> VerifyFn:
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"--verify expects module:function, got {spec!r}")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``paqa-build eval``; returns the exit status."""
    p = argparse.ArgumentParser(prog="paqa-build eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--truth", required=True, help="'paqa-build mix' output folder")
    p.add_argument("--built", required=True, help="'paqa-build' output folder built from it")
    p.add_argument("--out", help="report folder (default <built>/eval)")
    p.add_argument("--collar", type=float, default=0.0, help="DER collar in seconds (default 0)")
    p.add_argument("--skip-overlap", action="store_true", help="do not score overlapped speech")
    p.add_argument("--tag-origins", default="model,truth",
                   help="comma-separated background origins to score (default: model,truth; "
                        "'source' events are dataset labels, not perception)")
    p.add_argument("--verify", help="module:function replacing compose.verify.verify_answer")
    p.add_argument("--no-audio", action="store_true",
                   help="rebuild truth records without reading audio (no acoustic verification)")
    args = p.parse_args(argv)
    try:
        fig = evaluate(args.truth, args.built, collar=args.collar, skip_overlap=args.skip_overlap,
                       tag_origins=tuple(x.strip() for x in args.tag_origins.split(",") if x.strip()),
                       verify=_load_callable(args.verify) if args.verify else None,
                       with_audio=not args.no_audio)
    except FileNotFoundError as exc:
        print(f"paqa-build eval: {exc}", file=sys.stderr)
        return 2
    report = write_report(fig, args.out or Path(args.built) / "eval")
    print(summary_table(fig))
    print()
    print(task_table(fig))
    print(f"\nreport: {report}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
