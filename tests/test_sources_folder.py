"""Folder source: plain trees, JSONL/CSV manifests, unsafe paths, and windowing of long files."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from paqa_builder.sources import make_source, plan_windows
from paqa_builder.stages.decode import Decode


def tone(path, seconds, sr=16000, freq=440.0):
    t = np.arange(int(seconds * sr)) / sr
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)
    return path


def test_plain_tree_ids_sorted_and_filtered(tmp_path):
    tone(tmp_path / "b" / "two.wav", 2.0)
    tone(tmp_path / "a" / "c" / "one.flac", 2.0)
    tone(tmp_path / "zero.wav", 2.0)
    tone(tmp_path / ".cache" / "hidden.wav", 2.0)
    (tmp_path / "readme.txt").write_text("x")
    src = make_source("folder", tmp_path)
    recs = list(src)
    assert [r.clip_id for r in recs] == ["a__c__one", "b__two", "zero"]
    assert recs[0].meta == {"relpath": "a/c/one.flac"} and recs[0].truth is None
    assert all(r.source == "folder" and os.path.isabs(r.path) for r in recs)
    assert src.report["audio_files"] == 3 and src.report["clips"] == 3


def test_jsonl_manifest_labels_transcripts_truth(tmp_path):
    tone(tmp_path / "scenes" / "s1.wav", 3.0)
    tone(tmp_path / "scenes" / "s2.wav", 3.0)
    tone(tmp_path / "scenes" / "unlisted.wav", 3.0)
    (tmp_path / "class_labels_indices.csv").write_text(
        'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/06mb1,"Rain"\n')
    truth = {"speakers": ["A", "B"], "turns": [{"speaker": "A", "start": 0.1, "end": 1.0, "text": "hi"}]}
    rows = [
        {"path": "scenes/s1.wav", "clip_id": "scene_001", "labels": ["Rain", "/m/09x0r", "dog bark"],
         "transcript": "hi there", "speaker": "A", "truth": truth, "snr_db": 10},
        {"path": "scenes/s2.wav", "labels": []},
        {"path": "scenes/missing.wav"},
        {"clip_id": "no_path"},
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    src = make_source("folder", tmp_path)
    recs = list(src)
    assert [r.clip_id for r in recs] == ["scene_001", "scenes__s2"]
    r = recs[0]
    assert [(lab.mid, lab.name) for lab in r.labels] == [("/m/06mb1", "Rain"), ("/m/09x0r", "Speech"),
                                                         ("dog bark", "dog bark")]
    assert r.meta["transcript"] == "hi there" and r.meta["speaker"] == "A"
    assert r.meta["extra"] == {"snr_db": 10}
    assert r.truth == truth and r.truth is not truth
    rep = src.report
    assert (rep["rows"], rep["matched"], rep["rows_without_audio"], rep["audio_without_row"]) == (4, 2, 1, 1)
    assert rep["bad_rows"] == 2  # the row without path and the broken JSON line
    assert rep["examples"]["audio_without_row"] == ["scenes/unlisted.wav"]
    listed = [r.clip_id for r in make_source("folder", tmp_path, include_unlisted=True)]
    assert listed == ["scene_001", "scenes__s2", "scenes__unlisted"]
    assert len(list(make_source("folder", tmp_path, manifest=False))) == 3


def test_csv_manifest_semicolon_labels(tmp_path):
    tone(tmp_path / "x.wav", 2.0)
    (tmp_path / "manifest.csv").write_text("path,labels,transcript,speaker\nx.wav,Rain;Speech,hello,spk1\n")
    recs = list(make_source("folder", tmp_path))
    assert [lab.name for lab in recs[0].labels] == ["Rain", "Speech"]
    assert recs[0].meta["transcript"] == "hello" and recs[0].meta["speaker"] == "spk1"


def test_manifest_paths_cannot_escape_root(tmp_path):
    root = tmp_path / "root"
    outside = tone(tmp_path / "secret" / "outside.wav", 2.0)
    tone(root / "ok.wav", 2.0)
    (root / "link.wav").symlink_to(outside)
    rows = [{"path": "ok.wav"}, {"path": str(outside)}, {"path": "../secret/outside.wav"},
            {"path": "sub/../../secret/outside.wav"}, {"path": "link.wav"}]
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    src = make_source("folder", root)
    recs = list(src)
    assert [r.clip_id for r in recs] == ["ok"]
    assert all("secret" not in r.path for r in recs)
    # counted once per distinct normalised path: absolute, ../secret/outside.wav (twice spelled), link
    assert src.report["skipped_unsafe_paths"] == 3
    assert set(src.report["examples"]["skipped_unsafe_paths"]) == {str(outside), "../secret/outside.wav", "link.wav"}
    # without a manifest, the outside symlink found by walking the tree is refused too
    (root / "manifest.jsonl").unlink()
    src = make_source("folder", root)
    assert [r.clip_id for r in src] == ["ok"] and src.report["skipped_unsafe_paths"] == 1


def test_plan_windows_rules():
    assert plan_windows(25.0, 10.0, 10.0, 30.0, 360, 1.0) == ([(0.0, None)], 0)
    assert plan_windows(None, 10.0, 10.0, 30.0, 360, 1.0) == ([(0.0, None)], 0)
    wins, dropped = plan_windows(65.0, 10.0, 10.0, 30.0, 360, 1.0)
    assert wins == [(0.0, 10.0), (10.0, 10.0), (20.0, 10.0), (30.0, 10.0), (40.0, 10.0), (50.0, 10.0),
                    (60.0, 5.0)] and dropped == 0
    assert plan_windows(60.5, 10.0, 10.0, 30.0, 360, 1.0)[0][-1] == (50.0, 10.0)  # 0.5 s tail dropped
    wins, _ = plan_windows(40.0, 10.0, 5.0, 30.0, 360, 1.0)
    assert [w[0] for w in wins] == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    assert plan_windows(100.0, 10.0, 10.0, 30.0, 4, 1.0) == ([(0.0, 10.0), (10.0, 10.0), (20.0, 10.0),
                                                              (30.0, 10.0)], 6)


def test_long_file_becomes_windows_that_decode(tmp_path):
    tone(tmp_path / "long.wav", 45.0)
    tone(tmp_path / "short.wav", 4.0)
    src = make_source("folder", tmp_path, window_s=10.0, max_clip_s=30.0, max_windows_per_file=4)
    recs = list(src)
    assert [r.clip_id for r in recs] == ["long_w000", "long_w001", "long_w002", "long_w003", "short"]
    assert [(r.offset, r.max_duration) for r in recs[:2]] == [(0.0, 10.0), (10.0, 10.0)]
    assert recs[1].meta["window"] == 1 and recs[-1].max_duration is None
    rep = src.report
    assert (rep["windows"], rep["files_windowed"], rep["windows_dropped"], rep["clips"]) == (4, 1, 1, 5)
    Decode()(recs)
    assert [round(r.duration, 3) for r in recs] == [10.0, 10.0, 10.0, 10.0, 4.0]
    # window 1 starts 10 s into the tone: its first sample continues the sine exactly
    expected = 0.3 * np.sin(2 * np.pi * 440.0 * (np.arange(8) + 160000) / 16000)
    np.testing.assert_allclose(recs[1].audio[:8], expected, atol=1e-3)


def test_missing_root_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        list(make_source("folder", tmp_path / "nope"))
