"""The ``paqa-build eval`` report: markdown tables, plots and ``eval.json`` from the figures dict
that ``evaluate.evaluate`` returns."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"


def summary_table(fig: dict[str, Any]) -> str:
    """The headline figures as a markdown table (also printed by the CLI)."""
    q = fig["questions"]
    ak = fig.get("answer_keys")
    rows = [("scenes evaluated", f"{fig['coverage']['matched']} / {fig['coverage']['truth_scenes']}"),
            ("speaker-count accuracy", _pct(fig["speaker_count"]["accuracy"])),
            (f"DER (collar {fig['diarization']['collar']} s)", _pct(fig["diarization"]["der"])),
            ("WER (transcript)", _pct(fig["wer"]["wer"])),
            ("WER (speaker-attributed)", _pct(fig["wer"]["speaker_attributed"]["wer"])),
            ("tag precision (micro)", _pct(fig["tags"]["micro"]["precision"])),
            ("tag recall (micro)", _pct(fig["tags"]["micro"]["recall"])),
            ("answer-key accuracy (all tasks)", _pct(ak["overall"]["accuracy"]) if ak else "n/a"),
            ("questions per clip", f"{q['per_clip']:.2f}" if q["per_clip"] is not None else "n/a")]
    sq = fig.get("speaker_questions") or {}
    if sq.get("per_multi_speaker_clip") is not None:
        rows.append(("speaker questions per multi-speaker clip", f"{sq['per_multi_speaker_clip']:.2f}"))
    if fig.get("groups"):
        rows.insert(0, ("held-out group (clips)",
                        ", ".join(f"{g} {n}" for g, n in sorted(fig["groups"].items()))))
    return "| metric | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


def task_table(fig: dict[str, Any]) -> str:
    """Answer-key accuracy and questions per clip for every task id."""
    ak = (fig.get("answer_keys") or {}).get("per_task", {})
    tasks = sorted(set(ak) | set(fig["questions"]["per_task"]))
    out = ["| task | questions | per clip | verified | answer-key accuracy |", "|---|---|---|---|---|"]
    for task in tasks:
        q = fig["questions"]["per_task"].get(task, {"questions": 0, "per_clip": 0.0})
        a = ak.get(task, {})
        out.append(f"| {task} | {q['questions']} | {q['per_clip'] or 0:.2f} | "
                   f"{a.get('verified', 0)} | {_pct(a.get('accuracy'))} |")
    return "\n".join(out)


def reliability_tables(fig: dict[str, Any]) -> str:
    """Confidence bin -> fraction right, for speaker counts (per clip) and speaker-task keys."""
    rel = fig.get("reliability") or {}
    count, keys = rel.get("speaker_count") or [], rel.get("speaker_keys") or []
    if not count:
        return "No count confidences in the build."
    out = ["| count confidence | clips | count right | speaker-task keys | keys right |",
           "|---|---|---|---|---|"]
    for c, k in zip(count, keys or [{}] * len(count)):
        out.append(f"| {c['bin']} | {c['n']} | {_pct(c['accuracy'])} | {k.get('n', 0)} | "
                   f"{_pct(k.get('accuracy'))} |")
    return "\n".join(out)


def _plots(fig: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    ak = (fig.get("answer_keys") or {}).get("per_task", {})
    if ak:
        tasks = sorted(ak)
        f, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar(tasks, [100 * (ak[t]["accuracy"] or 0) for t in tasks], color="tab:green")
        ax.axhline(97, color="grey", ls="--", lw=1)
        ax.set_ylabel("answer-key accuracy (%)")
        ax.set_ylim(0, 105)
        ax.tick_params(axis="x", rotation=45)
        f.tight_layout()
        f.savefig(out / "answer_keys.png", dpi=100)
        plt.close(f)
        made.append("answer_keys.png")
    per_class = fig["tags"]["per_class"]
    if per_class:
        names = sorted(per_class)
        f, ax = plt.subplots(figsize=(7, 3.5))
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [100 * (per_class[n]["precision"] or 0) for n in names], 0.4,
               label="precision")
        ax.bar([x + 0.2 for x in xs], [100 * (per_class[n]["recall"] or 0) for n in names], 0.4,
               label="recall")
        ax.set_xticks(list(xs), names, rotation=45, ha="right")
        ax.set_ylabel("%")
        ax.legend()
        f.tight_layout()
        f.savefig(out / "tags.png", dpi=100)
        plt.close(f)
        made.append("tags.png")
    ders = [v["der"] for v in fig["per_clip"].values() if v["der"] is not None and not math.isnan(v["der"])]
    if ders:
        f, ax = plt.subplots(figsize=(5, 3))
        ax.hist([100 * d for d in ders], bins=20, color="tab:blue")
        ax.set_xlabel("DER per clip (%)")
        ax.set_ylabel("clips")
        f.tight_layout()
        f.savefig(out / "der_hist.png", dpi=100)
        plt.close(f)
        made.append("der_hist.png")
    return made


def write_report(fig: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``report.md``, ``eval.json`` and plots into ``out_dir``; return the report path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(fig, indent=2, default=str) + "\n", encoding="utf-8")
    plots = _plots(fig, out)
    conf = fig["speaker_count"]["confusion"]
    lines = ["# PAQA pipeline evaluation against mixed-scene ground truth", "",
             summary_table(fig), "", "## Per task", "", task_table(fig), "",
             "## Reliability of the speaker-count confidence", "",
             "Each clip's `speaker_count_confidence` (the calibrated P(count right) of the portable "
             "diarizer) against what was right: the clip's count, and the keys of its "
             "speaker_count / speaker_quote / quote_speaker / speaker_order questions. The "
             "composer asks speaker questions only above `min_speaker_count_confidence`, so low "
             "bins hold clips but no keys.", "", reliability_tables(fig), "",
             "## Speaker count (rows: true, columns: built)", ""]
    cols = sorted({c for row in conf.values() for c in row})
    lines += ["| true \\ built | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {t} | " + " | ".join(str(conf[t].get(c, 0)) for c in cols) + " |" for t in sorted(conf)]
    lines += ["", "## WER per speaker (speaker-attributed)", "", "| speaker | words | WER |", "|---|---|---|"]
    lines += [f"| {k} | {v['ref_words']} | {_pct(v['wer'])} |" for k, v in fig["wer"]["per_speaker"].items()]
    lines += ["", "## WER by scene SNR (speech over background)", "",
              "| band | clips | words | WER |", "|---|---|---|---|"]
    lines += [f"| {b} | {v['clips']} | {v['ref_words']} | {_pct(v['wer'])} |"
              for b, v in fig["wer"].get("by_snr", {}).items()]
    merged = fig.get("merged_speakers") or []
    lines += ["", "## Speakers merged into one by the diarization", ""]
    if merged:
        lines += ["| true speakers | clips |", "|---|---|"]
        lines += [f"| {' + '.join(m['speakers'])} | {m['clips']} |" for m in merged]
    else:
        lines += ["No two true speakers of a clip went mostly to the same built speaker."]
    lines += ["", f"## Background tags (origins: {', '.join(fig['tags']['origins'])})", "",
              "| class | support | tp | fp | fn | precision | recall |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {k} | {v['support']} | {v['tp']} | {v['fp']} | {v['fn']} | {_pct(v['precision'])} | "
              f"{_pct(v['recall'])} |" for k, v in fig["tags"]["per_class"].items()]
    d = fig["diarization"]
    lines += ["", "## Diarization", "", f"missed {d['missed_s']:.1f} s, false alarm "
              f"{d['false_alarm_s']:.1f} s, confusion {d['confusion_s']:.1f} s over "
              f"{d['scored_speech_s']:.1f} s of scored speech."]
    wrong = (fig.get("answer_keys") or {}).get("wrong_examples") or []
    if wrong:
        lines += ["", f"## Wrong answer keys (first {len(wrong)})", ""]
        lines += [f"- `{w['id']}` ({w['task']}/{w.get('variant')}): {w['question']} -> "
                  f"{w['answer_text']} (options: {' | '.join(w.get('choices') or [])})" for w in wrong]
    if fig["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in fig["notes"]]
    lines += [""] + [f"![{p}]({p})" for p in plots]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
