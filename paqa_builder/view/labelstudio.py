"""A human audit loop through Label Studio: export predictions, import corrections as truth.

``export_tasks(out, to)`` writes, under ``to`` (default ``OUT/labelstudio``)::

    tasks.json          one Label Studio task per clip: audio URL, clip facts, the questions, and
                        the build's perception as pre-annotations (``predictions``): one region
                        per speaker turn (label = speaker, per-region transcription) and one per
                        background event
    label_config.xml    the labelling interface those pre-annotations fit
    audio/<clip>.flac   the clips' audio, as the build stored it
    README.txt          how to load it (local-files serving)

``import_annotations(export_json, to, audio_dir)`` reads the JSON that Label Studio exports after
people corrected the regions, and writes a truth folder (``manifest.jsonl`` + ``audio/``) in the
``paqa-build mix`` layout that ``paqa-build eval --truth`` reads.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .load import ViewError, read_build
from .page import esc
from .site import page_name

SPEAKER_CONTROL, TEXT_CONTROL, BACKGROUND_CONTROL, AUDIO_OBJECT = "speaker", "transcription", "background", "audio"
"""Names of the labelling interface's controls; export and import agree on them here."""

SPARE_SPEAKERS = 2
"""Speaker labels offered beyond the most any clip was given, so a missed speaker can be added."""

LOCAL_FILES_PREFIX = "/data/local-files/?d="
"""Label Studio's URL for files under ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``."""


def _region(rid: str, control: str, kind: str, start: float, end: float, value: Any) -> dict[str, Any]:
    return {"id": rid, "from_name": control, "to_name": AUDIO_OBJECT, "type": kind, "origin": "prediction",
            "value": {"start": round(float(start), 3), "end": round(float(end), 3), "channel": 0, **value}}


def _predictions(row: dict[str, Any]) -> list[dict[str, Any]]:
    result = []
    for n, t in enumerate(row.get("turns") or []):
        rid = f"t{n}"
        result.append(_region(rid, SPEAKER_CONTROL, "labels", t["start"], t["end"], {"labels": [t["speaker"]]}))
        if t.get("text"):
            result.append(_region(rid, TEXT_CONTROL, "textarea", t["start"], t["end"], {"text": [t["text"]]}))
    for n, b in enumerate(row.get("background") or []):
        result.append(_region(f"b{n}", BACKGROUND_CONTROL, "labels", b["start"], b["end"], {"labels": [b["label"]]}))
    return result


def label_config(speakers: list[str], backgrounds: list[str]) -> str:
    """The Label Studio labelling interface (XML) for these speaker and background labels."""
    spk = "".join(f'<Label value="{esc(s)}"/>' for s in speakers)
    bg = "".join(f'<Label value="{esc(b)}"/>' for b in backgrounds) or '<Label value="other sound"/>'
    return f"""<View>
  <Header value="$clip_id"/>
  <Audio name="{AUDIO_OBJECT}" value="$audio" hotkey="space"/>
  <Header value="Speakers: one region per turn; correct the label, the bounds and the words"/>
  <Labels name="{SPEAKER_CONTROL}" toName="{AUDIO_OBJECT}" choice="single">{spk}</Labels>
  <TextArea name="{TEXT_CONTROL}" toName="{AUDIO_OBJECT}" perRegion="true" editable="true" rows="2"/>
  <Header value="Background sounds"/>
  <Labels name="{BACKGROUND_CONTROL}" toName="{AUDIO_OBJECT}">{bg}</Labels>
  <Header value="Questions built from the predictions (key in brackets)"/>
  <Text name="questions" value="$questions"/>
</View>
"""


def export_tasks(out: str | Path, to: str | Path | None = None,
                 audio_url_prefix: str = LOCAL_FILES_PREFIX + "audio/") -> dict[str, Any]:
    """Write tasks, interface and audio for Label Studio; return counts and paths."""
    build = read_build(out)
    to = Path(to) if to else Path(out) / "labelstudio"
    audio_dir = to / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    tasks, speakers, backgrounds = [], set(), set()
    most = 0
    for shard in build.clip_shards:
        for row in build.clip_rows(shard):
            cid = str(row["clip_id"])
            name = f"{page_name(cid)}.flac"
            (audio_dir / name).write_bytes((row.get("audio") or {}).get("bytes") or b"")
            spk = list(dict.fromkeys(t["speaker"] for t in row.get("turns") or []))
            most = max(most, len(spk))
            speakers.update(spk)
            backgrounds.update(b["label"] for b in row.get("background") or [])
            mids = {b["label"]: b.get("mid") for b in row.get("background") or [] if b.get("mid")}
            questions = build.questions.get(cid, [])
            text = "\n".join(f"{q['id']}: {q['question']} " + " / ".join(
                f"{'[' if 'ABCDEFGHIJ'[i] == q['answer'] else ''}{c}{']' if 'ABCDEFGHIJ'[i] == q['answer'] else ''}"
                for i, c in enumerate(q.get("choices") or [])) for q in questions)
            tasks.append({"data": {"audio": audio_url_prefix + name, "clip_id": cid,
                                   "paqa_audio_file": f"audio/{name}",
                                   "duration": float(row.get("duration") or 0.0),
                                   "split": row.get("split"), "label_mids": mids,
                                   "transcript": row.get("transcript") or "",
                                   "questions": text or "(no questions)"},
                          "predictions": [{"model_version": "paqa-build", "result": _predictions(row),
                                           "score": row.get("speaker_count_confidence")}]})
    names = sorted(speakers)
    n = len(names)
    spare = [f"SPEAKER_{i:02d}" for i in range(n, n + 64) if f"SPEAKER_{i:02d}" not in speakers]
    names += spare[:max(0, most + SPARE_SPEAKERS - n)]
    (to / "tasks.json").write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    (to / "label_config.xml").write_text(label_config(names, sorted(backgrounds)), encoding="utf-8")
    (to / "README.txt").write_text(
        "Label Studio audit of a PAQA build\n\n"
        f"1. Start Label Studio with local files served from this folder:\n"
        "   LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \\\n"
        f"   LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={to.resolve()} label-studio\n"
        "2. Create a project, paste label_config.xml as its labelling interface, import tasks.json.\n"
        "3. Correct the pre-annotated regions, then export the project as JSON.\n"
        "4. paqa-build import-labelstudio EXPORT.json --export-dir THIS_FOLDER --to truth/\n"
        "   paqa-build eval --truth truth/ --built THE_BUILD\n", encoding="utf-8")
    return {"tasks": len(tasks), "folder": to, "speaker_labels": names}


def _annotation(task: dict[str, Any], use_predictions: bool) -> list[dict[str, Any]] | None:
    """Result list of the task's newest kept annotation (or its prediction, when allowed)."""
    # "completions" is what Label Studio exports called annotations before version 1.0
    kept = [a for a in task.get("annotations") or task.get("completions") or [] if not a.get("was_cancelled")]
    if kept:
        newest = max(kept, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), kept.index(a)))
        return list(newest.get("result") or [])
    if use_predictions and task.get("predictions"):
        return list(task["predictions"][0].get("result") or [])
    return None


def truth_from_result(result: list[dict[str, Any]], duration: float,
                      label_mids: dict[str, str] | None = None) -> dict[str, Any]:
    """A mixer-style truth object (speakers, turns with text, backgrounds) from region results.

    ``label_mids`` gives background labels their ontology ids (the export stores them per task)."""
    regions: dict[str, dict[str, Any]] = {}
    backgrounds = []
    for r in result:
        value = r.get("value") or {}
        if r.get("from_name") == BACKGROUND_CONTROL:
            for label in value.get("labels") or []:
                backgrounds.append({"label": label, "mid": (label_mids or {}).get(label),
                                    "start": float(value["start"]), "end": float(value["end"])})
        elif r.get("from_name") in (SPEAKER_CONTROL, TEXT_CONTROL):
            reg = regions.setdefault(str(r.get("id")), {"start": value.get("start"), "end": value.get("end")})
            if r["from_name"] == SPEAKER_CONTROL and value.get("labels"):
                reg["speaker"] = value["labels"][0]
                reg["start"], reg["end"] = value["start"], value["end"]
            elif r["from_name"] == TEXT_CONTROL:
                reg["text"] = " ".join(value.get("text") or []).strip()
    turns = sorted(({"speaker": str(reg["speaker"]), "start": round(float(reg["start"]), 3),
                     "end": round(float(reg["end"]), 3), "text": reg.get("text", "")}
                    for reg in regions.values() if reg.get("speaker") and reg.get("start") is not None),
                   key=lambda t: (t["start"], t["end"]))
    return {"duration": round(float(duration), 3), "speakers": list(dict.fromkeys(t["speaker"] for t in turns)),
            "turns": turns, "backgrounds": sorted(backgrounds, key=lambda b: (b["start"], b["label"])),
            "snr_db": None, "origin": "label-studio"}


def import_annotations(export_json: str | Path, to: str | Path, export_dir: str | Path,
                       use_predictions: bool = False) -> dict[str, Any]:
    """Write a truth folder from a Label Studio JSON export; return counts."""
    export_json, to, export_dir = Path(export_json), Path(to), Path(export_dir)
    try:
        tasks = json.loads(export_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ViewError(f"{export_json}: not a Label Studio JSON export ({exc})") from None
    if not isinstance(tasks, list):
        raise ViewError(f"{export_json}: expected a JSON list of tasks (Label Studio's 'JSON' export)")
    (to / "audio").mkdir(parents=True, exist_ok=True)
    lines, skipped = [], []
    for n, task in enumerate(tasks):
        data = task.get("data") or {}
        cid, rel = data.get("clip_id"), data.get("paqa_audio_file")
        if not cid or not rel:
            raise ViewError(f"{export_json}: task {n} has no clip_id/paqa_audio_file: not exported by "
                            "'paqa-build export-labelstudio'")
        result = _annotation(task, use_predictions)
        if result is None:
            skipped.append(cid)
            continue
        src = export_dir / rel
        if not src.is_file():
            raise ViewError(f"{src}: audio of clip {cid} not found; give --export-dir the exported folder")
        shutil.copyfile(src, to / "audio" / src.name)
        truth = truth_from_result(result, float(data.get("duration") or 0.0), data.get("label_mids"))
        lines.append({"clip_id": cid, "path": f"audio/{src.name}", "truth": truth})
    (to / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return {"clips": len(lines), "without_annotation": skipped, "folder": to}

