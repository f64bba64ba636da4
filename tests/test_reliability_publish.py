"""Issue 13, item 3: a kill anywhere in publishing leaves a dataset that loads and matches its card."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paqa_builder.engine.publish import STEPS, exchange

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "audioset_sample"


def _run(out: Path, crash_at: str | None = None, limit: int | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PAQA_CRASH_AT"}
    if crash_at:
        env["PAQA_CRASH_AT"] = crash_at
    cmd = [sys.executable, "-m", "paqa_builder.cli", "--source", str(SAMPLE), "--out", str(out),
           "--recipe", "labels_only", "--no-progress", *(["--limit", str(limit)] if limit else [])]
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, timeout=600).returncode


def _load_all(out: Path) -> dict[str, int]:
    import datasets

    sizes = {}
    for config in ("qa", "clips"):
        ds = datasets.load_dataset(str(out), config)  # raises on a card/shard mismatch
        sizes.update({f"{config}/{split}": len(ds[split]) for split in ds})
    return sizes


def _digest(out: Path) -> dict[str, str]:
    files = sorted((out / "data").rglob("*.parquet")) + [out / "README.md"]
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.mark.parametrize("step", STEPS)
def test_a_kill_in_the_publish_window_leaves_a_loadable_dataset(step, tmp_path):
    out = tmp_path / "paqa"
    assert _run(out) == 0
    finished, sizes = _digest(out), _load_all(out)
    assert _run(out, crash_at=step) == -9  # killed right after that step of the republish
    assert (out / "data").is_dir()
    during = _load_all(out)
    assert during and all(sizes[k] == n for k, n in during.items())  # a subset, never wrong sizes
    assert _run(out) == 0  # the rerun finishes the publish: same shards, same card
    assert _digest(out) == finished and _load_all(out) == sizes
    # another, smaller build in a folder of the same name, killed at the same step: datasets must
    # not check it against what it cached for the first one
    other = tmp_path / "elsewhere" / "paqa"
    assert _run(other, limit=8) == 0 and _run(other, crash_at=step, limit=8) == -9
    assert sum(_load_all(other).values()) < sum(sizes.values())


def test_exchange_swaps_two_folders_in_one_step(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("from a")
    (b / "y").write_text("from b")
    assert exchange(a, b)  # Linux with renameat2 (every CI machine of this project)
    assert (a / "y").read_text() == "from b" and (b / "x").read_text() == "from a"
