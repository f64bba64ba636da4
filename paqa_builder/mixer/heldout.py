"""The held-out protocol: which voices and seeds may be tuned on, and which only reported.

Every threshold and calibration of the perception stack is chosen on *tune* data; every figure in
the README, the results files and the notes comes from *report* data that played no part in the
choice. The split is by voice (a voice is heard in one group only), by corpus for recorded speech,
and by mixer seed:

* generated voice sets: ``espeak``, ``kokoro`` and ``hybrid`` are **tune** (the portable
  diarizer's ``cluster_threshold``, ``pitch_weight`` and split repair were chosen on them);
  ``flite`` (CMU Flite, a TTS family the project had never used when the split was made) is
  **report** only;
* recorded speech: each utterance of a speech corpus carries ``group`` in its manifest line
  (``benchmarks/real_voices.py`` assigns it per speaker, whole corpora report-only);
* seeds: tune scenes use mixer seeds below ``REPORT_SEED_START``, report scenes seeds at or above
  it, so a report mix is never a re-roll of a tuning mix.

``paqa-build mix`` stamps each scene's manifest line with its ``group``; ``paqa-build eval`` and
``benchmarks/`` read it back, and fitting refuses report scenes.
"""

from __future__ import annotations

GROUPS = ("tune", "report")
"""The two groups of the protocol."""

VOICE_SET_GROUPS: dict[str, str] = {
    "espeak": "tune",
    "kokoro": "tune",
    "hybrid": "tune",
    "flite": "report",
}
"""Group of each generated voice set of ``paqa-build mix --voices``."""

REPORT_SEED_START = 1000
"""Mixer seeds >= this are report seeds; below it, tune seeds."""


def voice_set_group(name: str) -> str:
    """The group of a generated voice set; ``ValueError`` for a set the protocol does not place."""
    try:
        return VOICE_SET_GROUPS[name]
    except KeyError:
        raise ValueError(f"voice set {name!r} has no held-out group: add it to "
                         "paqa_builder.mixer.heldout.VOICE_SET_GROUPS") from None


def seed_group(seed: int) -> str:
    """The group a mixer seed belongs to."""
    return "report" if seed >= REPORT_SEED_START else "tune"


def check_scene_group(group: str, seed: int) -> None:
    """``ValueError`` unless ``seed`` lies in ``group``'s seed range (report voices at a tune seed,
    or tune voices at a report seed, would blur the split)."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, got {group!r}")
    if seed_group(seed) != group:
        lo_hi = f">= {REPORT_SEED_START}" if group == "report" else f"< {REPORT_SEED_START}"
        raise ValueError(f"{group} scenes use mixer seeds {lo_hi}, got --seed {seed}")


def utterance_groups(groups: list[str | None]) -> set[str]:
    """The distinct groups of a corpus's utterances (``None`` entries are reported as 'unknown')."""
    return {g or "unknown" for g in groups}
