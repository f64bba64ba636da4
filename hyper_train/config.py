"""Dataclass configs of ``hyper-train``; recipes (YAML) and ``--key value`` flags fill them.

The CLI parses each command with TRL's ``TrlParser`` over these dataclasses plus TRL's own
``SFTConfig``/``GRPOConfig`` (all ``transformers.TrainingArguments`` fields) and ``ModelConfig``
(model id, dtype, LoRA). Field names are unique across all of them, so a recipe is one flat mapping.
Every field below carries its help text in ``metadata["help"]`` (shown by ``--help``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _f(default, help: str, **kw):
    """A dataclass field with a default and help text (lists get a factory)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


@dataclass
class DataArgs:
    """Where training/eval rows come from (see ``hyper_train.data``)."""

    train_data: str | None = _f(None, "Built PAQA folder, Hub dataset id, or upstream HyPeR JSONL / MMAU-style "
                                      "JSON; several, comma-separated, are mixed.")
    train_split: str = _f("train", "Split of train_data to train on (PAQA folders: train/validation/test).")
    eval_data: str | None = _f(None, "Optional held-out set for the trainer's eval loop (same forms as train_data).")
    eval_split: str = _f("validation", "Split of eval_data.")
    audio_root: str | None = _f(None, "Folder that relative audio paths in JSON/JSONL rows are resolved against.")
    max_train_samples: int | None = _f(None, "Use only the first N training rows (smoke runs).")
    max_eval_samples: int | None = _f(None, "Use only the first N eval rows.")


@dataclass
class HyperModelArgs:
    """Model set-up on top of TRL's ModelConfig: tokens, frozen parts, LoRA scope."""

    add_chain_tags: bool = _f(False, "Also add the chain tags (<THINK>, </THINK>, ...) as single tokens.")
    freeze_audio_tower: bool = _f(True, "Keep the audio encoder frozen (HyPeR trains the LLM and projector).")
    lora_language_only: bool = _f(True, "Apply LoRA only to the language model's projections, not the audio encoder.")
    train_new_token_rows: bool = _f(True, "With LoRA, also train the added tokens' input-embedding rows, and in "
                                          "stage 1 their rows of an untied LM head.")
    merge_lora: bool = _f(True, "After LoRA training, save the merged full model (what stage2/eval load).")


@dataclass
class PauseArgs:
    """The <PAUSE> logits processor used in Stage II rollouts (``hyper_train.pause``)."""

    pause_enabled: bool = _f(True, "Force <PAUSE> on high-entropy steps during rollouts.")
    pause_quantile: float = _f(0.9, "Entropy quantile (of the running history) above which a pause is forced.")
    pause_min_entropy: float = _f(1.0, "Absolute entropy floor (nats): never pause on a distribution below it.")
    pause_warmup_tokens: int = _f(256, "Entropies to collect before any pause is forced (quantile needs a history).")
    pause_history_size: int = _f(8192, "Length of the running entropy history (most recent steps).")
    max_pauses: int = _f(4, "Most pause events per completion; afterwards <PAUSE> is banned.")
    max_think_tokens: int = _f(8, "Most consecutive <PAUSE> tokens per pause event (latent think steps).")
    pause_in_loss: bool = _f(False, "Keep <PAUSE> positions in the policy loss (default: excluded, they are forced).")
    pause_bias: float = _f(0.0, "0: force <PAUSE> on a triggered step; > 0: add this logit bias instead (upstream "
                                "HyPeR: 50), so the row still samples.")
    pause_warmup_batch_mean: bool = _f(False, "Until pause_warmup_tokens entropies are collected, use the step's "
                                              "batch-mean entropy as the threshold (upstream), not never pause.")
    acoustic_keywords: list[str] = _f([], "Words (e.g. pitch, noise) after which <PAUSE> gets acoustic_keyword_bias "
                                          "for acoustic_keyword_window steps (upstream HyPeR's acoustic trigger).")
    acoustic_keyword_bias: float = _f(0.0, "Logit bias added to <PAUSE> after an acoustic keyword (upstream: 5).")
    acoustic_keyword_window: int = _f(64, "Steps after an acoustic keyword during which the bias applies.")
    abort_on_repetition: bool = _f(False, "End a rollout (EOS only) whose last generated tokens loop: 6 identical "
                                          "in a row, or >= 60 % repeats over 64 tokens (upstream).")


@dataclass
class RewardArgs:
    """Reward functions of Stage II (``hyper_train.rewards``); their weights are GRPOConfig's ``reward_weights``."""

    reward_names: list[str] = _f(["accuracy", "format", "consistency", "length"],
                                 "Reward functions to use, by name (built-ins: accuracy, format, consistency, length; "
                                 "plug-ins from the hyper_train.rewards entry-point group).")
    length_min_words: int = _f(60, "Length shaping: completions shorter than this lose reward linearly.")
    length_max_words: int = _f(400, "Length shaping: completions longer than this lose reward linearly.")
    confidence_weighting: bool = _f(False, "DeepConf-style: scale each completion's advantage by its group-relative "
                                           "lowest-window confidence.")
    confidence_window: int = _f(16, "Sliding window (tokens) of the lowest-window confidence.")
    confidence_top_k: int = _f(5, "Top-k log-probs averaged into each token's confidence.")
    confidence_clip: list[float] = _f([0.5, 1.5], "Clip range of the confidence weights (min, max).")


@dataclass
class EvalArgs:
    """``hyper-train eval``."""

    model_path: str | None = _f(None, "Checkpoint folder (model + processor) to evaluate.")
    eval_file: str | None = _f(None, "PAQA folder, Hub id, or MMAU/MMAR-style JSON.")
    split: str = _f("test", "Split of a PAQA folder / Hub dataset.")
    audio_dir: str | None = _f(None, "Folder relative audio paths of JSON rows are resolved against.")
    predictions: str = _f("predictions.jsonl", "Where per-question predictions are written (JSONL).")
    batch_size: int = _f(4, "Questions per generate call.")
    max_new_tokens: int = _f(512, "Generation length limit.")
    do_sample: bool = _f(False, "Sample instead of greedy decoding.")
    max_samples: int | None = _f(None, "Evaluate only the first N questions.")
    eval_dtype: str = _f("auto", "Weights dtype: auto, bfloat16, float16 or float32.")
    mmau_output: str | None = _f(None, "Also write the eval JSON rows with a 'model_prediction' (the chosen "
                                       "option's text), the file the official MMAU/MMAR scorers read.")
    silent_baseline: bool = _f(False, "Ask every question again with the audio replaced by silence of the same "
                                      "length, and report that accuracy beside the real one (the share of "
                                      "questions answerable without listening).")
    swapped_baseline: bool = _f(False, "Ask every question again with another clip's audio (the next clip, "
                                       "cyclically), and report that accuracy beside the real one.")
    pause_at_inference: bool = _f(False, "Generate with the stage-2 <PAUSE> logits processor as trained (the "
                                         "pause_args.json and pause_state.pt Stage II saves beside the model; "
                                         "defaults when absent), as HyPeR pauses at test time.")
