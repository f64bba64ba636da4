"""Test helper: a tiny random-weight Qwen2-Audio with a locally trained tokenizer, saved to a folder.

Nothing is downloaded. The tokenizer is a byte-level BPE trained here on chain-format text (so the
vocabulary is a few hundred tokens), the feature extractor is a Whisper extractor with a 10 s window
(the encoder's positions are sized to match), and the model is ``Qwen2AudioForConditionalGeneration``
built from a random config. ``<PAUSE>`` is added by ``hyper_train.tokens.add_hyper_tokens`` exactly as
training does, then everything is saved and reloaded through ``AutoProcessor`` and the model class,
the same loaders a real checkpoint goes through.
"""

from __future__ import annotations

import json
from pathlib import Path

from paqa_builder.chain import ALL_TAGS, LETTERS

_CORPUS = [
    "The speaker says hello and a dog barks in the background.",
    "Speaker 1 [0.0-3.2s]: \"good morning everyone\" Speaker 2 [3.4-5.0s]: \"thanks\"",
    "- dog barking [0.0-10.0s] (louder than speech)",
    "1. The question asks which sound is present. 2. The answer is (B).",
    "What sound can be heard? Which option is correct? How many speakers are there?",
    "Listen for background sounds, music, speech, rain, engine, birds, applause and laughter.",
    "You are a helpful assistant. Audio 1: choose the answer from the options.",
    " ".join(f"<{t}> </{t}>" for t in ALL_TAGS),
    " ".join(f"({c}) option {c}" for c in LETTERS),
]

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>"]


def tiny_tokenizer(special: list[str], vocab_size: int = 600, extra_special_tokens: dict[str, str] | None = None):
    """A ``Qwen2Tokenizer`` whose byte-level BPE is trained here on ``_CORPUS``; ``special`` tokens
    get the first ids (``special[0]`` is unk and pad, ``<|im_end|>`` the eos)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(_CORPUS * 4, trainer=trainer)
    model_json = json.loads(bpe.to_str())["model"]
    vocab, merges = model_json["vocab"], model_json["merges"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]
    extra = {"extra_special_tokens": extra_special_tokens} if extra_special_tokens else {}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=special[0], eos_token="<|im_end|>",
                               pad_token=special[0], **extra)
    tokenizer.add_special_tokens({"additional_special_tokens": special[1:]})
    return tokenizer


def build_tiny_qwen2_audio(out_dir: str | Path, vocab_size: int = 600, window_s: int = 10,
                           seed: int = 0, text_width: int = 48, text_heads: int = 4) -> Path:
    """Build, save and return the folder of a tiny Qwen2-Audio model + processor with ``<PAUSE>``.

    ``window_s`` is the feature extractor's chunk length; the audio encoder's ``max_source_positions``
    is set to match (Whisper encoders reject any other input length). vLLM's CPU build needs
    ``window_s=30`` and a head size of 32 or more (``text_width=64, text_heads=2``;
    ``benchmarks/vllm_pause_check.py``).
    """
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)

    # 1. byte-level BPE trained on the tiny corpus; special tokens get the first ids
    tokenizer = tiny_tokenizer(SPECIAL, vocab_size)

    feature_extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000,
                                                chunk_length=window_s, hop_length=160, n_fft=400)
    processor = Qwen2AudioProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)

    # 2. random config: 2 text layers (width 48 by default), 2 audio layers of width 32
    config = Qwen2AudioConfig(
        audio_config={"num_mel_bins": 128, "encoder_layers": 2, "encoder_attention_heads": 2,
                      "encoder_ffn_dim": 64, "d_model": 32, "max_source_positions": window_s * 50},
        text_config={"model_type": "qwen2", "vocab_size": len(tokenizer), "hidden_size": text_width,
                     "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": text_heads,
                     "num_key_value_heads": max(1, text_heads // 2), "max_position_embeddings": 2048,
                     "tie_word_embeddings": False},
        audio_token_id=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    # 3. the same token step training runs, then save + reload through the real loaders
    return save_tiny(Qwen2AudioForConditionalGeneration(config), processor, tokenizer, out)


def save_tiny(model, processor, tokenizer, out: Path) -> Path:
    """Set eos/pad, add ``<PAUSE>`` as training does, save both to ``out`` and reload the processor
    through ``AutoProcessor`` (so a folder that does not load fails here, not in a test)."""
    from transformers import AutoProcessor

    from hyper_train.tokens import add_hyper_tokens

    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    add_hyper_tokens(model, processor)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    AutoProcessor.from_pretrained(out)
    return out


def tiny_qa_rows(n: int = 4, seconds: float = 1.0, seed: int = 0) -> list[dict]:
    """``n`` PAQA-like qa rows (tone + noise audio, chain targets) with alternating tasks/answers."""
    import numpy as np

    from hyper_train.data import sft_messages
    from paqa_builder.chain import Chain, env_line, render

    rng = np.random.default_rng(seed)
    choices = ["dog barking", "rain", "engine", "music"]
    rows = []
    for i in range(n):
        letter = LETTERS[i % 2]
        t = np.arange(int(16000 * seconds)) / 16000
        audio = (0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) + 0.05 * rng.standard_normal(t.size))
        chain = render(Chain(planning="Listen for the background sound.",
                             reasoning=[f"I hear {choices[i % 2]}.", f"That is option ({letter})."],
                             summary=f"The answer is ({letter}).", answer=letter,
                             env=env_line(choices[i % 2], 0.0, seconds)))
        question = "Which sound is present in this audio?"
        rows.append({
            "id": f"clip{i}/env_present/0", "clip_id": f"clip{i}",
            "audio": {"array": audio.astype("float32"), "sampling_rate": 16000},
            "question": question, "choices": choices, "answer": letter, "answer_text": choices[i % 2],
            "task": ["env_present", "env_absent"][i % 2], "chain": chain,
            "messages": sft_messages(question, choices, chain),
            "evidence": json.dumps({"env_labels": [choices[i % 2]], "absent_labels": choices[2:]}),
        })
    return rows


def tiny_qa_dataset(n: int = 4, seconds: float = 1.0, seed: int = 0):
    """``tiny_qa_rows`` as a ``datasets.Dataset`` with a 16 kHz ``Audio`` column."""
    import datasets

    return datasets.Dataset.from_list(tiny_qa_rows(n, seconds, seed)).cast_column(
        "audio", datasets.Audio(sampling_rate=16000))


def make_grpo_trainer(model_dir: str | Path, out: str | Path, max_steps: int = 2, pause=None, **reward_kw):
    """A HyPeR GRPO trainer on a tiny model (Qwen2-Audio or the Omni thinker) that pauses within
    its 16 generated tokens: a warm-up of 4 steps and the median entropy as the threshold, unless
    ``pause`` (a ``PauseArgs``) says otherwise."""
    from trl import GRPOConfig, ModelConfig

    from hyper_train.config import DataArgs, HyperModelArgs, PauseArgs, RewardArgs
    from hyper_train.grpo import build_grpo_trainer

    args = GRPOConfig(output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=2,
                      num_generations=2, max_completion_length=16, learning_rate=1e-2, report_to=[],
                      save_strategy="no", use_cpu=True, logging_steps=1, beta=0.04, seed=0)
    pause = pause or PauseArgs(pause_warmup_tokens=4, pause_quantile=0.5, pause_min_entropy=0.0,
                               max_pauses=2, max_think_tokens=2)
    margs = ModelConfig(model_name_or_path=str(model_dir), dtype="float32")
    return build_grpo_trainer(args, margs, DataArgs(), HyperModelArgs(), pause,
                              RewardArgs(length_min_words=30, **reward_kw), train_dataset=tiny_qa_dataset(4))
