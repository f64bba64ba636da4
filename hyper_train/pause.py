"""The ``<PAUSE>`` logits processor of Stage II rollouts, and DeepConf-style confidence.

At each decoding step the processor measures the entropy of the next-token distribution of every
row. A *pause event* starts when the entropy is above the running quantile ``quantile`` of recent
entropies (and above the absolute floor ``min_entropy``): the row is forced to emit ``<PAUSE>``.
While the row keeps pausing, it keeps being forced as long as the entropy stays high, up to
``max_think_tokens`` consecutive ``<PAUSE>`` tokens (the latent think steps of that event). A row gets
at most ``max_pauses`` events; past either cap ``<PAUSE>`` is banned, so the model cannot exceed
them on its own either. Nothing is forced before ``warmup`` entropies have been seen, since a
quantile of a few values is noise.

Options that reproduce the upstream HyPeR rollouts (``recipes/stage2_grpo_hyper.yaml``):
``pause_bias`` adds a large logit bias to ``<PAUSE>`` instead of forcing it (upstream: +50);
``warmup_batch_mean`` uses the current step's batch-mean entropy as the threshold until the
history is warm, instead of never pausing; ``keyword_ids`` / ``keyword_bias`` add a small bias to
``<PAUSE>`` for ``keyword_window`` steps after the row wrote an acoustic keyword ("pitch",
"noise", ...); ``abort_on_repetition`` ends a row (only ``eos_id`` allowed) whose last generated
tokens are one token six times over, or mostly repeats.

All state is per-row tensors on the scores' device; the work per step is one softmax, one
quantile over the history buffer and a few masked writes (see ``benchmarks/train_step.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

PAUSE_STATE = "pause_state.pt"
"""File of the running entropy history, in checkpoints and beside the final Stage II model."""
PAUSE_ARGS = "pause_args.json"
"""File of the ``PauseArgs`` Stage II trained with, beside the final model."""


class EntropyHistory:
    """The running ring buffer of next-token entropies the pause threshold is a quantile of.

    One per processor by default; the vLLM adapter (``hyper_train.vllm_pause``) shares one between
    the per-request processors of an engine, as one processor shares it between the rows of a batch.
    """

    def __init__(self, size: int) -> None:
        self.values = torch.zeros(int(size))
        self.filled = 0  # entries written so far (ring buffer)


class PauseLogitsProcessor:
    """A transformers ``LogitsProcessor`` that forces ``<PAUSE>`` on uncertain steps (see module doc).

    Call ``reset()`` before each ``generate`` (the rollout does); the entropy history is kept across
    calls on purpose, it is the *running* reference the quantile is taken over.
    """

    REPEAT_WINDOW = 64
    """Generated tokens the repetition test looks at."""
    REPEAT_RUN = 6
    """That many identical tokens in a row end the row."""
    REPEAT_RATE = 0.6
    """As does a share of repeated tokens (1 - distinct / window) at least this high."""

    def __init__(self, pause_id: int, quantile: float = 0.9, min_entropy: float = 1.0,
                 warmup: int = 256, history_size: int = 8192, max_pauses: int = 4,
                 max_think_tokens: int = 8, enabled: bool = True, confidence_top_k: int = 0,
                 pause_bias: float = 0.0, warmup_batch_mean: bool = False,
                 keyword_ids: list[list[int]] | None = None, keyword_bias: float = 0.0,
                 keyword_window: int = 64, abort_on_repetition: bool = False, eos_id: int | None = None,
                 history: EntropyHistory | None = None):
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        if abort_on_repetition and eos_id is None:
            raise ValueError("abort_on_repetition needs eos_id")
        self.pause_bias = float(pause_bias)
        self.warmup_batch_mean = bool(warmup_batch_mean)
        self.keyword_ids = [list(k) for k in keyword_ids or [] if k]
        self.keyword_bias = float(keyword_bias)
        self.keyword_window = int(keyword_window)
        self._keywords_on: tuple[torch.device, dict[int, torch.Tensor]] | None = None
        self.abort_on_repetition = bool(abort_on_repetition)
        self.eos_id = eos_id
        self.pause_id = int(pause_id)
        self.quantile = quantile
        self.min_entropy = min_entropy
        self.warmup = warmup
        self.max_pauses = max_pauses
        self.max_think_tokens = max_think_tokens
        self.enabled = enabled
        self.confidence_top_k = confidence_top_k
        self._store = history if history is not None else EntropyHistory(history_size)
        self.forced_total = 0
        self.learn = True
        """Add each step's entropies to the history (False: a trained threshold stays as it is)."""
        self.reset()

    # -- state -------------------------------------------------------------------------------
    @property
    def _history(self) -> torch.Tensor:
        return self._store.values

    @_history.setter
    def _history(self, values: torch.Tensor) -> None:
        self._store.values = values

    @property
    def _filled(self) -> int:
        return self._store.filled

    @_filled.setter
    def _filled(self, count: int) -> None:
        self._store.filled = count

    def state_dict(self) -> dict[str, Any]:
        """The running entropy history (what a resumed run must continue from), on the CPU."""
        return {"history": self._history.detach().cpu().clone(), "filled": int(self._filled),
                "forced_total": int(self.forced_total)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()`` output (a checkpoint's ``pause_state.pt``)."""
        history = state["history"].to(self._history.device, self._history.dtype)
        if history.numel() != self._history.numel():
            raise ValueError(f"pause history of {history.numel()} entries does not fit pause_history_size "
                             f"{self._history.numel()}")
        self._history = history
        self._filled = int(state["filled"])
        self.forced_total = int(state["forced_total"])

    def reset(self) -> None:
        """Forget per-row state (pause counts, runs, confidences) before a new ``generate``."""
        self._events: torch.Tensor | None = None
        self._run: torch.Tensor | None = None
        self._keyword_at: torch.Tensor | None = None
        self._steps = 0
        self._prompt_len = 0
        self.confidences: list[torch.Tensor] = []

    @property
    def threshold(self) -> float:
        """Current entropy threshold (inf during warm-up)."""
        return float(self._threshold())

    def _threshold(self) -> torch.Tensor:
        if self._warming():
            return torch.tensor(float("inf"), device=self._history.device)
        n = min(self._filled, self._history.numel())
        # a tensor, not a float: no device->host sync per decoding step. The nearest-rank quantile
        # (k-th smallest, k = ceil(q n)) by selection: a quarter of torch.quantile's sort + lerp
        k = max(1, min(n, math.ceil(self.quantile * n)))
        return torch.kthvalue(self._history[:n], k).values.clamp(min=self.min_entropy)

    def _remember(self, entropy: torch.Tensor) -> None:
        size = self._history.numel()
        values = entropy.detach().float()[-size:]
        idx = (torch.arange(values.numel(), device=values.device) + self._filled) % size
        self._history[idx] = values
        self._filled += values.numel()

    # -- the processor -----------------------------------------------------------------------
    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Return ``scores`` with ``<PAUSE>`` forced or banned per row (see module docstring)."""
        batch = scores.shape[0]
        device = scores.device
        if self._history.device != device:
            self._history = self._history.to(device)
        if self._events is None or self._events.shape[0] != batch:
            self._events = torch.zeros(batch, dtype=torch.long, device=device)
            self._run = torch.zeros(batch, dtype=torch.long, device=device)
            self._keyword_at = torch.full((batch,), -(10 ** 9), dtype=torch.long, device=device)
            self._prompt_len = input_ids.shape[1]
        elif self._steps > 0:
            # the previous step's token is now visible: extend or close the pause run, count events
            was_pause = input_ids[:, -1] == self.pause_id
            self._run = torch.where(was_pause, self._run + 1, torch.zeros_like(self._run))
            self._events += (was_pause & (self._run == 1)).long()
        self._steps += 1

        # entropy = log Z - E_p[x] with Z = sum exp(x): one vocab-sized temporary (e = exp(x - max)),
        # where log_softmax + exp + nan_to_num made four (5.2 ms per call at batch 4, vocab 151.7k,
        # one CPU thread, against 2.7 ms; benchmarks/pause_ab.py). A banned (-inf) token gives
        # e = 0 and 0 * -inf = nan, which nansum skips (it adds 0).
        x = scores.float()
        peak = x.amax(dim=-1, keepdim=True)
        e = (x - peak).exp_()
        z = e.sum(dim=-1)
        log_z = z.log() + peak.squeeze(-1)
        entropy = log_z - torch.nansum(e.mul_(x), dim=-1) / z
        if self.confidence_top_k:
            top = (x.topk(self.confidence_top_k, dim=-1).values - log_z[:, None]).clamp(min=-27.631)  # log(1e-12)
            # DeepConf token confidence: minus the mean top-k log-probability (higher = more peaked)
            self.confidences.append(-top.mean(-1))
        if not self.enabled:
            return scores
        # upstream HyPeR: until the history is warm, the batch's own mean entropy is the bar
        threshold = (entropy.mean().clamp(min=self.min_entropy) if self.warmup_batch_mean and self._warming()
                     else self._threshold())
        if self.learn:
            self._remember(entropy)

        in_run = self._run > 0
        uncertain = entropy > threshold
        start = (~in_run) & (self._events < self.max_pauses) & uncertain
        extend = in_run & (self._run < self.max_think_tokens) & uncertain
        force = start | extend
        ban = (~in_run & (self._events >= self.max_pauses)) | (in_run & (self._run >= self.max_think_tokens))
        # branch-free masked writes, so the decoding loop never waits on the device
        pause_col = scores[:, self.pause_id]
        if self.keyword_ids and self.keyword_bias:
            recent = self._keyword_hits(input_ids)
            pause_col = pause_col + self.keyword_bias * (recent & ~in_run).to(pause_col.dtype)
        pause_col = torch.where(ban, torch.full_like(pause_col, float("-inf")), pause_col)
        if self.pause_bias:
            # upstream HyPeR: a large bias, not a hard force (the row still samples)
            pause_col = pause_col + self.pause_bias * force.to(pause_col.dtype)
        else:
            pause_col = torch.where(force, torch.zeros_like(pause_col), pause_col)
            # in place: no second vocab-sized tensor. On the CPU, asking whether any row is forced
            # costs nothing and skips a pass over the whole vocabulary; on an accelerator a sync
            if scores.device.type != "cpu" or bool(force.any()):
                scores.masked_fill_(force[:, None], float("-inf"))
        scores[:, self.pause_id] = pause_col
        self.forced_total = self.forced_total + force.sum()
        if self.abort_on_repetition:
            self._abort_repeats(input_ids, scores)
        return scores

    def _warming(self) -> bool:
        return min(self._filled, self._history.numel()) < max(self.warmup, 1)

    def _keyword_hits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Rows that wrote a keyword within the last ``keyword_window`` steps (this one included)."""
        generated = input_ids.shape[1] - self._prompt_len
        for n, keywords in self._keyword_table(input_ids.device).items():
            if generated >= n:  # (B, 1, n) against (K, n): any of the K spellings of length n
                hit = (input_ids[:, None, -n:] == keywords).all(dim=-1).any(dim=-1)
                self._keyword_at.masked_fill_(hit, self._steps)
        return (self._steps - self._keyword_at) <= self.keyword_window

    def _keyword_table(self, device: torch.device) -> dict[int, torch.Tensor]:
        """Keyword ids grouped by length as (K, n) tensors on ``device``, built once per device."""
        if self._keywords_on is None or self._keywords_on[0] != device:
            lengths = sorted({len(k) for k in self.keyword_ids})
            table = {n: torch.tensor([k for k in self.keyword_ids if len(k) == n], device=device)
                     for n in lengths}
            self._keywords_on = (device, table)
        return self._keywords_on[1]

    def _abort_repeats(self, input_ids: torch.Tensor, scores: torch.Tensor) -> None:
        """Leave only ``eos_id`` to rows whose generated tail loops (see the class constants).
        Tensor ops only: no per-row loop, no device-to-host sync."""
        generated = input_ids[:, self._prompt_len:][:, -self.REPEAT_WINDOW:]
        if generated.shape[1] < self.REPEAT_RUN:
            return
        loop = (generated[:, -self.REPEAT_RUN:] == generated[:, -1:]).all(dim=-1)
        if generated.shape[1] >= self.REPEAT_WINDOW // 2:
            ordered = generated.sort(dim=-1).values
            distinct = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(dim=-1)
            loop = loop | (1.0 - distinct / generated.shape[1] >= self.REPEAT_RATE)
        if scores.device.type == "cpu" and not bool(loop.any()):
            return  # on the CPU the question is free and spares a pass over the whole vocabulary
        keep = scores[:, self.eos_id].clone()
        scores.masked_fill_(loop[:, None], float("-inf"))
        scores[:, self.eos_id] = torch.where(loop, torch.zeros_like(keep), keep)


def lowest_window_confidence(token_conf: torch.Tensor, mask: torch.Tensor, window: int) -> torch.Tensor:
    """DeepConf's lowest group confidence: min over sliding windows of the mean token confidence.

    ``token_conf`` and ``mask`` are ``(B, T)``; rows shorter than ``window`` use their plain mean.
    Returns ``(B,)``; rows with no tokens get 0.
    """
    conf = token_conf.float() * mask
    m = mask.float()
    out = torch.zeros(conf.shape[0], device=conf.device)
    for i in range(conf.shape[0]):
        n = int(m[i].sum())
        if n == 0:
            continue
        c = conf[i, m[i].bool()]
        if n <= window:
            out[i] = c.mean()
        else:
            out[i] = c.unfold(0, window, 1).mean(-1).min()
    return out


def group_confidence_weights(conf: torch.Tensor, group_size: int, clip: tuple[float, float]) -> torch.Tensor:
    """Per-completion weights ``conf / mean(conf of its group)``, clipped to ``clip``.

    Completions are grouped in consecutive blocks of ``group_size`` (GRPO's layout). A group whose
    confidences are all zero gets weight 1.
    """
    groups = conf.view(-1, group_size).float()
    mean = groups.mean(-1, keepdim=True)
    weights = torch.where(mean > 0, groups / mean.clamp(min=1e-8), torch.ones_like(groups))
    return weights.clamp(clip[0], clip[1]).view(-1)


def local_confidence_weights(conf_local: torch.Tensor, gather: Any, process_index: int, group_size: int,
                             clip: tuple[float, float]) -> torch.Tensor:
    """This process's completions' weights, computed over every process's completions.

    GRPO groups ``group_size`` consecutive completions of one prompt, and with several processes a
    group can span them (each process generates a slice of the global batch). So the confidences
    are gathered (``gather``: ``accelerator.gather``), weighted per global group, and the weights
    of this process's slice (``process_index``) are returned, as TRL slices the advantages."""
    conf_all = gather(conf_local.contiguous())
    weights = group_confidence_weights(conf_all, group_size, clip)
    n = conf_local.numel()
    return weights[process_index * n:(process_index + 1) * n]


def keyword_token_ids(tokenizer: Any, keywords: list[str]) -> list[list[int]]:
    """Token id sequences of ``keywords`` as a model would write them: bare, after a space, and
    capitalised after a space (BPE tokenisers give each a different sequence)."""
    out: list[list[int]] = []
    for word in keywords:
        for form in (word, " " + word, " " + word[:1].upper() + word[1:]):
            ids = list(tokenizer.encode(form, add_special_tokens=False))
            if ids and ids not in out:
                out.append(ids)
    return out


def pause_kwargs(pause_args: Any, pause_id: int, confidence_top_k: int = 0, tokenizer: Any = None,
                 eos_id: int | None = None) -> dict[str, Any]:
    """``PauseLogitsProcessor`` keyword arguments from a ``PauseArgs`` (plain JSON values, so a vLLM
    request can carry them): ``tokenizer`` turns its acoustic keywords into token ids; ``eos_id`` is
    what a repetition abort leaves."""
    keywords = list(pause_args.acoustic_keywords or [])
    if keywords and tokenizer is None:
        raise ValueError("acoustic_keywords need the tokenizer")
    return {"pause_id": int(pause_id), "quantile": pause_args.pause_quantile,
            "min_entropy": pause_args.pause_min_entropy, "warmup": pause_args.pause_warmup_tokens,
            "history_size": pause_args.pause_history_size, "max_pauses": pause_args.max_pauses,
            "max_think_tokens": pause_args.max_think_tokens, "enabled": pause_args.pause_enabled,
            "confidence_top_k": confidence_top_k, "pause_bias": pause_args.pause_bias,
            "warmup_batch_mean": pause_args.pause_warmup_batch_mean,
            "keyword_ids": keyword_token_ids(tokenizer, keywords) if keywords else None,
            "keyword_bias": pause_args.acoustic_keyword_bias, "keyword_window": pause_args.acoustic_keyword_window,
            "abort_on_repetition": pause_args.abort_on_repetition, "eos_id": eos_id}


def pause_processor_from_args(pause_args: Any, pause_id: int, confidence_top_k: int = 0,
                              tokenizer: Any = None, eos_id: int | None = None) -> PauseLogitsProcessor:
    """Build the processor from a ``PauseArgs`` (see ``pause_kwargs``)."""
    return PauseLogitsProcessor(**pause_kwargs(pause_args, pause_id, confidence_top_k, tokenizer, eos_id))


def save_pause(folder: str | Path, pause_args: Any, processor: PauseLogitsProcessor | None) -> None:
    """Write the ``PauseArgs`` a Stage II run trained with (``pause_args.json``) and, when the trainer
    had a processor, its entropy history (``pause_state.pt``) into a saved model's folder, so that
    ``eval --pause_at_inference`` pauses with the trained threshold from its first token."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PAUSE_ARGS).write_text(json.dumps(dataclasses.asdict(pause_args), indent=1) + "\n",
                                     encoding="utf-8")
    if processor is not None:
        torch.save(processor.state_dict(), folder / PAUSE_STATE)


def load_pause(folder: str | Path, pause_id: int, tokenizer: Any = None,
               eos_id: int | None = None) -> PauseLogitsProcessor:
    """The ``<PAUSE>`` processor a Stage II model was trained with, from its folder (``save_pause``).

    Without ``pause_args.json`` the ``PauseArgs`` defaults apply; without ``pause_state.pt`` the
    threshold starts from an empty history, so nothing pauses before the warm-up is over (a
    warning says so). A loaded history that reaches a threshold is frozen (``learn`` False)."""
    from hyper_train.config import PauseArgs

    folder = Path(folder)
    args = PauseArgs()
    if (folder / PAUSE_ARGS).is_file():
        saved = json.loads((folder / PAUSE_ARGS).read_text(encoding="utf-8"))
        known = {f.name for f in dataclasses.fields(PauseArgs)}
        if set(saved) - known:
            raise ValueError(f"{folder / PAUSE_ARGS}: unknown PauseArgs fields {sorted(set(saved) - known)}")
        args = PauseArgs(**saved)
    processor = pause_processor_from_args(args, pause_id, tokenizer=tokenizer, eos_id=eos_id)
    if (folder / PAUSE_STATE).is_file():
        processor.load_state_dict(torch.load(folder / PAUSE_STATE, weights_only=True))
        # evaluation pauses at the trained threshold: what it generates (the silent- and
        # swapped-audio baselines included) must not move it from one question to the next
        processor.learn = processor.threshold == float("inf")
    if not args.pause_enabled:
        log.warning("%s was trained with pause_enabled false: --pause_at_inference inserts no <PAUSE>", folder)
    elif processor.threshold == float("inf") and not args.pause_warmup_batch_mean:
        log.warning("%s: the <PAUSE> entropy history holds %d of the %d values the threshold needs (%s), so "
                    "nothing pauses before that many tokens are generated", folder,
                    min(processor._filled, args.pause_history_size), args.pause_warmup_tokens,
                    PAUSE_STATE if (folder / PAUSE_STATE).is_file() else f"no {PAUSE_STATE}")
    return processor
