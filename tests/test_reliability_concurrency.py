"""Issue 13, items 2 and 10: one writer per --out, and no hidden file is ever pushed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from paqa_builder.cli import main
from paqa_builder.engine.lock import LOCK_NAME, OutFolderBusy, out_lock


def test_a_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path, capsys):
    src, out = tmp_path / "audio", tmp_path / "paqa"
    src.mkdir()
    sf.write(src / "a.wav", (0.3 * np.sin(np.arange(32000) / 8)).astype(np.float32), 16000)
    # another process holds the lock (a child, so the kernel sees two owners)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from paqa_builder.engine.lock import out_lock
        with out_lock({str(out)!r}):
            print("held", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main(["--source", str(src), "--out", str(out), "--recipe", "labels_only", "--no-progress",
                     "--source-kind", "folder"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1
        assert f"another build (pid {holder.pid}) is writing to" in err[0]
        assert not (out / "data").exists() and not (out / ".paqa_state").exists()
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the dead holder's lock: the same command now builds
    assert main(["--source", str(src), "--out", str(out), "--recipe", "labels_only", "--no-progress",
                 "--source-kind", "folder"]) == 0
    assert (out / "data").is_dir() and (out / LOCK_NAME).exists()


def test_lock_is_exclusive_within_one_process_too(tmp_path):
    with out_lock(tmp_path / "o"), pytest.raises(OutFolderBusy, match=r"another build \(pid \d+\)"), \
            out_lock(tmp_path / "o"):
        pass
    with out_lock(tmp_path / "o"):  # released on exit
        pass


def test_push_ignores_every_hidden_file():
    from huggingface_hub.utils import filter_repo_objects

    from paqa_builder.dataset.hub import UPLOAD_IGNORE

    files = ["README.md", "data/clips/train-00000.parquet", "plots/counts.png", ".paqa_state/run.json",
             ".paqa_state/parts/chunk-000001.qa.parquet", LOCK_NAME, "data/qa/.train.parquet.tmp-4242",
             ".chunk-000002.tmp-77", "failures.jsonl", "view/index.html", "view/clips/train-0/a.html",
             "labelstudio/tasks.json", "labelstudio/audio/a.flac", "eval/eval.json"]
    kept = list(filter_repo_objects(files, ignore_patterns=UPLOAD_IGNORE))
    assert kept == ["README.md", "data/clips/train-00000.parquet", "plots/counts.png", "failures.jsonl",
                    "view/index.html", "view/clips/train-0/a.html"]
