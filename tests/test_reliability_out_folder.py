"""Issue 13, item 5: --out never overlaps --source, and --overwrite clears only its own builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from paqa_builder.cli import main


def _source(root: Path, n: int = 2) -> None:
    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(16000 * 2) / 16000
    for i in range(n):
        sf.write(root / f"clip_{i}.wav", (0.3 * np.sin(2 * np.pi * (220 + 50 * i) * t)).astype(np.float32), 16000)
    (root / "README.md").write_text("my collection\n")


def _args(src: Path, out: Path) -> list[str]:
    return ["--source", str(src), "--out", str(out), "--recipe", "labels_only", "--no-progress",
            "--source-kind", "folder"]


def _listing(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_out_equal_to_inside_or_around_the_source_is_refused_and_nothing_is_touched(tmp_path, capsys):
    src = tmp_path / "audio"
    _source(src)
    before = _listing(tmp_path)
    for out, word in ((src, "is"), (src / "paqa", "lies inside"), (tmp_path, "contains")):
        assert main(_args(src, out) + ["--overwrite"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{word} --source" in err[0] and "outside the source" in err[0]
    assert _listing(tmp_path) == before


def test_overwrite_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    src, out = tmp_path / "audio", tmp_path / "mine"
    _source(src)
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    (out / "README.md").write_text("my readme\n")
    assert main(_args(src, out) + ["--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite refuses" in err and "no build of this tool" in err
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "notes.txt"]  # nothing added
    assert (out / "notes.txt").read_text() == "keep me\n" and (out / "README.md").read_text() == "my readme\n"


def test_overwrite_clears_its_own_build_and_an_empty_folder_is_fine(tmp_path):
    src, out = tmp_path / "audio", tmp_path / "paqa"
    _source(src)
    out.mkdir()  # empty: a fresh build may use it, with or without --overwrite
    assert main(_args(src, out) + ["--overwrite"]) == 0
    assert (out / ".paqa_state" / "run.json").exists() and (out / "README.md").exists()
    (out / "data" / "stale.txt").write_text("old\n")
    assert main(_args(src, out) + ["--overwrite"]) == 0
    assert not (out / "data" / "stale.txt").exists() and (out / "README.md").exists()
