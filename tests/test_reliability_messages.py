"""Issue 13, item 10: every user-facing failure is one line; shared files hold no local paths."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from paqa_builder.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "audioset_sample"


def _args(out: Path, src: Path = SAMPLE, *extra: str) -> list[str]:
    return ["--source", str(src), "--out", str(out), "--recipe", "labels_only", "--no-progress", *extra]


def _errors(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if line.startswith("paqa-build:")]


def test_disk_full_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    from paqa_builder.engine import state

    real = state.atomic_write_bytes

    def full(path, data):
        if path.name.endswith(".qa.parquet"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(state, "atomic_write_bytes", full)
    assert main(_args(tmp_path / "out")) == 2
    err = _errors(capsys.readouterr().err)
    assert len(err) == 1 and "No space left on device" in err[0] and "qa.parquet" in err[0]
    assert "run the same command to resume" in err[0]


def test_ctrl_c_is_one_line_and_the_rerun_resumes(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    t = np.arange(16000) / 16000
    n_clips = 150  # enough that the signal lands mid-run: 40 once all finished within one poll
    for i in range(n_clips):
        sf.write(src / f"c{i:03d}.wav", (0.3 * np.sin(2 * np.pi * (150 + 5 * i) * t)).astype(np.float32), 16000)
    args = _args(out, src, "--source-kind", "folder", "--set", "writer.clips_per_chunk=1")
    # a runner started in the background (as CI may be) hands SIGINT down ignored: a terminal's
    # Ctrl-C is what this test means, so the child gets the default disposition back
    proc = subprocess.Popen([sys.executable, "-m", "paqa_builder.cli", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    parts = out / ".paqa_state" / "parts"
    deadline = time.time() + 300
    while time.time() < deadline and not list(parts.glob("*.done.json")):
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    done = len(list(parts.glob("*.done.json")))
    assert proc.returncode == 130 and 1 <= done < n_clips, (proc.returncode, done)
    assert _errors(stderr) == [
        "paqa-build: interrupted; committed chunks are kept: run the same command to resume"]
    assert main(args) == 0
    import datasets

    clips = datasets.load_dataset(str(out), "clips")
    assert sorted(c["clip_id"] for s in clips for c in clips[s]) == [f"c{i:03d}" for i in range(n_clips)]


def test_a_corrupt_committed_part_is_one_line_naming_it(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_args(out)) == 0
    part = sorted((out / ".paqa_state" / "parts").glob("*.qa.parquet"))[0]
    part.write_bytes(b"not parquet at all" * 10)
    capsys.readouterr()
    assert main(_args(out)) == 2
    err = _errors(capsys.readouterr().err)
    assert len(err) == 1 and str(part) in err[0] and "--overwrite" in err[0]


def test_a_failed_push_is_one_line_and_masks_tokens(tmp_path, capsys, monkeypatch):
    from paqa_builder.dataset import hub

    def refuse(out, repo_id, private=False):
        raise RuntimeError("401 Client Error: Unauthorized\\nfor url https://hf.co (token hf_AbCdEfGhIjKlMnOp)")

    monkeypatch.setattr(hub, "push_folder", refuse)
    assert main(_args(tmp_path / "out", SAMPLE, "--push-to-hub", "me/paqa")) == 2
    err = _errors(capsys.readouterr().err)
    assert len(err) == 1 and "the dataset is written, but the push to me/paqa failed" in err[0]
    assert "hf_AbCdEfGhIjKlMnOp" not in err[0] and "hf_***" in err[0]
    assert (tmp_path / "out" / "data").is_dir()


def test_failures_hold_source_relative_paths_and_stale_temporaries_go(tmp_path):
    src, out = tmp_path / "my_private_folder", tmp_path / "out"
    src.mkdir()
    sf.write(src / "ok.wav", (0.3 * np.sin(np.arange(32000) / 5)).astype(np.float32), 16000)
    (src / "sub").mkdir()
    (src / "sub" / "bad.wav").write_text("not audio\n" * 20)
    assert main(_args(out, src, "--source-kind", "folder")) == 0
    text = (out / "failures.jsonl").read_text()
    assert str(src) not in text and str(tmp_path) not in text
    line = json.loads(text.splitlines()[0])
    assert line["path"] == "sub/bad.wav" and "sub/bad.wav" in line["reason"]
    stale = out / ".paqa_state" / "parts" / ".chunk-000000.qa.parquet.tmp-99999"
    stale.write_bytes(b"half")
    (out / "data" / ".x.tmp-4").write_bytes(b"half")
    assert main(_args(out, src, "--source-kind", "folder")) == 0
    assert not stale.exists() and not (out / "data" / ".x.tmp-4").exists()
