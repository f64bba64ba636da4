"""Loading Qwen2-Audio (or any audio-text model with a processor) for training, and LoRA set-up."""

from __future__ import annotations

import logging
from typing import Any

from hyper_train.tokens import add_hyper_tokens

log = logging.getLogger(__name__)

LANGUAGE_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def resolve_dtype(name: str | None) -> Any:
    """``"auto"``/None -> bf16 on a GPU that supports it, else float32; otherwise the named torch dtype."""
    import torch

    if name in (None, "auto"):
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, name)


def load_model_and_processor(model_args: Any, hyper_args: Any) -> tuple[Any, Any, dict[str, int]]:
    """Load the model class + ``AutoProcessor``, add ``<PAUSE>`` (and tags), freeze the audio tower.

    ``model_args`` is TRL's ``ModelConfig``; ``hyper_args`` a ``HyperModelArgs``. Returns
    ``(model, processor, {token: id})``. The model class is the checkpoint's own ``architectures``
    entry (transformers has no Auto class for audio-text-to-text), so Qwen2-Audio loads as
    ``Qwen2AudioForConditionalGeneration``.
    """
    import torch
    import transformers
    from transformers import AutoConfig, AutoProcessor

    name = model_args.model_name_or_path
    if not name:
        raise ValueError("model_name_or_path is required")
    config = AutoConfig.from_pretrained(name, revision=model_args.model_revision)
    arch = (config.architectures or ["Qwen2AudioForConditionalGeneration"])[0]
    model_cls = getattr(transformers, arch)
    kwargs: dict[str, Any] = {"dtype": resolve_dtype(model_args.dtype)}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    model = model_cls.from_pretrained(name, revision=model_args.model_revision, **kwargs)
    processor = AutoProcessor.from_pretrained(name, revision=model_args.model_revision)
    ids = add_hyper_tokens(model, processor, chain_tags=hyper_args.add_chain_tags)
    if hyper_args.freeze_audio_tower:
        tower = getattr(getattr(model, "model", model), "audio_tower", None)
        if tower is None:
            log.warning("freeze_audio_tower: model has no audio_tower; nothing frozen")
        else:
            tower.requires_grad_(False)
    if torch.cuda.is_available():
        model.to("cuda")
    return model, processor, ids


def output_head_name(model: Any) -> str | None:
    """Module name of the LM head when it is a separate matrix from the input embeddings (None when
    tied, or when the model has no head): an untied head needs its own new-token rows trained."""
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    if head is None or embed is None or head.weight.data_ptr() == embed.weight.data_ptr():
        return None
    return next((name.rsplit(".", 1)[-1] for name, module in model.named_modules() if module is head), None)


def lora_config(model_args: Any, hyper_args: Any, new_token_ids: list[int], model: Any = None,
                head_rows: bool = True) -> Any:
    """A peft ``LoraConfig`` from TRL's ModelConfig fields plus the HyPeR scope options.

    With ``lora_language_only`` the targets are a regex over the language model's projections, so
    the audio encoder (which has its own ``q_proj``/``k_proj``...) stays untouched. With
    ``train_new_token_rows`` the added tokens' embedding rows train through peft's
    ``trainable_token_indices`` instead of unfreezing the whole 150k-row matrices; when ``model``
    has an untied LM head (Qwen2-Audio does), the same rows of the head train too, or the model
    could read the new tags but never learn to write one. ``head_rows=False`` leaves the head out
    (stage 2: TRL's GRPO scores completions through a fused head that reads ``lm_head.weight``
    directly; the rows were learnt in stage 1, whose merged model stage 2 starts from).
    """
    from peft import LoraConfig

    names = model_args.lora_target_modules or list(LANGUAGE_PROJECTIONS)
    if isinstance(names, str):
        names = [names]
    target: Any = names
    if hyper_args.lora_language_only:
        target = r".*language_model.*\.(" + "|".join(names) + r")$"
    extra: dict[str, Any] = {}
    if hyper_args.train_new_token_rows and new_token_ids:
        extra["trainable_token_indices"] = {"embed_tokens": list(new_token_ids)}
        head = output_head_name(model) if model is not None and head_rows else None
        if head:
            extra["trainable_token_indices"][head] = list(new_token_ids)
    return LoraConfig(r=model_args.lora_r, lora_alpha=model_args.lora_alpha,
                      lora_dropout=model_args.lora_dropout, target_modules=target,
                      modules_to_save=model_args.lora_modules_to_save, use_rslora=model_args.use_rslora,
                      use_dora=model_args.use_dora, task_type="CAUSAL_LM", **extra)


def save_final(trainer: Any, processor: Any, output_dir: str, merge_lora: bool,
               add_files: Any = None) -> str:
    """Save the trained model with its processor; LoRA runs save the adapter and, if asked, the merge.

    With ``push_to_hub`` (TrainingArguments) the finished folder goes to ``hub_model_id``: the model
    (or the adapter) with its processor and, for a merged LoRA run, ``merged/`` beside it, which is
    what the next stage or an inference user loads. ``add_files(folder)``, when given, writes extra
    files into every saved folder (main process only) before the push. Returns the folder the next
    stage should load.
    """
    from pathlib import Path

    trainer.save_model(output_dir)
    processor.save_pretrained(output_dir)
    model = trainer.accelerator.unwrap_model(trainer.model)
    final = output_dir
    if hasattr(model, "merge_and_unload") and merge_lora:
        final = str(Path(output_dir) / "merged")
        if trainer.accelerator.is_main_process:
            merged = model.merge_and_unload()
            merged.save_pretrained(final)
            processor.save_pretrained(final)
    if add_files is not None and getattr(trainer.args, "should_save", trainer.accelerator.is_main_process):
        for folder in dict.fromkeys([output_dir, final]):
            add_files(folder)
    if getattr(trainer.args, "push_to_hub", False):
        # Trainer.save_model pushed the adapter/model already; this upload adds the processor and
        # the merged model (Trainer.push_to_hub uploads output_dir, merged/ included)
        trainer.push_to_hub(commit_message="hyper-train: final model, processor" +
                            (" and merged LoRA model" if final != output_dir else ""))
    return final
