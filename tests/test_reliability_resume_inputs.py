"""Issue 13, item 7: a resume notices changed inputs and never mixes old and new results."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from paqa_builder.cli import main


def _digest(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "data").rglob("*.parquet"))}


def _source(root: Path, labels: dict[str, str], freqs: dict[str, float]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(48000) / 16000
    for name, hz in freqs.items():
        sf.write(root / f"{name}.wav", (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000)
    rows = [{"path": f"{n}.wav", "labels": [labels[n]]} for n in sorted(freqs)]
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _build(src: Path, out: Path) -> int:
    return main(["--source", str(src), "--out", str(out), "--recipe", "labels_only", "--no-progress",
                 "--source-kind", "folder", "--set", "writer.clips_per_chunk=1"])


def test_changed_labels_and_a_replaced_file_are_redone_not_mixed(tmp_path):
    names = [f"c{i}" for i in range(6)]
    freqs = {n: 200.0 + 50 * i for i, n in enumerate(names)}
    labels = {n: "Speech" for n in names}
    src, out = tmp_path / "src", tmp_path / "out"
    _source(src, labels, freqs)
    assert _build(src, out) == 0
    before = _digest(out)
    # between runs: one clip's labels change in the manifest, one audio file is replaced
    labels["c1"] = "Music"
    freqs2 = dict(freqs, c4=900.0)
    _source(src, labels, freqs2)
    os.utime(src / "c4.wav", ns=(1, 1))  # a different mtime even on coarse clocks
    assert _build(src, out) == 0
    fresh = tmp_path / "fresh"
    assert _build(src, fresh) == 0
    assert _digest(out) == _digest(fresh) != before
    marker = json.loads((out / ".paqa_state" / "parts" / "chunk-000001.done.json").read_text())
    assert len(marker["inputs"]) == 20
    import datasets

    clips = datasets.load_dataset(str(out), "clips")
    got = {c["clip_id"]: [lab["name"] for lab in json.loads(c["labels"])] if isinstance(c["labels"], str)
           else [lab["name"] for lab in c["labels"]] for s in clips for c in clips[s]}
    assert got["c1"] == ["Music"] and got["c0"] == ["Speech"]
