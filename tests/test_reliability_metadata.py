"""Issue 13, item 8: bad metadata is an error naming the file, never a silent empty dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from paqa_builder.cli import main


def _wav(path: Path, hz: float = 220.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(32000) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000)


def _build(src: Path, out: Path, kind: str) -> int:
    return main(["--source", str(src), "--out", str(out), "--recipe", "labels_only", "--no-progress",
                 "--source-kind", kind])


SEGMENTS_HEAD = "# Segments csv\n# num_ytids=1\n# YTID, start_seconds, end_seconds, positive_labels\n"


@pytest.mark.parametrize("kind, name, content, message", [
    ("folder", "manifest.jsonl", b"", "manifest.jsonl: the manifest is empty"),
    ("folder", "manifest.csv", b"path,labels\n\n", "manifest.csv: the manifest has no rows"),
    ("folder", "manifest.csv", b'path,labels\na.wav,"Speech\nb.wav,Music\nc.wav,Dog\n',
     "manifest.csv:2: a quoted field runs to line 4 in the manifest (a quote is not closed)"),
    ("folder", "manifest.jsonl", b'{"path": "a.wav"}\n\xff\xfe\n', "the manifest is not UTF-8 text (byte 0xff"),
    ("audioset", "balanced_train_segments.csv", b"", "balanced_train_segments.csv: the segments CSV is empty"),
    ("audioset", "balanced_train_segments.csv", SEGMENTS_HEAD.encode() + b'abc, 0.0, 2.0, "/m/09x0r\xff"\n',
     "the segments CSV is not UTF-8 text (byte 0xff"),
    ("folder", "ontology.json", b'[{"id": "/m/1", "name": ', "ontology.json: the ontology is not valid JSON"),
    ("folder", "ontology.json", b'{"id": "/m/1"}', "the ontology is not a list of nodes"),
    ("folder", "class_labels_indices.csv", b"index,name\n0,Speech\n", "needs 'mid' and 'display_name' columns"),
])
def test_bad_metadata_stops_with_one_line_naming_the_file(kind, name, content, message, tmp_path, capsys):
    src, out = tmp_path / "src", tmp_path / "out"
    _wav(src / "a.wav")
    _wav(src / "abc_0.000.wav", 330.0)
    (src / name).write_bytes(content)
    if name == "ontology.json" or name == "class_labels_indices.csv":
        (src / "manifest.jsonl").write_text(json.dumps({"path": "a.wav", "labels": ["Speech"]}) + "\n")
    code = _build(src, out, kind)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert message in err[0] and str(src) in err[0]
    assert not (out / "data").exists()


def test_a_clip_id_that_is_a_path_is_refused_and_the_rest_is_built(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    _wav(src / "a.wav")
    _wav(src / "b.wav", 330.0)
    rows = [{"path": "a.wav", "clip_id": "../../../escape"}, {"path": "b.wav", "clip_id": "b_ok"}]
    (src / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _build(src, out, "folder") == 0
    report = json.loads((out / "source_report.json").read_text())
    assert report["bad_rows"] == 1 and "is not a plain name" in json.dumps(report)
    import datasets

    clips = datasets.load_dataset(str(out), "clips")
    assert sorted(c["clip_id"] for s in clips for c in clips[s]) == ["b_ok"]
    assert not (tmp_path / "escape").exists()
