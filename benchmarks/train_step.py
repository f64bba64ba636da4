"""Stage II step time of HyperGRPOTrainer vs plain TRL GRPOTrainer, and <PAUSE> processor overhead.

    python benchmarks/train_step.py [--steps 12] [--vocab 151700]

Three trainers run on the same tiny random Qwen2-Audio (tests/tiny_qwen2_audio.py) with the same
batch, generation length and seed, one after another in one run:

* ``hyper``: the full stage-2 step (audio in rollouts and every scoring forward, the ``<PAUSE>``
  processor, the four chain rewards);
* ``audio``: the fair baseline: the same audio inputs through the same audio-feeding subclass
  with no ``<PAUSE>`` processor and the accuracy reward only. Any GRPO on Qwen2-Audio must feed
  the audio; ``ratio`` = hyper / audio is what HyPeR itself adds (issue 18 target <= 1.15);
* ``trl``: plain TRL ``GRPOTrainer``, which cannot feed audio to Qwen2-Audio, so its prompts are
  text-only (``ratio_vs_text_only_trl``; the audio path's own cost shows against it).

Numbers are wall-clock on this host: the median step of each trainer, its first (warm-up) step left out.
The processor overhead is measured three times: inside ``generate`` on the tiny model (same forced
length with and without it), alone on Qwen2-Audio-sized logits (``--vocab``), and inside
``generate`` on a random model with Qwen2-Audio-7B's width and vocabulary but one decoder layer
(``--full-width-layers``; the issue 18 target of <= 10 % per generated token is judged there).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _grpo_args(out: str, steps: int):
    from trl import GRPOConfig

    return GRPOConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=4, num_generations=4,
                      max_completion_length=32, learning_rate=1e-4, report_to=[], save_strategy="no",
                      use_cpu=True, logging_steps=1, beta=0.0, seed=0, generation_kwargs={"min_new_tokens": 32})


def _step_times(trainer) -> list[float]:
    return [h["step_time"] for h in trainer.state.log_history if "step_time" in h]


def bench_steps(tiny: Path, steps: int, rounds: int = 2) -> dict:
    """Median step time (each run's first step left out) of the three trainers.

    The hyper and audio trainers run ``rounds`` times each in A-B-B-A order (a fresh trainer every
    time), so a machine that speeds up or slows down during the run weighs on both alike: with one
    run each, the second trainer's steps were up to 20 % faster for no reason of its own."""
    from tiny_qwen2_audio import tiny_qa_dataset
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration
    from trl import GRPOTrainer

    from hyper_train.config import PauseArgs, RewardArgs
    from hyper_train.data import with_prompt
    from hyper_train.grpo import HyperGRPOTrainer, prepare_grpo_args
    from hyper_train.rewards import build_rewards

    ds = with_prompt(tiny_qa_dataset(8))
    rewards = build_rewards(["accuracy", "format", "consistency", "length"], RewardArgs())
    result: dict = {"hyper_step_s": [], "audio_step_s": []}
    with tempfile.TemporaryDirectory() as out:
        def run(kind: str, record: bool = True) -> None:
            model = Qwen2AudioForConditionalGeneration.from_pretrained(tiny)
            if kind == "hyper":  # the full stage-2 step
                funcs, pause = rewards, PauseArgs(pause_warmup_tokens=16)
            else:  # fair baseline: the same audio path, no PAUSE, no chain rewards
                funcs, pause = build_rewards(["accuracy"], RewardArgs()), None
            trainer = HyperGRPOTrainer(model=model, reward_funcs=funcs,
                                       args=prepare_grpo_args(_grpo_args(out, steps)), train_dataset=ds,
                                       processing_class=AutoProcessor.from_pretrained(tiny),
                                       pause_args=pause, reward_args=RewardArgs())
            trainer.train()
            if record:
                result[f"{kind}_step_s"] += _step_times(trainer)[1:]  # the first step warms up

        # the first trainer of a process ran every step about 60 % slower (0.29 s against 0.17-0.18 s
        # for both kinds afterwards), whichever kind it was: one untimed run takes that cost
        run("audio", record=False)
        for r in range(rounds):
            for kind in (("hyper", "audio") if r % 2 == 0 else ("audio", "hyper")):
                run(kind)

        # plain TRL: text-only prompts (it has no audio path); it needs an image_token_id to suppress
        model = Qwen2AudioForConditionalGeneration.from_pretrained(tiny)
        model.config.image_token_id = model.config.audio_token_id
        text_ds = ds.map(lambda r: {"prompt": [{"role": "user", "content": r["prompt"][0]["content"][1]["text"]}]})
        text_ds = text_ds.remove_columns(["audio"])
        args = _grpo_args(out, steps)
        args.remove_unused_columns = False
        plain = GRPOTrainer(model=model, reward_funcs=rewards, args=args, train_dataset=text_ds,
                            processing_class=AutoProcessor.from_pretrained(tiny).tokenizer)
        plain.train()
        result["trl_step_s"] = _step_times(plain)[1:]
    for name in ("hyper", "audio", "trl"):
        # the median of the steps after each run's first (warm-up): tiny-model steps take ~0.2 s,
        # and one slow step on a shared machine would otherwise decide the ratio
        result[f"{name}_median_s"] = statistics.median(result[f"{name}_step_s"])
    result["ratio"] = result["hyper_median_s"] / result["audio_median_s"]
    result["ratio_vs_text_only_trl"] = result["hyper_median_s"] / result["trl_median_s"]
    return result


def bench_pause(tiny: Path, vocab: int, tokens: int = 64, batch: int = 4) -> dict:
    """Per-token overhead of the processor: inside tiny-model generate, and alone at full vocab size."""
    import torch
    from transformers import AutoProcessor, LogitsProcessorList, Qwen2AudioForConditionalGeneration

    from hyper_train.pause import PauseLogitsProcessor
    from hyper_train.tokens import token_id

    model = Qwen2AudioForConditionalGeneration.from_pretrained(tiny).eval()
    proc = AutoProcessor.from_pretrained(tiny)
    ids = torch.randint(10, 400, (batch, 16))
    pause = PauseLogitsProcessor(token_id(proc), warmup=16, max_pauses=0)  # measure cost, not longer output

    def run(lp):
        start = time.perf_counter()
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens,
                           min_new_tokens=tokens, do_sample=True, logits_processor=lp)
        return (time.perf_counter() - start) / tokens

    run(LogitsProcessorList())  # warm-up
    base = min(run(LogitsProcessorList()) for _ in range(3))
    with_p = min(run(LogitsProcessorList([pause])) for _ in range(3))
    big = PauseLogitsProcessor(5, warmup=16)
    scores = torch.randn(batch, vocab)
    seq = torch.zeros(batch, 8, dtype=torch.long)
    for _ in range(20):
        big(seq, scores)
    start = time.perf_counter()
    for _ in range(100):
        big(seq, scores)
    alone = (time.perf_counter() - start) / 100
    return {"generate_ms_per_token": base * 1e3, "generate_with_pause_ms_per_token": with_p * 1e3,
            "pause_overhead_ms_per_token_tiny": (with_p - base) * 1e3,
            f"pause_call_ms_batch{batch}_vocab{vocab}": alone * 1e3}


def bench_pause_full_width(tokens: int = 32, batch: int = 4, layers: int = 1, repeats: int = 5) -> dict:
    """Per-token overhead of the processor inside ``generate`` on a model as wide as Qwen2-Audio-7B.

    The tiny model's tokens cost almost nothing (a 600-word vocabulary, 48-wide layers), so a
    percentage there says little about training. This model has Qwen2-Audio-7B-Instruct's text
    width and vocabulary (hidden 4096, MLP 11008, 32 heads, vocab 156032) but ``layers`` of its 32
    decoder layers, random weights, tied embeddings (memory): each token costs less than the real
    model's, so the percentage is an upper bound."""
    import torch
    from transformers import LogitsProcessorList, Qwen2Config, Qwen2ForCausalLM

    from hyper_train.pause import PauseLogitsProcessor

    vocab = 156_032
    config = Qwen2Config(vocab_size=vocab, hidden_size=4096, intermediate_size=11008,
                         num_hidden_layers=layers, num_attention_heads=32, num_key_value_heads=32,
                         tie_word_embeddings=True, max_position_embeddings=4096)
    with torch.device("cpu"):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16).eval()
    ids = torch.randint(10, vocab - 10, (batch, 16))
    pause = PauseLogitsProcessor(vocab - 1, warmup=8, max_pauses=0)

    def run(lp):
        start = time.perf_counter()
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens,
                           min_new_tokens=tokens, do_sample=True, logits_processor=lp, pad_token_id=0)
        return (time.perf_counter() - start) / tokens

    run(LogitsProcessorList())  # warm-up
    base, with_p = [], []
    for _ in range(repeats):  # interleaved, so a drifting machine affects both alike
        base.append(run(LogitsProcessorList()))
        with_p.append(run(LogitsProcessorList([pause])))
    b, w = statistics.median(base), statistics.median(with_p)
    return {"full_width_layers": layers, "full_width_ms_per_token": b * 1e3,
            "full_width_with_pause_ms_per_token": w * 1e3,
            "pause_overhead_pct_per_token_full_width": 100 * (w - b) / b}


def main() -> None:
    """Run both measurements and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2, help="A-B-B-A runs of the hyper and audio trainers")
    parser.add_argument("--vocab", type=int, default=151_700)
    parser.add_argument("--full-width-layers", type=int, default=1,
                        help="decoder layers of the Qwen2-Audio-wide model for the per-token overhead (0: skip)")
    args = parser.parse_args()
    import torch
    from tiny_qwen2_audio import build_tiny_qwen2_audio

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_qwen2_audio(Path(tmp) / "tiny")
        report = {"device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads()}
        report.update(bench_steps(tiny, args.steps, args.rounds))
        report.update(bench_pause(tiny, args.vocab))
    if args.full_width_layers > 0:
        report.update(bench_pause_full_width(layers=args.full_width_layers))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
