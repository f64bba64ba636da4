"""The <PAUSE> logits processor: entropy trigger, caps, warm-up; DeepConf confidence helpers."""

import pytest
import torch

from hyper_train.pause import PauseLogitsProcessor, group_confidence_weights, lowest_window_confidence

V, PAUSE = 50, 7


def peaked(batch=1):
    s = torch.full((batch, V), -10.0)
    s[:, 3] = 10.0
    return s


def flat(batch=1):
    return torch.zeros(batch, V)


def warm(proc, n=16):
    """Feed peaked steps so the running quantile has a (low-entropy) history."""
    for _ in range(n):
        proc(torch.zeros(1, 1, dtype=torch.long), peaked())
    proc.reset()


def test_forces_on_high_entropy_not_on_peaked():
    proc = PauseLogitsProcessor(PAUSE, quantile=0.9, min_entropy=0.5, warmup=8, max_pauses=2)
    warm(proc)
    ids = torch.zeros(2, 4, dtype=torch.long)
    out = proc(ids, torch.cat([flat(), peaked()]))
    assert out[0].argmax().item() == PAUSE and torch.isinf(out[0]).sum() == V - 1
    assert out[1].argmax().item() == 3  # peaked row untouched
    assert torch.equal(out[1], peaked()[0])


def test_no_forcing_during_warmup_or_below_floor():
    proc = PauseLogitsProcessor(PAUSE, warmup=100)
    out = proc(torch.zeros(1, 1, dtype=torch.long), flat())
    assert torch.equal(out, flat())
    assert proc.threshold == float("inf")
    # after warm-up on flat distributions, the floor still keeps a mildly uncertain one from pausing
    proc = PauseLogitsProcessor(PAUSE, quantile=0.5, min_entropy=10.0, warmup=4)
    for _ in range(5):
        out = proc(torch.zeros(1, 1, dtype=torch.long), flat())
    assert proc.threshold == 10.0  # median of ln(50) entropies, raised to the floor
    assert torch.equal(out, flat())


def run(proc, steps, scores_fn):
    """Greedy-decode ``steps`` tokens through the processor; returns the token sequence."""
    ids = torch.zeros(1, 1, dtype=torch.long)
    proc.reset()
    for _ in range(steps):
        out = proc(ids, scores_fn())
        ids = torch.cat([ids, out.argmax(-1, keepdim=True)], dim=1)
    return ids[0, 1:].tolist()


def test_caps_think_tokens_per_pause_and_pauses():
    proc = PauseLogitsProcessor(PAUSE, quantile=0.5, min_entropy=0.1, warmup=8, max_pauses=2,
                                max_think_tokens=3)
    warm(proc)
    # always uncertain: every step would pause without the caps
    toks = run(proc, 20, flat)
    runs, cur = [], 0
    for t in toks + [-1]:
        if t == PAUSE:
            cur += 1
        elif cur:
            runs.append(cur)
            cur = 0
    assert runs == [3, 3]  # two events of three think tokens each
    assert toks.count(PAUSE) == 6
    # once both caps are used, <PAUSE> is banned even if the model itself prefers it
    favour_pause = lambda: torch.where(torch.arange(V) == PAUSE, 5.0, 0.0)[None]  # noqa: E731
    proc.reset()
    toks = run(proc, 30, favour_pause)
    assert toks.count(PAUSE) <= 6


def test_disabled_records_confidence_only():
    proc = PauseLogitsProcessor(PAUSE, warmup=1, enabled=False, confidence_top_k=5)
    out = proc(torch.zeros(2, 1, dtype=torch.long), torch.cat([flat(), peaked()]))
    assert torch.equal(out, torch.cat([flat(), peaked()]))
    conf = proc.confidences[0]
    assert conf[1] > conf[0]  # the peaked row is more confident


def test_invalid_quantile():
    with pytest.raises(ValueError, match="quantile"):
        PauseLogitsProcessor(PAUSE, quantile=1.5)


def test_lowest_window_confidence_and_group_weights():
    conf = torch.tensor([[5.0, 5.0, 1.0, 1.0, 5.0, 5.0], [4.0, 4.0, 4.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    low = lowest_window_confidence(conf, mask, window=2)
    assert low.tolist() == [1.0, 4.0]
    w = group_confidence_weights(torch.tensor([1.0, 3.0, 0.0, 0.0]), 2, (0.5, 1.5))
    assert w.tolist() == [0.5, 1.5, 1.0, 1.0]


def test_confidence_weights_when_a_group_spans_two_processes():
    from hyper_train.pause import local_confidence_weights

    conf = torch.tensor([1.0, 3.0, 2.0, 2.0])  # one group of 4 generations, split over 2 processes
    slices = [conf[:2], conf[2:]]

    def gather(_local):  # what accelerator.gather returns on every process
        return torch.cat(slices)

    clip = (0.1, 10.0)
    whole = group_confidence_weights(conf, 4, clip)  # mean 2: [0.5, 1.5, 1, 1]
    assert torch.allclose(whole, torch.tensor([0.5, 1.5, 1.0, 1.0]))
    for rank in (0, 1):  # the old per-process view(-1, 4) raised "shape '[-1, 4]' is invalid"
        got = local_confidence_weights(slices[rank], gather, rank, 4, clip)
        assert torch.allclose(got, whole[2 * rank:2 * rank + 2])


def test_advantages_are_scaled_by_the_confidence_weights():
    from types import SimpleNamespace

    from hyper_train.grpo import HyperGRPOTrainer

    metrics = {"train": {"deepconf/weight_std": []}}
    fake = SimpleNamespace(
        reward_args=SimpleNamespace(confidence_weighting=True, confidence_clip=(0.5, 1.5)),
        num_generations=2, num_generations_eval=2, model=SimpleNamespace(training=True),
        accelerator=SimpleNamespace(gather=lambda x: x, process_index=0), _metrics=metrics)
    output = {"advantages": torch.tensor([1.0, -1.0, 2.0, -2.0])}
    HyperGRPOTrainer._apply_confidence(fake, output, torch.tensor([1.0, 3.0, 4.0, 4.0]))
    # group 1: mean 2 -> weights 0.5, 1.5; group 2: equal confidences -> 1, 1
    assert torch.allclose(output["advantages"], torch.tensor([0.5, -1.5, 2.0, -2.0]))
    assert metrics["train"]["deepconf/weight_std"] and metrics["train"]["deepconf/weight_std"][0] > 0
    off = {"advantages": torch.tensor([1.0, -1.0])}
    fake.reward_args.confidence_weighting = False
    HyperGRPOTrainer._apply_confidence(fake, off, torch.tensor([1.0, 3.0]))
    assert torch.equal(off["advantages"], torch.tensor([1.0, -1.0]))


def test_entropy_and_confidence_match_a_float64_reference_with_banned_tokens():
    torch.manual_seed(0)
    scores = torch.randn(3, 1000) * 4
    scores[0, :500] = float("-inf")  # banned tokens add nothing
    scores[2, 10] = 80.0  # nearly one-hot: large logits must not overflow
    proc = PauseLogitsProcessor(PAUSE, warmup=10_000, confidence_top_k=5)
    proc(torch.zeros(3, 1, dtype=torch.long), scores.clone())
    ref = torch.distributions.Categorical(logits=scores.double()).entropy()
    assert torch.allclose(proc._history[:3].double(), ref, atol=1e-4)
    logp = torch.log_softmax(scores.double(), -1)
    want = -logp.topk(5, -1).values.clamp(min=-27.631).mean(-1)
    assert torch.allclose(proc.confidences[0].double(), want, atol=1e-4)


# -- upstream HyPeR options (recipes/stage2_grpo_hyper.yaml) ---------------------------------------
def test_pause_bias_adds_to_the_pause_logit_instead_of_forcing():
    proc = PauseLogitsProcessor(PAUSE, quantile=0.9, min_entropy=0.5, warmup=8, pause_bias=50.0)
    warm(proc)
    scores = torch.cat([flat(), peaked()])
    before = scores.clone()
    out = proc(torch.zeros(2, 4, dtype=torch.long), scores)
    assert out[0, PAUSE].item() == pytest.approx(50.0)  # 0 + 50 on the uncertain row
    others = [i for i in range(V) if i != PAUSE]
    assert torch.equal(out[0, others], before[0, others])  # nothing masked: the row still samples
    assert torch.equal(out[1], before[1])


def test_batch_mean_warmup_pauses_from_the_first_step():
    ids = torch.zeros(2, 4, dtype=torch.long)
    cold = PauseLogitsProcessor(PAUSE, min_entropy=0.5, warmup=32)
    assert cold(ids, torch.cat([flat(), peaked()]))[0].argmax().item() != PAUSE  # no history: never
    hot = PauseLogitsProcessor(PAUSE, min_entropy=0.5, warmup=32, warmup_batch_mean=True)
    out = hot(ids, torch.cat([flat(), peaked()]))
    assert out[0].argmax().item() == PAUSE  # above the batch's mean entropy
    assert out[1].argmax().item() == 3


def test_acoustic_keyword_biases_pause_for_a_window():
    keyword = [11, 12]  # e.g. " pitch" as two tokens
    proc = PauseLogitsProcessor(PAUSE, warmup=10 ** 6, keyword_ids=[keyword], keyword_bias=5.0,
                                keyword_window=3)
    prompt = [1, 2, 3]
    seq = list(prompt)
    gains = []
    for token in [20, 11, 12, 21, 22, 23, 24, 25]:
        out = proc(torch.tensor([seq]), peaked())
        gains.append(round(out[0, PAUSE].item() - peaked()[0, PAUSE].item(), 3))
        seq.append(token)
    # the bias starts on the step after the keyword's last token and lasts keyword_window + 1 steps
    assert gains == [0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 5.0, 0.0]
    # a keyword inside the prompt does not count
    proc.reset()
    assert proc(torch.tensor([[11, 12]]), peaked())[0, PAUSE].item() == peaked()[0, PAUSE].item()


def test_repetition_abort_leaves_only_eos():
    eos = 2
    proc = PauseLogitsProcessor(PAUSE, warmup=10 ** 6, abort_on_repetition=True, eos_id=eos)
    seq = [[5, 6], [5, 6]]
    out = None
    for step in range(8):
        out = proc(torch.tensor(seq), peaked(2))
        seq[0].append(9)                      # row 0 says "9" over and over
        seq[1].append(10 + step)              # row 1 varies
    assert torch.isinf(out[0]).sum() == V - 1 and out[0].argmax().item() == eos
    assert torch.equal(out[1], peaked()[0])
    with pytest.raises(ValueError, match="eos_id"):
        PauseLogitsProcessor(PAUSE, abort_on_repetition=True)


def test_processor_from_args_tokenises_the_keywords():
    from hyper_train.config import PauseArgs
    from hyper_train.pause import pause_processor_from_args

    class Tok:
        def encode(self, text, add_special_tokens=False):
            return [ord(c) for c in text]

    args = PauseArgs(acoustic_keywords=["pitch"], acoustic_keyword_bias=5.0, pause_bias=50.0,
                     abort_on_repetition=True)
    proc = pause_processor_from_args(args, PAUSE, tokenizer=Tok(), eos_id=2)
    assert [list(map(chr, k)) for k in proc.keyword_ids] == [list("pitch"), list(" pitch"), list(" Pitch")]
    assert proc.pause_bias == 50.0 and proc.keyword_bias == 5.0 and proc.eos_id == 2
    with pytest.raises(ValueError, match="tokenizer"):
        pause_processor_from_args(args, PAUSE)
