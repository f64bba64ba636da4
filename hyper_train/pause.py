"""The ``<PAUSE>`` logits processor of Stage II rollouts, and DeepConf-style confidence.

At each decoding step the processor measures the entropy of the next-token distribution of every
row. A *pause event* starts when the entropy is above the running quantile ``quantile`` of recent
entropies (and above the absolute floor ``min_entropy``): the row is forced to emit ``<PAUSE>``.
While the row keeps pausing, it keeps being forced as long as the entropy stays high, up to
``max_think_tokens`` consecutive ``<PAUSE>`` tokens (the latent think steps of that event). A row gets
at most ``max_pauses`` events; past either cap ``<PAUSE>`` is banned, so the model cannot exceed
them on its own either. Nothing is forced before ``warmup`` entropies have been seen, since a
quantile of a few values is noise.

All state is per-row tensors on the scores' device; the work per step is one softmax, one
quantile over the history buffer and a few masked writes (see ``benchmarks/train_step.py``).
"""

from __future__ import annotations

import math
from typing import Any

import torch


class PauseLogitsProcessor:
    """A transformers ``LogitsProcessor`` that forces ``<PAUSE>`` on uncertain steps (see module doc).

    Call ``reset()`` before each ``generate`` (the rollout does); the entropy history is kept across
    calls on purpose, it is the *running* reference the quantile is taken over.
    """

    def __init__(self, pause_id: int, quantile: float = 0.9, min_entropy: float = 1.0,
                 warmup: int = 256, history_size: int = 8192, max_pauses: int = 4,
                 max_think_tokens: int = 8, enabled: bool = True, confidence_top_k: int = 0):
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        self.pause_id = int(pause_id)
        self.quantile = quantile
        self.min_entropy = min_entropy
        self.warmup = warmup
        self.max_pauses = max_pauses
        self.max_think_tokens = max_think_tokens
        self.enabled = enabled
        self.confidence_top_k = confidence_top_k
        self._history = torch.zeros(history_size)
        self._filled = 0  # entries written so far (ring buffer)
        self.forced_total = 0
        self.reset()

    # -- state -------------------------------------------------------------------------------
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
        self._steps = 0
        self.confidences: list[torch.Tensor] = []

    @property
    def threshold(self) -> float:
        """Current entropy threshold (inf during warm-up)."""
        return float(self._threshold())

    def _threshold(self) -> torch.Tensor:
        n = min(self._filled, self._history.numel())
        if n < max(self.warmup, 1):
            return torch.tensor(float("inf"), device=self._history.device)
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
        threshold = self._threshold()
        self._remember(entropy)

        in_run = self._run > 0
        uncertain = entropy > threshold
        start = (~in_run) & (self._events < self.max_pauses) & uncertain
        extend = in_run & (self._run < self.max_think_tokens) & uncertain
        force = start | extend
        ban = (~in_run & (self._events >= self.max_pauses)) | (in_run & (self._run >= self.max_think_tokens))
        # branch-free masked writes, so the decoding loop never waits on the device
        pause_col = scores[:, self.pause_id]
        pause_col = torch.where(ban, torch.full_like(pause_col, float("-inf")), pause_col)
        pause_col = torch.where(force, torch.zeros_like(pause_col), pause_col)
        # in place: no second vocab-sized tensor. On the CPU, asking whether any row is forced costs
        # nothing and skips a pass over the whole vocabulary; on an accelerator it would be a sync
        if scores.device.type != "cpu" or bool(force.any()):
            scores.masked_fill_(force[:, None], float("-inf"))
        scores[:, self.pause_id] = pause_col
        self.forced_total = self.forced_total + force.sum()
        return scores


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


def pause_processor_from_args(pause_args: Any, pause_id: int, confidence_top_k: int = 0) -> PauseLogitsProcessor:
    """Build the processor from a ``PauseArgs``."""
    return PauseLogitsProcessor(pause_id, quantile=pause_args.pause_quantile,
                                min_entropy=pause_args.pause_min_entropy,
                                warmup=pause_args.pause_warmup_tokens,
                                history_size=pause_args.pause_history_size,
                                max_pauses=pause_args.max_pauses,
                                max_think_tokens=pause_args.max_think_tokens,
                                enabled=pause_args.pause_enabled, confidence_top_k=confidence_top_k)
