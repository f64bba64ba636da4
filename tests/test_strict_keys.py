"""A typo'd key stops the command at once, in one line, with the closest valid key; nothing is
read or written first (issue 14.3): stage, source, compose and trainer keys."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from paqa_builder.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "audioset_sample"


@pytest.mark.parametrize("override, message", [
    ("stages.transcribe.modle=tiny", "stages.transcribe (faster_whisper): unknown key 'modle'; did you mean 'model'?"),
    ("stages.diarize.pitch_wieght=0", "stages.diarize (portable): unknown key 'pitch_wieght'; "
                                      "did you mean 'pitch_weight'?"),
    ("source.windw_s=5", "source (audioset): unknown key 'windw_s'; did you mean 'window_s'?"),
    ("stages.compose.num_choice=3", "stages.compose (default): unknown key 'num_choice'; "
                                    "did you mean 'num_choices'?"),
    ("stages.tag.backend=yamnett", "unknown backend 'yamnett' for stage 'tag'; did you mean 'yamnet'?"),
])
def test_build_key_typos_fail_fast(tmp_path, capsys, override, message):
    out = tmp_path / "out"
    started = time.perf_counter()
    assert main(["--source", str(SAMPLE), "--out", str(out), "--set", override, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"paqa-build: error: {message}"
    assert time.perf_counter() - started < 20  # no model was loaded, no audio decoded
    assert not (out / "data").exists() and not (out / ".paqa_state").exists()


def test_trainer_key_typos_fail_fast(tmp_path, capsys):
    from hyper_train.cli import main as train

    assert train(["eval", "--config", "eval", "--modle_path", "x"]) == 2
    assert capsys.readouterr().err.strip() == ("hyper-train eval: error: unknown flag --modle_path; "
                                               "did you mean --model_path?")
    recipe = tmp_path / "sft.yaml"
    recipe.write_text("model_name_or_path: x\nlearnin_rate: 0.001\n")
    assert train(["stage1", "--config", str(recipe)]) == 2
    assert capsys.readouterr().err.strip() == (f"hyper-train stage1: error: unknown key 'learnin_rate' in {recipe}; "
                                               "did you mean 'learning_rate'?")
    assert train(["stage2", "--config", "stage2_grpo", "--reward_nmes", "accuracy"]) == 2
    assert "did you mean --reward_names?" in capsys.readouterr().err
