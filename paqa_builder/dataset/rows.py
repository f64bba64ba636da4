"""Turning a finished ``ClipRecord`` into output rows, and the Hugging Face features of those rows.

One place defines the columns of ``data/clips`` and ``data/qa`` (the contract in DESIGN.md §3), so
the writer, the card and the tests agree. Audio is stored as FLAC bytes at 16 kHz inside the HF
``Audio`` feature, which ``datasets`` decodes on access and the Hub viewer plays.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from typing import Any

import numpy as np

from ..record import SAMPLE_RATE, ClipRecord

SPLITS = ("train", "validation", "test")

ACOUSTIC_KEYS = ("loudness_lufs", "rms_db", "peak_db", "speech_db", "background_db", "pitch_hz",
                 "spectral_centroid_hz")
"""Acoustic attributes stored as typed columns; other keys a backend adds go to ``acoustics_extra``."""


def _features():
    from datasets import Audio, Features, List, Value

    label = {"mid": Value("string"), "name": Value("string")}
    common = {
        "clip_id": Value("string"),
        "audio": Audio(sampling_rate=SAMPLE_RATE),
        "source": Value("string"),
        "labels": List(label),
        "provenance": Value("string"),
    }
    clips = Features({
        **common,
        "path": Value("string"),
        "offset": Value("float32"),
        "duration": Value("float32"),
        "route": Value("string"),
        "speech_ratio": Value("float32"),
        "snr_db": Value("float32"),
        "num_speakers": Value("int32"),
        "speaker_count_confidence": Value("float32"),
        "speaker_evidence": Value("string"),
        "turns": List({"speaker": Value("string"), "start": Value("float32"), "end": Value("float32"),
                       "text": Value("string"), "confidence": Value("float32")}),
        "words": List({"word": Value("string"), "start": Value("float32"), "end": Value("float32"),
                       "speaker": Value("string"), "score": Value("float32")}),
        "transcript": Value("string"),
        "language": Value("string"),
        "asr_confidence": Value("float32"),
        "background": List({"label": Value("string"), "mid": Value("string"), "score": Value("float32"),
                            "start": Value("float32"), "end": Value("float32"), "origin": Value("string")}),
        "speech_regions": List({"start": Value("float32"), "end": Value("float32")}),
        "overlaps": List({"start": Value("float32"), "end": Value("float32")}),
        "acoustics": {k: Value("float32") for k in ACOUSTIC_KEYS},
        "acoustics_extra": Value("string"),
        "speaker_stats": Value("string"),
        "input_info": Value("string"),
        "warnings": List(Value("string")),
        "truth": Value("string"),
        "num_questions": Value("int32"),
        "split": Value("string"),
    })
    qa = Features({
        "id": Value("string"),
        **common,
        "question": Value("string"),
        "choices": List(Value("string")),
        "answer": Value("string"),
        "answer_text": Value("string"),
        "task": Value("string"),
        "chain": Value("string"),
        "messages": List({"role": Value("string"),
                          "content": List({"type": Value("string"), "text": Value("string")})}),
        "evidence": Value("string"),
        "split": Value("string"),
    })
    return clips, qa


_FEATURES: tuple | None = None


def features() -> tuple[Any, Any]:
    """``(clips_features, qa_features)`` as ``datasets.Features`` (built once)."""
    global _FEATURES
    if _FEATURES is None:
        _FEATURES = _features()
    return _FEATURES


def flac_bytes(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """16-bit FLAC encoding of a mono float waveform (deterministic for the same samples)."""
    import soundfile as sf

    buf = io.BytesIO()
    pcm = np.clip(np.nan_to_num(audio, nan=0.0), -1.0, 1.0)
    sf.write(buf, pcm, sample_rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def split_of(group_id: str, ratios: dict[str, float]) -> str:
    """Split for a clip group: a stable hash of the id mapped into the cumulative ratios."""
    h = int.from_bytes(hashlib.sha256(group_id.encode("utf-8")).digest()[:8], "big") / 2**64
    acc = 0.0
    for name in SPLITS:
        acc += float(ratios.get(name, 0.0))
        if h < acc:
            return name
    return SPLITS[-1] if ratios.get(SPLITS[-1], 0) else "train"


_WINDOW_SUFFIX = re.compile(r"_w\d+$")


def group_id(record: ClipRecord) -> str:
    """Id shared by all windows of one file, so windows of a recording never straddle splits."""
    return str(record.meta.get("group_id") or _WINDOW_SUFFIX.sub("", record.clip_id))


def _f(x: Any) -> float | None:
    return None if x is None else float(x)


def _json(x: Any) -> str | None:
    return None if x is None else json.dumps(x, sort_keys=True, default=_json_default)


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def clip_row(record: ClipRecord, split: str, audio_bytes: bytes) -> dict[str, Any]:
    """The ``data/clips`` row of a finished record."""
    acoustics = record.acoustics or {}
    extra = {k: v for k, v in acoustics.items() if k not in ACOUSTIC_KEYS}
    return {
        "clip_id": record.clip_id,
        "audio": {"bytes": audio_bytes, "path": f"{record.clip_id}.flac"},
        "source": record.source,
        "labels": [{"mid": lab.mid, "name": lab.name} for lab in record.labels],
        "provenance": _json(record.provenance),
        "path": str(record.meta.get("relpath", record.path)),
        "offset": float(record.offset),
        "duration": _f(record.duration),
        "route": record.route,
        "speech_ratio": _f(record.speech_ratio),
        "snr_db": _f(record.snr_db),
        "num_speakers": None if record.num_speakers is None else int(record.num_speakers),
        "speaker_count_confidence": _f(record.speaker_count_confidence),
        "speaker_evidence": _json(record.speaker_evidence) if record.speaker_evidence else None,
        "turns": None if record.turns is None else [
            {"speaker": t.speaker, "start": float(t.start), "end": float(t.end), "text": t.text,
             "confidence": _f(t.confidence)} for t in record.turns],
        "words": None if record.words is None else [
            {"word": w.word, "start": float(w.start), "end": float(w.end), "speaker": w.speaker,
             "score": _f(w.score)} for w in record.words],
        "transcript": record.transcript,
        "language": record.language,
        "asr_confidence": _f(record.asr_confidence),
        "background": None if record.background is None else [
            {"label": b.label, "mid": b.mid, "score": float(b.score), "start": float(b.start),
             "end": float(b.end), "origin": b.origin} for b in record.background],
        "speech_regions": None if record.speech_regions is None else [
            {"start": float(a), "end": float(b)} for a, b in record.speech_regions],
        "overlaps": None if record.overlaps is None else [
            {"start": float(a), "end": float(b)} for a, b in record.overlaps],
        "acoustics": {k: _f(acoustics.get(k)) for k in ACOUSTIC_KEYS},
        "acoustics_extra": _json(extra) if extra else None,
        "speaker_stats": _json(record.speaker_stats),
        "input_info": _json(record.input_info),
        "warnings": list(record.warnings),
        "truth": _json(record.truth),
        "num_questions": len(record.qa or []),
        "split": split,
    }


def qa_rows(record: ClipRecord, split: str, audio_bytes: bytes) -> list[dict[str, Any]]:
    """The ``data/qa`` rows of a finished record (one per composed question)."""
    rows = []
    labels = [{"mid": lab.mid, "name": lab.name} for lab in record.labels]
    for item in record.qa or []:
        evidence = item.get("evidence")
        rows.append({
            "id": item["id"],
            "clip_id": record.clip_id,
            "audio": {"bytes": audio_bytes, "path": f"{record.clip_id}.flac"},
            "source": record.source,
            "labels": labels,
            "provenance": _json(record.provenance),
            "question": item["question"],
            "choices": list(item["choices"]),
            "answer": item["answer"],
            "answer_text": item["answer_text"],
            "task": item["task"],
            "chain": item["chain"],
            "messages": item["messages"],
            "evidence": evidence if isinstance(evidence, str) else _json(evidence or {}),
            "split": split,
        })
    return rows


def plain(value: Any) -> Any:
    """Values read back from Parquet as plain Python: numpy arrays and scalars to lists and
    numbers, NaN to None, recursively (what the evaluation and the viewer compare and print)."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def failure_row(record: ClipRecord) -> dict[str, Any]:
    """One ``failures.jsonl`` line: a failed or gated clip and the one-line reason."""
    kind = "error" if record.error else "skipped"
    reason = record.error or record.skipped or ""
    where = str(record.meta.get("relpath", record.path))
    if record.path and where != str(record.path):
        # the shared file names the clip as the source sees it, never by this machine's folders
        reason = reason.replace(str(record.path), where)
    return {"clip_id": record.clip_id, "path": where, "kind": kind,
            "stage": reason.split(":", 1)[0], "reason": reason}
