"""The package as a user installs it: a wheel built from the sources, installed into a throwaway
venv (``--no-deps``, on top of this environment's dependencies), run from another folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "audioset_sample"


def test_wheel_ships_recipes_and_runs_the_default_build_outside_the_repo(tmp_path):
    src = tmp_path / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in ("paqa_builder", "hyper_train"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src)],
                   check=True, capture_output=True)
    wheel = next(dist.glob("paqa_toolkit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("paqa_builder/recipes/portable.yaml", "paqa_builder/recipes/mix.yaml",
                   "paqa_builder/backends/speaker_calibration.json", "paqa_builder/view/assets/view.js",
                   "hyper_train/recipes/stage1_sft.yaml", "hyper_train/recipes/accelerate/zero3.yaml"):
        assert needed in names, needed

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True)
    # this environment's dependencies, but not its editable install of the project (a path
    # listed in a .pth file does not get its own .pth files, such as the editable finder, run)
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "zz_parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.check_output([str(py), "-c", "import paqa_builder, hyper_train; "
                                     "print(paqa_builder.__file__); print(hyper_train.__file__)"],
                                    cwd=elsewhere, env=env, text=True).split()
    assert all(p.startswith(str(venv)) for p in where), where
    out = elsewhere / "paqa"
    res = subprocess.run([str(venv / "bin" / "paqa-build"), "--source", str(SAMPLE), "--out", str(out),
                          "--limit", "2", "--no-progress"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    import pyarrow.parquet as pq

    rows = [r for p in (out / "data" / "clips").glob("*.parquet")
            for r in pq.read_table(p, columns=["provenance"]).to_pylist()]
    assert len(rows) == 2 and all("transcribe:faster_whisper" in r["provenance"] for r in rows)  # portable
    res = subprocess.run([str(venv / "bin" / "hyper-train"), "eval", "--config", "eval", "--modle_path", "x"],
                         cwd=elsewhere, env=env, capture_output=True, text=True)
    assert res.returncode == 2 and "did you mean --model_path?" in res.stderr
