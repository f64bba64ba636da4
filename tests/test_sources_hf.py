"""HF source: a real ``datasets`` dataset with an Audio column, saved and reloaded from disk."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from paqa_builder.sources import make_source
from paqa_builder.stages.decode import Decode


def tone(seconds, sr=16000, channels=1, freq=440.0):
    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, 1) if channels > 1 else x


@pytest.fixture(scope="module")
def saved_dataset(tmp_path_factory):
    import datasets

    tmp = tmp_path_factory.mktemp("hf")
    sf.write(tmp / "phone.wav", tone(2.0, sr=8000, channels=2), 8000)
    sf.write(tmp / "long.flac", tone(40.0), 16000)
    sf.write(tmp / "src.wav", tone(2.0, sr=44100), 44100)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp / "src.wav"), str(tmp / "song.mp3")], check=True)
    audio = [{"path": str(tmp / "phone.wav"), "bytes": None},
             {"path": "song.mp3", "bytes": (tmp / "song.mp3").read_bytes()},
             {"path": "broken.wav", "bytes": b"this is not audio at all" * 10},
             {"path": str(tmp / "long.flac"), "bytes": None}]
    features = datasets.Features({
        "audio": datasets.Audio(),
        "label": datasets.ClassLabel(names=["Speech", "Rain"]),
        "text": datasets.Value("string"),
        "spk": datasets.Value("string"),
    })
    ds = datasets.Dataset.from_dict({"audio": audio, "label": [0, 1, 0, 1], "text": ["hello", "", "x", "long one"],
                                     "spk": ["a", "b", "c", "d"]}, features=features)
    path = tmp / "saved"
    ds.save_to_disk(str(path))
    return path


def test_hf_dataset_rows_become_decoded_records(saved_dataset):
    # the rows name files next to the saved folder: files_root says that is where they may be read
    src = make_source("hf", saved_dataset, label_column="label", text_column="text", speaker_column="spk",
                      window_s=10.0, max_clip_s=30.0, files_root=saved_dataset.parent)
    recs = list(src)
    ids = [r.clip_id for r in recs]
    assert ids == ["train_000000", "train_000001", "train_000002",
                   "train_000003_w000", "train_000003_w001", "train_000003_w002", "train_000003_w003"]
    assert recs[0].path == "hf://saved/train/0" and recs[4].path == "hf://saved/train/3"
    assert [lab.name for lab in recs[0].labels] == ["Speech"] and [lab.name for lab in recs[1].labels] == ["Rain"]
    assert recs[0].meta["transcript"] == "hello" and "transcript" not in recs[1].meta
    assert recs[0].meta["speaker"] == "a"
    assert recs[2].audio is None and "not an audio file" in recs[2].meta["source_error"]
    assert src.report["rows"] == 4 and src.report["decode_errors"] == 1 and src.report["windows"] == 4
    assert "audio" in src.provides

    Decode()(recs)
    phone, mp3, broken = recs[:3]
    assert phone.error is None and phone.audio.shape == (32000,) and phone.input_info["sample_rate"] == 8000
    assert any("low original sample rate" in w for w in phone.warnings)
    assert any("downmixed 2 channels" in w for w in phone.warnings)
    assert mp3.error is None and abs(mp3.duration - 2.0) < 0.1
    spectrum = np.abs(np.fft.rfft(mp3.audio))
    assert abs(np.argmax(spectrum) * 16000 / mp3.audio.size - 440.0) < 5.0
    assert broken.error.startswith("decode: hf://saved/train/2:") and "not an audio file" in broken.error
    assert [r.duration for r in recs[3:]] == [10.0, 10.0, 10.0, 10.0]
    assert [r.offset for r in recs[3:]] == [0.0, 10.0, 20.0, 30.0]


def test_in_memory_dataset_with_array_column_and_id_column():
    import datasets

    ds = datasets.Dataset.from_dict({
        "audio": [{"array": tone(1.0, sr=22050).tolist(), "sampling_rate": 22050},
                  {"array": np.zeros(16000).tolist(), "sampling_rate": 16000}],
        "uid": ["zz", "aa"],
    })
    recs = list(make_source("hf", ds, name="mem", id_column="uid"))
    assert [r.clip_id for r in recs] == ["aa", "zz"]
    assert recs[1].path == "hf://mem/train/0"
    assert recs[1].audio.shape == (16000,) and recs[1].input_info["sample_rate"] == 22050
    Decode()(recs)
    assert recs[0].error is not None and "silent" in recs[0].error
    assert recs[1].error is None and recs[1].duration == pytest.approx(1.0)


def test_hf_missing_audio_column(saved_dataset):
    with pytest.raises(ValueError, match="no column 'sound'"):
        list(make_source("hf", saved_dataset, audio_column="sound"))

