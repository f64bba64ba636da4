"""AudioSet source: segments CSVs + audio files anywhere below the root, matched by YouTube id.

The segments CSVs (``balanced_train_segments.csv``, ``eval_segments.csv``,
``unbalanced_train_segments.csv``) start with three ``#`` lines, the last naming the columns::

    # Segments csv created Sun Mar  5 10:54:31 2017
    # num_ytids=22160, num_segs=22160, num_unique_labels=527, num_positive_labels=52882
    # YTID, start_seconds, end_seconds, positive_labels
    --PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"

Any ``*.csv`` below the root whose first lines look like that is read. Memory stays bounded by
the number of *audio files*: files are listed first and CSV rows are kept only for ids that have
audio; the other rows are only counted (``rows_without_audio``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..record import ClipRecord
from .base import Source
from .metadata import csv_rows, read_text
from .naming import NameParse, parse_name

FULL_VIDEO_SLACK_S = 1.0
"""A file this much longer than its segment is taken to be the whole video: only [start, end] is read."""


@dataclass(frozen=True)
class SegmentRow:
    """One CSV row: id, segment start/end in seconds, label mids, and the CSV it came from."""

    ytid: str
    start: float
    end: float
    mids: tuple[str, ...]
    csv_name: str


def is_segments_csv(path: str | Path) -> bool:
    """True when the file's header lines are those of an AudioSet segments CSV."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = [fh.readline() for _ in range(3)]
    except OSError:
        return False
    return any(line.lstrip("# ").lower().startswith("ytid") for line in head)


def parse_segments_csv(path: str | Path, bad: list[str] | None = None) -> Iterator[SegmentRow]:
    """Rows of an AudioSet segments CSV (comment header skipped; quoted label lists split).

    Malformed lines (wrong field count, non-numeric times, end before start) are skipped; when
    ``bad`` is given, a short description of each is appended to it.
    """
    name = Path(path).stem.removesuffix("_segments")
    text = read_text(path, "segments CSV")
    # skipinitialspace: the fields are separated by ", " and the label list is quoted.
    for lineno, fields in csv_rows(path, text, "segments CSV", skipinitialspace=True):
        if not fields or fields[0].startswith("#") or fields[0].strip().upper() == "YTID":
            continue
        try:
            if len(fields) != 4:
                raise ValueError(f"{len(fields)} fields, expected 4")
            ytid, start_s, end_s, labels = (f.strip() for f in fields)
            start, end = float(start_s), float(end_s)
            if end <= start or start < 0:
                raise ValueError(f"segment {start}-{end}")
        except ValueError as exc:
            if bad is not None:
                bad.append(f"{Path(path).name}:{lineno}: {exc}")
            continue
        mids = tuple(m.strip() for m in labels.split(",") if m.strip())
        yield SegmentRow(ytid, start, end, mids, name)


class AudioSetSource(Source):
    """AudioSet folder: CSVs, optional ontology/class labels, audio under any common naming.

    Args:
        root: the AudioSet folder.
        csvs: explicit list of segments CSV paths (default: every segments CSV below ``root``).
        include_unlabeled: also yield audio files that no CSV row describes (without labels).
        **params: window and label parameters of :class:`~paqa_builder.sources.base.Source`.
    """

    kind = "audioset"

    @classmethod
    def detect(cls, root: Path) -> bool:
        """AudioSet layout: segment CSVs (``*segments*.csv``) at the top of the folder."""
        return any(root.glob("*segments*.csv"))

    def __init__(self, root: str | Path, *, csvs: list[str | Path] | None = None,
                 include_unlabeled: bool = False, **params: Any) -> None:
        super().__init__(root, **params)
        self.csvs = [Path(c) for c in csvs] if csvs else None
        self.include_unlabeled = bool(include_unlabeled)
        self._plan: list[tuple[str, Path, SegmentRow | None, NameParse | None]] = []

    def _index(self) -> None:
        if not Path(self.root).is_dir():
            raise FileNotFoundError(f"audioset source root is not a folder: {self.root}")
        self._zero("rows", "matched", "rows_without_audio", "audio_files", "audio_without_row",
                   "unrecognized_names", "duplicate_audio", "bad_rows", "skipped_unsafe_paths")
        files = self.walk()
        self.find_label_files(files)
        base = Path(self.root).resolve()
        # a file named like a segments CSV is one, even when it is empty or unreadable: it is then
        # an error naming it, not a CSV silently ignored (which made a dataset of zero clips)
        csvs = self.csvs or [p for p in files if p.suffix.lower() == ".csv" and (
            "segments" in p.name.lower() or is_segments_csv(p))]
        self._report["csv_files"] = [str(p.relative_to(base)) if p.is_relative_to(base) else str(p)
                                     for p in csvs]

        # ytid -> candidate (path, parse) list, from the audio file names
        audio: dict[str, list[tuple[Path, NameParse]]] = {}
        unnamed: list[Path] = []
        for path in files:
            if not self.is_audio(path):
                continue
            self.count("audio_files")
            parses = parse_name(path.stem)
            if not parses:
                unnamed.append(path)
            for parse in parses:
                audio.setdefault(parse.ytid, []).append((path, parse))

        rows: dict[str, list[SegmentRow]] = {}
        bad: list[str] = []
        for csv_path in csvs:
            for row in parse_segments_csv(csv_path, bad):
                self.count("rows")
                if row.ytid in audio:
                    rows.setdefault(row.ytid, []).append(row)
                else:
                    self.count("rows_without_audio", f"{row.csv_name}:{row.ytid}")
        for line in bad:
            self.count("bad_rows", line)

        used: set[Path] = set()
        ids: set[str] = set()
        for ytid in sorted(rows):
            for row in rows[ytid]:
                cands = [(p, n) for p, n in audio[ytid] if p not in used]
                pick = self._pick(row, cands)
                if pick is None:
                    # The id has audio, but it already serves another row of the same id.
                    self.count("rows_without_audio", f"{row.csv_name}:{ytid}@{row.start:g}")
                    continue
                used.add(pick[0])
                self.count("matched")
                # One id may label several segments (e.g. in two CSVs): later ones get the start.
                clip_id = ytid if ytid not in ids else f"{ytid}_{row.start:g}"
                ids.add(clip_id)
                self._plan.append((clip_id, pick[0], row, pick[1]))
        leftovers = sorted({p for cands in audio.values() for p, _ in cands} - used)
        for path in leftovers + unnamed:
            rel = path.relative_to(base)
            known = [n for n in parse_name(path.stem) if n.ytid in rows]
            if known:  # its id has a row, served by another file (e.g. both .wav and .flac)
                self.count("duplicate_audio", rel)
                continue
            self.count("audio_without_row", rel)
            if path in unnamed:
                self.count("unrecognized_names", rel)
            if self.include_unlabeled:
                parses = parse_name(path.stem)
                base_id = parses[0].ytid if parses else str(rel.with_suffix("")).replace("/", "__")
                self._plan.append((base_id, path, None, parses[0] if parses else None))
        self._plan.sort(key=lambda item: item[0])

    @staticmethod
    def _pick(row: SegmentRow, cands: list[tuple[Path, NameParse]]) -> tuple[Path, NameParse] | None:
        """The file for ``row``: one whose name states the row's start, else one without times."""
        timed = [c for c in cands if c[1].start is not None
                 and abs((c[1].seconds(row.start)[0] or 0.0) - row.start) < 1e-3]
        untimed = [c for c in cands if c[1].start is None]
        for group in (timed, untimed):
            if group:
                return sorted(group, key=lambda c: str(c[0]))[0]
        return None

    def count_clips(self) -> int | None:
        """One record per labelled segment of a whole video, else one per window (headers only)."""
        self._ensure_index()
        total = 0
        for _, path, row, _ in self._plan:
            duration = self.duration_of(path)
            if (row is not None and duration is not None and duration > row.end - row.start + FULL_VIDEO_SLACK_S
                    and duration >= row.end - FULL_VIDEO_SLACK_S):
                total += 1
            else:
                total += self.clips_in_file(path)
        return total

    def _iter_records(self) -> Iterator[ClipRecord]:
        base = Path(self.root).resolve()
        for clip_id, path, row, parse in self._plan:
            duration = self.duration_of(path)
            rel = str(path.relative_to(base))
            meta: dict[str, Any] = {"relpath": rel, "ytid": parse.ytid if parse else None,
                                    "naming": parse.pattern if parse else None}
            labels = []
            if row is not None:
                meta.update(segment_start=row.start, segment_end=row.end, csv=row.csv_name)
                labels = self.make_labels(row.mids)
                seg_len = row.end - row.start
                if (duration is not None and duration > seg_len + FULL_VIDEO_SLACK_S
                        and duration >= row.end - FULL_VIDEO_SLACK_S):
                    # Whole YouTube video on disk: read only the labelled segment.
                    meta["full_video"] = True
                    self.count("clips")
                    yield ClipRecord(clip_id=clip_id, source=self.kind, path=str(path),
                                     offset=row.start, max_duration=min(seg_len, duration - row.start),
                                     labels=labels, meta=meta)
                    continue

            def make(cid: str, offset: float, length: float | None, k: int,
                     _labels: list = labels, _meta: dict = meta, _path: Path = path) -> ClipRecord:
                return ClipRecord(clip_id=cid, source=self.kind, path=str(_path), offset=offset,
                                  max_duration=length, labels=list(_labels), meta=dict(_meta))

            yield from self.file_records(clip_id, path, duration, make)
