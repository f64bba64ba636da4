"""Metrics for ``paqa-build eval``: speaker count, DER, WER, tag precision/recall, answer-key accuracy.

Each function takes plain data (turns as ``Turn`` objects or dicts with ``speaker/start/end/text``)
so that small cases can be computed by hand in tests. DER uses ``pyannote.metrics`` and WER uses
``jiwer``; both are imported inside the functions that need them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..spelling import spelling_key

_WORD_RE = re.compile(r"[a-z0-9']+")


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key)


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER_RE = re.compile(r"(?<![\w.:])(\d{1,6})(?:[.:](\d{2}))?(?![\w.:]*\d)")


def number_words(n: int) -> str:
    """English words for 0 <= n < 1,000,000 ('forty two', 'one hundred five')."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    rest = n % 1000
    return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))


def _spell_numbers(text: str) -> str:
    """Digits as words, clock times '7.15'/'7:15' as 'seven fifteen' ('7:00' as 'seven')."""
    def repl(m: re.Match[str]) -> str:
        words = number_words(int(m.group(1)))
        if m.group(2) and int(m.group(2)):
            words += " " + number_words(int(m.group(2)))
        return " " + words + " "
    return _NUMBER_RE.sub(repl, text)


def normalize_words(text: str | None) -> str:
    """Lower-case words without punctuation (apostrophes kept), single-spaced; numbers written
    with digits become words on both sides, so Whisper's '7.15' matches a script's 'seven fifteen'
    (numbers of seven digits and more are left alone), and British and American spellings of a
    word become one (``spelling.spelling_key``: 'harbour' matches 'harbor'), as the usual English
    ASR scoring normalisers do."""
    text = _spell_numbers((text or "").lower().replace("\u2019", "'"))
    return " ".join(spelling_key(w) for w in _WORD_RE.findall(text))


# -- WER ---------------------------------------------------------------------------------------

@dataclass
class WerCounts:
    """Word alignment counts; add them up over clips and read ``wer`` once at the end."""

    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def ref_words(self) -> int:
        """Number of reference words."""
        return self.hits + self.substitutions + self.deletions

    @property
    def wer(self) -> float | None:
        """(S + D + I) / N, or None when there is no reference word."""
        if self.ref_words == 0:
            return None
        return (self.substitutions + self.deletions + self.insertions) / self.ref_words

    def __add__(self, other: WerCounts) -> WerCounts:
        return WerCounts(self.hits + other.hits, self.substitutions + other.substitutions,
                         self.deletions + other.deletions, self.insertions + other.insertions)

    def as_dict(self) -> dict[str, Any]:
        """Counts plus the rate, for the JSON report."""
        return {"wer": self.wer, "ref_words": self.ref_words, "substitutions": self.substitutions,
                "deletions": self.deletions, "insertions": self.insertions}


def wer_counts(reference: str | None, hypothesis: str | None) -> WerCounts:
    """Alignment counts of ``hypothesis`` against ``reference`` after ``normalize_words``."""
    import jiwer

    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:  # jiwer refuses an empty reference; every hypothesis word is an insertion
        return WerCounts(insertions=len(hyp.split()))
    if not hyp:
        return WerCounts(deletions=len(ref.split()))
    out = jiwer.process_words(ref, hyp)
    return WerCounts(out.hits, out.substitutions, out.deletions, out.insertions)


def speaker_texts(turns: Iterable[Any], words: Iterable[Any] | None = None) -> dict[str, str]:
    """Text per speaker (turns in time order); falls back to speaker-assigned words when turns hold
    no text."""
    texts: dict[str, list[str]] = {}
    for t in sorted(turns or [], key=lambda t: float(_get(t, "start"))):
        if (_get(t, "text") or "").strip():
            texts.setdefault(str(_get(t, "speaker")), []).append(_get(t, "text").strip())
    if not texts:
        for w in sorted(words or [], key=lambda w: float(_get(w, "start"))):
            if _get(w, "speaker") is not None:
                texts.setdefault(str(_get(w, "speaker")), []).append(str(_get(w, "word")).strip())
    return {k: " ".join(v) for k, v in texts.items()}


# -- diarization -------------------------------------------------------------------------------

def _annotation(turns: Iterable[Any]):
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, t in enumerate(turns):
        start, end = float(_get(t, "start")), float(_get(t, "end"))
        if end > start:
            ann[Segment(start, end), i] = str(_get(t, "speaker"))
    return ann


class DerAccumulator:
    """Diarization error rate over many clips (pyannote.metrics), with per-clip values kept.

    Args:
        collar: seconds around each reference boundary that are not scored.
        skip_overlap: do not score regions where reference speakers overlap.
    """

    def __init__(self, collar: float = 0.0, skip_overlap: bool = False) -> None:
        from pyannote.metrics.diarization import DiarizationErrorRate

        self.metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
        self.per_clip: dict[str, float] = {}

    def add(self, clip_id: str, reference: Sequence[Any], hypothesis: Sequence[Any],
            duration: float) -> dict[str, str]:
        """Score one clip over ``[0, duration]``; returns the optimal hypothesis->reference mapping."""
        from pyannote.core import Segment, Timeline

        ref, hyp = _annotation(reference), _annotation(hypothesis)
        uem = Timeline([Segment(0.0, float(duration))])
        detail = self.metric(ref, hyp, uem=uem, detailed=True)
        total = detail["total"]
        errors = detail["missed detection"] + detail["false alarm"] + detail["confusion"]
        # a clip with no reference speech has no DER of its own; its false alarms still count
        self.per_clip[clip_id] = errors / total if total > 0 else float("nan")
        if not ref or not hyp:
            return {}
        return {str(k): str(v) for k, v in self.metric.optimal_mapping(ref, hyp, uem=uem).items()}

    def summary(self) -> dict[str, float | None]:
        """Overall DER and its components (seconds) accumulated over every clip added."""
        acc = self.metric.accumulated_
        total = float(acc.get("total", 0.0))
        parts = {k: float(acc.get(k, 0.0)) for k in ("missed detection", "false alarm", "confusion")}
        return {"der": (sum(parts.values()) / total) if total > 0 else None,
                "missed_s": parts["missed detection"], "false_alarm_s": parts["false alarm"],
                "confusion_s": parts["confusion"], "scored_speech_s": total,
                "collar": self.metric.collar, "skip_overlap": self.metric.skip_overlap}


def merged_speakers(reference: Iterable[Any], hypothesis: Iterable[Any]) -> list[tuple[str, str]]:
    """Pairs of reference speakers whose speech mostly went to the same hypothesis speaker.

    Each reference speaker is given the hypothesis speaker that overlaps its turns longest (none
    when nothing overlaps); two reference speakers given the same one were merged by the
    diarization. Pairs come sorted, each as ``(a, b)`` with ``a < b``. This names *which* voices a
    diarizer confuses, which neither DER nor the count accuracy says.
    """
    def by_speaker(turns: Iterable[Any]) -> dict[str, list[tuple[float, float]]]:
        out: dict[str, list[tuple[float, float]]] = {}
        for t in turns or []:
            out.setdefault(str(_get(t, "speaker")), []).append((float(_get(t, "start")), float(_get(t, "end"))))
        return out

    ref, hyp = by_speaker(reference), by_speaker(hypothesis)
    owner: dict[str, str] = {}
    for r, r_spans in ref.items():
        shared = {h: sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in r_spans for s2, e2 in h_spans)
                  for h, h_spans in sorted(hyp.items())}
        if shared and max(shared.values()) > 0:
            owner[r] = max(shared, key=lambda h: shared[h])
    names = sorted(owner)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if owner[a] == owner[b]]


SNR_BAND_EDGES_DB = (5.0, 10.0, 15.0, 20.0)
"""Edges of the scene-SNR bands that WER is reported in (the mixer's default range is 5-20 dB)."""


SNR_BANDS: tuple[str, ...] = (
    "no background", f">= {SNR_BAND_EDGES_DB[-1]:g} dB",
    *(f"{lo:g}-{hi:g} dB" for lo, hi in reversed(list(zip(SNR_BAND_EDGES_DB, SNR_BAND_EDGES_DB[1:])))),
    f"< {SNR_BAND_EDGES_DB[0]:g} dB")
"""Band names in report order: no background first, then from the quietest background to the loudest."""


def snr_band(snr_db: float | None) -> str:
    """Band name (one of ``SNR_BANDS``) of a scene SNR; ``"no background"`` when it is ``None``."""
    if snr_db is None:
        return SNR_BANDS[0]
    # SNR_BANDS[1:] runs from the highest band down; the first lower edge the SNR reaches is its band
    for name, low in zip(SNR_BANDS[1:], reversed(SNR_BAND_EDGES_DB)):
        if snr_db >= low:
            return name
    return SNR_BANDS[-1]


# -- speaker count -------------------------------------------------------------------------------

def speaker_count_accuracy(pairs: Iterable[tuple[int, int | None]]) -> dict[str, Any]:
    """Accuracy of ``(truth, predicted)`` counts; a missing prediction counts as wrong.

    Also returns ``confusion[truth][predicted] = clips`` (predicted ``"none"`` when missing).
    """
    n = correct = 0
    confusion: dict[str, dict[str, int]] = {}
    for truth, pred in pairs:
        n += 1
        correct += int(pred is not None and int(pred) == int(truth))
        row = confusion.setdefault(str(truth), {})
        key = "none" if pred is None else str(int(pred))
        row[key] = row.get(key, 0) + 1
    return {"accuracy": correct / n if n else None, "clips": n, "correct": correct,
            "confusion": confusion}


# -- tags --------------------------------------------------------------------------------------

def tag_precision_recall(truth: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]]
                         ) -> dict[str, Any]:
    """Per-class and micro precision/recall of clip-level label sets (``truth[i]`` vs ``predicted[i]``).

    Labels are compared case-insensitively. A class never predicted has precision None; a class
    never in the truth has recall None.
    """
    if len(truth) != len(predicted):
        raise ValueError("truth and predicted must list the same clips")
    counts: dict[str, dict[str, int]] = {}
    names: dict[str, str] = {}
    for ref, hyp in zip(truth, predicted):
        ref_set = {r.lower() for r in ref}
        hyp_set = {h.lower() for h in hyp}
        for label in list(ref) + list(hyp):
            names.setdefault(label.lower(), label)
        for label in ref_set | hyp_set:
            c = counts.setdefault(label, {"tp": 0, "fp": 0, "fn": 0})
            c["tp" if label in ref_set and label in hyp_set else "fn" if label in ref_set else "fp"] += 1
    per_class = {}
    for key, c in sorted(counts.items()):
        per_class[names[key]] = {
            **c, "support": c["tp"] + c["fn"],
            "precision": c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None,
            "recall": c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else None}
    tp = sum(c["tp"] for c in counts.values())
    fp = sum(c["fp"] for c in counts.values())
    fn = sum(c["fn"] for c in counts.values())
    return {"per_class": per_class,
            "micro": {"tp": tp, "fp": fp, "fn": fn,
                      "precision": tp / (tp + fp) if tp + fp else None,
                      "recall": tp / (tp + fn) if tp + fn else None}}


# -- answer keys -------------------------------------------------------------------------------

def _as_list(value: Any) -> list[Any]:
    """A list from None, a list, or a numpy array read back from parquet."""
    if value is None:
        return []
    return value.tolist() if hasattr(value, "tolist") else list(value)


def _variant(evidence: Any) -> str | None:
    """The question variant stored in a row's evidence (a dict, or JSON text from parquet)."""
    import json

    if isinstance(evidence, (str, bytes)) and evidence:
        try:
            evidence = json.loads(evidence)
        except ValueError:
            return None
    return evidence.get("variant") if isinstance(evidence, dict) else None


def answer_key_accuracy(rows: Iterable[dict[str, Any]], records: dict[str, Any],
                        verify: Callable[[dict[str, Any], Any], bool | None],
                        max_examples: int = 50) -> dict[str, Any]:
    """Share of verifiable questions whose key ``verify`` confirms, per task and overall.

    The first ``max_examples`` rows with a wrong key are listed (id, task, variant, question,
    keyed answer, options), so that a report shows what to fix.

    ``records`` maps clip id to the ground-truth record; rows whose clip has none are counted as
    ``no_truth``. ``verify`` returns True (key correct), False (wrong) or None (cannot tell);
    an exception inside it counts as unverifiable and its message is kept (first five).
    """
    tasks: dict[str, dict[str, Any]] = {}
    wrong: list[dict[str, Any]] = []
    errors: list[str] = []
    outcomes: dict[str, bool] = {}
    for row in rows:
        t = tasks.setdefault(str(row.get("task")), {"questions": 0, "verified": 0, "correct": 0,
                                                    "unverifiable": 0, "no_truth": 0})
        t["questions"] += 1
        record = records.get(str(row.get("clip_id")))
        if record is None:
            t["no_truth"] += 1
            continue
        try:
            ok = verify(row, record)
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the report
            ok = None
            if len(errors) < 5:
                errors.append(f"{row.get('id')}: {type(exc).__name__}: {exc}")
        if ok is None:
            t["unverifiable"] += 1
            continue
        t["verified"] += 1
        t["correct"] += int(bool(ok))
        outcomes[str(row.get("id"))] = bool(ok)
        if not ok:
            wrong.append({"id": row.get("id"), "task": row.get("task"),
                          "variant": _variant(row.get("evidence")),
                          "question": row.get("question"), "answer_text": row.get("answer_text"),
                          "choices": [str(c) for c in _as_list(row.get("choices"))]})
    for t in tasks.values():
        t["accuracy"] = t["correct"] / t["verified"] if t["verified"] else None
    verified = sum(t["verified"] for t in tasks.values())
    correct = sum(t["correct"] for t in tasks.values())
    return {"per_task": dict(sorted(tasks.items())),
            "overall": {"questions": sum(t["questions"] for t in tasks.values()),
                        "verified": verified, "correct": correct,
                        "accuracy": correct / verified if verified else None},
            "wrong_examples": wrong[:max_examples], "errors": errors, "outcomes": outcomes}


RELIABILITY_BINS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0001)
"""Confidence bin edges of the reliability tables (finer near 1, where the thresholds sit)."""


def reliability_table(confidence: list[float], correct: list[bool],
                      edges: tuple[float, ...] = RELIABILITY_BINS) -> list[dict[str, Any]]:
    """Confidence bin -> how many decisions fell in it and the fraction of them that were right.

    Rows: ``{"bin": "0.90-0.95", "lo", "hi", "n", "right", "accuracy", "mean_confidence"}``; an
    empty bin has ``n`` 0 and ``accuracy`` None. A calibrated confidence has accuracy close to
    the mean confidence in every bin.
    """
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = [(c, ok) for c, ok in zip(confidence, correct) if c is not None and lo <= c < hi]
        n = len(inside)
        right = sum(bool(ok) for _, ok in inside)
        rows.append({"bin": f"{lo:.2f}-{min(hi, 1.0):.2f}", "lo": lo, "hi": min(hi, 1.0), "n": n,
                     "right": right, "accuracy": right / n if n else None,
                     "mean_confidence": sum(c for c, _ in inside) / n if n else None})
    return rows
