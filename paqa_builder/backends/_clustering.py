"""Small speaker-clustering step for the portable diarizer (numpy + scipy only).

Agglomerative clustering of unit-length speaker embeddings under cosine distance, a clean-up pass
that folds clusters with too little speech into their nearest neighbour, and a confidence for the
resulting number of clusters read off the dendrogram.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Clusters:
    """Outcome of ``cluster_embeddings``."""

    labels: np.ndarray
    """(N,) cluster index per embedding, 0..K-1 ordered by first occurrence in the input."""
    centroids: np.ndarray
    """(K, D) unit-length mean embedding per cluster."""
    confidence: float
    """How clear-cut the number of clusters K is, in [0, 1] (see ``count_confidence``)."""
    heights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Merge distances of the dendrogram (empty for fewer than two embeddings)."""
    raw_count: int = 0
    """Clusters straight from the cut, before light clusters were folded."""


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def count_confidence(heights: np.ndarray, threshold: float, margin: float) -> float:
    """Confidence in the cluster count obtained by cutting a dendrogram at ``threshold``.

    ``heights`` are the merge distances of the dendrogram. The count is unstable when a merge
    happens just below or just above the cut: moving the threshold a little would change it. The
    confidence is the distance from the cut to the nearest merge on either side, divided by
    ``margin`` and capped at 1. A dendrogram with no merge at all (a single embedding) gives 0.5:
    one embedding is weak evidence of one speaker.
    """
    if heights.size == 0:
        return 0.5
    below = heights[heights <= threshold]
    above = heights[heights > threshold]
    gap_below = threshold - float(below.max()) if below.size else np.inf
    gap_above = float(above.min()) - threshold if above.size else np.inf
    return float(min(1.0, min(gap_below, gap_above) / max(margin, 1e-9)))


def speaker_distances(embeddings: np.ndarray, pitch_hz: np.ndarray | None = None,
                      pitch_weight: float = 0.0, pitch_deadzone: float = 0.0,
                      pitch_spread: np.ndarray | None = None, spread_scale: float = 0.0) -> np.ndarray:
    """The clustering's distance between every pair of embeddings, condensed (``pdist`` order).

    Cosine distance, plus ``pitch_weight * max(0, |ln(f0_a / f0_b)| - pitch_deadzone)`` when
    ``pitch_hz`` (median F0 per embedding) is given: pitch differences inside the dead zone are what
    one person's prosody does, and count for nothing. With ``pitch_spread`` (the spread of log F0
    inside each piece) and ``spread_scale > 0``, a pair's pitch term is scaled by
    ``1 / (1 + (mean spread / spread_scale) ** 2)``: a median pitch is a sharp cue for a voice
    that holds its pitch and a blunt one for a voice whose intonation moves a lot.
    ``scipy.spatial.distance.squareform`` turns the result into a matrix.
    """
    from scipy.spatial.distance import pdist

    x = normalize(np.asarray(embeddings, dtype=np.float64))
    distances = np.clip(pdist(x, metric="cosine"), 0.0, 2.0)
    if pitch_hz is not None and pitch_weight > 0:
        log_f0 = np.log(np.clip(np.asarray(pitch_hz, dtype=np.float64), 30.0, 1000.0))[:, None]
        gap = np.maximum(0.0, pdist(log_f0, metric="cityblock") - pitch_deadzone)
        if pitch_spread is not None and spread_scale > 0:
            from scipy.spatial.distance import squareform

            s = np.asarray(pitch_spread, dtype=np.float64)
            # pairwise means in pdist order, without pdist's Python callback per pair
            mean_spread = squareform(0.5 * (s[:, None] + s[None, :]), checks=False)
            gap = gap / (1.0 + (mean_spread / spread_scale) ** 2)
        distances = distances + pitch_weight * gap
    return distances


def cluster_embeddings(
    embeddings: np.ndarray,
    weights: np.ndarray,
    threshold: float,
    min_cluster_weight: float = 0.0,
    margin: float = 0.1,
    linkage: str = "average",
    pitch_hz: np.ndarray | None = None,
    pitch_weight: float = 0.0,
    pitch_deadzone: float = 0.0,
    pitch_spread: np.ndarray | None = None,
    spread_scale: float = 0.0,
) -> Clusters:
    """Cluster unit embeddings; clusters whose summed ``weights`` fall short are folded away.

    Args:
        embeddings: (N, D) speaker embeddings (normalised here).
        weights: (N,) non-negative weight per embedding, e.g. seconds of speech behind it.
        threshold: cosine distance at which the dendrogram is cut (larger -> fewer clusters).
        min_cluster_weight: a cluster with less total weight than this is merged into the
            nearest remaining cluster (by centroid cosine similarity); the heaviest always stays.
        margin: scale of ``count_confidence``.
        linkage: scipy linkage method ("average", "complete", "single", "weighted").
        pitch_hz: optional (N,) median F0 per embedding; when given, ``pitch_weight`` times the
            absolute log-ratio of two pitches is added to their cosine distance.
        pitch_weight: weight of that pitch term (0 ignores pitch).
        pitch_deadzone: log-pitch difference that costs nothing (see ``speaker_distances``).
        pitch_spread, spread_scale: per-piece log-F0 spread and its scale, which soften the pitch
            term of pieces with moving intonation (see ``speaker_distances``; 0 = off).
    """
    from scipy.cluster.hierarchy import fcluster
    from scipy.cluster.hierarchy import linkage as scipy_linkage

    x = normalize(np.asarray(embeddings, dtype=np.float64))
    w = np.asarray(weights, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return Clusters(np.zeros(0, dtype=int), np.zeros((0, x.shape[1] if x.ndim == 2 else 0)), 1.0)
    if n == 1:
        return Clusters(np.zeros(1, dtype=int), x.copy(), count_confidence(np.zeros(0), threshold, margin),
                        raw_count=1)
    distances = speaker_distances(x, pitch_hz, pitch_weight, pitch_deadzone, pitch_spread, spread_scale)
    tree = scipy_linkage(distances, method=linkage)
    heights = tree[:, 2]
    raw = fcluster(tree, t=threshold, criterion="distance") - 1
    confidence = count_confidence(heights, threshold, margin)

    labels = raw.copy()
    while True:
        ids = np.unique(labels)
        mass = np.array([w[labels == i].sum() for i in ids])
        if ids.size <= 1 or mass.min() >= min_cluster_weight:
            break
        # Fold the lightest cluster into the nearest other one, then look again: folding can
        # make a neighbour heavy enough, so one pass at a time keeps the result order-free.
        light = ids[int(np.argmin(mass))]
        cents = {i: normalize(x[labels == i].mean(axis=0)) for i in ids}
        others = [i for i in ids if i != light]
        target = max(others, key=lambda i: float(cents[i] @ cents[light]))
        labels[labels == light] = target
        # A count that the clean-up had to change is, by definition, not clear-cut.
        confidence = min(confidence, 0.5)

    # Renumber by first occurrence so labels are stable under cluster-id permutations.
    order: dict[int, int] = {}
    for lab in labels:
        order.setdefault(int(lab), len(order))
    final = np.array([order[int(lab)] for lab in labels], dtype=int)
    centroids = np.stack([normalize(x[final == k].mean(axis=0)) for k in range(len(order))])
    return Clusters(final, centroids, confidence, heights, int(np.unique(raw).size))
