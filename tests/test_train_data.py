"""Data loading: upstream HyPeR JSONL conversion, MMAU-style JSON, PAQA-like parquet folders."""

import json

import numpy as np
import pytest
import soundfile as sf

from hyper_train.data import (
    convert_benchmark_row,
    convert_upstream_row,
    decode_audio,
    load_qa,
    split_question,
    with_prompt,
)
from paqa_builder.chain import parse, validate

UPSTREAM = {
    "instruction": "<audio>Who speaks first? (a) a child (b) a teacher (c) nobody (d) a dog",
    "output": ("<THINK>\n<PLANNING>\nFind the first voice.\n</PLANNING>\n<CAPTION>\n<BGM>quiet room</BGM>\n"
               "<SPEAKER>- **Speaker 1**: \"Good morning class\"</SPEAKER>\n</CAPTION>\n"
               "<REASONING>\n1. The first voice greets a class.\n2. That is a teacher.\n</REASONING>\n"
               "<SUMMARY>\nA teacher speaks first.\n</SUMMARY>\n</THINK>\n"
               "<RESPONSE>\nThe first voice is the teacher. The answer is B.\n</RESPONSE>\n"),
    "audios": ["clips/a.wav"], "id": 7,
}


def test_split_question():
    q, options = split_question(UPSTREAM["instruction"])
    assert q == "Who speaks first?"
    assert options == ["a child", "a teacher", "nobody", "a dog"]
    with pytest.raises(ValueError, match="options"):
        split_question("<audio>no options here")


def test_upstream_row_converted_to_our_chain():
    row = convert_upstream_row(UPSTREAM, audio_root="/data")
    assert row["answer"] == "B" and row["answer_text"] == "a teacher"
    assert validate(row["chain"]) == []
    sections = parse(row["chain"]).sections
    assert sections["ENV"] == "quiet room"  # upstream BGM -> ENV
    assert sections["REASONING"].splitlines() == ["1. The first voice greets a class.", "2. That is a teacher."]
    assert row["audio"] == "/data/clips/a.wav"
    assert row["messages"][0]["content"][1]["text"].endswith("(A) a child (B) a teacher (C) nobody (D) a dog")
    assert row["messages"][1]["content"][0]["text"] == row["chain"]
    bad = dict(UPSTREAM, output="<THINK><PLANNING>x</PLANNING></THINK>")
    with pytest.raises(ValueError, match="no answer letter"):
        convert_upstream_row(bad)


def test_benchmark_row_answer_text_to_letter():
    row = convert_benchmark_row({"id": "q1", "audio_id": "x.wav", "question": "What is heard?",
                                 "choices": ["rain", "dog"], "answer": "dog", "task": "sound"})
    assert (row["answer"], row["task"], row["chain"]) == ("B", "sound", "")
    with pytest.raises(ValueError, match="matches no choice"):
        convert_benchmark_row({"id": "q2", "audio_id": "x.wav", "question": "?", "choices": ["a", "b"],
                               "answer": "zebra"})


def test_load_jsonl_drops_rows_without_audio_and_decodes(tmp_path):
    (tmp_path / "clips").mkdir()
    sf.write(tmp_path / "clips" / "a.wav", np.zeros(8000, dtype="float32"), 8000)
    missing = dict(UPSTREAM, audios=["clips/missing.wav"], id=8)
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [UPSTREAM, missing]))
    ds = load_qa(str(path), audio_root=str(tmp_path))
    assert len(ds) == 1 and ds[0]["id"] == "7"
    audio = decode_audio(ds[0]["audio"])
    assert audio.dtype == np.float32 and audio.shape == (16000,)  # resampled 8 kHz -> 16 kHz
    prompt = with_prompt(ds)[0]["prompt"]
    assert [m["role"] for m in prompt] == ["user"]
    with pytest.raises(ValueError, match="no usable rows"):
        load_qa(str(path), audio_root=str(tmp_path / "nowhere"))


def test_load_paqa_folder_split(tmp_path):
    from tiny_qwen2_audio import tiny_qa_dataset

    qa = tmp_path / "data" / "qa"
    qa.mkdir(parents=True)
    tiny_qa_dataset(3).to_parquet(str(qa / "train-00000-of-00001.parquet"))
    ds = load_qa(str(tmp_path), "train")
    assert len(ds) == 3 and decode_audio(ds[0]["audio"]).shape == (16000,)
    with pytest.raises(FileNotFoundError, match="test"):
        load_qa(str(tmp_path), "test")


def test_bad_sources_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="no data given"):
        load_qa("")
    with pytest.raises(FileNotFoundError, match=r"paqa/: no such file or folder"):
        load_qa(str(tmp_path / "paqa") + "/")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_qa(str(tmp_path / "rows.jsonl"))


def test_two_sources_are_mixed(tmp_path):
    from tiny_qwen2_audio import tiny_qa_dataset

    for name, n in (("a", 3), ("b", 2)):
        qa = tmp_path / name / "data" / "qa"
        qa.mkdir(parents=True)
        tiny_qa_dataset(n, seed=n).to_parquet(str(qa / "train-00000-of-00001.parquet"))
    ds = load_qa(f"{tmp_path / 'a'},{tmp_path / 'b'}", "train")
    assert len(ds) == 5 and "audio" in ds.column_names
    assert len(load_qa(f"{tmp_path / 'a'},{tmp_path / 'b'}", "train", max_samples=4)) == 4
