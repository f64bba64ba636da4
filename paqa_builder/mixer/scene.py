"""Scene planning and rendering: where each utterance and background goes, and the audio it makes.

A scene is planned with its own random generator (``default_rng([seed, index])``), so scene *i* is
the same whatever the number of scenes asked for, and the whole run is deterministic under a seed.
The plan places turns one after another (a gap, or with some probability an overlap with the
previous speaker), then lays backgrounds under them at an SNR drawn per background. Rendering sums
the parts, normalises the mixture to a target loudness and lowers it further if the peak would pass
the limit, so nothing clips. The ground truth is written from the final, scaled stems.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio_io import load_audio, rms_db
from .corpus import BackgroundClip, Utterance
from .synth import trim_silence

SPEECH_REF_DB = -20.0
"""Active-speech RMS (dBFS) every utterance is scaled to before per-speaker gains."""

SPEECH_LABEL = ("Speech", "/m/09x0r")
"""Clip label added to every scene with a voice, as AudioSet labels a clip with speech in it."""


@dataclass
class MixRecipe:
    """Mixer parameters (``recipes/mix.yaml``; every key can be overridden with ``--set key=value``)."""

    sample_rate: int = 16_000
    """Output sample rate in Hz (the builder reads 16 kHz)."""
    min_seconds: float = 8.0
    """Shortest scene; background continues after the last turn up to this length."""
    max_seconds: float = 15.0
    """Longest scene; a turn that would end after it is replaced by a shorter one or dropped."""
    speakers: dict[int, float] = field(default_factory=lambda: {1: 0.3, 2: 0.4, 3: 0.3})
    """Distribution of the number of speakers per scene (weights, normalised); 0 = no speech."""
    turns: tuple[int, int] = (2, 5)
    """Range of turns per scene (inclusive); raised to the speaker count so everyone speaks."""
    gap_s: tuple[float, float] = (0.3, 1.0)
    """Silence between consecutive turns (uniform range, seconds)."""
    overlap_prob: float = 0.15
    """Probability that a turn starts before the previous (other) speaker has finished."""
    overlap_s: tuple[float, float] = (0.2, 0.8)
    """Length of such an overlap (capped at half of either utterance)."""
    lead_in_s: tuple[float, float] = (0.3, 1.0)
    """Background-only time before the first turn."""
    tail_s: tuple[float, float] = (0.3, 1.0)
    """Background-only time after the last turn (at least)."""
    speaker_gain_db: tuple[float, float] = (-4.0, 4.0)
    """Per-speaker level around the common speech level, drawn once per scene."""
    backgrounds: dict[int, float] = field(default_factory=lambda: {0: 0.1, 1: 0.6, 2: 0.3})
    """Distribution of the number of (distinct-label) backgrounds per scene."""
    snr_db: tuple[float, float] = (5.0, 20.0)
    """Speech-to-background ratio range per background (dB, active speech vs that background)."""
    snr_db_by_label: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per-label SNR ranges that replace ``snr_db`` (e.g. ``{"Engine": [0, 10]}``)."""
    partial_prob: float = 0.3
    """Probability that a background covers only part of the scene instead of all of it."""
    partial_min_s: float = 2.0
    """Shortest partial background span."""
    loudness_lufs: float = -23.0
    """Integrated loudness the mixture is normalised to (EBU R128 programme level)."""
    peak: float = 0.89
    """Largest absolute sample value allowed (about -1 dBFS); gain is lowered to respect it."""
    format: str = "flac"
    """Audio container for scenes and stems: ``flac`` or ``wav`` (16-bit PCM)."""
    stems: bool = True
    """Also write the speech and background stems (``stems/<id>.speech.flac``) for exact SNR."""

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> MixRecipe:
        """Build from a recipe mapping; unknown keys raise ``ValueError`` naming the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown mix recipe keys {unknown} (known: {', '.join(sorted(known))})")
        out = cls(**params)
        out.speakers = {int(k): float(v) for k, v in out.speakers.items()}
        out.backgrounds = {int(k): float(v) for k, v in out.backgrounds.items()}
        for name in ("turns", "gap_s", "overlap_s", "lead_in_s", "tail_s", "speaker_gain_db", "snr_db"):
            value = getattr(out, name)
            if isinstance(value, (int, float)):  # a scalar means a fixed value
                value = (value, value)
            setattr(out, name, tuple(value))
        out.snr_db_by_label = {k: tuple(v) for k, v in out.snr_db_by_label.items()}
        if out.min_seconds > out.max_seconds:
            raise ValueError("min_seconds must not exceed max_seconds")
        if out.format not in ("flac", "wav"):
            raise ValueError(f"format must be flac or wav, got {out.format!r}")
        return out


@dataclass
class PlacedTurn:
    """A planned turn: corpus utterance, scene speaker id, start sample and audio."""

    utterance: Utterance
    start: int
    audio: np.ndarray


@dataclass
class PlacedBackground:
    """A planned background: clip, span in samples, target SNR and the audio for that span."""

    clip: BackgroundClip
    start: int
    end: int
    snr_db: float
    audio: np.ndarray


@dataclass
class ScenePlan:
    """Everything rendering needs: length, turns, per-speaker gains, backgrounds."""

    clip_id: str
    length: int
    turns: list[PlacedTurn]
    gains_db: dict[str, float]
    backgrounds: list[PlacedBackground]


def grid(sample_rate: int) -> int:
    """Samples per millisecond: every time the mixer writes is a whole number of milliseconds
    (at 16 kHz), so the manifest's 3-decimal times are exact sample positions."""
    return max(1, sample_rate // 1000)


def _pick(rng: np.random.Generator, dist: dict[int, float]) -> int:
    keys = sorted(dist)
    weights = np.array([max(dist[k], 0.0) for k in keys], dtype=float)
    return int(rng.choice(keys, p=weights / weights.sum()))


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else float(bounds[0])


class AudioCache:
    """Loads corpus audio once: utterances trimmed and scaled to ``SPEECH_REF_DB``, backgrounds as-is."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._speech: dict[str, np.ndarray] = {}
        self._background: dict[str, np.ndarray] = {}
        self._seconds: dict[str, float | None] = {}

    def speech(self, utt: Utterance) -> np.ndarray:
        """Trimmed utterance at the common level (so turn boundaries are where the voice is)."""
        if utt.path not in self._speech:
            audio = trim_silence(load_audio(utt.path, sr=self.sample_rate)[0], self.sample_rate)
            if audio.size:
                audio = audio * 10 ** ((SPEECH_REF_DB - rms_db(audio)) / 20)
                # pad to whole grid steps so that turn ends, too, fall on the millisecond grid
                audio = np.pad(audio, (0, -audio.size % grid(self.sample_rate)))
            self._speech[utt.path] = audio.astype(np.float32)
        return self._speech[utt.path]

    def raw_seconds(self, utt: Utterance) -> float | None:
        """File duration from the header (no decoding), or None when the header cannot tell."""
        import soundfile as sf

        if utt.path not in self._seconds:
            try:
                self._seconds[utt.path] = float(sf.info(utt.path).duration)
            except (sf.LibsndfileError, RuntimeError):
                self._seconds[utt.path] = None
        return self._seconds[utt.path]

    def background(self, clip: BackgroundClip) -> np.ndarray:
        """The background recording, mono at the mixer rate."""
        if clip.path not in self._background:
            self._background[clip.path] = load_audio(clip.path, sr=self.sample_rate)[0]
        return self._background[clip.path]


def plan_scene(index: int, seed: int, recipe: MixRecipe, by_speaker: dict[str, list[Utterance]],
               by_label: dict[str, list[BackgroundClip]], cache: AudioCache) -> ScenePlan:
    """Plan scene ``index``: speakers, turn order and times, backgrounds and their spans/SNRs."""
    rng = np.random.default_rng([seed, index])
    sr = recipe.sample_rate
    q = grid(sr)

    def snap(seconds: float) -> int:  # seconds -> samples on the grid
        return int(round(seconds * sr / q)) * q

    max_len = snap(recipe.max_seconds)
    names = sorted(by_speaker)
    n_spk = min(_pick(rng, recipe.speakers), len(names))
    speakers = [names[i] for i in rng.permutation(len(names))[:n_spk]]
    order = list(speakers)  # the first n_spk turns introduce everyone, in this (random) order
    if n_spk:
        n_turns = int(rng.integers(max(recipe.turns[0], n_spk), max(recipe.turns[1], n_spk) + 1))
        while len(order) < n_turns:
            choices = [s for s in speakers if s != order[-1]] or speakers
            order.append(choices[int(rng.integers(len(choices)))])
    tail = snap(_uniform(rng, recipe.tail_s))
    cursor = snap(_uniform(rng, recipe.lead_in_s))
    turns: list[PlacedTurn] = []
    used_texts: set[str] = set()
    for speaker in order:
        pool = [u for u in by_speaker[speaker] if _norm(u.text) not in used_texts]
        placed = None
        for k in rng.permutation(len(pool)):
            raw = cache.raw_seconds(pool[int(k)])
            if raw is not None and raw * sr > max_len:  # longer than any scene: do not decode it
                continue
            audio = cache.speech(pool[int(k)])
            if audio.size == 0:
                continue
            start = cursor + snap(_uniform(rng, recipe.gap_s)) if turns else cursor
            if turns and turns[-1].utterance.speaker != speaker and rng.random() < recipe.overlap_prob:
                prev = turns[-1]
                overlap = min(_uniform(rng, recipe.overlap_s), 0.5 * prev.audio.size / sr,
                              0.5 * audio.size / sr)
                # never reach back past the end of the turn before the previous one: at most two
                # voices at a time, and the start order (= order of first appearance) is kept
                floor = max([t.start + t.audio.size for t in turns[:-1]] + [prev.start + 1])
                start = max(cursor - snap(overlap), -(-floor // q) * q)
            if start + audio.size + tail <= max_len:
                placed = PlacedTurn(pool[int(k)], start, audio)
                break
        if placed is None:  # nothing of this speaker fits any more: the scene ends here
            break
        turns.append(placed)
        used_texts.add(_norm(placed.utterance.text))
        cursor = max(cursor, placed.start + placed.audio.size)
    length = max(snap(recipe.min_seconds), cursor + tail if turns else 0)
    length = min(length, max_len)
    present = list(dict.fromkeys(t.utterance.speaker for t in turns))
    gains = {s: _uniform(rng, recipe.speaker_gain_db) for s in present}

    backgrounds: list[PlacedBackground] = []
    labels = sorted(by_label)
    n_bg = min(_pick(rng, recipe.backgrounds), len(labels))
    for li in rng.permutation(len(labels))[:n_bg]:
        label = labels[int(li)]
        clip = by_label[label][int(rng.integers(len(by_label[label])))]
        start, end = 0, length
        if rng.random() < recipe.partial_prob and length > 2 * recipe.partial_min_s * sr:
            span = snap(rng.uniform(recipe.partial_min_s, 0.7 * length / sr))
            start = int(rng.integers(0, (length - span) // q + 1)) * q
            end = start + span
        source = cache.background(clip)
        if source.size == 0:
            continue
        if source.size < end - start:  # loop short recordings (the seam is not crossfaded)
            source = np.tile(source, int(np.ceil((end - start) / source.size)))
        offset = int(rng.integers(0, source.size - (end - start) + 1))
        audio = source[offset: offset + end - start].astype(np.float32).copy()
        if start > 0 or end < length:  # 20 ms fades so a partial span does not click
            ramp = min(int(0.02 * sr), audio.size // 2)
            audio[:ramp] *= np.linspace(0, 1, ramp, dtype=np.float32)
            audio[audio.size - ramp:] *= np.linspace(1, 0, ramp, dtype=np.float32)
        snr = _uniform(rng, recipe.snr_db_by_label.get(label, recipe.snr_db))
        backgrounds.append(PlacedBackground(clip, start, end, snr, audio))
    return ScenePlan(f"scene_{index:04d}", length, turns, gains, backgrounds)


def _norm(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def render_scene(plan: ScenePlan, recipe: MixRecipe) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Mixture, speech stem and background stem (float32, same length) and the truth dict."""
    import pyloudnorm

    sr = recipe.sample_rate
    speech = np.zeros(plan.length, dtype=np.float64)
    active = np.zeros(plan.length, dtype=bool)
    for turn in plan.turns:
        gain = 10 ** (plan.gains_db[turn.utterance.speaker] / 20)
        speech[turn.start: turn.start + turn.audio.size] += gain * turn.audio
        active[turn.start: turn.start + turn.audio.size] = True
    speech_db = rms_db(speech[active]) if active.any() else SPEECH_REF_DB
    parts = []
    for bg in plan.backgrounds:
        part = np.zeros(plan.length, dtype=np.float64)
        seg = bg.audio.astype(np.float64)
        # the SNR refers to the background's own span, so a partial sound is as audible as a full one
        part[bg.start: bg.end] = seg * 10 ** ((speech_db - rms_db(seg) - bg.snr_db) / 20)
        parts.append(part)
    background = np.sum(parts, axis=0) if parts else np.zeros(plan.length)
    mixture = speech + background
    meter = pyloudnorm.Meter(sr)
    loudness = meter.integrated_loudness(mixture) if plan.length >= int(0.5 * sr) else -np.inf
    gain = 10 ** ((recipe.loudness_lufs - loudness) / 20) if np.isfinite(loudness) else 1.0
    peak = float(np.max(np.abs(mixture))) if mixture.size else 0.0
    if peak * gain > recipe.peak:  # no clipping: the peak limit wins over the loudness target
        gain = recipe.peak / peak
    speech, background, mixture = speech * gain, background * gain, mixture * gain
    parts = [p * gain for p in parts]

    present = list(dict.fromkeys(t.utterance.speaker for t in plan.turns))
    turns = [{"speaker": t.utterance.speaker, "start": round(t.start / sr, 3),
              "end": round((t.start + t.audio.size) / sr, 3), "text": t.utterance.text}
             for t in plan.turns]
    bgs = [{"label": bg.clip.label, "mid": bg.clip.mid, "start": round(bg.start / sr, 3),
            "end": round(bg.end / sr, 3), "level_db": round(rms_db(p[bg.start: bg.end]), 2),
            "snr_db": round(bg.snr_db, 2)}
           for bg, p in zip(plan.backgrounds, parts)]
    snr = None
    if active.any() and plan.backgrounds and np.any(background[active]):
        snr = round(10 * np.log10(np.mean(speech[active] ** 2) / np.mean(background[active] ** 2)), 2)
    levels = {}
    for s in present:  # each speaker's own level over their own turns, after the final gain
        own = np.zeros(plan.length)
        mask = np.zeros(plan.length, dtype=bool)
        for t in (t for t in plan.turns if t.utterance.speaker == s):
            own[t.start: t.start + t.audio.size] += t.audio * gain * 10 ** (plan.gains_db[s] / 20)
            mask[t.start: t.start + t.audio.size] = True
        levels[s] = round(rms_db(own[mask]), 2)
    truth = {
        "duration": round(plan.length / sr, 3),
        "speakers": present,
        "turns": turns,
        "backgrounds": bgs,
        "snr_db": snr,
        "speaker_levels_db": levels,
        "speech_seconds": round(float(active.sum()) / sr, 3),
        "loudness_lufs": round(float(meter.integrated_loudness(mixture)), 2)
        if plan.length >= int(0.5 * sr) else None,
        "peak": round(float(np.max(np.abs(mixture))) if mixture.size else 0.0, 4),
    }
    return (mixture.astype(np.float32), speech.astype(np.float32), background.astype(np.float32),
            truth)


def mix_corpus(utterances: list[Utterance], clips: list[BackgroundClip], out_dir: str | Path,
               recipe: MixRecipe, scenes: int, seed: int = 0,
               progress: Callable[[int, int], None] | None = None,
               stamp: dict[str, Any] | None = None) -> list[dict]:
    """Mix ``scenes`` scenes into ``out_dir`` (a ``folder`` source) and return the manifest lines.

    Writes ``scenes/<id>.<format>``, optional ``stems/<id>.{speech,background}.<format>``,
    ``manifest.jsonl`` (labels: background names, plus "Speech" when someone talks),
    ``class_labels_indices.csv`` (mids of those names) and ``mix_recipe.json`` (the resolved
    recipe, seed and counts). ``stamp`` keys (e.g. the held-out ``group`` and ``voices``) are
    copied into every manifest line.
    """
    import soundfile as sf

    if not utterances and recipe.speakers.get(0, 0) <= 0:
        raise ValueError("the speech corpus is empty")
    out = Path(out_dir)
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    if recipe.stems:
        (out / "stems").mkdir(exist_ok=True)
    by_speaker: dict[str, list[Utterance]] = {}
    for u in utterances:
        by_speaker.setdefault(u.speaker, []).append(u)
    by_label: dict[str, list[BackgroundClip]] = {}
    for c in clips:
        by_label.setdefault(c.label, []).append(c)
    cache = AudioCache(recipe.sample_rate)
    lines = []
    for i in range(1, scenes + 1):
        plan = plan_scene(i, seed, recipe, by_speaker, by_label, cache)
        mixture, speech, background, truth = render_scene(plan, recipe)
        rel = f"scenes/{plan.clip_id}.{recipe.format}"
        sf.write(out / rel, mixture, recipe.sample_rate, subtype="PCM_16")
        if recipe.stems:
            truth["stems"] = {}
            for kind, audio in (("speech", speech), ("background", background)):
                stem_rel = f"stems/{plan.clip_id}.{kind}.{recipe.format}"
                sf.write(out / stem_rel, audio, recipe.sample_rate, subtype="PCM_16")
                truth["stems"][kind] = stem_rel
        lines.append({
            "path": rel, "clip_id": plan.clip_id, **(stamp or {}),
            "labels": list(dict.fromkeys(b["label"] for b in truth["backgrounds"]))
            + ([SPEECH_LABEL[0]] if truth["speakers"] else []),
            "truth": truth,
            "meta": {"mixer_seed": seed, "scene_index": i,
                     "utterances": [t.utterance.uid for t in plan.turns],
                     "background_files": [Path(b.clip.path).name for b in plan.backgrounds]},
        })
        if progress:
            progress(i, scenes)
    with (out / "manifest.jsonl").open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    _write_class_labels(out / "class_labels_indices.csv", clips)
    summary = {"seed": seed, "scenes": scenes, "recipe": dataclasses.asdict(recipe),
               "speakers_per_scene": _hist(len(l["truth"]["speakers"]) for l in lines),
               "backgrounds_per_scene": _hist(len(l["truth"]["backgrounds"]) for l in lines)}
    (out / "mix_recipe.json").write_text(json.dumps(summary, indent=2, default=list) + "\n")
    return lines


def _write_class_labels(path: Path, clips: list[BackgroundClip]) -> None:
    """AudioSet-style ``index,mid,display_name`` table of the classes used (with mids) plus Speech.

    The folder source reads it from the root, so the manifest's label names get their real mids
    and "Speech" is recognised as a voice class without an ontology file.
    """
    import csv

    classes = {SPEECH_LABEL[1]: SPEECH_LABEL[0]}
    for clip in clips:
        for name, mid in zip(clip.labels, clip.mids):
            if mid:
                classes.setdefault(mid, name)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "mid", "display_name"])
        for i, (mid, name) in enumerate(sorted(classes.items(), key=lambda kv: kv[1])):
            writer.writerow([i, mid, name])


def _hist(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))
