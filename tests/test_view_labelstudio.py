"""The Label Studio round trip on the shipped sample: export predictions, a person corrects one
speaker turn, import, ``paqa-build eval`` sees the change, and the viewer marks the wrong key."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import pyarrow.parquet as pq

from paqa_builder.cli import main


def _clips(out):
    return {r["clip_id"]: r for p in sorted((out / "data" / "clips").glob("*.parquet"))
            for r in pq.read_table(p, columns=["clip_id", "turns", "duration"]).to_pylist()}


def _qa(out):
    return [r for p in sorted((out / "data" / "qa").glob("*.parquet"))
            for r in pq.read_table(p, columns=["id", "clip_id", "task", "answer_text"]).to_pylist()]


def _as_exported(tasks):
    """What Label Studio's JSON export holds after an annotator submitted each prediction as is."""
    done = copy.deepcopy(tasks)
    for n, t in enumerate(done):
        t["id"] = n + 1
        t["annotations"] = [{"id": n + 1, "was_cancelled": False, "created_at": "2026-12-02T10:00:00Z",
                             "result": copy.deepcopy(t["predictions"][0]["result"])}]
    return done


def test_round_trip_export_edit_import_eval_view(portable_sample, tmp_path):
    out = portable_sample
    ls = tmp_path / "ls"
    assert main(["export-labelstudio", str(out), "--to", str(ls)]) == 0
    tasks = json.loads((ls / "tasks.json").read_text())
    clips = _clips(out)
    assert sorted(t["data"]["clip_id"] for t in tasks) == sorted(clips)
    for t in tasks:  # one speaker region per predicted turn, with its bounds
        regions = [r for r in t["predictions"][0]["result"] if r["from_name"] == "speaker"]
        turns = clips[t["data"]["clip_id"]]["turns"] or []
        assert [(r["value"]["labels"][0], r["value"]["start"]) for r in regions] == \
            [(x["speaker"], round(x["start"], 3)) for x in turns]
        assert (ls / t["data"]["paqa_audio_file"]).stat().st_size > 1000
    config = ET.fromstring((ls / "label_config.xml").read_text())
    assert config.find("Audio").get("value") == "$audio"
    offered = {x.get("value") for x in config.find("Labels[@name='speaker']")}
    assert {x["speaker"] for c in clips.values() for x in c["turns"] or []} < offered

    # the clip that carries a speaker_count question; the annotator gives one speaker's turns to
    # another speaker (a split the diarizer made that a person merges)
    question = next(q for q in _qa(out) if q["task"] == "speaker_count")
    cid = question["clip_id"]
    speakers = list(dict.fromkeys(x["speaker"] for x in clips[cid]["turns"]))
    assert len(speakers) >= 2
    same, edited = _as_exported(tasks), _as_exported(tasks)
    task = next(t for t in edited if t["data"]["clip_id"] == cid)
    for r in task["annotations"][0]["result"]:
        if r["from_name"] == "speaker" and r["value"]["labels"] == [speakers[-1]]:
            r["value"]["labels"] = [speakers[0]]
    (ls / "same.json").write_text(json.dumps(same))
    (ls / "edited.json").write_text(json.dumps(edited))

    figures = {}
    for name in ("same", "edited"):
        truth = tmp_path / f"truth_{name}"
        assert main(["import-labelstudio", str(ls / f"{name}.json"), "--to", str(truth)]) == 0
        lines = [json.loads(x) for x in (truth / "manifest.jsonl").read_text().splitlines()]
        assert len(lines) == len(clips) and all((truth / x["path"]).is_file() for x in lines)
        assert main(["eval", "--truth", str(truth), "--built", str(out), "--out", str(tmp_path / f"eval_{name}")]) == 0
        figures[name] = json.loads((tmp_path / f"eval_{name}" / "eval.json").read_text())

    same_fig, edit_fig = figures["same"], figures["edited"]
    assert same_fig["speaker_count"]["accuracy"] == 1.0 and same_fig["diarization"]["der"] == 0.0
    assert all(same_fig["question_outcomes"].values())
    assert edit_fig["per_clip"][cid]["speakers_true"] == len(speakers) - 1
    assert edit_fig["speaker_count"]["accuracy"] == (len(clips) - 1) / len(clips)
    assert edit_fig["per_clip"][cid]["der"] > 0.05
    assert edit_fig["question_outcomes"][question["id"]] is False
    assert [k for k, v in edit_fig["question_outcomes"].items() if not v] == [question["id"]] or \
        all(k.startswith(cid + "/") for k, v in edit_fig["question_outcomes"].items() if not v)

    # the viewer, given that evaluation: truth lanes beside predicted ones, the wrong key marked
    site = tmp_path / "site"
    assert main(["view", str(out), "--html", str(site), "--eval", str(tmp_path / "eval_edited" / "eval.json"),
                 "--no-progress", "--workers", "1"]) == 0
    page = next(site.glob(f"clips/*/{cid}.html")).read_text()
    at = page.index(f"<code>{question['id']}</code>")
    article = page[page.rindex("<article", 0, at):page.index("</article>", at)]
    assert "wrong key" in article
    assert f"truth: {speakers[0]}" in page and f"truth: {speakers[-1]}" not in page
    assert 'id="f-wrong"' in (site / "index.html").read_text()


def test_annotation_choice_and_truth_from_regions():
    from paqa_builder.view.labelstudio import _annotation, truth_from_result

    region = {"id": "r1", "from_name": "speaker", "to_name": "audio", "type": "labels",
              "value": {"start": 1.0, "end": 2.5, "labels": ["SPEAKER_01"]}}
    text = {"id": "r1", "from_name": "transcription", "to_name": "audio", "type": "textarea",
            "value": {"start": 1.0, "end": 2.5, "text": ["hello there"]}}
    bg = {"id": "b0", "from_name": "background", "to_name": "audio", "type": "labels",
          "value": {"start": 0.0, "end": 4.0, "labels": ["Rain"]}}
    old = {"created_at": "2026-01-01", "result": [bg]}
    new = {"updated_at": "2026-02-01", "result": [region, text, bg]}
    cancelled = {"updated_at": "2026-03-01", "was_cancelled": True, "result": []}
    assert _annotation({"annotations": [old, new, cancelled]}, False) == [region, text, bg]
    assert _annotation({"completions": [new]}, False) == [region, text, bg]  # pre-1.0 exports
    assert _annotation({"predictions": [{"result": [bg]}]}, False) is None
    assert _annotation({"predictions": [{"result": [bg]}]}, True) == [bg]
    truth = truth_from_result([region, text, bg], 4.0, {"Rain": "/m/06mb1"})
    assert truth["speakers"] == ["SPEAKER_01"] and truth["duration"] == 4.0
    assert truth["turns"] == [{"speaker": "SPEAKER_01", "start": 1.0, "end": 2.5, "text": "hello there"}]
    assert truth["backgrounds"] == [{"label": "Rain", "mid": "/m/06mb1", "start": 0.0, "end": 4.0}]
