"""Stage I: supervised fine-tuning on perception chains with TRL's SFTTrainer.

The trainer is TRL's own; what HyPeR needs on top is the audio collator (``AudioChatCollator``),
``skip_prepare_dataset`` (TRL's text preparation would drop the audio column) and the token set-up.
The loss covers the assistant chain only: the collator labels nothing else.
"""

from __future__ import annotations

import logging
from typing import Any

from hyper_train.collator import AudioChatCollator
from hyper_train.data import load_qa
from hyper_train.model import load_model_and_processor, lora_config, output_head_name, save_final

log = logging.getLogger(__name__)


def prepare_sft_args(args: Any) -> Any:
    """Set the SFTConfig fields the audio path depends on (whatever the recipe said)."""
    args.remove_unused_columns = False  # the collator needs `audio` and `messages`
    args.dataset_kwargs = {**(args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    args.assistant_only_loss = False  # masking is the collator's job (TRL's needs template markers)
    args.completion_only_loss = False
    args.packing = False
    return args


def _head_rows_trainer(base: type) -> type:
    """``base`` (TRL's SFTTrainer) with the plain causal-LM loss of ``transformers.Trainer``.

    TRL computes the SFT loss through a fused LM head that reads ``lm_head.weight`` directly, so the
    new-token rows peft trains in the head (``lora_config``'s ``trainable_token_indices``) would
    never enter the loss (and peft's head wrapper has no ``bias`` for it to read). The model's own
    forward goes through the wrapper. The price is the full logits tensor, as in any HF Trainer."""
    from transformers import Trainer

    class HeadRowsSFTTrainer(base):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = {**inputs, "use_cache": False}
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    return HeadRowsSFTTrainer


def build_sft_trainer(sft_args: Any, model_args: Any, data_args: Any, hyper_args: Any,
                      train_dataset: Any = None, model: Any = None, processor: Any = None) -> Any:
    """An ``SFTTrainer`` ready to ``train()``; datasets/model are loaded from the args unless given."""
    from trl import SFTTrainer

    token_ids: dict[str, int] = {}
    if model is None:
        model, processor, token_ids = load_model_and_processor(model_args, hyper_args)
    if train_dataset is None:
        train_dataset = load_qa(data_args.train_data, data_args.train_split, data_args.audio_root,
                                data_args.max_train_samples)
    eval_dataset = None
    if data_args.eval_data:
        eval_dataset = load_qa(data_args.eval_data, data_args.eval_split, data_args.audio_root,
                               data_args.max_eval_samples)
    peft = lora_config(model_args, hyper_args, list(token_ids.values()), model) if model_args.use_peft else None
    head = output_head_name(model) if peft is not None else None
    trains_head_rows = head is not None and head in (getattr(peft, "trainable_token_indices", None) or {})
    trainer_cls = _head_rows_trainer(SFTTrainer) if trains_head_rows else SFTTrainer
    return trainer_cls(model=model, args=prepare_sft_args(sft_args), train_dataset=train_dataset,
                      eval_dataset=eval_dataset, processing_class=processor, peft_config=peft,
                      data_collator=AudioChatCollator(processor, max_length=sft_args.max_length))


def run_stage1(sft_args: Any, model_args: Any, data_args: Any, hyper_args: Any) -> str:
    """Train Stage I and save model + processor; returns the folder Stage II should start from."""
    trainer = build_sft_trainer(sft_args, model_args, data_args, hyper_args)
    trainer.train(resume_from_checkpoint=sft_args.resume_from_checkpoint)
    out = save_final(trainer, trainer.processing_class, sft_args.output_dir, hyper_args.merge_lora)
    log.info("stage1 done: %s", out)
    return out
