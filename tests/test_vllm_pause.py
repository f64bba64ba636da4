"""The <PAUSE> rule as vLLM's per-request function (``hyper_train.vllm_pause``): the same decisions
as ``PauseLogitsProcessor`` in ``generate``, one entropy history per engine, clear error without vLLM."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from hyper_train.config import PauseArgs
from hyper_train.pause import EntropyHistory, PauseLogitsProcessor, pause_kwargs
from hyper_train.vllm_pause import EXTRA_KEY, request_pause_fn, requested_pause

VOCAB, PAUSE, EOS = 40, 7, 1


def fake_logits(history: list[int], step: int) -> torch.Tensor:
    """Next-token logits of a stand-in model: peaked or flat depending on the step and last token,
    so some steps are uncertain (high entropy) and some are not."""
    g = torch.Generator().manual_seed(1000 * step + (history[-1] if history else 0))
    scale = 0.2 if step % 3 == 0 else 4.0
    return torch.randn(VOCAB, generator=g) * scale


def config(**over) -> dict:
    args = PauseArgs(pause_quantile=0.6, pause_min_entropy=0.1, pause_warmup_tokens=4, pause_history_size=64,
                     max_pauses=2, max_think_tokens=2, **over)
    return json.loads(json.dumps(pause_kwargs(args, PAUSE, eos_id=EOS)))  # what a request can carry


def decode_with_generate_processor(cfg: dict, steps: int) -> tuple[list[int], list[torch.Tensor]]:
    """Greedy decoding of one row with the processor as ``generate`` runs it."""
    proc = PauseLogitsProcessor(**cfg)
    ids: list[int] = []
    seen = []
    for step in range(steps):
        scores = fake_logits(ids, step)[None].clone()
        out = proc(torch.tensor([[5, 6, 9] + ids]), scores)[0]  # a prompt of three tokens
        seen.append(out.clone())
        ids.append(int(out.argmax()))
    return ids, seen


def decode_with_vllm_fn(fn, steps: int) -> tuple[list[int], list[torch.Tensor]]:
    """The same decoding as vLLM's adapter drives it: output ids so far and 1-D logits."""
    ids: list[int] = []
    seen = []
    for step in range(steps):
        out = fn(list(ids), fake_logits(ids, step).clone())
        seen.append(out.clone())
        ids.append(int(out.argmax()))
    return ids, seen


def test_one_request_decides_exactly_as_generate():
    cfg = config()
    hf_ids, hf_scores = decode_with_generate_processor(cfg, 30)
    history = EntropyHistory(cfg["history_size"])
    vl_ids, vl_scores = decode_with_vllm_fn(request_pause_fn(cfg, history), 30)
    assert vl_ids == hf_ids
    assert all(torch.equal(a, b) for a, b in zip(hf_scores, vl_scores))
    runs = "".join("P" if t == PAUSE else "." for t in hf_ids)
    assert runs.count("P") >= 2 and "PPP" not in runs  # pauses happened, capped at 2 think tokens
    assert history.filled == 30


def test_requests_share_the_history_but_not_their_pause_counts():
    cfg = config()
    history = EntropyHistory(cfg["history_size"])
    first, second = request_pause_fn(cfg, history), request_pause_fn(cfg, history)
    a, _ = decode_with_vllm_fn(first, 25)
    b, _ = decode_with_vllm_fn(second, 25)
    assert history.filled == 50  # one running reference for the engine
    assert a == decode_with_generate_processor(cfg, 25)[0]  # the first request saw a fresh history
    # each request has its own cap of max_pauses events: had the pause count leaked from the first
    # request (which used both), the second could not pause at all
    counts = [sum(1 for i, t in enumerate(ids) if t == PAUSE and (i == 0 or ids[i - 1] != PAUSE)) for ids in (a, b)]
    assert counts[0] == 2 and 1 <= counts[1] <= 2, counts


def test_bias_mode_and_disabled_mode_are_carried_by_the_request():
    biased = config(pause_bias=50.0)
    assert biased["pause_bias"] == 50.0
    ids, _ = decode_with_vllm_fn(request_pause_fn(biased, EntropyHistory(64)), 30)
    assert PAUSE in ids
    off = config(pause_enabled=False)
    ids, scores = decode_with_vllm_fn(request_pause_fn(off, EntropyHistory(64)), 12)
    assert all(torch.equal(s, fake_logits(ids[:i], i)) for i, s in enumerate(scores))  # untouched


def test_the_adapter_class_says_it_needs_vllm():
    import hyper_train.vllm_pause as module

    assert importlib.util.find_spec("vllm") is None  # the project's environment has no vLLM

    with pytest.raises(ImportError, match="HyperPauseAdapter needs vLLM"):
        module.HyperPauseAdapter  # noqa: B018
    assert EXTRA_KEY == "hyper_pause"


def test_a_request_asks_for_pausing_with_a_dict_or_its_json_string():
    cfg = config()
    assert requested_pause({EXTRA_KEY: cfg}) == cfg
    assert requested_pause({EXTRA_KEY: json.dumps(cfg)}) == cfg  # vllm_xargs over HTTP
    assert requested_pause(None) is None and requested_pause({"other": 1}) is None
