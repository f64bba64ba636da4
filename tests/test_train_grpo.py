"""Stage II on a tiny Qwen2-Audio: audio reaches the loss forward, PAUSE is masked, weights move."""

import pytest
import torch
from tiny_qwen2_audio import build_tiny_qwen2_audio, tiny_qa_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_qwen2_audio(tmp_path_factory.mktemp("tiny"))


def make_trainer(tiny, tmp_path, **reward_kw):
    from tiny_qwen2_audio import make_grpo_trainer

    return make_grpo_trainer(tiny, tmp_path, **reward_kw)


@pytest.mark.slow
def test_two_grpo_steps_with_audio_in_the_loss_forward(tiny, tmp_path):
    trainer = make_trainer(tiny, tmp_path, confidence_weighting=True)
    model = trainer.model
    calls = []  # (grad enabled, feature batch) for every audio-encoder run

    def spy(_module, args, kwargs):
        feats = args[0] if args else kwargs.get("input_features")
        calls.append((torch.is_grad_enabled(), None if feats is None else feats.shape[0]))

    model.model.audio_tower.register_forward_pre_hook(spy, with_kwargs=True)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    trainer.train()

    loss_calls = [c for c in calls if c[0]]
    assert len(loss_calls) == 2 and all(b == 2 for _, b in loss_calls)  # one loss forward per step
    assert len(calls) > len(loss_calls)  # rollouts and ref log-probs saw the audio too
    changed = [n for n, p in model.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert any("language_model" in n for n in changed)

    # forced <PAUSE> positions are out of the policy loss, every other completion token is in
    assert int(trainer.pause_processor.forced_total) > 0
    for batch in trainer._buffered_inputs:
        ids, mask, tool = batch["completion_ids"], batch["completion_mask"], batch["tool_mask"]
        real = mask.bool()
        assert torch.equal(tool[real].bool(), (ids[real] != trainer.pause_id))
        assert batch["input_features"].shape[0] == ids.shape[0]
    history = [h for h in trainer.state.log_history if "deepconf/weight_std" in h]
    assert history and all(h["deepconf/weight_std"] >= 0 for h in history)


@pytest.mark.slow
def test_pause_kept_in_loss_when_configured(tiny, tmp_path):
    trainer = make_trainer(tiny, tmp_path)
    trainer.pause_in_loss = True
    trainer.args.max_steps = 1
    trainer.train()
    for batch in trainer._buffered_inputs:
        real = batch["completion_mask"].bool()
        assert batch["tool_mask"][real].all()


def test_vllm_rejected():
    from trl import GRPOConfig

    from hyper_train.grpo import prepare_grpo_args

    with pytest.raises(ValueError, match="vLLM"):
        prepare_grpo_args(GRPOConfig(output_dir="x", use_vllm=True, use_cpu=True))


def test_stage2_uses_eval_data(tiny, tmp_path):
    from trl import GRPOConfig, ModelConfig

    from hyper_train.config import DataArgs, HyperModelArgs, PauseArgs, RewardArgs
    from hyper_train.grpo import build_grpo_trainer

    qa = tmp_path / "held" / "data" / "qa"
    qa.mkdir(parents=True)
    tiny_qa_dataset(3, seed=5).to_parquet(str(qa / "validation-00000-of-00001.parquet"))
    args = GRPOConfig(output_dir=str(tmp_path / "o"), max_steps=1, per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=8, report_to=[], save_strategy="no", use_cpu=True)
    trainer = build_grpo_trainer(args, ModelConfig(model_name_or_path=str(tiny), dtype="float32"),
                                 DataArgs(eval_data=str(tmp_path / "held")), HyperModelArgs(), PauseArgs(),
                                 RewardArgs(), train_dataset=tiny_qa_dataset(2))
    assert trainer.eval_dataset is not None and len(trainer.eval_dataset) == 3
    assert "prompt" in trainer.eval_dataset.column_names


def test_resume_keeps_the_pause_entropy_history(tiny, tmp_path):
    trainer = make_trainer(tiny, tmp_path)
    trainer.args.max_steps, trainer.args.save_strategy, trainer.args.save_steps = 1, "steps", 1
    trainer.train()
    state = torch.load(tmp_path / "checkpoint-1" / "pause_state.pt", weights_only=True)
    assert state["filled"] > 0 and state["filled"] == trainer.pause_processor._filled

    fresh = make_trainer(tiny, tmp_path)
    assert fresh.pause_processor._filled == 0
    # the step of Trainer.train(resume_from_checkpoint=...) that restores a checkpoint
    fresh._load_from_checkpoint(str(tmp_path / "checkpoint-1"))
    assert fresh.pause_processor._filled == state["filled"]
    assert torch.equal(fresh.pause_processor._history.cpu(), state["history"])
    assert int(fresh.pause_processor.forced_total) == state["forced_total"]


@pytest.mark.slow
def test_grpo_with_lora_and_chain_tags_runs_with_the_new_embedding_rows_trainable(tiny, tmp_path):
    """Stage 2 with LoRA and added tags: the tags' input rows train; the LM head stays out of peft
    (TRL's fused GRPO head reads its weight directly; see hyper_train.model.lora_config)."""
    from trl import GRPOConfig, ModelConfig

    from hyper_train.config import DataArgs, HyperModelArgs, PauseArgs, RewardArgs
    from hyper_train.grpo import build_grpo_trainer

    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=8, learning_rate=1e-2, report_to=[], save_strategy="no",
                      use_cpu=True, beta=0.0, seed=0)
    margs = ModelConfig(model_name_or_path=str(tiny), dtype="float32", use_peft=True, lora_r=4, lora_alpha=8)
    trainer = build_grpo_trainer(args, margs, DataArgs(), HyperModelArgs(add_chain_tags=True),
                                 PauseArgs(pause_warmup_tokens=2, max_pauses=1), RewardArgs(length_min_words=1),
                                 train_dataset=tiny_qa_dataset(2))
    indices = trainer.model.peft_config["default"].trainable_token_indices
    assert set(indices) == {"embed_tokens"} and len(indices["embed_tokens"]) == 21
    assert any("trainable_tokens" in n for n, p in trainer.model.named_parameters() if p.requires_grad)
    trainer.train()  # before the fix in lora_config, the head's peft wrapper broke the fused head here
    assert trainer.state.global_step == 1


@pytest.mark.slow
def test_upstream_hyper_recipe_parses_and_its_rollouts_run(tiny, tmp_path):
    """recipes/stage2_grpo_hyper.yaml (upstream HyPeR's settings) passes the key check and the
    stage-2 parser, and a rollout step with its <PAUSE> settings runs on the tiny model: the
    acoustic keywords are tokenised by the model's own tokenizer, pauses are biased (+50), not forced."""
    import dataclasses

    from trl import GRPOConfig, ModelConfig, TrlParser

    from hyper_train.cli import RECIPE_DIR, check_keys
    from hyper_train.config import DataArgs, HyperModelArgs, PauseArgs, RewardArgs

    types = (GRPOConfig, ModelConfig, DataArgs, HyperModelArgs, PauseArgs, RewardArgs)
    argv = ["--config", str(RECIPE_DIR / "stage2_grpo_hyper.yaml")]
    check_keys(types, argv)
    parsed = TrlParser(types).parse_args_and_config(argv + ["--output_dir", str(tmp_path), "--bf16", "false"])
    grpo, pause, rewards = parsed[0], parsed[4], parsed[5]
    assert (pause.pause_quantile, pause.pause_warmup_tokens) == (0.45, 32)
    assert (pause.max_pauses, pause.max_think_tokens) == (3, 64)
    assert pause.pause_bias == 50.0 and pause.acoustic_keyword_bias == 5.0 and pause.abort_on_repetition
    assert "pitch" in pause.acoustic_keywords and pause.pause_warmup_batch_mean and pause.pause_in_loss
    assert (grpo.beta, grpo.num_generations, grpo.max_completion_length) == (0.1, 4, 1024)
    assert (rewards.length_min_words, rewards.length_max_words) == (300, 800)

    # the trainer builds its processor from the recipe's PauseArgs (latent run shortened to fit
    # the tiny test's 16 generated tokens)
    trainer = make_trainer(tiny, tmp_path, max_steps=1, pause=dataclasses.replace(pause, max_think_tokens=2))
    tokenizer = trainer.processing_class.tokenizer
    proc = trainer.pause_processor
    assert (proc.pause_bias, proc.keyword_bias, proc.quantile) == (50.0, 5.0, 0.45)
    assert proc.warmup_batch_mean and proc.abort_on_repetition and trainer.pause_in_loss
    assert [tokenizer.encode(" pitch", add_special_tokens=False)] == [k for k in proc.keyword_ids
                                                                       if tokenizer.decode(k) == " pitch"]
    trainer.train()
    assert int(proc.forced_total) > 0  # batch-mean warm-up: pauses from the first steps
