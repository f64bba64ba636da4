"""Third-party plug-ins through entry points: a source kind, a tag backend, a question family and
a reward from tests/plugin_pkg, installed the way a user installs a package, then used by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

PLUGIN = Path(__file__).resolve().parent / "plugin_pkg"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    import shutil

    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    # a copy: setuptools writes build/ and *.egg-info next to the sources (the clone may be read-only)
    shutil.copytree(PLUGIN, build / "plugin_pkg", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(build / "plugin_pkg")], check=True, cwd=build,
                   env={**os.environ, "PIP_NO_CACHE_DIR": "1"})
    assert (target / "paqa_test_plugin" / "pathlist.py").is_file()
    return target


def _run(code_or_args: list[str], plugin_path: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    return subprocess.run([sys.executable, *code_or_args], cwd=cwd, env=env, capture_output=True, text=True)


def test_registry_lists_the_plugins(plugin_path, tmp_path):
    code = ("from paqa_builder.registry import available, backends_of;"
            "print(sorted(available('source')), backends_of('tag'), 'clip_length' in available('family'),"
            " 'brevity' in available('reward'))")
    out = _run(["-c", code], plugin_path, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("['audioset', 'folder', 'hf', 'pathlist'] "
                                  "['ast', 'constant', 'source_labels', 'yamnet'] True True")
    # without the plug-in installed none of them exists
    bare = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert bare.stdout.strip() == "['audioset', 'folder', 'hf'] ['ast', 'source_labels', 'yamnet'] False False"


def test_build_with_plugin_source_backend_and_family(plugin_path, tmp_path):
    src = tmp_path / "src"
    (src / "audio").mkdir(parents=True)
    t = np.arange(16000 * 7) / 16000
    for name, seconds in (("a", 4), ("b", 7)):
        tone = (0.3 * np.sin(2 * np.pi * 440 * t[: 16000 * seconds])).astype(np.float32)
        sf.write(src / "audio" / f"{name}.wav", tone, 16000)
    (src / "clips.txt").write_text("audio/b.wav\naudio/a.wav\n")
    recipe = tmp_path / "plugin.yaml"
    recipe.write_text(
        "stages:\n"
        "  decode: {backend: ffmpeg}\n"
        "  tag: {backend: constant, label: Hum}\n"
        "  compose: {backend: default, tasks: [clip_length, env_present], num_choices: 3}\n"
        "split: {train: 1.0, validation: 0.0, test: 0.0}\n")
    out = tmp_path / "out"
    # no --source-kind: the plug-in's detect() recognises clips.txt
    res = _run(["-m", "paqa_builder.cli", "--source", str(src), "--out", str(out), "--recipe", str(recipe),
                "--no-progress"], plugin_path, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    import pyarrow.parquet as pq

    clips = pq.read_table(next((out / "data" / "clips").glob("*.parquet")),
                          columns=["clip_id", "source", "background", "provenance"]).to_pylist()
    assert sorted(c["clip_id"] for c in clips) == ["a", "b"] and {c["source"] for c in clips} == {"pathlist"}
    assert all(c["background"][0]["label"] == "Hum" and "tag:constant" in c["provenance"] for c in clips)
    qa = pq.read_table(next((out / "data" / "qa").glob("*.parquet")),
                       columns=["clip_id", "task", "answer_text", "chain"]).to_pylist()
    lengths = {q["clip_id"]: q["answer_text"] for q in qa if q["task"] == "clip_length"}
    assert lengths == {"a": "about 4 seconds", "b": "about 7 seconds"}
    assert {q["task"] for q in qa} == {"clip_length", "env_present"}
    # a typo in the plug-in backend's own key is caught like any other
    bad = _run(["-m", "paqa_builder.cli", "--source", str(src), "--out", str(tmp_path / "o2"), "--recipe", str(recipe),
                "--set", "stages.tag.lable=Hum"], plugin_path, tmp_path)
    assert bad.returncode == 2 and "stages.tag (constant): unknown key 'lable'; did you mean 'label'?" in bad.stderr


def test_plugin_reward_by_name(plugin_path, tmp_path):
    code = ("from hyper_train.rewards import build_rewards;"
            "f = build_rewards(['brevity', 'format'])[0]; print(f(['short answer', 'word ' * 60]))")
    res = _run(["-c", code], plugin_path, tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip()) == [1.0, 0.0]
