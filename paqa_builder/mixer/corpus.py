"""Readers for the mixer's inputs: speech corpora (speaker + transcript) and background corpora (labels).

Speech layouts, tried in this order:

* ``manifest.jsonl`` / ``manifest.csv`` at the root: ``path`` (relative to the root), ``speaker``,
  ``text`` per utterance (``speaker_id``/``transcript``/``sentence`` are accepted as aliases).
* MELD-style CSV anywhere below the root, with columns ``Speaker, Utterance, Dialogue_ID,
  Utterance_ID``; audio is ``dia{D}_utt{U}.<ext>`` anywhere below the root (any container ffmpeg reads).
* LibriSpeech layout: ``<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` next to the ``.flac`` files.

Background layouts:

* a label file at the root (``labels.jsonl``/``labels.csv``/``manifest.jsonl``/``manifest.csv``) with
  ``path`` (or ``fname``) and either ``label`` (+ ``mid``), one class, or ``labels`` (+ ``mids``), a
  JSON list or a ``;``- or ``,``-separated string; FSD50K's ``FSD50K.ground_truth/{dev,eval}.csv``
  (``fname,labels,mids``) is found below the root too and matched to audio by file stem;
* otherwise subfolders as labels (MUSAN style: ``noise/…``, ``music/…``).

Clips whose labels name the human voice (AudioSet speech mids, "speech", "singing", …) are dropped:
an unlisted voice in a background would make the scene's speaker ground truth wrong.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..ontology import SPEECH_MIDS

AUDIO_EXTS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".mp4", ".mkv", ".webm",
                        ".aac", ".aiff", ".aif"})
"""File name endings treated as audio when scanning a corpus folder."""

_VOICE_WORDS = re.compile(r"\b(speech|speaking|speaker|conversation|narration|singing|vocal|voice"
                          r"|whisper\w*|shout\w*|babbl\w*)\b", re.I)


@dataclass(frozen=True)
class Utterance:
    """One speech utterance: audio file, speaker id (unique within the corpus) and transcript."""

    path: str
    speaker: str
    text: str
    uid: str
    group: str | None = None
    """Held-out group of the speaker (``tune``/``report``) when the manifest says so."""


@dataclass(frozen=True)
class BackgroundClip:
    """One background recording with its label names and (where known) ontology mids, same order."""

    path: str
    labels: tuple[str, ...]
    mids: tuple[str | None, ...] = field(default=())

    @property
    def label(self) -> str:
        """The primary (first) label name."""
        return self.labels[0]

    @property
    def mid(self) -> str | None:
        """The primary label's mid, or None."""
        return self.mids[0] if self.mids else None


# -- audio ---------------------------------------------------------------------------------------

def _audio_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTS and p.is_file())


def _rows(path: Path) -> list[dict]:
    """Rows of a JSONL or CSV file as dicts (CSV keys stripped of surrounding spaces)."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        return [{(k or "").strip(): (v or "").strip() if isinstance(v, str) else v
                 for k, v in row.items()} for row in csv.DictReader(fh)]


def _first(row: dict, *keys: str) -> str | None:
    for key in keys:
        if row.get(key) not in (None, ""):
            return str(row[key])
    return None


def _clean_text(text: str) -> str:
    # MELD ships Windows-1252 quotes decoded as UTF-8; fold the common ones back to ASCII
    for bad, good in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'),
                      ("\x92", "'"), ("\u0092", "'"), ("\u2014", " - "), ("\u2026", "...")):
        text = text.replace(bad, good)
    return " ".join(text.split())


# -- speech ----------------------------------------------------------------------------------------

def read_speech_corpus(root: str | Path) -> list[Utterance]:
    """All utterances of the speech corpus at ``root`` (see module docstring for layouts).

    Raises ``ValueError`` naming the accepted layouts when none matches or nothing is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"speech corpus {root} is not a folder")
    for name in ("manifest.jsonl", "manifest.csv"):
        if (root / name).is_file():
            return _from_manifest(root, root / name)
    meld = [p for p in sorted(root.rglob("*.csv")) if _is_meld(p)]
    if meld:
        return _from_meld(root, meld)
    trans = sorted(root.rglob("*.trans.txt"))
    if trans:
        return _from_librispeech(trans)
    raise ValueError(
        f"no speech corpus found in {root}: expected manifest.jsonl/manifest.csv (path, speaker, "
        "text), a MELD-style CSV (Speaker, Utterance, Dialogue_ID, Utterance_ID) or a LibriSpeech "
        "layout (*.trans.txt)")


def _from_manifest(root: Path, manifest: Path) -> list[Utterance]:
    out = []
    for i, row in enumerate(_rows(manifest)):
        rel = _first(row, "path", "file", "audio")
        speaker = _first(row, "speaker", "speaker_id", "Speaker")
        text = _first(row, "text", "transcript", "sentence", "Utterance")
        if rel is None or speaker is None or text is None:
            raise ValueError(f"{manifest} line {i + 1}: needs path, speaker and text, got {sorted(row)}")
        path = (root / rel) if not Path(rel).is_absolute() else Path(rel)
        group = row.get("group") or None
        out.append(Utterance(str(path), speaker, _clean_text(text), Path(rel).stem,
                             str(group) if group else None))
    return out


def _is_meld(path: Path) -> bool:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        header = {h.strip() for h in next(csv.reader(fh), [])}
    return {"Speaker", "Utterance", "Dialogue_ID", "Utterance_ID"} <= header


def _from_meld(root: Path, csvs: list[Path]) -> list[Utterance]:
    by_stem = {p.stem: p for p in _audio_files(root)}
    out = []
    for table in csvs:
        for row in _rows(table):
            stem = f"dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}"
            audio = by_stem.get(stem)
            if audio is None:  # MELD ships several splits; rows without audio are simply absent
                continue
            out.append(Utterance(str(audio), row["Speaker"].strip(), _clean_text(row["Utterance"]),
                                 f"{table.stem}_{stem}"))
    if not out:
        raise ValueError(f"MELD CSV found under {root} but no dia<D>_utt<U> audio files match it")
    return out


def _from_librispeech(trans_files: list[Path]) -> list[Utterance]:
    out = []
    for trans in trans_files:
        for line in trans.read_text(encoding="utf-8").splitlines():
            uid, _, text = line.strip().partition(" ")
            if not uid:
                continue
            audio = next((trans.parent / f"{uid}{ext}" for ext in (".flac", ".wav")
                          if (trans.parent / f"{uid}{ext}").is_file()), None)
            if audio is None:
                continue
            # LibriSpeech transcripts are upper case without punctuation; sentence case reads better
            text = text.lower().strip()
            out.append(Utterance(str(audio), uid.split("-")[0], text[:1].upper() + text[1:], uid))
    return out


# -- backgrounds -----------------------------------------------------------------------------------

def is_voice_label(name: str, mid: str | None = None) -> bool:
    """True for labels that describe a human voice (never allowed in a background)."""
    return (mid in SPEECH_MIDS) or bool(_VOICE_WORDS.search(name.replace("_", " ")))


def _split_list(value) -> list[str]:
    """A list column: JSON list as is; a string split on ``;`` if it has one, else on ``,``."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    sep = ";" if ";" in str(value) else ","
    return [v.strip() for v in str(value).split(sep) if v.strip()]


def _row_labels(row: dict) -> tuple[list[str], list[str]]:
    """Label names and mids of a row. A singular ``label``/``mid`` is one value (AudioSet names
    such as "Beep, bleep" hold commas); plural ``labels``/``mids`` are lists."""
    if row.get("label") not in (None, ""):
        names = [str(row["label"]).strip()]
        mids = [str(row["mid"]).strip()] if row.get("mid") not in (None, "") else []
    else:
        names, mids = _split_list(row.get("labels")), _split_list(row.get("mids"))
    return [n.replace("_", " ") for n in names], mids


def read_background_corpus(root: str | Path) -> list[BackgroundClip]:
    """Labelled background clips under ``root``, voice-labelled clips removed.

    Raises ``ValueError`` when nothing usable is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"background corpus {root} is not a folder")
    tables = [root / n for n in ("labels.jsonl", "labels.csv", "manifest.jsonl", "manifest.csv")
              if (root / n).is_file()]
    tables += sorted(root.glob("FSD50K.ground_truth/*.csv")) + sorted(root.glob("*/FSD50K.ground_truth/*.csv"))
    clips = _from_tables(root, tables) if tables else _from_subfolders(root)
    kept = [c for c in clips if not any(is_voice_label(n, m) for n, m in
                                        zip(c.labels, c.mids or (None,) * len(c.labels)))]
    if not kept:
        raise ValueError(f"no labelled non-speech background clips found in {root}: expected a "
                         "labels.jsonl/labels.csv (path, label[, mid]), FSD50K ground-truth CSVs, or "
                         "one subfolder per label")
    return kept


def _from_tables(root: Path, tables: list[Path]) -> list[BackgroundClip]:
    by_stem: dict[str, Path] | None = None
    out = []
    for table in tables:
        for row in _rows(table):
            rel = _first(row, "path", "file", "audio")
            if rel is not None:
                path = root / rel if not Path(rel).is_absolute() else Path(rel)
            else:
                fname = _first(row, "fname", "filename", "id")
                if fname is None:
                    raise ValueError(f"{table}: rows need path or fname, got {sorted(row)}")
                if by_stem is None:
                    by_stem = {p.stem: p for p in _audio_files(root)}
                path = by_stem.get(Path(fname).stem)
                if path is None:
                    continue
            names, found = _row_labels(row)
            mids: list[str | None] = list(found)
            if not names:
                raise ValueError(f"{table}: row for {path.name} has no label")
            mids = (mids + [None] * len(names))[:len(names)]
            out.append(BackgroundClip(str(path), tuple(names), tuple(mids)))
    return out


def _from_subfolders(root: Path) -> list[BackgroundClip]:
    out = []
    for path in _audio_files(root):
        rel = path.relative_to(root)
        if len(rel.parts) < 2:  # files directly in the root carry no label
            continue
        out.append(BackgroundClip(str(path), (rel.parts[0].replace("_", " "),), (None,)))
    return out
