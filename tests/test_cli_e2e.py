"""End to end through the real CLI (labels_only recipe: no models), on the shipped sample and on
a folder of bad inputs; plus kill -9 in the middle of a run and a rerun of the same command."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from paqa_builder import chain
from paqa_builder.cli import main

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "audioset_sample"


def _digest(out: Path) -> dict[str, str]:
    files = sorted(p for p in out.rglob("*") if p.is_file() and ".paqa_state" not in p.parts)
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "paqa"
    code = main(["--source", str(SAMPLE), "--out", str(out), "--recipe", "labels_only", "--no-progress"])
    assert code == 0
    return out


def test_sample_build_loads_and_is_consistent(sample_build):
    import datasets

    qa = datasets.load_dataset(str(sample_build))
    clips = datasets.load_dataset(str(sample_build), "clips")
    n_qa = sum(len(qa[s]) for s in qa)
    n_clips = sum(len(clips[s]) for s in clips)
    summary = json.loads((sample_build / ".paqa_state" / "summary.json").read_text())
    assert n_clips == summary["clips_done"] >= 8
    assert n_qa == summary["qa_rows"] >= n_clips
    assert sum(c["num_questions"] for s in clips for c in clips[s]) == n_qa
    clip_split = {c["clip_id"]: s for s in clips for c in clips[s]}
    for split in qa:
        for row in qa[split]:
            assert row["answer"] in chain.LETTERS[: len(row["choices"])]
            assert row["choices"][chain.LETTERS.index(row["answer"])] == row["answer_text"]
            assert chain.validate(row["chain"]) == [], row["chain"]
            assert chain.extract_answer(row["chain"]) == row["answer"]
            assert clip_split[row["clip_id"]] == split  # a clip's questions stay in its split
    report = json.loads((sample_build / "source_report.json").read_text())
    assert report, "the source report lists unmatched rows/files"
    assert "configs:" in (sample_build / "README.md").read_text()


def test_same_command_twice_gives_identical_dataset(sample_build, tmp_path):
    again = tmp_path / "again"
    assert main(["--source", str(SAMPLE), "--out", str(again), "--recipe", "labels_only", "--no-progress"]) == 0
    assert _digest(again) == _digest(sample_build)


def _make_folder(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    for i in range(n):
        tone = 0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t) + 0.05 * rng.standard_normal(t.size)
        sf.write(root / f"clip_{i:02d}.wav", tone.astype(np.float32), 16000)


def test_kill_9_then_rerun_equals_uninterrupted(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _make_folder(src, 10)
    args = ["--source", str(src), "--recipe", "labels_only", "--no-progress",
            "--set", "writer.clips_per_chunk=1", "--source-kind", "folder"]
    ref = tmp_path / "ref"
    assert main(args + ["--out", str(ref)]) == 0

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "paqa_builder.cli", *args, "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = out / ".paqa_state" / "parts"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(parts.glob("*.done.json"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = len(list(parts.glob("*.done.json")))
    assert 3 <= committed < 10, f"kill landed after {committed} chunks"
    assert not (out / "data").exists()
    assert main(args + ["--out", str(out)]) == 0
    assert _digest(out) == _digest(ref)


def test_bad_inputs_are_recorded_and_the_run_goes_on(tmp_path):
    src = tmp_path / "bad"
    src.mkdir()
    _make_folder(src, 2)
    (src / "empty.wav").write_bytes(b"")
    (src / "text.wav").write_text("this is not audio\n" * 20)
    good = (src / "clip_00.wav").read_bytes()
    (src / "truncated.wav").write_bytes(good[: len(good) // 50])
    sf.write(src / "short.wav", np.zeros(800, dtype=np.float32) + 0.1, 16000)
    sf.write(src / "silent.wav", np.zeros(48000, dtype=np.float32), 16000)
    nan = np.full(48000, np.nan, dtype=np.float32)
    sf.write(src / "nan.wav", nan, 16000, subtype="FLOAT")
    locked = src / "locked.wav"
    locked.write_bytes(good)
    locked.chmod(0)
    out = tmp_path / "out"
    assert main(["--source", str(src), "--out", str(out), "--recipe", "labels_only", "--no-progress",
                 "--source-kind", "folder"]) == 0
    failures = {Path(f["path"]).name: f["reason"]
                for f in map(json.loads, (out / "failures.jsonl").read_text().splitlines())}
    expected = {"empty.wav", "text.wav", "short.wav", "silent.wav", "nan.wav"}
    if os.geteuid() != 0:  # root can read a chmod 0 file, so it is processed normally
        expected.add("locked.wav")
    assert expected <= set(failures), failures
    for name in expected:
        assert name in failures[name] and "\n" not in failures[name]
    import datasets

    clips = datasets.load_dataset(str(out), "clips")
    done = {c["clip_id"] for s in clips for c in clips[s]}
    assert {"clip_00", "clip_01"} <= done


def test_rebuilding_into_the_same_folder_is_not_served_from_a_stale_cache(tmp_path):
    """datasets keys its cache on the card's YAML; the card's dataset_info changes with the shards."""
    import datasets

    out = tmp_path / "paqa"
    base = ["--source", str(SAMPLE), "--out", str(out), "--recipe", "labels_only", "--no-progress"]
    assert main(base) == 0
    first = sum(len(v) for v in datasets.load_dataset(str(out), "clips").values())
    assert main(base + ["--overwrite", "--limit", "4"]) == 0
    second = sum(len(v) for v in datasets.load_dataset(str(out), "clips").values())
    assert (first, second) == (10, 4)


def test_show_into_a_closed_pipe_stops_quietly(sample_build):
    """`paqa-build show out | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "paqa_builder.cli", "show", str(sample_build), "--rows", "50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = proc.stdout.readline()
    proc.stdout.close()  # what head does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert first.strip() and "Traceback" not in err and "BrokenPipe" not in err
