"""Stage I collator: runs the processor on audio + chat text, labels only the assistant chain.

TRL's own collators drop the audio column or raise on it (measured with trl 1.16), so Stage I
batches are built here: the processor expands each ``<|AUDIO|>`` placeholder into one token per
audio frame and computes the log-mel features; labels are ``-100`` on the system/user prompt (audio
placeholder tokens included), on padding, and everywhere before the assistant's first token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyper_train.data import SAMPLE_RATE, decode_audio
from hyper_train.tokens import get_tokenizer

IGNORE_INDEX = -100


def _clean_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop ``None`` keys that parquet round-trips add to content parts (``{"type": "audio", "text": None}``)."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            content = [{k: v for k, v in part.items() if v is not None} for part in content]
        out.append({"role": m["role"], "content": content})
    return out


def split_prompt_and_target(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(messages before the last assistant turn, [that assistant turn]); raises if there is none."""
    messages = _clean_messages(messages)
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("SFT rows need messages ending with an assistant turn (the target chain)")
    return messages[:-1], messages[-1:]


@dataclass
class AudioChatCollator:
    """Collate qa rows (``audio`` + ``messages``) into Qwen2-Audio training batches.

    Returns ``input_ids``, ``attention_mask``, ``labels``, ``input_features`` and
    ``feature_attention_mask``. ``max_length`` truncates the assistant tail (never the prompt, which
    holds the audio tokens the features must match); rows whose prompt alone exceeds it raise.
    """

    processor: Any
    """A Qwen2-Audio style processor (tokenizer + feature extractor + chat template)."""
    max_length: int | None = None
    """Longest tokenised row (prompt with expanded audio tokens + chain); None keeps full rows."""
    sampling_rate: int = SAMPLE_RATE
    """Rate the feature extractor expects; audio is resampled to it."""

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        tok = get_tokenizer(self.processor)
        prompts, fulls, audios = [], [], []
        for ex in examples:
            prompt_msgs, target = split_prompt_and_target(ex["messages"])
            prompt_text = self.processor.apply_chat_template(prompt_msgs, add_generation_prompt=True,
                                                             tokenize=False)
            full_text = self.processor.apply_chat_template(prompt_msgs + target, tokenize=False)
            if not full_text.startswith(prompt_text):
                raise ValueError("chat template renders the prompt differently with the answer appended")
            prompts.append(prompt_text)
            fulls.append(full_text)
            audios.append(decode_audio(ex["audio"], self.sampling_rate))
        batch = self.processor(text=fulls, audio=audios, sampling_rate=self.sampling_rate,
                               padding=True, return_tensors="pt")
        input_ids, attention = batch["input_ids"], batch["attention_mask"]
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        audio_id = tok.convert_tokens_to_ids(self.processor.audio_token)
        for i, prompt_text in enumerate(prompts):
            row = input_ids[i]
            start = int(attention[i].nonzero()[0])  # first real token, whatever the padding side
            n_audio = int((row == audio_id).sum())
            # the unexpanded prompt holds one <|AUDIO|> per clip; the processor made n_audio of them
            prompt_ids = tok(prompt_text, add_special_tokens=False)["input_ids"]
            n_clips = prompt_ids.count(audio_id)
            prompt_len = len(prompt_ids) - n_clips + n_audio
            end = start + int(attention[i].sum())
            if row[start + prompt_len - 1].item() != prompt_ids[-1]:
                raise ValueError("prompt tokens are not a prefix of the full row (tokenizer merged across "
                                 "the prompt/answer boundary)")
            labels[i, start + prompt_len:end] = row[start + prompt_len:end]
        if self.max_length is not None and input_ids.shape[1] > self.max_length:
            if bool((labels[:, : self.max_length] == IGNORE_INDEX).all(dim=1).any()):
                raise ValueError(f"a prompt is longer than max_length={self.max_length}")
            input_ids, attention, labels = (t[:, : self.max_length] for t in (input_ids, attention, labels))
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels,
                "input_features": batch["input_features"],
                "feature_attention_mask": batch["feature_attention_mask"]}
