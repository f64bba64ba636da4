"""What every source shares: window planning, safe tree walking, label naming and the report.

A source is a lazy, deterministic iterable of :class:`~paqa_builder.record.ClipRecord`. It indexes
file *paths* and label rows up front (cheap) and decodes nothing: the decode stage reads each
record's ``path``/``offset``/``max_duration``. Files longer than ``max_clip_s`` become several
records, one per window, so no model ever sees a whole long file.
"""

from __future__ import annotations

import abc
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..audio_io import AUDIO_EXTENSIONS
from ..ontology import Ontology
from ..record import ClipRecord, Label

EXAMPLES_PER_KEY = 5
"""How many example paths/ids the report keeps for each counted problem."""


def plan_windows(duration: float | None, window_s: float, hop_s: float, max_clip_s: float,
                 max_windows: int, min_window_s: float) -> tuple[list[tuple[float, float | None]], int]:
    """Windows ``(offset, length)`` for a file of ``duration`` seconds, and how many were cut off.

    A file up to ``max_clip_s`` (or of unknown duration: decode will report why) is one clip read
    whole (length None). Longer files get windows of ``window_s`` every ``hop_s``; a last window
    shorter than ``min_window_s`` is dropped; at most ``max_windows`` are kept.
    """
    if duration is None or duration <= max_clip_s:
        return [(0.0, None)], 0
    out: list[tuple[float, float | None]] = []
    k = 0
    while len(out) < max_windows:  # never more than the cap, whatever the duration claims
        start = round(k * hop_s, 6)
        if start >= duration:
            return out, 0
        length = min(window_s, duration - start)
        if length < min_window_s:
            return out, 0
        out.append((start, round(length, 6)))
        k += 1
        if start + length >= duration:  # reached the end: a later (overlapping) window adds nothing
            return out, 0
    return out, _windows_after(k, duration, window_s, hop_s, min_window_s)


def _windows_after(k: int, duration: float, window_s: float, hop_s: float, min_window_s: float) -> int:
    """How many windows the plan would still hold from window ``k`` on (counted, not listed)."""
    if k * hop_s >= duration:
        return 0
    # the last window is the first one reaching the end: start + window_s >= duration
    last = max(k, math.ceil((duration - window_s) / hop_s - 1e-9))
    if last * hop_s >= duration:  # hop longer than the window: the end falls in a gap
        last -= 1
    tail = min(window_s, duration - last * hop_s)
    return max(0, last - k + 1 - (1 if tail < min_window_s else 0))


def window_id(base: str, k: int) -> str:
    """Clip id of the ``k``-th window of a file (sorts in window order up to 1000 windows)."""
    return f"{base}_w{k:03d}"


class Source(abc.ABC):
    """Base of all sources. Parameters (from the recipe's ``source:`` section):

    Args:
        root: folder (or dataset path) the source reads; no path outside it is ever read.
        window_s: length of the windows long files are cut into, in seconds.
        max_clip_s: files up to this many seconds are one clip; longer ones are windowed.
        max_windows_per_file: at most this many windows per file (the rest is counted, not read).
        hop_s: distance between window starts; defaults to ``window_s`` (no overlap).
        min_window_s: a trailing window shorter than this is dropped.
        extensions: file extensions collected as audio (default: common audio/video containers).
        ontology: path of an ``ontology.json`` overriding the one found in ``root``.
        class_labels: path of a ``class_labels_indices.csv`` overriding the one found in ``root``.
    """

    kind: ClassVar[str] = "base"
    provides: ClassVar[frozenset[str]] = frozenset()
    """Record fields this source fills beyond the identity fields (the pipeline check reads it)."""
    iteration_counts: ClassVar[tuple[str, ...]] = ("clips", "windows", "files_windowed", "windows_dropped")
    """Report keys counted while iterating; reset at the start of each pass."""

    @classmethod
    def detect(cls, root: Path) -> bool:
        """Whether a folder looks like this kind (``--source-kind auto``); kinds are asked in
        registry order and ``folder`` is the fallback. The base recognises nothing."""
        return False

    @classmethod
    def param_names(cls) -> set[str]:
        """Keyword parameters of this source and every base it passes ``**params`` to."""
        import inspect

        names: set[str] = set()
        for klass in cls.__mro__:
            if "__init__" in vars(klass) and issubclass(klass, Source):
                sig = inspect.signature(klass.__init__)
                names |= {n for n, p in sig.parameters.items() if n not in ("self", "root")
                          and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        return names

    def __init__(self, root: str | Path, *, window_s: float = 10.0, max_clip_s: float = 30.0,
                 max_windows_per_file: int = 360, hop_s: float | None = None,
                 min_window_s: float = 1.0, extensions: Iterable[str] | None = None,
                 ontology: str | Path | None = None, class_labels: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if isinstance(root, (str, Path)) else root
        self.window_s = float(window_s)
        self.max_clip_s = float(max_clip_s)
        self.max_windows_per_file = int(max_windows_per_file)
        self.hop_s = float(hop_s) if hop_s else self.window_s
        self.min_window_s = float(min_window_s)
        if self.window_s <= 0 or self.hop_s <= 0:
            raise ValueError("source window_s and hop_s must be positive")
        exts = extensions if extensions is not None else AUDIO_EXTENSIONS
        self.extensions = {("." + e.lower().lstrip(".")) for e in exts}
        self._ontology_override = Path(ontology) if ontology else None
        self._class_labels_override = Path(class_labels) if class_labels else None
        self.ontology_path: Path | None = None
        self.class_labels_path: Path | None = None
        self._ontology: Ontology | None = None
        self._indexed = False
        self._refused: set[str] = set()
        self._report: dict[str, Any] = {"kind": self.kind, "examples": {}}

    # -- report ------------------------------------------------------------------------------
    @property
    def report(self) -> dict[str, Any]:
        """Counts of what was found, matched, windowed and refused, with a few examples of each.

        Index-time counts are complete as soon as this is read; ``clips``/``windows`` grow while
        iterating.
        """
        self._ensure_index()
        return self._report

    def count(self, key: str, example: Any = None, n: int = 1) -> None:
        """Add ``n`` to ``report[key]`` and keep ``example`` (up to a few per key)."""
        self._report[key] = self._report.get(key, 0) + n
        if example is not None:
            bucket = self._report["examples"].setdefault(key, [])
            if len(bucket) < EXAMPLES_PER_KEY:
                bucket.append(str(example))

    def refuse(self, rel: str) -> None:
        """Count a path that escapes the root (once per normalised path); it is never read."""
        key = os.path.normpath(rel)
        if key not in self._refused:
            self._refused.add(key)
            self.count("skipped_unsafe_paths", rel)

    def _zero(self, *keys: str) -> None:
        for key in keys:
            self._report.setdefault(key, 0)

    # -- indexing ----------------------------------------------------------------------------
    def _ensure_index(self) -> None:
        if not self._indexed:
            self._indexed = True
            self._index()

    @abc.abstractmethod
    def _index(self) -> None:
        """Find the files (and rows) of the source; fills the index-time report counts."""

    @abc.abstractmethod
    def _iter_records(self) -> Iterator[ClipRecord]:
        """Yield the records in the source's deterministic order."""

    def __iter__(self) -> Iterator[ClipRecord]:
        self._ensure_index()
        for key in self.iteration_counts:
            self._report[key] = 0
            self._report["examples"].pop(key, None)
        yield from self._iter_records()

    def walk(self) -> list[Path]:
        """Every file below ``root`` (sorted, hidden entries skipped), refusing outside symlinks.

        Directory symlinks are not followed; a file symlink that resolves outside ``root`` is
        counted as ``skipped_unsafe_paths`` and never read.
        """
        base = Path(self.root).resolve()
        out: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                if path.is_symlink():
                    try:
                        path.resolve(strict=True).relative_to(base)
                    except (ValueError, OSError):
                        self.refuse(str(path.relative_to(base)))
                        continue
                out.append(path)
        return out

    def is_audio(self, path: Path) -> bool:
        """True when ``path`` has one of the collected extensions."""
        return path.suffix.lower() in self.extensions

    # -- labels ------------------------------------------------------------------------------
    def find_label_files(self, files: list[Path]) -> None:
        """Pick ``ontology.json`` and ``class_labels_indices.csv``: override, else shallowest in root."""
        def shallowest(name: str) -> Path | None:
            hits = sorted((p for p in files if p.name == name), key=lambda p: (len(p.parts), str(p)))
            return hits[0] if hits else None

        self.ontology_path = self._ontology_override or shallowest("ontology.json")
        self.class_labels_path = self._class_labels_override or shallowest("class_labels_indices.csv")
        for attr in ("ontology_path", "class_labels_path"):
            path = getattr(self, attr)
            if path is not None and not Path(path).is_file():
                raise FileNotFoundError(f"source {attr.replace('_path', '')} file not found: {path}")

    def label_files(self) -> tuple[Path | None, Path | None]:
        """``(ontology.json, class_labels_indices.csv)`` of this source (indexes it if needed)."""
        self._ensure_index()
        return self.ontology_path, self.class_labels_path

    @property
    def ontology(self) -> Ontology:
        """The label names known to this source (flat when no ontology.json is present)."""
        if self._ontology is None:
            self._ontology = Ontology.load(self.ontology_path, self.class_labels_path)
        return self._ontology

    def make_labels(self, items: Iterable[str]) -> list[Label]:
        """Labels from mids (``/m/...``, ``/t/...``) or display names, named via the ontology.

        A name the ontology does not know keeps the name as its id, so labels still flow through
        with a flat label set.
        """
        out: list[Label] = []
        seen: set[str] = set()
        for item in items:
            item = str(item).strip()
            if not item:
                continue
            if item.startswith(("/m/", "/t/", "/g/")):
                label = Label(item, self.ontology.name(item))
            else:
                label = Label(self.ontology.mid_for_name(item) or item, item)
            if label.mid not in seen:
                seen.add(label.mid)
                out.append(label)
        return out

    # -- records -----------------------------------------------------------------------------
    def count_clips(self) -> int | None:
        """How many records iterating will yield, when the source can tell without decoding
        audio (file headers, row counts); None when it cannot. The progress bar's total and ETA
        come from it. The default cannot tell."""
        return None

    def duration_of(self, path: Path) -> float | None:
        """Readable length of ``path`` in seconds (header, or a bounded decode), cached: counting
        the clips and iterating them probe each file once."""
        from ..audio_io import readable_duration

        cache = self.__dict__.setdefault("_durations", {})
        if path not in cache:
            cache[path] = readable_duration(path, self.longest_planned_s)
        return cache[path]

    def clips_in_file(self, path: Path) -> int:
        """Records ``file_records`` makes for ``path`` (its windows)."""
        windows, _ = plan_windows(self.duration_of(path), self.window_s, self.hop_s, self.max_clip_s,
                                  self.max_windows_per_file, self.min_window_s)
        return len(windows)

    @property
    def longest_planned_s(self) -> float:
        """Seconds of a file the windows can ever reach: decoding a header-less file to learn its
        length stops here, so a huge file costs no more than the windows it yields."""
        return self.max_windows_per_file * self.hop_s + self.window_s

    def file_records(self, base_id: str, path: Path, duration: float | None,
                     make: Any) -> Iterator[ClipRecord]:
        """Yield one record per window of ``path``; ``make(clip_id, offset, length, k)`` builds each."""
        windows, dropped = plan_windows(duration, self.window_s, self.hop_s, self.max_clip_s,
                                        self.max_windows_per_file, self.min_window_s)
        if dropped:
            self.count("windows_dropped", path, n=dropped)
        windowed = windows[0][1] is not None
        if windowed:
            self.count("files_windowed")
        for k, (offset, length) in enumerate(windows):
            record: ClipRecord = make(window_id(base_id, k) if windowed else base_id, offset, length, k)
            if windowed:
                record.meta["window"] = k
                self.count("windows")
            self.count("clips")
            yield record
