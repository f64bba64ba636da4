"""What a clip record reliably says, in the form the question families use.

``build_facts`` applies the abstain thresholds once: weak tags, low-confidence transcripts and
uncertain speaker counts are turned into ``None``/``False`` here, so that a family never has to
remember a threshold and never asks about something the perception was unsure of. It also keeps
the set of *everything* detected at any score, because distractors must avoid even weak hits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ontology import Ontology
from ..record import ClipRecord, Turn, Word
from .config import ComposeConfig

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
            "tenth")
"""Ordinal words for speaker positions (speakers are numbered by first appearance)."""


def display_name(name: str) -> str:
    """Option text for an ontology name: first comma part, lower-cased unless an acronym."""
    head = name.split(",")[0].strip()
    return head if head[:2].isupper() else head[:1].lower() + head[1:]


def normalize_text(text: str) -> str:
    """Lower-case words without punctuation, for comparing quotes and transcripts."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower().replace("’", "'")))


@dataclass
class Sound:
    """An environmental sound the composer may assert: display name, mid, span, score, origin."""

    name: str
    mid: str | None
    start: float
    end: float
    score: float
    origin: str

    @property
    def timed(self) -> bool:
        """True when the span comes from a tagger or the mixer, not a clip-level dataset label."""
        return self.origin != "source"


@dataclass
class Speaker:
    """One diarized speaker, numbered from 1 in order of first appearance."""

    index: int
    label: str
    turns: list[Turn]
    text: str
    stats: dict[str, float] = field(default_factory=dict)
    quotable: list[str] | None = None
    """Sentences said whole inside one of this speaker's turns (``whole_sentences``); None when
    the turns carry no text (then the sentences of ``text`` are used)."""

    @property
    def start(self) -> float:
        """Start of the first turn."""
        return min(t.start for t in self.turns)

    @property
    def end(self) -> float:
        """End of the last turn."""
        return max(t.end for t in self.turns)

    @property
    def talk_time(self) -> float:
        """Seconds of speech summed over turns."""
        return float(sum(max(0.0, t.end - t.start) for t in self.turns))


@dataclass
class Facts:
    """Reliable facts about one clip (see module docstring)."""

    clip_id: str
    duration: float | None
    sounds: list[Sound] | None
    """Reliable non-speech sounds; None when neither labels nor a tagger produced any evidence."""
    events: list[Sound]
    """Every reliable sound event (same name may repeat), by start time; for timing questions."""
    env_produced: bool
    """True when a tagger ran (``record.background`` is not None), even if it found nothing."""
    present_mids: set[str]
    """Every mid detected or labelled, at any score, speech included (distractor exclusion)."""
    present_names: set[str]
    """Lower-cased display names of the same (for labels without a mid)."""
    speech_labelled: bool
    """True when a source label or the tagger names a voice class."""
    speakers: list[Speaker] | None
    """Speakers by first appearance when diarization is confident and consistent, else None."""
    diarized: bool
    """True when diarization ran (turns produced), confident or not."""
    asr_ok: bool
    """True when the transcript may be quoted (confidence and SNR above thresholds)."""
    transcript: str | None
    words: list[Word] | None
    acoustics: dict[str, float]
    speech_ratio: float | None
    snr_db: float | None
    audio: np.ndarray | None = None
    speech_heard: bool = False
    """True when VAD found a speech region or diarization a turn, confident or not."""
    route_heard_speech: bool = False
    """True when the router heard speech in the mixture (``record.route == "speech"``) and a VAD
    or diarizer ran after it (so ``speech_heard`` False means they missed it)."""
    sample_rate: int = 16_000
    overlap_regions: list[tuple[float, float]] | None = None
    """Where the diarizer heard two or more voices at once (``record.overlaps``); None when it
    reports none (then overlapping turns are their own evidence)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_speakers(self) -> int | None:
        """Reliable speaker count, or None."""
        return None if self.speakers is None else len(self.speakers)

    def levels_agree(self, speech_louder: bool) -> bool:
        """Whether the active-speech SNR (``snr_db``, measured on speech frames) has the sign the
        stems' whole-clip levels give; True when it is unknown.

        Where the separator moves part of a voice into the background stem (recorded voices it
        does not know, a meeting's other talkers), the whole-clip levels alone said "the
        background is louder" on clips whose speech was 0.1-8 dB above the background: all four
        wrong ``bg_vs_speech`` keys of the recorded TUNE build (seed 11), and the same sign test
        had already fixed four ``speech_or_env`` keys there.

        ``snr_db`` is taken over the frames where the speech stem dominates
        (``backends/stems.py``), so it is negative only when no such frame exists: the background
        is then said to be louder only on clips without a speech-dominant frame. The mixed scenes
        never have a louder background (5-20 dB SNR), so nothing right is lost there; on real
        audio with speech under loud music that answer is given up, and ``bg_vs_speech`` keys
        lean to "the speech is louder" (an abstention, not a wrong key)."""
        if self.snr_db is None:
            return True
        return self.snr_db > 0 if speech_louder else self.snr_db < 0

    def speaker_level_relation(self, cfg: ComposeConfig) -> str | None:
        """How loud the background is relative to speech, when both levels are known; "louder"
        or "quieter" only when the active-speech SNR agrees (``levels_agree``), else None."""
        speech, bg = self.acoustics.get("speech_db"), self.acoustics.get("background_db")
        if speech is None or bg is None or not self.speakers:
            return None
        diff = float(bg) - float(speech)
        if diff >= cfg.min_level_diff_db:
            return "louder than speech" if self.levels_agree(speech_louder=False) else None
        if diff <= -cfg.min_level_diff_db:
            return "quieter than speech" if self.levels_agree(speech_louder=True) else None
        return "about as loud as speech"


def _asr_confidence(record: ClipRecord) -> float | None:
    if record.asr_confidence is not None:
        return float(record.asr_confidence)
    scores = [t.confidence for t in record.turns or [] if t.confidence is not None]
    return float(np.mean(scores)) if scores else None


def _speaker_texts(record: ClipRecord) -> dict[str, str]:
    """Text per speaker label: turn texts when present, else words assigned to that speaker."""
    texts: dict[str, list[str]] = {}
    for turn in sorted(record.turns or [], key=lambda t: t.start):
        if turn.text.strip():
            texts.setdefault(turn.speaker, []).append(turn.text.strip())
    if not texts and record.words:
        for word in sorted(record.words, key=lambda w: w.start):
            if word.speaker is not None:
                texts.setdefault(word.speaker, []).append(word.word.strip())
    return {k: " ".join(v) for k, v in texts.items()}


def _speakers(record: ClipRecord, cfg: ComposeConfig, trust: bool) -> list[Speaker] | None:
    if record.turns is None:
        return None
    labels: list[str] = []
    for turn in sorted(record.turns, key=lambda t: (t.start, t.end)):
        if turn.speaker not in labels:
            labels.append(turn.speaker)
    count_conf = record.speaker_count_confidence
    if not trust and (count_conf is None or count_conf < cfg.min_speaker_count_confidence):
        return None
    # a count that disagrees with the turns means the diarizer contradicts itself: abstain
    if record.num_speakers is not None and record.num_speakers != len(labels):
        return None
    texts = _speaker_texts(record)
    stats = record.speaker_stats or {}
    # truth turns (oracle) are whole utterances; model turns may cut a sentence at a speaker change
    whole = None if trust else whole_sentences(record.turns)
    return [Speaker(index=i, label=lab, turns=[t for t in record.turns if t.speaker == lab],
                    text=texts.get(lab, ""), stats=dict(stats.get(lab, {})),
                    quotable=None if whole is None else whole.get(lab, []))
            for i, lab in enumerate(labels, 1)]


_ENDS = r"[.!?\u2026\u3002\uff01\uff1f]"
TERMINAL = re.compile(_ENDS + r"[\"'\u201d\u2019)\]]*$")
"""A sentence end: . ! ? ... or the CJK full stop / marks, then any closing quotes or brackets."""


def split_sentences(text: str) -> list[str]:
    """Split text into sentences at a sentence mark followed by white space (marks kept)."""
    return [p for p in re.split(r"(?<=" + _ENDS + r")\s+", text.strip()) if p]


def whole_sentences(turns: list[Turn]) -> dict[str, list[str]] | None:
    """Per speaker, the sentences of their turn texts that start and end inside one turn.

    The transcript is punctuated as one text, then cut into turns at the diarizer's speaker
    changes. A turn whose text ends without a sentence end stopped mid-sentence, and the turn
    after it (whoever it is given to) starts with the rest; both pieces are dropped: measured on
    a report scene, a sentence split across a misplaced speaker change gave a wrong
    ``quote_speaker`` key ("before the trip." to the second speaker) and a ``speaker_quote``
    question with two true options. None when no turn carries text."""
    ordered = sorted((t for t in turns if t.text.strip()), key=lambda t: (t.start, t.end))
    if not ordered:
        return None
    out: dict[str, list[str]] = {}
    continues = False  # the previous turn's text ended mid-sentence
    for turn in ordered:
        parts = split_sentences(turn.text)
        ends_whole = bool(TERMINAL.search(parts[-1]))
        keep = [p for i, p in enumerate(parts)
                if not (i == 0 and continues) and (i < len(parts) - 1 or ends_whole)]
        out.setdefault(turn.speaker, []).extend(keep)
        continues = not ends_whole
    return out


def _related_to_labels(mid: str | None, name: str, labelled: list[Sound], ontology: Ontology) -> bool:
    for sound in labelled:
        if name == sound.name.lower():
            return True
        if mid and sound.mid and mid in ontology.related(sound.mid):
            return True
    return False


def build_facts(record: ClipRecord, cfg: ComposeConfig, ontology: Ontology,
                trust: bool = False) -> Facts:
    """Reliable facts of ``record`` under ``cfg``; ``trust`` ignores confidences (ground truth)."""
    duration = record.duration
    if duration is None and record.audio is not None:
        duration = len(record.audio) / record.sample_rate
    span_end = float(duration) if duration else 0.0
    present_mids: set[str] = set()
    present_names: set[str] = set()
    speech_labelled = False
    sounds: list[Sound] = []
    for label in record.labels:
        present_mids.add(label.mid)
        present_names.add(display_name(label.name).lower())
        if ontology.is_speech(label.mid):
            speech_labelled = True
        else:
            sounds.append(Sound(display_name(label.name), label.mid, 0.0, span_end, 1.0, "source"))
    # dataset labels count as environment evidence only when they name a non-voice sound
    have_env = record.background is not None or bool(sounds)
    labelled_env = list(sounds)
    for event in record.background or []:
        mid = event.mid or ontology.mid_for_name(event.label)
        if mid:
            present_mids.add(mid)
        present_names.add(display_name(event.label).lower())
        if mid and ontology.is_speech(mid):
            speech_labelled = speech_labelled or event.score >= cfg.min_tag_score
            continue
        # with exhaustive labels, a clip without sound labels has no background: any tag is noise
        if (not trust and event.origin == "model" and (labelled_env or cfg.labels_exhaustive)
                and cfg.model_tags_when_labelled == "related_only"
                and not _related_to_labels(mid, display_name(event.label).lower(), labelled_env, ontology)):
            continue  # detected but unconfirmed by the labels: blocks distractors, never asserted
        if event.score >= cfg.min_tag_score or trust:
            sounds.append(Sound(display_name(event.label), mid, float(event.start),
                                float(event.end), float(event.score), event.origin))
    # one entry per name: prefer timed evidence (tagger/mixer) over a clip-level label
    by_name: dict[str, Sound] = {}
    for s in sorted(sounds, key=lambda s: (not s.timed, -s.score, s.start)):
        by_name.setdefault(s.name.lower(), s)
    speakers = _speakers(record, cfg, trust)
    conf = _asr_confidence(record)
    has_text = bool(record.transcript and record.transcript.strip()) or bool(
        speakers and any(s.text for s in speakers))
    asr_ok = has_text and (trust or (conf is not None and conf >= cfg.min_asr_confidence))
    if not trust and record.snr_db is not None and record.snr_db < cfg.min_speech_snr_db:
        asr_ok = False
    return Facts(
        clip_id=record.clip_id, duration=duration,
        sounds=sorted(by_name.values(), key=lambda s: (s.start, s.name)) if have_env else None,
        events=sorted(sounds, key=lambda s: (s.start, s.name)),
        env_produced=record.background is not None,
        present_mids=present_mids, present_names=present_names, speech_labelled=speech_labelled,
        speakers=speakers, diarized=record.turns is not None, asr_ok=asr_ok,
        speech_heard=bool(record.turns) or bool(record.speech_regions),
        route_heard_speech=record.route == "speech" and (record.turns is not None
                                                         or record.speech_regions is not None),
        transcript=record.transcript, words=record.words,
        acoustics={k: float(v) for k, v in (record.acoustics or {}).items()
                   if isinstance(v, (int, float)) and np.isfinite(v)},
        speech_ratio=record.speech_ratio, snr_db=record.snr_db,
        audio=record.audio, sample_rate=record.sample_rate,
        overlap_regions=None if record.overlaps is None else [tuple(o) for o in record.overlaps],
    )
