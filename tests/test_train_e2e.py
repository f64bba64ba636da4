"""End to end: paqa-build on the AudioSet sample, then hyper-train stage1 -> stage2 -> eval via the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_qwen2_audio import build_tiny_qwen2_audio

REPO = Path(__file__).resolve().parents[1]
CPU = ["--use_cpu", "true", "--bf16", "false", "--dtype", "float32", "--activation_checkpointing", "false",
       "--max_steps", "2", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1",
       "--save_strategy", "no", "--report_to", "none", "--logging_steps", "1"]


@pytest.mark.slow
@pytest.mark.integration
def test_built_paqa_trains_through_both_stages_and_evaluates(tmp_path):
    import torch
    from safetensors.torch import load_file

    from hyper_train.cli import main
    from hyper_train.data import load_qa

    paqa = tmp_path / "paqa"
    subprocess.run([sys.executable, "-m", "paqa_builder.cli", "--source", "examples/audioset_sample",
                    "--out", str(paqa), "--recipe", "labels_only"], cwd=REPO, check=True,
                   timeout=600, capture_output=True)
    train = load_qa(str(paqa), "train")
    assert len(train) >= 2 and all(row["chain"].rstrip().endswith("</FINAL_ANSWER>") for row in train)

    tiny = build_tiny_qwen2_audio(tmp_path / "tiny")
    stage1 = tmp_path / "stage1"
    assert main(["stage1", "--config", "stage1_sft", "--model_name_or_path", str(tiny),
                 "--train_data", str(paqa), "--output_dir", str(stage1), "--lora_r", "4", "--lora_alpha", "8",
                 "--max_length", "2048", *CPU]) == 0
    merged = stage1 / "merged"
    assert (merged / "config.json").is_file() and (stage1 / "adapter_config.json").is_file()
    w0, w1 = load_file(tiny / "model.safetensors"), load_file(merged / "model.safetensors")
    key = next(k for k in w0 if "language_model" in k and k.endswith("layers.0.self_attn.q_proj.weight"))
    assert not torch.equal(w0[key], w1[key])  # the LoRA update was merged

    stage2 = tmp_path / "stage2"
    assert main(["stage2", "--config", "stage2_grpo", "--model_name_or_path", str(merged),
                 "--train_data", str(paqa), "--output_dir", str(stage2), "--num_generations", "2",
                 "--max_completion_length", "12", "--pause_warmup_tokens", "4", "--learning_rate", "1e-2",
                 *CPU]) == 0
    assert (stage2 / "model.safetensors").is_file() and (stage2 / "tokenizer_config.json").is_file()
    # the trained PAUSE settings and entropy history travel with the model (eval --pause_at_inference)
    assert json.loads((stage2 / "pause_args.json").read_text())["pause_warmup_tokens"] == 4
    assert torch.load(stage2 / "pause_state.pt", weights_only=True)["filled"] > 0

    pred = tmp_path / "eval" / "pred.jsonl"
    split = "test" if len(load_qa(str(paqa), "test")) else "train"
    assert main(["eval", "--config", "eval", "--model_path", str(stage2),
                 "--eval_file", str(paqa), "--split", split, "--predictions", str(pred),
                 "--max_new_tokens", "6", "--pause_at_inference", "true"]) == 0
    metrics = json.loads(pred.with_suffix(".metrics.json").read_text())
    assert metrics["pause_tokens_per_question"] >= 0.0  # generated through the trained processor
    assert metrics["n"] == len(load_qa(str(paqa), split)) == len(pred.read_text().splitlines())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["per_task"]
