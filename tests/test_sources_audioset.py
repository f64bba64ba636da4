"""AudioSet source: the real CSV header format, naming matching, reports, full-video segments,
and the shipped sample folder (with its generator)."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from paqa_builder.sources import make_source
from paqa_builder.sources.audioset import is_segments_csv, parse_segments_csv
from paqa_builder.stages.decode import Decode

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "audioset_sample"
HEADER = ("# Segments csv created Sun Mar  5 10:54:31 2017\n"
          "# num_ytids=22160, num_segs=22160, num_unique_labels=527, num_positive_labels=52882\n"
          "# YTID, start_seconds, end_seconds, positive_labels\n")


def tone(path, seconds, sr=16000, channels=1, freq=440.0):
    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack([x] * channels, 1) if channels > 1 else x, sr)
    return path


def test_parse_segments_csv_real_header_and_quoted_labels(tmp_path):
    csv_path = tmp_path / "balanced_train_segments.csv"
    csv_path.write_text(HEADER +
                        '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"\n'
                        '--ZhevVpy1s, 50.000, 60.000, "/m/012xff"\n'
                        'bad_row_only_two, 1.0\n'
                        '--aE2O5G5WE, 0.000, 10.000, "/m/03fwl,/m/04rlf,/m/09x0r"\n'
                        'abcdefghijk, 20.000, 10.000, "/m/09x0r"\n', encoding="utf-8")
    assert is_segments_csv(csv_path)
    bad = []
    rows = list(parse_segments_csv(csv_path, bad))
    assert [(r.ytid, r.start, r.end) for r in rows] == [
        ("--PJHxphWEs", 30.0, 40.0), ("--ZhevVpy1s", 50.0, 60.0), ("--aE2O5G5WE", 0.0, 10.0)]
    assert rows[0].mids == ("/m/09x0r", "/t/dd00088")
    assert rows[2].mids == ("/m/03fwl", "/m/04rlf", "/m/09x0r")
    assert {r.csv_name for r in rows} == {"balanced_train"}
    assert len(bad) == 2 and "2 fields" in bad[0] and "segment 20.0-10.0" in bad[1]


def test_non_segments_csv_is_not_taken(tmp_path):
    other = tmp_path / "class_labels_indices.csv"
    other.write_text('index,mid,display_name\n0,/m/09x0r,"Speech"\n')
    assert not is_segments_csv(other)


@pytest.fixture(scope="module")
def sample_records():
    src = make_source("audioset", SAMPLE)
    return src, list(src)


def test_sample_folder_matches_csv_and_reports_missing(sample_records):
    src, records = sample_records
    truth = {json.loads(l)["clip_id"]: json.loads(l) for l in (SAMPLE / "truth.jsonl").read_text().splitlines()}
    assert [r.clip_id for r in records] == sorted(truth)
    rep = src.report
    assert (rep["rows"], rep["matched"], rep["rows_without_audio"], rep["audio_without_row"]) == (11, 10, 1, 1)
    assert rep["examples"]["rows_without_audio"] == ["eval:n8Wq2Lr5TzB"]
    assert rep["examples"]["audio_without_row"] == ["unsorted/Yh4Gd9Xk2PqW.flac"]
    assert src.ontology_path == SAMPLE.resolve() / "ontology.json"
    for r in records:
        t = truth[r.clip_id]
        assert r.source == "audioset" and Path(r.path) == SAMPLE.resolve() / t["file"]
        assert [lab.mid for lab in r.labels] == t["labels"]
        assert r.meta["segment_start"] == t["segment"][0] and r.meta["csv"] == t["csv"]
        assert (r.offset, r.max_duration) == (0.0, None)
    names = {lab.mid: lab.name for r in records for lab in r.labels}
    assert names["/m/02fs_r"] == "Beep, bleep" and names["/m/05zppz"] == "Male speech, man speaking"
    namings = {r.meta["naming"] for r in records}
    assert namings == {"y_bare", "bare", "start_end", "y_start_end", "start"}


def test_sample_decodes_to_ten_seconds_16k(sample_records):
    _, records = sample_records
    recs = [r for r in records]
    Decode()(recs)
    for r in recs:
        assert r.error is None, r.error
        assert r.audio.dtype == np.float32 and r.audio.shape == (160000,)
        assert 0.3 < float(np.max(np.abs(r.audio))) <= 1.0
    by_id = {r.clip_id: r for r in recs}
    assert by_id["M2xVb8rT-cA"].input_info["sample_rate"] == 8000
    assert any("low original sample rate" in w for w in by_id["M2xVb8rT-cA"].warnings)
    assert by_id["q9LmZ3sW_7d"].input_info["channels"] == 2
    assert by_id["q9LmZ3sW_7d"].input_info["codec"] == "VORBIS"


def test_sample_truth_speech_lies_where_the_turns_are(sample_records):
    """Perception checks rely on truth.jsonl: speech turns must be louder than the gaps around them."""
    _, records = sample_records
    truth = [json.loads(l) for l in (SAMPLE / "truth.jsonl").read_text().splitlines()]
    recs = {r.clip_id: r for r in records}
    checked = 0
    for t in truth:
        if t["num_speakers"] == 0 or t["sample_rate"] != 16000:
            continue
        audio, _ = sf.read(recs[t["clip_id"]].path, dtype="float32")
        inside = np.concatenate([audio[int(x["start"] * 16000):int(x["end"] * 16000)] for x in t["turns"]])
        outside = audio[int(t["turns"][-1]["end"] * 16000) + 1600:]
        lead = audio[:max(int(t["turns"][0]["start"] * 16000) - 800, 1)]
        quiet = np.concatenate([outside, lead])
        assert np.sqrt(np.mean(inside ** 2)) > 1.5 * np.sqrt(np.mean(quiet ** 2)), t["clip_id"]
        checked += 1
    assert checked >= 5
    assert sum(t["num_speakers"] == 0 for t in truth) >= 2
    assert max(t["num_speakers"] for t in truth) == 3


def test_generator_is_deterministic_and_matches_shipped_sample(tmp_path):
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import make_sample
    finally:
        sys.path.remove(str(REPO / "examples"))
    onto = SAMPLE / "ontology.json"
    make_sample.build(tmp_path / "a", seed=0, ontology=onto)
    make_sample.build(tmp_path / "b", seed=0, ontology=onto)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    shipped = sorted(p.relative_to(SAMPLE) for p in SAMPLE.rglob("*") if p.is_file() and p.name != "README.md")
    assert files == shipped
    for name in ("balanced_train_segments.csv", "eval_segments.csv", "class_labels_indices.csv"):
        assert (tmp_path / "a" / name).read_text() == (SAMPLE / name).read_text()
    total = sum((SAMPLE / rel).stat().st_size for rel in shipped)
    assert total < 3_000_000


def test_full_video_file_reads_only_the_segment(tmp_path):
    (tmp_path / "eval_segments.csv").write_text(HEADER + 'abcdefghijk, 30.000, 40.000, "/m/09x0r"\n')
    tone(tmp_path / "videos" / "Yabcdefghijk.wav", 60.0)
    recs = list(make_source("audioset", tmp_path))
    assert len(recs) == 1
    r = recs[0]
    assert (r.clip_id, r.offset, r.max_duration, r.meta["full_video"]) == ("abcdefghijk", 30.0, 10.0, True)
    assert r.labels[0].name == "/m/09x0r"  # no ontology or class list: the mid stands in as name
    Decode()([r])
    assert r.error is None and r.duration == pytest.approx(10.0)


def test_ms_naming_duplicates_unrecognised_and_class_label_names(tmp_path):
    (tmp_path / "balanced_train_segments.csv").write_text(
        HEADER + 'abcdefghijk, 1.500, 11.500, "/m/09x0r,/m/06mb1"\n'
                 'bcdefghijkl, 0.000, 10.000, "/m/06mb1"\n')
    (tmp_path / "class_labels_indices.csv").write_text(
        'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/06mb1,"Rain"\n')
    tone(tmp_path / "a" / "abcdefghijk_1500_11500.wav", 10.0)
    tone(tmp_path / "b" / "bcdefghijkl_0.000_10.000.flac", 10.0)
    tone(tmp_path / "b" / "bcdefghijkl_0.000_10.000.wav", 10.0)  # same clip twice
    tone(tmp_path / "c" / "recording one.wav", 10.0)  # no recognisable id
    (tmp_path / "c" / "notes.txt").write_text("not audio")
    src = make_source("audioset", tmp_path)
    recs = list(src)
    assert [r.clip_id for r in recs] == ["abcdefghijk", "bcdefghijkl"]
    assert [lab.name for lab in recs[0].labels] == ["Speech", "Rain"]
    assert recs[0].meta["segment_start"] == 1.5 and recs[1].meta["relpath"] == "b/bcdefghijkl_0.000_10.000.flac"
    rep = src.report
    assert rep["duplicate_audio"] == 1 and rep["examples"]["duplicate_audio"] == ["b/bcdefghijkl_0.000_10.000.wav"]
    assert rep["audio_without_row"] == 1 and rep["unrecognized_names"] == 1
    assert rep["audio_files"] == 4 and src.ontology_path is None


def test_include_unlabeled_yields_audio_without_row(tmp_path):
    (tmp_path / "eval_segments.csv").write_text(HEADER + 'abcdefghijk, 0.000, 10.000, "/m/09x0r"\n')
    tone(tmp_path / "Yabcdefghijk.wav", 10.0)
    tone(tmp_path / "x" / "Yzzzzzzzzzzz.wav", 5.0)
    ids = [r.clip_id for r in make_source("audioset", tmp_path, include_unlabeled=True)]
    assert ids == ["abcdefghijk", "zzzzzzzzzzz"]
    assert [r.clip_id for r in make_source("audioset", tmp_path)] == ["abcdefghijk"]


def test_ontology_override_and_missing_override(tmp_path):
    (tmp_path / "eval_segments.csv").write_text(HEADER + 'abcdefghijk, 0.000, 10.000, "/m/06mb1"\n')
    tone(tmp_path / "Yabcdefghijk.wav", 10.0)
    shutil.copyfile(SAMPLE / "ontology.json", tmp_path / "onto.json")
    recs = list(make_source("audioset", tmp_path, ontology=tmp_path / "onto.json"))
    assert recs[0].labels[0].name == "Rain"
    with pytest.raises(FileNotFoundError, match="ontology file not found"):
        list(make_source("audioset", tmp_path, ontology=tmp_path / "nope.json"))


def test_unknown_source_kind():
    with pytest.raises(ValueError, match="unknown source kind 'youtube'"):
        make_source("youtube", ".")
