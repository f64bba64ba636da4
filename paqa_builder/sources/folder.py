"""Folder source: any audio tree, with an optional manifest of labels, transcripts and speakers.

Without a manifest every audio file below the root is a clip, named by its relative path
(``a/b/c.wav`` -> ``a__b__c``). With ``manifest.jsonl`` or ``manifest.csv`` at the root (or the
``manifest`` parameter), the manifest lists the clips, one row per file:

``path`` (required, relative to the root), ``clip_id``, ``labels`` (JSON list of names or mids;
in CSV a ``;``-separated string), ``transcript``, ``speaker``, and in JSONL ``truth`` (any object,
copied to ``record.truth``; the scene mixer writes its ground truth there). Other scalar columns
are kept in ``meta["extra"]``. Audio files the manifest does not list are counted, not read.

A manifest path that is absolute, climbs out with ``..`` or is a symlink resolving outside the
root is refused and counted as ``skipped_unsafe_paths``; such a file is never opened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..audio_io import safe_join
from ..record import ClipRecord
from .base import Source
from .metadata import MetadataError, check_clip_id, csv_rows, read_text

MANIFEST_NAMES = ("manifest.jsonl", "manifest.csv")
KNOWN_COLUMNS = {"path", "clip_id", "labels", "transcript", "speaker", "truth"}


def clip_id_for(relpath: str) -> str:
    """Clip id of a file from its path relative to the root: no extension, '/' -> '__'."""
    return str(Path(relpath).with_suffix("")).replace("\\", "/").replace("/", "__")


def read_manifest(path: Path, bad: list[str]) -> list[dict[str, Any]]:
    """Rows of a JSONL or CSV manifest; unreadable rows are described in ``bad`` and skipped.

    An empty or non-UTF-8 manifest, or a CSV quote that is never closed, raises ``MetadataError``."""
    rows: list[dict[str, Any]] = []
    text = read_text(path, "manifest")
    if path.suffix.lower() == ".jsonl":
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                bad.append(f"{path.name}:{lineno}: invalid JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                bad.append(f"{path.name}:{lineno}: not an object")
                continue
            rows.append(row)
    else:
        header: list[str] | None = None
        for lineno, fields in csv_rows(path, text, "manifest"):
            if header is None:
                header = [h.strip() for h in fields]
                continue
            if not any(f.strip() for f in fields):
                continue
            if len(fields) > len(header):
                bad.append(f"{path.name}:{lineno}: {len(fields)} fields, the header has {len(header)}")
                continue
            row = dict(zip(header, fields))
            labels = row.get("labels")
            if isinstance(labels, str):
                row["labels"] = [x.strip() for x in labels.split(";") if x.strip()]
            rows.append(row)
    if not rows and not bad:
        raise MetadataError(f"{path}: the manifest has no rows")
    return rows


class FolderSource(Source):
    """Any audio tree, optionally described by a manifest.

    Args:
        root: the folder.
        manifest: path of a manifest (default: ``manifest.jsonl`` or ``manifest.csv`` at the
            root; ``false`` ignores any manifest). A relative path is taken inside the root.
        include_unlisted: with a manifest, also yield audio files it does not list.
        **params: window and label parameters of :class:`~paqa_builder.sources.base.Source`.
    """

    kind = "folder"

    @classmethod
    def detect(cls, root: Path) -> bool:
        """A folder with a ``manifest.jsonl`` or ``manifest.csv`` (any audio tree is also read as a
        folder source when no kind recognises it)."""
        return (root / "manifest.jsonl").exists() or (root / "manifest.csv").exists()

    def __init__(self, root: str | Path, *, manifest: str | Path | bool | None = None,
                 include_unlisted: bool = False, **params: Any) -> None:
        super().__init__(root, **params)
        self.manifest_param = manifest
        self.include_unlisted = bool(include_unlisted)
        self.manifest_path: Path | None = None
        self._plan: list[tuple[str, Path, dict[str, Any]]] = []

    def _find_manifest(self) -> Path | None:
        if self.manifest_param is False:
            return None
        if self.manifest_param not in (None, True):
            path = Path(str(self.manifest_param)).expanduser()
            path = path if path.is_absolute() else Path(self.root) / path
            if not path.is_file():
                raise FileNotFoundError(f"folder source manifest not found: {path}")
            return path
        for name in MANIFEST_NAMES:
            if (Path(self.root) / name).is_file():
                return Path(self.root) / name
        return None

    def _index(self) -> None:
        if not Path(self.root).is_dir():
            raise FileNotFoundError(f"folder source root is not a folder: {self.root}")
        self._zero("audio_files", "rows", "matched", "rows_without_audio", "audio_without_row",
                   "skipped_unsafe_paths", "bad_rows", "duplicate_clip_ids")
        base = Path(self.root).resolve()
        files = self.walk()
        self.find_label_files(files)
        audio = [p for p in files if self.is_audio(p)]
        self._report["audio_files"] = len(audio)
        self.manifest_path = self._find_manifest()
        self._report["manifest"] = str(self.manifest_path) if self.manifest_path else None
        seen: set[str] = set()

        def add(clip_id: str, path: Path, row: dict[str, Any]) -> None:
            if clip_id in seen:
                self.count("duplicate_clip_ids", f"{clip_id} ({path.relative_to(base)})")
                return
            seen.add(clip_id)
            self._plan.append((clip_id, path, row))

        listed: set[Path] = set()
        if self.manifest_path is not None:
            bad: list[str] = []
            rows = read_manifest(self.manifest_path, bad)
            for line in bad:
                self.count("bad_rows", line)
            for row in rows:
                self.count("rows")
                rel = str(row.get("path") or "").strip()
                if not rel:
                    self.count("bad_rows", f"row without path: {json.dumps(row)[:120]}")
                    continue
                target = safe_join(base, rel)
                if target is None:
                    self.refuse(rel)
                    continue
                if not target.is_file():
                    self.count("rows_without_audio", rel)
                    continue
                clip_id = str(row.get("clip_id") or clip_id_for(rel))
                refused = check_clip_id(clip_id) if row.get("clip_id") else None
                if refused:
                    self.count("bad_rows", f"{rel}: {refused}")
                    continue
                listed.add(target)
                self.count("matched")
                add(clip_id, target, row)
        for path in audio:
            resolved = path.resolve()
            if resolved in listed:
                continue
            rel = str(path.relative_to(base))
            if self.manifest_path is not None:
                self.count("audio_without_row", rel)
                if not self.include_unlisted:
                    continue
            add(clip_id_for(rel), path, {"path": rel})
        self._plan.sort(key=lambda item: item[0])

    def count_clips(self) -> int | None:
        """One record per window of every planned file (file headers only)."""
        self._ensure_index()
        return sum(self.clips_in_file(path) for _, path, _ in self._plan)

    def _iter_records(self) -> Iterator[ClipRecord]:
        base = Path(self.root).resolve()
        for clip_id, path, row in self._plan:
            rel = str(path.relative_to(base)) if path.is_relative_to(base) else str(row.get("path"))
            meta: dict[str, Any] = {"relpath": rel}
            for key in ("transcript", "speaker"):
                if row.get(key) not in (None, ""):
                    meta[key] = row[key]
            extra = {k: v for k, v in row.items() if k not in KNOWN_COLUMNS
                     and (v is None or isinstance(v, (str, int, float, bool)))}
            if extra:
                meta["extra"] = extra
            labels_in = row.get("labels") or []
            if isinstance(labels_in, str):
                labels_in = [x for x in labels_in.split(";")]
            labels = self.make_labels(labels_in)
            truth = row.get("truth") if isinstance(row.get("truth"), dict) else None

            def make(cid: str, offset: float, length: float | None, k: int, _path: Path = path,
                     _labels: list = labels, _meta: dict = meta, _truth: Any = truth) -> ClipRecord:
                return ClipRecord(clip_id=cid, source=self.kind, path=str(_path), offset=offset,
                                  max_duration=length, labels=list(_labels), meta=dict(_meta),
                                  truth=json.loads(json.dumps(_truth)) if _truth is not None else None)

            duration = self.duration_of(path)
            yield from self.file_records(clip_id, path, duration, make)
