"""Composer settings: every knob of the QA composer, with the abstain thresholds it obeys.

All fields are recipe parameters of the ``compose`` stage (``stages.compose.<name>``). The
thresholds are deliberately conservative: a question the composer skips costs little, a wrong
answer key teaches the model to hallucinate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

TASK_IDS: tuple[str, ...] = (
    "env_present", "env_absent", "speech_or_env", "speaker_count", "speaker_quote",
    "quote_speaker", "speaker_order", "content", "temporal", "acoustic", "speaker_overlap",
)
"""Stable task ids, in the order the composer visits them (see DESIGN.md §3)."""


@dataclass
class ComposeConfig:
    """Parameters of the QA composer (all documented, all settable from the recipe)."""

    seed: int = 0
    """Base seed; each clip gets its own RNG from a stable hash of (seed, clip_id)."""
    ontology: str | None = None
    """Path to AudioSet ``ontology.json``; None gives a flat label set (engine fills the source's)."""
    class_labels: str | None = None
    """Optional ``class_labels_indices.csv`` adding names for a flat label set."""
    cooccurrence: str | None = None
    """Classes that co-occur with a class (distractor ring 2): a JSON ``{mid: [mid, ...]}`` file or
    an AudioSet segments CSV to count from; None skips the ring."""
    tasks: list[str] = field(default_factory=lambda: list(TASK_IDS))
    """Enabled task ids; questions are only composed for these."""
    max_questions_per_task: int = 1
    """At most this many questions per task and clip (picked at random among the candidates)."""
    num_choices: int = 4
    """Options per question (2..10); a family may offer fewer when the clip supports no more."""
    reflect_share: float = 0.2
    """Share of items whose first reasoning reaches a plausible wrong option that REFLECT corrects."""
    min_asr_confidence: float = 0.6
    """Below this clip ASR confidence, no transcript-based question (quotes, content) is asked."""
    min_speaker_count_confidence: float | str = 0.6
    """Below this diarization confidence, no speaker question is asked. ``"calibrated"``: the
    ``threshold_98`` of the portable diarizer's shipped calibration
    (``backends/speaker_calibration.json``), the lowest calibrated confidence at which >= 98 % of
    the tune clips' counts were right."""
    min_tag_score: float = 0.3
    """Tagger events scoring below this are neither asked about nor shown in ENV."""
    model_tags_when_labelled: str = "related_only"
    """When a clip has non-voice source labels, which tagger events may be asserted as present:
    ``"related_only"`` (events whose class is one of those labels or related to one in the
    ontology; other detections only block distractors) or ``"all"``. Dataset labels are
    human-verified while taggers hallucinate on unusual audio, so the default trusts the labels."""
    labels_exhaustive: bool = False
    """Treat dataset labels as complete, so that a clip labelled with sounds but no voice counts as
    speech-free (and vice versa) for ``speech_or_env`` when no stems or levels exist, and so that
    on a clip with no sound label no tagger event is asserted (with ``related_only``). Off by
    default: AudioSet-style labels name what was noticed, not everything that is there; scenes
    from ``paqa-build mix`` are labelled exhaustively by construction."""
    min_turn_seconds: float = 1.0
    """A speaker must talk at least this long (seconds, all turns) to be asked about."""
    min_quote_words: int = 3
    """Quotes (speaker_quote, quote_speaker, speaker descriptions) need at least this many words."""
    max_quote_words: int = 14
    """Longer turns are cut to their first this-many words for use as a quote."""
    min_speech_snr_db: float = 0.0
    """Transcript questions abstain when the clip SNR (speech vs background, dB) is lower."""
    min_level_diff_db: float = 6.0
    """Loudness comparisons (speech vs background, clip halves, speakers) need this margin in dB."""
    min_pitch_ratio: float = 1.15
    """Higher-voice questions need the higher median pitch to exceed the lower one by this factor."""
    min_rate_ratio: float = 1.3
    """Faster-talker questions need this words-per-second ratio."""
    min_talk_time_ratio: float = 1.3
    """'Talks the most' needs the top speaker's talk time to exceed the runner-up's by this factor."""
    min_word_score: float = 0.9
    """Words scored below this by the recogniser/aligner are not used as the answer of content
    questions. Measured on 60 mixed scenes (faster-whisper base, espeak voices): 86 % of words
    scoring >= 0.5 were right, 96 % of those scoring >= 0.9."""
    min_quote_word_score: float = 0.6
    """A sentence is quoted (speaker_quote, quote_speaker, 'first speaker' descriptions) only when
    every one of its words scored at least this; one misheard word makes a quote that no speaker
    said. Ignored when the words carry no scores."""
    min_quote_margin_s: float = 0.0
    """A quote (speaker_quote, quote_speaker, 'first speaker' descriptions) is used only when its
    words lie at least this many seconds from every other speaker's turn (0: no check); turn
    ownership is least sure next to a speaker change."""
    min_gap_s: float = 0.5
    """Temporal orderings (before/after/first) need events separated by at least this gap."""
    min_overlap_s: float = 0.5
    """Two speakers' turns must overlap this long (seconds), at least half of it inside a reported
    overlap region, before an overlap question (``speaker_overlap``) is asked about them."""
    timed_absence_origins: list[str] = field(default_factory=lambda: ["truth"])
    """Event origins whose time spans are complete enough to say a sound is *not* heard at some
    moment (before/after the first speech, which sound starts first, 'elsewhere' distractors of
    'while' questions). Tagger spans (origin ``model``) are not: measured on mixed scenes, YAMNet
    detects a steady background only in patches between words, so 'after the first turn' read off
    its spans was wrong for sounds present all along. Sounds of other origins may still be asked
    about positively (heard while someone talks)."""
    min_overlap_s: float = 0.5
    """'While' questions need a sound to overlap the speaker's turns by at least this much."""
    noisy_snr_db: float = 5.0
    """A clip whose SNR is below this is called noisy in acoustic questions."""
    clean_snr_db: float = 20.0
    """A clip whose SNR is above this is called clean in acoustic questions."""
    snr_margin_db: float = 0.0
    """The composer calls a clip noisy only when its SNR estimate is this far below
    ``noisy_snr_db``, and clean only this far above ``clean_snr_db`` (the answer key's meaning
    keeps the plain edges). Stem-based estimates read recorded voices low: on the recorded tune
    mix (seed 11) six clips estimated under 5 dB were truly 6.7-19.4 dB."""
    system_prompt: str | None = None
    """Optional system message placed before the user turn in ``messages``."""
    instruction: str | None = None
    """Optional line appended to the user turn after the options (e.g. answer-format hint)."""

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ComposeConfig:
        """Build from recipe parameters; unknown keys raise with the list of known ones."""
        from ..registry import unknown_name

        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"stages.compose: {unknown_name('key', unknown[0], sorted(known))}")
        cfg = cls(**params)
        cfg.check()
        return cfg

    def check(self) -> None:
        """Raise ``ValueError`` on settings that cannot work."""
        from ..registry import available, unknown_name

        registered = list(available("family"))  # built-in task ids and installed plug-in families
        bad = [t for t in self.tasks if t not in registered]
        if bad:
            raise ValueError(f"compose: {unknown_name('task id', bad[0], registered)}")
        if not 2 <= self.num_choices <= 10:
            raise ValueError(f"compose: num_choices must be in 2..10, got {self.num_choices}")
        if not 0.0 <= self.reflect_share <= 1.0:
            raise ValueError(f"compose: reflect_share must be in [0, 1], got {self.reflect_share}")
        if self.max_questions_per_task < 1:
            raise ValueError("compose: max_questions_per_task must be >= 1")
        if self.min_speaker_count_confidence == "calibrated":
            from ..backends.speaker_confidence import CountCalibration

            cal = CountCalibration.load()
            if cal is None or cal.threshold_98 is None:
                raise ValueError("compose: min_speaker_count_confidence=calibrated needs the shipped "
                                 "speaker calibration (benchmarks/speaker_calibration.py fit --save)")
            self.min_speaker_count_confidence = float(cal.threshold_98)
        elif isinstance(self.min_speaker_count_confidence, str):
            raise ValueError("compose: min_speaker_count_confidence must be a number or 'calibrated', "
                             f"got {self.min_speaker_count_confidence!r}")

    def trusting(self) -> ComposeConfig:
        """A copy that trusts every confidence (for records built from ground truth)."""
        out = ComposeConfig(**{f.name: getattr(self, f.name) for f in fields(self)})
        out.min_asr_confidence = out.min_speaker_count_confidence = 0.0
        out.min_tag_score = out.min_word_score = out.min_quote_word_score = 0.0
        out.min_quote_margin_s = 0.0
        out.min_speech_snr_db = -1e9
        out.timed_absence_origins = ["truth", "model", "source"]  # every span is the truth
        return out
