"""The progress bar's total: sources count their clips from file headers, exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from paqa_builder.sources import make_source

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "audioset_sample"


def test_counts_equal_the_records_iterated(tmp_path):
    src = make_source("audioset", SAMPLE)
    assert src.count_clips() == len(list(src)) == 10
    folder = tmp_path / "f"
    folder.mkdir()
    for name, seconds in (("short", 4), ("long", 65), ("mid", 25)):
        sf.write(folder / f"{name}.wav", np.zeros(16000 * seconds, np.float32) + 0.01, 16000)
    src = make_source("folder", folder, window_s=10.0, max_clip_s=30.0)
    records = list(src)
    assert src.count_clips() == len(records) == 1 + 7 + 1  # 65 s cut into 10 s windows (the last 5 s)
    import datasets

    rows = [{"audio": {"array": np.zeros(16000 * k, np.float32) + 0.01, "sampling_rate": 16000}} for k in (2, 3, 4)]
    src = make_source("hf", datasets.Dataset.from_list(rows))
    assert src.count_clips() == len(list(src)) == 3  # a known length: the rows


def test_bar_shows_total_and_eta(tmp_path):
    res = subprocess.run([sys.executable, "-m", "paqa_builder.cli", "--source", str(SAMPLE), "--out",
                          str(tmp_path / "o"), "--recipe", "labels_only"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    last = [x for x in res.stderr.replace("\r", "\n").splitlines() if x.startswith("paqa-build:")][-1]
    assert "10/10" in last and "rt=" in last and "<00:00" in last  # done, with the time left shown
