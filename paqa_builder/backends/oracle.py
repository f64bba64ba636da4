"""Oracle perception: every perception field taken straight from a mixer manifest's ground truth.

With ``recipes/oracle.yaml`` (decode -> perceive:oracle -> acoustics -> compose) the questions built
from mixed scenes have exact answer keys, and ``paqa-build eval`` uses the same stage to rebuild the
reference record of each scene. Speakers are relabelled ``SPEAKER_00``, ``SPEAKER_01``… in order of
first appearance, as a diarizer would name them; words split each turn's span evenly (the mixer
knows the utterance span, not word times), with score 1.0.

When the mixer wrote stems (``truth["stems"]``, paths relative to the scene folder's root) they
become ``speech_audio``/``background_audio``; otherwise the stems are approximated from the decoded
mixture (speech = mixture inside turns, background = the rest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..record import BackgroundEvent, ClipRecord, Turn, Word
from ..stage import Stage
from .stems import SNR_LIMIT_DB


def merge_intervals(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of ``(start, end)`` intervals, sorted and merged where they touch or overlap."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def overlap_intervals(turns: list[Turn]) -> list[tuple[float, float]]:
    """Merged spans where two or more *different* speakers talk at once."""
    spans = []
    for i, a in enumerate(turns):
        for b in turns[i + 1:]:
            if a.speaker != b.speaker:
                start, end = max(a.start, b.start), min(a.end, b.end)
                if end > start:
                    spans.append((start, end))
    return merge_intervals(spans)


def even_words(turn: Turn) -> list[Word]:
    """The turn's words with its span split into equal slots (score 1.0)."""
    tokens = turn.text.split()
    if not tokens:
        return []
    step = (turn.end - turn.start) / len(tokens)
    return [Word(tok, round(turn.start + i * step, 3), round(turn.start + (i + 1) * step, 3),
                 turn.speaker, 1.0) for i, tok in enumerate(tokens)]


def truth_turns(truth: dict[str, Any]) -> tuple[list[Turn], dict[str, str]]:
    """Turns sorted by start with speakers relabelled ``SPEAKER_NN`` by first appearance.

    Returns the turns and the mapping truth speaker id -> label.
    """
    raw = sorted(truth.get("turns") or [], key=lambda t: (float(t["start"]), float(t["end"])))
    labels: dict[str, str] = {}
    for t in raw:
        labels.setdefault(str(t["speaker"]), f"SPEAKER_{len(labels):02d}")
    turns = [Turn(labels[str(t["speaker"])], float(t["start"]), float(t["end"]),
                  str(t.get("text", "")).strip(), 1.0) for t in raw]
    return turns, labels


def find_stem(record_path: str, rel: str) -> Path | None:
    """``rel`` resolved against the nearest ancestor folder of ``record_path`` that holds it."""
    for parent in Path(record_path).resolve().parents:
        if (parent / rel).is_file():
            return parent / rel
    return None


class OraclePerception(Stage):
    """Perception from ground truth (``record.truth``), for scenes made by ``paqa-build mix``."""

    name = "perceive"
    backend = "oracle"
    reads = frozenset({"truth"})
    writes = frozenset({"speech_audio", "background_audio", "speech_ratio", "snr_db",
                        "speech_regions", "num_speakers", "speaker_count_confidence", "turns",
                        "overlaps", "words", "transcript", "language", "asr_confidence",
                        "background"})

    def __init__(self, load_stems: bool = True, language: str = "en", **params: Any) -> None:
        """
        Args:
            load_stems: read the mixer's speech/background stems when the manifest names them;
                False derives them from the mixture (or leaves them unset without audio).
            language: language code written to ``record.language`` (the manifest may override it
                with ``truth["language"]``).
        """
        super().__init__(**params)
        self.load_stems = load_stems
        self.language = language

    def provenance(self) -> str:
        return "perceive:oracle source=mixer-manifest"

    def process_batch(self, batch: list[ClipRecord]) -> None:
        for record in batch:
            self._perceive(record)

    def _perceive(self, record: ClipRecord) -> None:
        truth = record.truth
        if not truth:
            raise ValueError("no ground truth on this clip: the oracle profile needs scenes made "
                             "by 'paqa-build mix' (manifest.jsonl with a 'truth' object)")
        duration = record.duration if record.duration is not None else float(truth.get("duration", 0))
        turns, _ = truth_turns(truth)
        record.turns = turns
        record.num_speakers = len(dict.fromkeys(t.speaker for t in turns))
        record.speaker_count_confidence = 1.0
        record.speech_regions = merge_intervals([(t.start, t.end) for t in turns])
        record.overlaps = overlap_intervals(turns)
        record.words = [w for t in turns for w in even_words(t)]
        record.transcript = " ".join(t.text for t in turns if t.text)
        record.asr_confidence = 1.0
        record.language = str(truth.get("language", self.language))
        record.background = [
            BackgroundEvent(label=str(b["label"]), mid=b.get("mid"), score=1.0,
                            start=float(b.get("start", 0.0)), end=float(b.get("end", duration)),
                            origin="truth")
            for b in truth.get("backgrounds") or []]
        speech_time = sum(e - s for s, e in record.speech_regions)
        record.speech_ratio = float(min(1.0, speech_time / duration)) if duration else 0.0
        if truth.get("snr_db") is not None:
            record.snr_db = float(truth["snr_db"])
        else:  # same convention as the separators (backends/stems.py): clipped at +-60 dB
            record.snr_db = SNR_LIMIT_DB if turns else -SNR_LIMIT_DB
        self._stems(record, truth)

    def _stems(self, record: ClipRecord, truth: dict[str, Any]) -> None:
        n = len(record.audio) if record.audio is not None else None
        stems = truth.get("stems") or {}
        if self.load_stems and stems.get("speech") and stems.get("background"):
            from ..audio_io import load_audio

            paths = [find_stem(record.path, stems[k]) for k in ("speech", "background")]
            if all(paths):
                speech, background = (load_audio(p, sr=record.sample_rate)[0] for p in paths)
                if n is not None:  # match the decoded clip exactly (decode may trim or pad)
                    speech, background = _fit(speech, n), _fit(background, n)
                record.speech_audio, record.background_audio = speech, background
                return
        if record.audio is None:
            return
        mask = np.zeros(n, dtype=bool)
        for start, end in record.speech_regions or []:
            mask[int(start * record.sample_rate): int(np.ceil(end * record.sample_rate))] = True
        record.speech_audio = np.where(mask, record.audio, 0.0).astype(np.float32)
        record.background_audio = (record.audio - record.speech_audio).astype(np.float32)


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or zero-padded to ``n`` samples."""
    return x[:n] if x.size >= n else np.pad(x, (0, n - x.size))
