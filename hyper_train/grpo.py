"""Stage II: GRPO with audio in both the rollouts and the loss, ``<PAUSE>`` and HyPeR rewards.

``HyperGRPOTrainer`` is a small subclass of TRL's ``GRPOTrainer`` (no copied trainer code). TRL's
multimodal path knows images only: for audio its rollouts and its loss forward are text-only
(measured). Three hooks fix that:

1. ``rollout_func`` (TRL's extension point): the processor turns each prompt's chat text + audio
   into expanded audio tokens and log-mel features, ``generate`` runs with the ``<PAUSE>`` logits
   processor, and an ``env_mask`` drops the forced ``<PAUSE>`` positions from the policy loss;
2. the features of the batch travel with the rows (``input_features``/``feature_attention_mask``
   in the trainer's batch dict, so TRL's shuffling and splitting keep them aligned);
3. ``_get_per_token_logps_and_entropies`` hands them to every scoring forward (old/ref log-probs and
   the loss) through a forward pre-hook, chunk by chunk.
Optionally advantages are scaled by DeepConf-style group-relative confidence.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any

import torch
from trl import GRPOTrainer  # this module is imported lazily by the CLI, only for `stage2`

from hyper_train.collator import _clean_messages
from hyper_train.data import SAMPLE_RATE, decode_audio, load_qa, with_prompt
from hyper_train.model import load_model_and_processor, lora_config, save_final
from hyper_train.pause import (
    PAUSE_STATE,
    local_confidence_weights,
    lowest_window_confidence,
    pause_processor_from_args,
    save_pause,
)
from hyper_train.rewards import build_rewards
from hyper_train.tokens import get_tokenizer, token_id

log = logging.getLogger(__name__)

_AUDIO_KEYS = ("input_features", "feature_attention_mask")


class HyperGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose rollouts and loss forwards see the audio (see module docstring).

    Extra keyword arguments: ``pause_args`` (``PauseArgs``) and ``reward_args`` (``RewardArgs``).
    Dataset rows need ``prompt`` (chat messages with one audio part) and ``audio``.
    """

    def __init__(self, *args: Any, pause_args: Any = None, reward_args: Any = None, **kwargs: Any):
        import os
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is the documented hook
        model = kwargs.get("model", args[0] if args else None)
        config = getattr(model, "config", None)
        # TRL suppresses `config.image_token_id` in sampling for any processor-based model and fails on
        # audio configs, which have none; the audio placeholder is the token that must not be sampled
        borrowed = config is not None and not hasattr(config, "image_token_id")
        if borrowed:
            config.image_token_id = config.audio_token_id
        try:
            super().__init__(*args, **kwargs)
        finally:
            if borrowed:
                del config.image_token_id
        self.rollout_func = self._audio_rollout
        self.pause_args = pause_args
        self.reward_args = reward_args
        self.pause_id = token_id(self.processing_class)
        self.pause_in_loss = bool(getattr(pause_args, "pause_in_loss", False))
        conf_k = reward_args.confidence_top_k if getattr(reward_args, "confidence_weighting", False) else 0
        tokenizer = get_tokenizer(self.processing_class)
        self.pause_processor = (pause_processor_from_args(pause_args, self.pause_id, conf_k, tokenizer=tokenizer,
                                                          eos_id=self.eos_token_ids[0] if self.eos_token_ids else None)
                                if pause_args is not None else None)
        self._scoring_audio: tuple[torch.Tensor, torch.Tensor] | None = None
        self._rollout_audio: list[Any] | None = None
        self._rollout_confidence: torch.Tensor | None = None

    # -- 1. rollouts -------------------------------------------------------------------------
    def _audio_rollout(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        """Generate completions for ``prompts`` with their audio and the ``<PAUSE>`` processor."""
        from transformers import LogitsProcessorList
        from trl.models import unwrap_model_for_generation

        audios = self._rollout_audio
        if audios is None or len(audios) != len(prompts):
            raise RuntimeError("rollout called without the batch's audio (expected one clip per prompt)")
        texts = [self.processing_class.apply_chat_template(_clean_messages(p), add_generation_prompt=True,
                                                           tokenize=False) for p in prompts]
        batch = self.processing_class(text=texts, audio=audios, sampling_rate=SAMPLE_RATE, padding=True,
                                      padding_side="left", return_tensors="pt")
        device = self.accelerator.device
        batch = {k: v.to(device) for k, v in batch.items()}
        # the scoring forwards (old/ref log-probs inside TRL, then the loss) reuse these features
        self._scoring_audio = (batch["input_features"], batch["feature_attention_mask"])
        processors = LogitsProcessorList([self.pause_processor] if self.pause_processor else [])
        if self.pause_processor is not None:
            self.pause_processor.reset()
        with unwrap_model_for_generation(
            self.model_wrapped, self.accelerator, gather_deepspeed3_params=self.args.ds3_gather_for_generation,
            generation_kwargs=self.generation_kwargs,
            gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
        ) as unwrapped, torch.no_grad():
            out = unwrapped.generate(**batch, generation_config=self.generation_config,
                                     logits_processor=processors)
        prompt_len = batch["input_ids"].shape[1]
        completions = out[:, prompt_len:].cpu()
        eos = set(self.eos_token_ids)
        prompt_ids, completion_ids, env_mask, lengths = [], [], [], []
        for ids, mask, comp in zip(batch["input_ids"].cpu(), batch["attention_mask"].cpu(), completions):
            prompt_ids.append(ids[mask.bool()].tolist())
            comp = comp.tolist()
            cut = next((i + 1 for i, t in enumerate(comp) if t in eos), len(comp))
            comp = comp[:cut]
            completion_ids.append(comp)
            lengths.append(len(comp))
            env_mask.append([1 if self.pause_in_loss or t != self.pause_id else 0 for t in comp])
        self._rollout_confidence = self._completion_confidence(lengths)
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None,
                "env_mask": env_mask,
                "num_pauses": [sum(1 for t in c if t == self.pause_id) for c in completion_ids]}

    # -- checkpoints carry the PAUSE entropy history ------------------------------------------
    PAUSE_STATE = PAUSE_STATE

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        if self.pause_processor is not None and self.args.should_save:
            import os

            folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
            torch.save(self.pause_processor.state_dict(), os.path.join(folder, self.PAUSE_STATE))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        import os

        path = os.path.join(resume_from_checkpoint, self.PAUSE_STATE)
        if self.pause_processor is not None and os.path.isfile(path):
            # without it a resumed run would restart the quantile's warm-up from an empty history
            self.pause_processor.load_state_dict(torch.load(path, weights_only=True))

    def _completion_confidence(self, lengths: list[int]) -> torch.Tensor | None:
        proc = self.pause_processor
        if proc is None or not proc.confidences:
            return None
        conf = torch.stack(proc.confidences, dim=1)  # (B, T) per generated step
        steps = torch.arange(conf.shape[1], device=conf.device)[None, :]
        mask = steps < torch.tensor(lengths, device=conf.device)[:, None]
        return lowest_window_confidence(conf, mask, self.reward_args.confidence_window)

    # -- 2. audio rows travel with the batch -------------------------------------------------
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        self._rollout_audio = [decode_audio(x["audio"], SAMPLE_RATE) for x in inputs]
        try:
            output = super()._generate_and_score_completions(inputs)
            if self._scoring_audio is None:
                raise RuntimeError("rollout produced no audio features")
            output["input_features"], output["feature_attention_mask"] = self._scoring_audio
        finally:
            self._scoring_audio, self._rollout_audio = None, None
        self._apply_confidence(output, self._rollout_confidence)
        self._rollout_confidence = None
        return output

    def _apply_confidence(self, output: dict[str, Any], conf: torch.Tensor | None) -> None:
        """DeepConf: scale each completion's advantage by its confidence relative to its group
        (groups may span processes: see ``pause.local_confidence_weights``)."""
        if conf is None or not getattr(self.reward_args, "confidence_weighting", False):
            return
        group = self.num_generations if self.model.training else self.num_generations_eval
        clip = tuple(self.reward_args.confidence_clip)
        weights = local_confidence_weights(conf.to(output["advantages"].device), self.accelerator.gather,
                                           self.accelerator.process_index, group, clip)
        output["advantages"] = output["advantages"] * (weights if output["advantages"].dim() == 1
                                                       else weights[:, None])
        self._metrics["train" if self.model.training else "eval"]["deepconf/weight_std"].append(
            float(weights.std()) if weights.numel() > 1 else 0.0)

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        if inputs.get("input_features") is None:
            raise RuntimeError("loss batch holds no audio features")
        self._scoring_audio = (inputs["input_features"], inputs["feature_attention_mask"])
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._scoring_audio = None

    # -- 3. every scoring forward gets the audio ---------------------------------------------
    @contextmanager
    def _inject_audio(self, model: Any, features: torch.Tensor, feature_mask: torch.Tensor, rows: int):
        def hook(_module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
            ids = kwargs.get("input_ids", args[0] if args else None)
            if ids is not None and ids.shape[0] != rows:
                raise RuntimeError(f"audio rows ({rows}) do not match the forward's batch ({ids.shape[0]})")
            kwargs.setdefault("input_features", features)
            kwargs.setdefault("feature_attention_mask", feature_mask)
            return args, kwargs

        handle = model.register_forward_pre_hook(hook, with_kwargs=True)
        try:
            yield
        finally:
            handle.remove()

    def _get_per_token_logps_and_entropies(self, model: Any, input_ids: torch.Tensor,
                                           attention_mask: torch.Tensor, logits_to_keep: int,
                                           batch_size: int | None = None, compute_entropy: bool = False,
                                           compute_aux_loss: bool = False, **kwargs: Any):
        audio = self._scoring_audio
        if audio is None:
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **kwargs)
        features, feature_mask = audio
        if features.shape[0] != input_ids.shape[0]:
            raise RuntimeError(f"{features.shape[0]} audio rows for {input_ids.shape[0]} sequences")
        if any(v is not None for v in kwargs.values()):
            raise ValueError("image inputs are not supported together with audio")
        step = batch_size or input_ids.shape[0]
        logps, entropies, aux = [], [], []
        for start in range(0, input_ids.shape[0], step):
            end = min(start + step, input_ids.shape[0])
            with self._inject_audio(model, features[start:end], feature_mask[start:end], end - start):
                lp, ent, ax = super()._get_per_token_logps_and_entropies(
                    model, input_ids[start:end], attention_mask[start:end], logits_to_keep,
                    batch_size=end - start, compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss)
            logps.append(lp)
            entropies.append(ent)
            aux.append(ax)
        return (torch.cat(logps), torch.cat(entropies) if compute_entropy else None,
                torch.stack(aux).mean() if compute_aux_loss else None)


def prepare_grpo_args(args: Any) -> Any:
    """Set the GRPOConfig fields the audio path depends on."""
    args.remove_unused_columns = False  # rewards and rollouts read audio/answer/evidence columns
    if args.use_vllm:
        raise ValueError("use_vllm is not supported: vLLM rollouts would not see the audio")
    return args


def build_grpo_trainer(grpo_args: Any, model_args: Any, data_args: Any, hyper_args: Any, pause_args: Any,
                       reward_args: Any, train_dataset: Any = None, model: Any = None,
                       processor: Any = None) -> HyperGRPOTrainer:
    """A ``HyperGRPOTrainer`` ready to ``train()``; datasets/model are loaded from the args unless given."""
    token_ids: dict[str, int] = {}
    if model is None:
        model, processor, token_ids = load_model_and_processor(model_args, hyper_args)
    if train_dataset is None:
        train_dataset = load_qa(data_args.train_data, data_args.train_split, data_args.audio_root,
                                data_args.max_train_samples)
    train_dataset = with_prompt(train_dataset)
    eval_dataset = None
    if data_args.eval_data:  # the trainer's eval loop (eval_strategy) scores rollouts on it
        eval_dataset = with_prompt(load_qa(data_args.eval_data, data_args.eval_split, data_args.audio_root,
                                           data_args.max_eval_samples))
    rewards = build_rewards(reward_args.reward_names, reward_args)
    if grpo_args.reward_weights is not None and len(grpo_args.reward_weights) != len(rewards):
        raise ValueError(f"{len(grpo_args.reward_weights)} reward_weights for {len(rewards)} reward_names")
    # head_rows=False: see lora_config (the fused GRPO head cannot see peft's head rows)
    peft = (lora_config(model_args, hyper_args, list(token_ids.values()), model, head_rows=False)
            if model_args.use_peft else None)
    return HyperGRPOTrainer(model=model, reward_funcs=rewards, args=prepare_grpo_args(grpo_args),
                            train_dataset=train_dataset, eval_dataset=eval_dataset, processing_class=processor,
                            peft_config=peft, pause_args=pause_args, reward_args=reward_args)


def run_stage2(grpo_args: Any, model_args: Any, data_args: Any, hyper_args: Any, pause_args: Any,
               reward_args: Any) -> str:
    """Train Stage II and save model + processor; returns the output folder."""
    trainer = build_grpo_trainer(grpo_args, model_args, data_args, hyper_args, pause_args, reward_args)
    trainer.train(resume_from_checkpoint=grpo_args.resume_from_checkpoint)
    # eval --pause_at_inference reads the trained PAUSE settings and entropy history from the model folder
    out = save_final(trainer, trainer.processing_class, grpo_args.output_dir, hyper_args.merge_lora,
                     add_files=lambda folder: save_pause(folder, pause_args, trainer.pause_processor))
    log.info("stage2 done: %s", out)
    return out
