"""The shipped accelerate configs start (or stop in one line for lack of a GPU), and
``--report_to tensorboard`` works: the [distributed] extra installs DeepSpeed and TensorBoard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ACCEL = Path(__file__).resolve().parent.parent / "hyper_train" / "recipes" / "accelerate"


@pytest.mark.parametrize("config", ["zero2.yaml", "zero3.yaml"])
def test_deepspeed_configs_start_and_say_why_not_on_cpu(tmp_path, config):
    import deepspeed  # noqa: F401 - the extra is installed: the config does not fail on an import

    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCEL / config),
           "--num_processes", "1", "-m", "hyper_train.cli", "stage1", "--config", "stage1_sft",
           "--model_name_or_path", "none", "--train_data", "none"]
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert res.returncode != 0
    line = (f"hyper-train stage1: error: this accelerate config uses DeepSpeed ZeRO-{config[4]}, "
            "which needs CUDA GPUs")
    assert line in res.stderr and "Traceback" not in res.stderr.split(line)[0][-2000:]


@pytest.mark.slow
def test_report_to_tensorboard_writes_events(tmp_path):
    from tiny_qwen2_audio import build_tiny_qwen2_audio, tiny_qa_dataset
    from trl import ModelConfig, SFTConfig

    from hyper_train.config import DataArgs, HyperModelArgs
    from hyper_train.sft import build_sft_trainer

    tiny = build_tiny_qwen2_audio(tmp_path / "tiny")
    args = SFTConfig(output_dir=str(tmp_path / "o"), max_steps=1, per_device_train_batch_size=2,
                     report_to=["tensorboard"], logging_steps=1, save_strategy="no", use_cpu=True, max_length=None)
    trainer = build_sft_trainer(args, ModelConfig(model_name_or_path=str(tiny), dtype="float32"), DataArgs(),
                                HyperModelArgs(), train_dataset=tiny_qa_dataset(2))
    trainer.train()
    events = list(tmp_path.rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
