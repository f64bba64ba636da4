"""Calibrated speaker-count confidence: the cues behind a diarization and a model that weighs them.

The portable diarizer's count rests on several independent cues, each of which fails in its own
way on voices it was not tuned on: the dendrogram cut (a merge just below or above the threshold),
the clean-up that folded a light cluster or a split-looking speaker, how far apart the final
speakers' voices are, how widely one speaker's pieces spread, and whether the segmentation model,
which listens to 5 s windows without any embedding, hears as many local speakers as the clustering
claims. ``count_evidence`` measures them per clip (written to ``ClipRecord.speaker_evidence``), and
``CountCalibration`` turns them into the probability that the count is right: a logistic model
fitted on *tune* voices only (``benchmarks/speaker_calibration.py``), shipped as
``speaker_calibration.json`` beside this module, checked on report voices with a reliability table
(confidence bin -> fraction of counts right) in ``paqa-build eval``.

Only numpy here: the model is a weighted sum, so loading and applying it costs nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CALIBRATION_PATH = Path(__file__).with_name("speaker_calibration.json")
"""The shipped calibration, fitted on tune voices (see the file's ``fitted_on``)."""

GAP_CAP = 0.5
"""Dendrogram gaps larger than this (distance units) say nothing more: capped."""
VERIFY_CAP = 1.0
"""Whole-speaker distances of the diarizer's second pass beyond this say nothing more: capped
(different voices on the tune sets start at 0.55; one voice split in two reaches 0.84)."""
NARROWBAND_SHARE = 3e-4
"""A speaker whose energy share above 4 kHz (``min_wideband_share``) is under this is heard through a
phone line or at 8 kHz. Tune clips: every telephone-channel clip <= 9.1e-5; on the recorded tune
folder 26 of 60 clips have such a speaker (the IVR voice) and only 3 fall between 1e-4 and 1e-3."""
VERIFY_MISSING = 0.5
"""``verify_nearest`` when no pair could be measured (a speaker under 0.5 s): the least sure value a
pair the second pass kept apart can have, never a vote for a sure count."""


def count_evidence(*, speakers: int, heights: np.ndarray, threshold: float, dendrogram_confidence: float,
                   raw_clusters: int, split_suspect: bool, talk_s: dict[Any, float],
                   centroid_distance: np.ndarray, piece_spread: float, seg_local_max: int,
                   pieces: int) -> dict[str, float]:
    """The cues behind one clip's speaker count, as a flat ``name -> float`` dict.

    Args:
        speakers: the final number of speakers.
        heights: merge heights of the dendrogram (distance units).
        threshold: where the dendrogram was cut.
        dendrogram_confidence: ``_clustering.count_confidence`` of that cut.
        raw_clusters: clusters straight from the cut, before any clean-up or repair.
        split_suspect: a speaker looked like half of another's sentence (``split_speakers``).
        talk_s: talk time per final speaker, seconds.
        centroid_distance: (K, K) distance between the final speakers (cosine + pitch term).
        piece_spread: largest distance of an embedded piece from its own speaker's centroid.
        seg_local_max: most local speakers (>= 0.5 s active) the segmentation model hears in any
            one 5 s window.
        pieces: embedded pieces behind the clustering.
    """
    below = heights[heights <= threshold]
    above = heights[heights > threshold]
    pairs = centroid_distance[np.triu_indices(speakers, 1)] if speakers > 1 else np.zeros(0)
    return {
        "speakers": float(speakers),
        "dendrogram_confidence": float(dendrogram_confidence),
        "gap_below": float(min(GAP_CAP, threshold - below.max())) if below.size else GAP_CAP,
        "gap_above": float(min(GAP_CAP, above.min() - threshold)) if above.size else GAP_CAP,
        "cleaned_up": float(raw_clusters != speakers),
        "split_suspect": float(split_suspect),
        "min_talk_s": float(min(talk_s.values())) if talk_s else 0.0,
        "speech_s": float(sum(talk_s.values())),
        "nearest_speakers": float(pairs.min()) if pairs.size else GAP_CAP + threshold,
        "piece_spread": float(piece_spread),
        "seg_local_max": float(seg_local_max),
        "pieces": float(pieces),
    }


def design_row(ev: dict[str, float]) -> dict[str, float]:
    """Model inputs derived from the evidence: the same cue means different things for one
    speaker (risk: a merged second voice) and for several (risk: one voice split in two)."""
    k = ev.get("speakers", 0.0)
    single = float(k <= 1)
    multi = 1.0 - single
    seg = ev.get("seg_local_max", k)
    narrowband = float(ev.get("min_wideband_share", 1.0) < NARROWBAND_SHARE)
    return {
        "single": single,
        "three_plus": float(k >= 3),
        "gap_below": ev.get("gap_below", GAP_CAP),
        "gap_above": ev.get("gap_above", GAP_CAP),
        "cleaned_up": ev.get("cleaned_up", 0.0),
        "split_suspect": ev.get("split_suspect", 0.0),
        "log_min_talk_multi": multi * math.log1p(ev.get("min_talk_s", 0.0)),
        "nearest_multi": multi * ev.get("nearest_speakers", 0.0),
        # the second pass's whole-speaker distance of the closest pair it kept apart (capped: far
        # apart says nothing more); a pair just above the merge threshold may be one voice split
        "verify_nearest_multi": multi * min(ev.get("verify_nearest", VERIFY_MISSING), VERIFY_CAP),
        # a voice through a phone line: CAM++ hears all such voices alike (merges) and the tune
        # scenes hold few of them, so the fit learns how far to trust a count there
        "narrowband_single": single * narrowband,
        "narrowband_multi": multi * narrowband,
        "spread_single": single * ev.get("piece_spread", 0.0),
        "spread_multi": multi * ev.get("piece_spread", 0.0),
        "seg_fewer": max(0.0, k - seg) if seg > 0 else 0.0,
        "seg_more": max(0.0, seg - k),
        "log_pieces": math.log1p(ev.get("pieces", 0.0)),
    }


@dataclass
class CountCalibration:
    """A logistic model P(count right | evidence), standardised inputs, plus where it came from."""

    inputs: list[str]
    """Names of ``design_row`` entries, in weight order."""
    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]
    threshold_98: float | None = None
    """Smallest confidence at which the tune clips' counts were >= 98 % right (None: unfitted)."""
    fitted_on: dict[str, Any] = field(default_factory=dict)
    """What it was fitted on: groups, voice sets, seeds, clips, errors (never report data)."""

    @classmethod
    def load(cls, path: str | Path | None = None) -> CountCalibration | None:
        """The calibration at ``path`` (default: the shipped one), or None when there is none."""
        p = Path(path) if path else CALIBRATION_PATH
        if not p.is_file():
            return None
        data = json.loads(p.read_text(encoding="utf-8"))
        return cls(**{k: data[k] for k in ("inputs", "weights", "bias", "mean", "scale",
                                           "threshold_98", "fitted_on") if k in data})

    def save(self, path: str | Path | None = None) -> Path:
        """Write the calibration as JSON (default: the shipped location)."""
        p = Path(path) if path else CALIBRATION_PATH
        p.write_text(json.dumps(self.__dict__, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return p

    def probability(self, evidence: dict[str, float]) -> float:
        """P(the count is right) for one clip's ``count_evidence``."""
        row = design_row(evidence)
        z = self.bias + sum(w * (row.get(name, 0.0) - m) / s
                            for name, w, m, s in zip(self.inputs, self.weights, self.mean, self.scale))
        return float(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))))


def fit_calibration(evidence: list[dict[str, float]], correct: list[bool], l2: float = 1.0,
                    fitted_on: dict[str, Any] | None = None, target: float = 0.98) -> CountCalibration:
    """Fit the logistic model by Newton steps with an L2 penalty ``l2`` (standardised inputs).

    ``threshold_98`` is then read off the same clips: the lowest confidence above which at least
    ``target`` of the counts are right (None when no cut reaches it).
    """
    rows = [design_row(ev) for ev in evidence]
    names = list(rows[0]) if rows else []
    x = np.array([[r[n] for n in names] for r in rows], dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    a = np.hstack([np.ones((len(z), 1)), z])
    w = np.zeros(a.shape[1])
    penalty = np.full(a.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30, 30)))
        grad = a.T @ (p - y) + penalty * w
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(a.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    cal = CountCalibration(inputs=names, weights=[float(v) for v in w[1:]], bias=float(w[0]),
                           mean=[float(v) for v in mean], scale=[float(v) for v in scale],
                           fitted_on=dict(fitted_on or {}))
    cal.threshold_98 = precision_threshold([cal.probability(ev) for ev in evidence], correct, target)
    return cal


def precision_threshold(confidence: list[float], correct: list[bool], target: float = 0.98,
                        min_kept: int = 20) -> float | None:
    """Lowest confidence ``t`` such that the clips at ``>= t`` are right at least ``target`` of the
    time, and so is every higher cut that keeps at least ``min_kept`` clips (the guarantee must not
    hinge on one lucky cut); None when even the top ``min_kept`` clips fall short."""
    order = sorted(zip(confidence, correct), key=lambda cc: -cc[0])
    best, right = None, 0
    for i, (c, ok) in enumerate(order, 1):
        right += bool(ok)
        if i < len(order) and order[i][0] == c:
            continue  # ties are kept or dropped together
        if i >= min_kept:
            if right / i < target:
                break
            best = c
    return None if best is None else round(float(best), 4)


def cluster_cues(embeddings: np.ndarray, pitches: np.ndarray, clusters: Any,
                 pitch_weight: float, pitch_deadzone: float = 0.0) -> dict[str, Any]:
    """Distances between clusters and the spread inside them, for ``count_evidence``.

    Returns ``distance`` (K, K): cosine distance between cluster centroids plus ``pitch_weight``
    times the absolute log-ratio of the clusters' median piece pitches (the clustering's distance
    between centroids, without the intonation-spread softening of ``pitch_spread_scale``: the
    shipped calibration was fitted on this plain term); ``spread``: the largest cosine distance of a piece from its
    cluster's centroid; ``pieces``: how many embeddings there were.
    """
    from scipy.spatial.distance import squareform

    from ._clustering import normalize, speaker_distances

    x = normalize(np.asarray(embeddings, dtype=np.float64))
    cents = np.asarray(clusters.centroids, dtype=np.float64)
    labels = np.asarray(clusters.labels)
    k = cents.shape[0]
    f0 = None
    if pitch_weight > 0 and pitches.size == labels.size:
        f0 = np.array([np.median(pitches[labels == c]) for c in range(k)])
    # the clustering's own distance, between centroids instead of pieces
    distance = squareform(speaker_distances(cents, f0, pitch_weight, pitch_deadzone)) if k > 1 \
        else np.zeros((k, k))
    spread = float(np.max(1.0 - np.sum(x * cents[labels], axis=1))) if labels.size else 0.0
    return {"distance": distance, "spread": max(0.0, spread), "pieces": int(labels.size)}


def local_speaker_peak(binarized: np.ndarray, frame_step_s: float, min_active_s: float = 0.5) -> int:
    """Most local speakers active for at least ``min_active_s`` in any one segmentation window.

    ``binarized`` is the (chunks, frames, local speakers) 0/1 activity of the segmentation model.
    The model separates voices within a 5 s window with no speaker embedding at all, so it is a
    cue independent of the clustering (though it can give two alternating voices one track).
    """
    data = np.asarray(binarized)
    if data.ndim != 3 or data.size == 0:
        return 0
    active_s = np.nansum(data, axis=1) * frame_step_s  # (chunks, local speakers)
    return int((active_s >= min_active_s).sum(axis=1).max())
